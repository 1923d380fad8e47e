//! The GP's view of a point: which features a hyperparameter becomes (a numeric one its
//! unit-cube position, a categorical one a one-hot vector, a conditional one its activity).

use crate::space::{Domain, Space, INACTIVE};

/// The GP's features for a unit-cube point: a numeric hyperparameter's position, a categorical's
/// one-hot vector. In a conditional space an inactive categorical is all zeros (no category), an
/// inactive numeric one sits at `INACTIVE`, and each conditional numeric hyperparameter adds an
/// activity feature (1 active, 0 not) after the others, so that "not used" is never mistaken for
/// the middle of its range.
pub fn features(space: &Space, point: &[f64]) -> Vec<f64> {
    let active = space.is_conditional().then(|| space.active(point));
    let on = |i: usize| active.as_ref().is_none_or(|a| a[i]);
    let mut f = Vec::new();
    for (i, (h, u)) in space.hyperparameters().iter().zip(point).enumerate() {
        match &h.domain {
            Domain::Categorical { values } => {
                let k = values.len();
                let index = ((u.clamp(0.0, 1.0) * k as f64).floor() as usize).min(k - 1);
                f.extend((0..k).map(|c| if on(i) && c == index { 1.0 } else { 0.0 }));
            }
            _ => f.push(if on(i) { *u } else { INACTIVE }),
        }
    }
    if let Some(active) = &active {
        for (i, h) in space.hyperparameters().iter().enumerate() {
            let conditional = !space.tree().conditions[i].is_empty();
            if conditional && !matches!(h.domain, Domain::Categorical { .. }) {
                f.push(if active[i] { 1.0 } else { 0.0 });
            }
        }
    }
    f
}

/// `features`, and with `fidelity` the share of a whole run `reached` as a last feature (1: a
/// whole run's end, where candidates, runs in flight and improvement are read).
pub fn features_at(
    space: &Space,
    point: &[f64],
    fidelity: Option<Fidelity>,
    reached: f64,
) -> Vec<f64> {
    let mut f = features(space, point);
    if let Some(fidelity) = fidelity {
        f.push(fidelity.feature(reached));
    }
    f
}

/// For each hyperparameter, its feature index when it is numeric.
pub(super) fn numeric_features(space: &Space) -> Vec<Option<usize>> {
    let mut next = 0;
    space
        .hyperparameters()
        .iter()
        .map(|h| match &h.domain {
            Domain::Categorical { values } => {
                next += values.len();
                None
            }
            _ => {
                next += 1;
                Some(next - 1)
            }
        })
        .collect()
}

/// Where on its learning curve a loss was taken, as one more GP feature, when some runs were
/// stopped early: the share of the full length a run reached, on a log scale from the shortest
/// share observed (0) to a whole run (1). Steps are read on a log scale because learning curves
/// change most early. Candidates are scored at 1: the loss a whole run would end at.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Fidelity {
    /// ln of the shortest share observed (< 0).
    log_shortest: f64,
}

impl Fidelity {
    /// `None` when every run went the whole way (the GP sees no such feature).
    pub(super) fn of(reached: &[f64]) -> Option<Fidelity> {
        let shortest = reached
            .iter()
            .copied()
            .filter(|r| r.is_finite() && *r > 0.0)
            .fold(1.0, f64::min);
        (shortest < 1.0).then(|| Fidelity {
            log_shortest: shortest.ln(),
        })
    }

    pub(super) fn feature(&self, reached: f64) -> f64 {
        if !(reached.is_finite() && reached > 0.0) {
            return 1.0;
        }
        (1.0 - reached.min(1.0).ln() / self.log_shortest).clamp(0.0, 1.0)
    }
}
