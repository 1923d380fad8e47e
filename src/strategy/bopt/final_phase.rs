//! The budget's final suggestions: where a search with a known budget (`max_suggestions`)
//! stops exploring and spends its last `final_exploitation` share on the model's best guess
//! (LCB with `FINAL_KAPPA`, no random or grid suggestions), and how that is told to the user.

use super::BoptStrategy;
use crate::strategy::contract::SuggestContext;

/// LCB's κ for the budget's final suggestions: one standard deviation below the mean. Against
/// κ = 0 (the mean alone), which stalled in curved valleys (BBOB's Rosenbrock functions lost 9
/// of 10 seeds in 5 D) and lost hartmann6's basin more often (docs/benchmarks/broad-benchmark.md).
pub(super) const FINAL_KAPPA: f64 = 1.0;
/// What the data file's `search_type` says in place of the acquisition for those suggestions.
pub(super) const FINAL_LABEL: &str = "final";

impl BoptStrategy {
    /// How many of a budget's suggestions are its final ones: `final_exploitation` of it,
    /// rounded up, at least one (none when the share is 0).
    pub(super) fn final_count(&self, budget: u64) -> u64 {
        let share = self.bopt.final_exploitation;
        if share <= 0.0 || budget == 0 {
            return 0;
        }
        // share < 1 (the config checks it), so the count stays within the budget.
        ((share * budget as f64).ceil() as u64).max(1)
    }

    /// Whether this suggestion is one of the budget's final ones, where bopt exploits what its
    /// model has learnt instead of exploring: the budget is known and this is among its last
    /// `final_count`. (On the broad benchmark the last tenth won 70-77% of the seed pairs in 2
    /// and 5 D against none, and the last 30% 61-64% against the tenth in 2, 5 and 20 D, level
    /// in 10 D and on the models: a search with an end in sight gains most by refining the basin
    /// it is in. It is LCB that gains: EI without the random share there lost.)
    pub(super) fn in_final_phase(&self, context: &SuggestContext) -> bool {
        match context.budget {
            Some(budget) => {
                let last = self.final_count(budget);
                last > 0 && context.sequence.saturating_add(last) >= budget
            }
            None => false,
        }
    }

    /// The search log's note, the first time a suggestion is one of the final ones.
    pub(super) fn final_note(&mut self, final_phase: bool, budget: Option<u64>) -> Option<String> {
        let (true, false, Some(budget)) = (final_phase, self.final_noted, budget) else {
            return None;
        };
        self.final_noted = true;
        Some(format!(
            "the last {} of {budget} suggestions go to the model's best guess (the lowest mean less one standard deviation; no random or grid suggestions): \"final_exploitation\" in bopt_config sets the share, 0 turns this off",
            self.final_count(budget)
        ))
    }
}
