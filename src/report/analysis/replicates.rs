//! The replicate analysis: the noise of the score from repeated settings, the settings not
//! significantly worse than the best, and the recommendation, the simplest of them.

use super::super::numbers::{approx, sig};
use super::importance::category_of;
use super::{
    HyperparameterInfo, Recommendation, ReplicateAnalysis, Run, SettingGroup,
    MIN_RUNS_TO_RECOMMEND, POWER,
};
use crate::config::model::{ModelConfig, Simpler};
use crate::store::RunState;
use serde_json::{Map, Value};
use statrs::distribution::{ContinuousCDF, StudentsT};

pub fn mean_sd(values: &[f64]) -> (f64, f64) {
    let n = values.len() as f64;
    if values.is_empty() {
        return (f64::NAN, 0.0);
    }
    let mean = values.iter().sum::<f64>() / n;
    if values.len() < 2 {
        return (mean, 0.0);
    }
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (mean, var.sqrt())
}

/// Groups the successful runs by setting, estimates the noise from the repeated settings, and
/// tests every setting against the best.
pub fn replicate_analysis(
    runs: &[Run],
    hyperparameters: &[HyperparameterInfo],
    alpha: f64,
) -> ReplicateAnalysis {
    let mut groups: Vec<(SettingGroup, Vec<f64>, Vec<f64>)> = Vec::new();
    for run in runs.iter().filter(|r| r.state == RunState::Succeeded) {
        let Some(loss) = run.loss.filter(|l| l.is_finite()) else {
            continue;
        };
        match groups.iter_mut().find(|(g, _, _)| g.params == run.params) {
            Some((g, losses, _)) => {
                g.ids.push(run.id);
                losses.push(loss);
            }
            None => groups.push((
                SettingGroup {
                    id: run.id,
                    ids: vec![run.id],
                    params: run.params.clone(),
                    n: 0,
                    mean: 0.0,
                    sd: None,
                    p_value: None,
                    near_best: false,
                    detectable: None,
                    complexity: None,
                },
                vec![loss],
                run.unit_point.clone(),
            )),
        }
    }
    let (mut ss, mut df) = (0.0, 0usize);
    for (g, losses, point) in &mut groups {
        let (mean, sd) = mean_sd(losses);
        g.n = losses.len();
        g.mean = mean;
        if g.n > 1 {
            g.sd = Some(sd);
            ss += sd * sd * (g.n - 1) as f64;
            df += g.n - 1;
        }
        // Over the setting's active hyperparameters: an inactive one (absent from its params)
        // sits at a placeholder that says nothing of the model's complexity.
        let active: Vec<bool> = hyperparameters
            .iter()
            .map(|h| g.params.contains_key(&h.name))
            .collect();
        g.complexity = complexity(point, hyperparameters, &active);
    }
    let mut groups: Vec<SettingGroup> = groups.into_iter().map(|(g, _, _)| g).collect();
    groups.sort_by(|a, b| a.mean.total_cmp(&b.mean).then(a.id.cmp(&b.id)));
    let test = format!(
        "one-sided t-test of each setting's mean loss against the best mean, with the noise pooled over all repeated settings (level {alpha}; no correction for multiple comparisons, so the set errs on the side of including settings)"
    );
    if groups.is_empty() {
        return ReplicateAnalysis {
            judged: false,
            explanation: "no run has succeeded yet".into(),
            test,
            alpha,
            noise_sd: None,
            noise_df: 0,
            power: None,
            groups,
        };
    }
    if df == 0 {
        return ReplicateAnalysis {
            judged: false,
            explanation: "no setting was run more than once, so the noise of the score is unknown and the settings that are as good as the best cannot be told apart; run `hpsearch replicate SEARCH` (or set `replicates` in search_config.json)".into(),
            test,
            alpha,
            noise_sd: None,
            noise_df: 0,
            power: None,
            groups,
        };
    }
    let sigma = (ss / df as f64).sqrt();
    let best = groups[0].clone();
    let t_dist = StudentsT::new(0.0, 1.0, df as f64).ok();
    // The difference the test finds with probability POWER: (t_{1-α} + t_{POWER}) · se, the
    // usual approximation of the noncentral t.
    let detect_factor = t_dist
        .as_ref()
        .map(|d| d.inverse_cdf(1.0 - alpha) + d.inverse_cdf(POWER));
    let se_of = |n: usize| sigma * (1.0 / n as f64 + 1.0 / best.n as f64).sqrt();
    for (i, g) in groups.iter_mut().enumerate() {
        if i == 0 {
            g.near_best = true;
            continue;
        }
        let se = se_of(g.n);
        let p = if se > 0.0 {
            let t = (g.mean - best.mean) / se;
            t_dist.as_ref().map_or(0.0, |d| 1.0 - d.cdf(t))
        } else if g.mean > best.mean {
            0.0
        } else {
            1.0
        };
        g.p_value = Some(p);
        g.near_best = p >= alpha;
        g.detectable = detect_factor.map(|f| f * se).filter(|d| d.is_finite());
    }
    let near = groups.iter().filter(|g| g.near_best).count();
    let near_repeated = groups
        .iter()
        .filter(|g| g.near_best && g.n >= MIN_RUNS_TO_RECOMMEND)
        .count();
    let power = detect_factor.map(|f| power_sentence(&groups, sigma, f, alpha));
    ReplicateAnalysis {
        judged: true,
        explanation: format!(
            "the noise of the loss is sd {} ({df} degrees of freedom from {} repeated settings); {near} of {} settings are not significantly worse than the best, {near_repeated} of them with at least {MIN_RUNS_TO_RECOMMEND} runs",
            sig(sigma),
            groups.iter().filter(|g| g.n > 1).count(),
            groups.len()
        ),
        test,
        alpha,
        noise_sd: Some(sigma),
        noise_df: df,
        power,
        groups,
    }
}

