//! Sobol search: an Owen-scrambled Sobol sequence, a random design that fills the space evenly
//! (no clumps, no holes), seeded by the search's seed. Point `i` of the search is point `i` of
//! the sequence, so a resumed search continues the same sequence.

use super::contract::{Strategy, StrategyError, SuggestContext, Suggestion};
use rand::RngExt;

pub struct SobolStrategy;

/// The sequence is defined for this many points and dimensions; past them we draw plainly at random.
const MAX_POINTS: u64 = 1 << 16;
const MAX_DIMENSIONS: usize = sobol_burley::NUM_DIMENSIONS as usize;

impl Strategy for SobolStrategy {
    fn adapts_to_results(&self) -> bool {
        false
    }

    fn suggest(&mut self, context: &SuggestContext) -> Result<Option<Suggestion>, StrategyError> {
        let mut rng = context.rng();
        let index = context.sequence;
        let seed = (context.seed ^ (context.seed >> 32)) as u32;
        let point = (0..context.space.dims())
            .map(|d| {
                if index < MAX_POINTS && d < MAX_DIMENSIONS {
                    // f32 precision is coarse near 1; a tiny jitter inside the cell keeps points distinct.
                    let u = sobol_burley::sample(index as u32, d as u32, seed) as f64;
                    (u + rng.random::<f64>() * f64::from(f32::EPSILON)).min(1.0)
                } else {
                    rng.random::<f64>()
                }
            })
            .collect();
        Ok(Some(Suggestion {
            point,
            label: "sobol".into(),
            notes: Vec::new(),
        }))
    }
}
