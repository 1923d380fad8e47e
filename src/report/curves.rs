//! The learning curves the report draws: each run's intermediate results, read from its folder
//! as the coordinator read them (progress.jsonl, or log.txt through the search's
//! `progress_pattern`), as losses.

use crate::config::search::YTransformation;
use crate::coordinator::curves::ProgressReader;
use crate::coordinator::outcome::transform;
use crate::store::{Combination, RunState};
use serde::Serialize;
use std::path::Path;

/// At most this many curves are read (the runs that reported, the latest first): a figure of
/// more is a blur, and the dashboard reads them at every refresh.
pub const MAX_CURVES: usize = 300;

#[derive(Debug, Clone, Serialize)]
pub struct LearningCurve {
    pub id: u64,
    pub state: RunState,
    /// (step, loss), steps increasing; points whose objective `y_transformation` cannot take are
    /// left out.
    pub points: Vec<(u64, f64)>,
}

/// The curves of the runs that reported progress (`steps` recorded), in id order.
pub fn learning_curves(
    combinations: &[Combination],
    search_folder: &Path,
    y: YTransformation,
) -> Vec<LearningCurve> {
    let pattern = progress_pattern(search_folder);
    let mut curves: Vec<LearningCurve> = combinations
        .iter()
        .rev()
        .filter(|c| c.steps.is_some())
        .take(MAX_CURVES)
        .filter_map(|c| {
            let folder = search_folder.join(format!("hp_combination_{}", c.id));
            // One bounded read (4 MB) a curve: the dashboard reads them at every refresh, and
            // that much is tens of thousands of points, more than a figure shows.
            let (read, _) = ProgressReader::default().read(&folder, pattern.as_ref());
            let points: Vec<(u64, f64)> = read
                .iter()
                .filter_map(|p| transform(p.objective, y).ok().map(|loss| (p.step, loss)))
                .collect();
            (!points.is_empty()).then_some(LearningCurve {
                id: c.id,
                state: c.state,
                points,
            })
        })
        .collect();
    curves.reverse();
    curves
}

/// The `progress_pattern` of the search's copy of job_config.json, when it names one (the
/// copy was checked when the search started; a pattern that no longer compiles reads nothing).
fn progress_pattern(search_folder: &Path) -> Option<regex::Regex> {
    let text = std::fs::read_to_string(search_folder.join("job_config.json")).ok()?;
    let config: serde_json::Value = serde_json::from_str(&text).ok()?;
    let pattern = config.get("progress_pattern")?.as_str()?;
    regex::Regex::new(pattern).ok()
}