/// "With 3 runs per setting and noise sd 0.1, a difference in mean loss smaller than ~0.25
/// would likely go undetected ...": the near-best set's resolution, for each run count.
fn power_sentence(groups: &[SettingGroup], sigma: f64, factor: f64, alpha: f64) -> String {
    let best_n = groups.first().map_or(1, |g| g.n);
    let mut counts: Vec<usize> = groups.iter().skip(1).map(|g| g.n).collect();
    counts.sort_unstable_by(|a, b| b.cmp(a));
    counts.dedup();
    let detectable = |n: usize| factor * sigma * (1.0 / n as f64 + 1.0 / best_n as f64).sqrt();
    let runs = runs_of;
    let tail = format!(
        "(the test finds such a difference {:.0}% of the time at level {alpha}); \"not significantly worse\" means no worse by more than that, not \"as good\"",
        POWER * 100.0
    );
    match counts.as_slice() {
        [] => format!(
            "there is a single setting, so nothing to compare it with; noise sd {}",
            sig(sigma)
        ),
        [n] if *n == best_n => format!(
            "with {} per setting and noise sd {}, a difference in mean loss smaller than ~{} would likely go undetected {tail}",
            runs(*n),
            sig(sigma),
            approx(detectable(*n))
        ),
        _ => {
            let parts: Vec<String> = counts
                .iter()
                .take(4)
                .map(|n| {
                    format!(
                        "~{} for a setting with {}",
                        approx(detectable(*n)),
                        runs(*n)
                    )
                })
                .collect();
            format!(
                "with noise sd {} and {} of the best setting, a difference in mean loss smaller than {} would likely go undetected {tail}",
                sig(sigma),
                runs(best_n),
                parts.join(", ")
            )
        }
    }
}

/// Mean position towards the complex end over the active hyperparameters marked `simpler`: 0
/// at the simpler end of the domain (the first listed category), 1 at the other.
pub(super) fn complexity(
    point: &[f64],
    hyperparameters: &[HyperparameterInfo],
    active: &[bool],
) -> Option<f64> {
    let scores: Vec<f64> = hyperparameters
        .iter()
        .zip(point)
        .zip(active)
        .filter(|(_, on)| **on)
        .map(|(pair, _)| pair)
        .filter_map(|(h, u)| {
            let k = h.categories.len();
            let u = if h.kind == "categorical" && k > 1 {
                category_of(*u, k) as f64 / (k - 1) as f64
            } else {
                *u
            };
            let toward_complex = match h.simpler? {
                Simpler::Lower => u,
                Simpler::Higher => 1.0 - u,
            };
            Some(toward_complex.clamp(0.0, 1.0))
        })
        .collect();
    (!scores.is_empty()).then(|| scores.iter().sum::<f64>() / scores.len() as f64)
}

fn runs_of(n: usize) -> String {
    if n == 1 {
        "1 run".into()
    } else {
        format!("{n} runs")
    }
}

