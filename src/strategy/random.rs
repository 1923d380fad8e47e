//! Random search: uniform on the unit cube, i.e. uniform in each hyperparameter's transformed
//! scale (log-uniform for `log`).

use super::contract::{Strategy, StrategyError, SuggestContext, Suggestion};
use rand::RngExt;

pub struct RandomStrategy;

impl Strategy for RandomStrategy {
    fn adapts_to_results(&self) -> bool {
        false
    }

    fn suggest(&mut self, context: &SuggestContext) -> Result<Option<Suggestion>, StrategyError> {
        let mut rng = context.rng();
        let point = (0..context.space.dims())
            .map(|_| rng.random::<f64>())
            .collect();
        Ok(Some(Suggestion {
            point,
            label: "random".into(),
            notes: Vec::new(),
        }))
    }
}