/// The setting to take to the test phase, or why there is none. Only settings with at least
/// `MIN_RUNS_TO_RECOMMEND` runs are candidates: among those not significantly worse than the
/// best, the simplest when `simpler` is marked, else the lowest mean.
pub(super) fn recommend(
    analysis: &ReplicateAnalysis,
    hyperparameters: &[HyperparameterInfo],
    model: &ModelConfig,
) -> Result<Recommendation, String> {
    let Some(best) = analysis.groups.first() else {
        return Err("no run has succeeded yet".into());
    };
    let how_to = "`hpsearch replicate SEARCH` runs the best settings again (or set `replicates` in search_config.json), and `hpsearch test SEARCH --combination ID` tests a setting of your choice";
    if !analysis.judged {
        return Err(format!(
            "no setting has run more than once: one run mixes a setting's merit with the noise of the score, which is unknown without repeats. The lowest single loss is {}, by combination {}; {how_to}",
            sig(best.mean),
            best.id
        ));
    }
    let near: Vec<&SettingGroup> = analysis.groups.iter().filter(|g| g.near_best).collect();
    let candidates: Vec<&SettingGroup> = near
        .iter()
        .copied()
        .filter(|g| g.n >= MIN_RUNS_TO_RECOMMEND)
        .collect();
    let Some(lowest) = candidates.first().copied() else {
        return Err(format!(
            "no setting with at least {MIN_RUNS_TO_RECOMMEND} runs is within the near-best set: the best mean loss, {} by combination {}, comes from {}; {how_to}",
            sig(best.mean),
            best.id,
            runs_of(best.n)
        ));
    };
    let marked: Vec<&str> = hyperparameters
        .iter()
        .filter(|h| h.simpler.is_some())
        .map(|h| h.name.as_str())
        .collect();
    let single = near.len() - candidates.len();
    let left_out = if single > 0 {
        format!(
            "; {single} near-best setting{} that ran once {} left out, as one run cannot show a setting is as good as the best",
            if single == 1 { "" } else { "s" },
            if single == 1 { "is" } else { "are" }
        )
    } else {
        String::new()
    };
    let (chosen, why) = if marked.is_empty() {
        let why = if lowest.id == best.id {
            format!(
                "the best mean loss ({}){left_out}; mark hyperparameters with \"simpler\": \"lower\"/\"higher\" (\"first\"/\"last\" for a categorical) in model_config.json to get the simplest near-best setting instead",
                runs_of(lowest.n)
            )
        } else {
            format!(
                "the best mean loss among the settings with at least {MIN_RUNS_TO_RECOMMEND} runs ({}); the lowest mean overall, {} by combination {}, comes from {}{left_out}",
                runs_of(lowest.n),
                sig(best.mean),
                best.id,
                runs_of(best.n)
            )
        };
        (lowest, why)
    } else {
        let chosen = candidates
            .iter()
            .min_by(|a, b| {
                a.complexity
                    .unwrap_or(1.0)
                    .total_cmp(&b.complexity.unwrap_or(1.0))
                    .then(a.mean.total_cmp(&b.mean))
            })
            .copied()
            .unwrap_or(lowest);
        let why = if chosen.id == best.id {
            format!(
                "the best mean loss ({}), and also the simplest of the {} near-best settings with at least {MIN_RUNS_TO_RECOMMEND} runs by {} (complexity {:.3}, 0 = the simpler end of every marked domain){left_out}",
                runs_of(chosen.n),
                candidates.len(),
                marked.join(", "),
                chosen.complexity.unwrap_or(0.0)
            )
        } else {
            format!(
                "the simplest of the {} settings with at least {MIN_RUNS_TO_RECOMMEND} runs not significantly worse than the best (by {}): complexity {:.3} against {:.3} for the best (combination {}), at mean loss {} over {} against {} (p = {:.3}){left_out}",
                candidates.len(),
                marked.join(", "),
                chosen.complexity.unwrap_or(0.0),
                best.complexity.unwrap_or(0.0),
                best.id,
                sig(chosen.mean),
                runs_of(chosen.n),
                sig(best.mean),
                chosen.p_value.unwrap_or(1.0)
            )
        };
        (chosen, why)
    };
    let mut input = Map::new();
    for (name, value) in &model.variables {
        if name == crate::config::model::SAVE_FOLDER {
            continue;
        }
        input.insert(
            name.clone(),
            chosen.params.get(name).unwrap_or(value).clone(),
        );
    }
    Ok(Recommendation {
        id: chosen.id,
        params: chosen.params.clone(),
        mean_loss: chosen.mean,
        why,
        input_json: Value::Object(input),
    })
}
