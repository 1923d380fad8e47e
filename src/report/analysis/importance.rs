//! Importance and main effects: a GP fitted to the results, each hyperparameter's share of the
//! variance of its mean (functional ANOVA) and its main-effect curve, where the results cover it.

use super::replicates::mean_sd;
use super::{
    value_label, Importance, MainEffect, BACKGROUND_POINTS, CURVE_POINTS, MAX_GP_POINTS,
    MIN_CATEGORY_RUNS, MIN_DISTINCT_VALUES,
};
use crate::config::search::Kernel;
use crate::gp::model::{Gp, Noise};
use crate::space::{Domain, Space};
use crate::store::{Combination, RunState};
use crate::strategy::bopt::features;
use rand::{RngExt, SeedableRng};
use serde_json::Value;

/// What the results carry about one hyperparameter: which of its categories (or whether its
/// values) were tried often enough for the GP's averages to mean something there.
struct Coverage {
    estimable: bool,
    /// Per position of `curve_positions`: whether the effect there is estimated.
    estimated: Vec<bool>,
    /// Successful runs per category; empty for a numeric hyperparameter.
    runs: Vec<usize>,
    /// The unit positions the other main effects average this hyperparameter over; None: the
    /// whole interval.
    background: Option<Vec<f64>>,
    note: Option<String>,
}

fn runs_text(n: usize) -> String {
    match n {
        0 => "no successful run".into(),
        1 => "1 successful run".into(),
        n => format!("{n} successful runs"),
    }
}

fn coverage(h: &crate::space::Hyperparameter, points: &[&[f64]], d: usize) -> Coverage {
    let positions = curve_positions(h);
    match &h.domain {
        Domain::Categorical { values } => {
            let k = values.len();
            let mut runs = vec![0usize; k];
            for p in points {
                runs[category_of(p[d], k)] += 1;
            }
            let estimated: Vec<bool> = runs.iter().map(|n| *n >= MIN_CATEGORY_RUNS).collect();
            let kept: Vec<usize> = (0..k).filter(|i| estimated[*i]).collect();
            let estimable = kept.len() >= 2;
            let label = |i: usize| value_label(&values[i]);
            let left_out: Vec<String> = (0..k)
                .filter(|i| !estimated[*i])
                .map(|i| format!("{} ({})", label(i), runs_text(runs[i])))
                .collect();
            // The other effects average over the categories with enough runs; with fewer than
            // one, over the most tried category.
            let held: Vec<usize> = if kept.is_empty() {
                let most = (0..k).max_by_key(|i| (runs[*i], std::cmp::Reverse(*i)));
                most.into_iter().collect()
            } else {
                kept.clone()
            };
            let held_text = held
                .iter()
                .map(|i| label(*i))
                .collect::<Vec<_>>()
                .join(", ");
            let note = if left_out.is_empty() {
                (!estimable).then(|| {
                    format!(
                        "{}: importance not estimable: it has a single category",
                        h.name
                    )
                })
            } else if estimable {
                Some(format!(
                    "{}: the effect of {} is not estimated (a category needs at least {MIN_CATEGORY_RUNS} successful runs: one run cannot separate a category's effect from the noise); its importance is measured over {held_text}, and the other main effects average over those",
                    h.name,
                    left_out.join(", ")
                ))
            } else {
                Some(format!(
                    "{}: importance not estimable, not 0%: {} — a category needs at least {MIN_CATEGORY_RUNS} successful runs to separate its effect from the noise; the other main effects hold {} at {held_text}",
                    h.name,
                    left_out.join(", "),
                    h.name
                ))
            };
            Coverage {
                estimable,
                estimated,
                runs,
                background: Some(held.iter().map(|i| positions[*i]).collect()),
                note,
            }
        }
        _ => {
            let mut tried: Vec<f64> = points.iter().map(|p| p[d]).collect();
            tried.sort_by(|a, b| a.total_cmp(b));
            tried.dedup_by(|a, b| (*a - *b).abs() < 1e-9);
            let estimable = tried.len() >= MIN_DISTINCT_VALUES;
            let note = (!estimable).then(|| {
                format!(
                    "{}: importance not estimable, not 0%: {} distinct value{} tried, and a main effect needs at least {MIN_DISTINCT_VALUES}; the other main effects hold {} at the tried value{}",
                    h.name,
                    tried.len(),
                    if tried.len() == 1 { " was" } else { "s were" },
                    h.name,
                    if tried.len() == 1 { "" } else { "s" },
                )
            });
            Coverage {
                estimable,
                estimated: vec![estimable; positions.len()],
                runs: Vec::new(),
                background: (!estimable).then_some(tried),
                note,
            }
        }
    }
}

/// The category a unit position falls in, of `k`.
pub(super) fn category_of(u: f64, k: usize) -> usize {
    ((u.clamp(0.0, 1.0) * k as f64).floor() as usize).min(k.saturating_sub(1))
}

/// The GP's view of the search: main effects and their variance shares. None below 4 results.
pub(super) fn importance(
    space: &Space,
    combinations: &[Combination],
    seed: u64,
) -> Option<Importance> {
    let mut data: Vec<(Vec<f64>, f64)> = combinations
        .iter()
        .filter(|c| c.state == RunState::Succeeded)
        .filter_map(|c| {
            let loss = c.loss.filter(|l| l.is_finite())?;
            let point = space.encode(&c.params).unwrap_or_else(|| c.point.clone());
            Some((point, loss))
        })
        .collect();
    if data.len() < 4 {
        return None;
    }
    // What the results cover of each hyperparameter: the runs where it was active (in a
    // conditional space an inactive one sits at one value that says nothing of it).
    let coverages: Vec<Coverage> = {
        let actives: Vec<Vec<bool>> = data.iter().map(|(p, _)| space.active(p)).collect();
        space
            .hyperparameters()
            .iter()
            .enumerate()
            .map(|(d, h)| {
                let points: Vec<&[f64]> = data
                    .iter()
                    .zip(&actives)
                    .filter(|(_, on)| on[d])
                    .map(|((p, _), _)| p.as_slice())
                    .collect();
                coverage(h, &points, d)
            })
            .collect()
    };
    let successful = data.len();
    if data.len() > MAX_GP_POINTS {
        // Keep the best half of the budget and spread the rest over the others: the region
        // near the optimum matters most, the rest keeps the global shape.
        data.sort_by(|a, b| a.1.total_cmp(&b.1));
        let keep = MAX_GP_POINTS / 2;
        let rest = data.split_off(keep);
        let stride = rest.len() as f64 / (MAX_GP_POINTS - keep) as f64;
        data.extend((0..MAX_GP_POINTS - keep).map(|i| rest[(i as f64 * stride) as usize].clone()));
    }
    let (mean, sd) = mean_sd(&data.iter().map(|d| d.1).collect::<Vec<_>>());
    let sd = if sd > 0.0 { sd } else { 1.0 };
    let x: Vec<Vec<f64>> = data.iter().map(|(p, _)| features(space, p)).collect();
    let y: Vec<f64> = data.iter().map(|(_, l)| (l - mean) / sd).collect();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed ^ 0x5eed_ae0a);
    let gp = Gp::fit(Kernel::Matern52, x, &y, Noise::FITTED, 2, &mut rng).ok()?;
    // The measure the effects average over: uniform on the interval of a hyperparameter the
    // results cover, over its well-tried categories or tried values otherwise.
    let background: Vec<Vec<f64>> = (0..BACKGROUND_POINTS)
        .map(|_| {
            coverages
                .iter()
                .map(|c| match &c.background {
                    Some(allowed) if !allowed.is_empty() => {
                        allowed[rng.random_range(0..allowed.len())]
                    }
                    _ => rng.random::<f64>(),
                })
                .collect()
        })
        .collect();
    let predict = |point: &[f64]| {
        let p = gp.predict(&features(space, point), false);
        (p.mean * sd + mean, p.variance.max(0.0).sqrt() * sd)
    };
    let mut effects = Vec::new();
    let mut effect_variances = Vec::new();
    // The total variance is estimated from the same evaluations as the main effects, so that
    // a main effect's share cannot exceed 1 by sampling noise alone.
    let mut total_variances = Vec::new();
    for ((d, h), cover) in space.hyperparameters().iter().enumerate().zip(&coverages) {
        let unit = curve_positions(h);
        let mut curve_mean = Vec::new();
        let mut lower = Vec::new();
        let mut upper = Vec::new();
        let mut every = Vec::with_capacity(unit.len() * background.len());
        for (j, u) in unit.iter().enumerate() {
            let (mut m, mut s) = (0.0, 0.0);
            for base in &background {
                let mut p = base.clone();
                p[d] = *u;
                // A valid point of a conditional space: a child is set only where it is active,
                // and a parent's value switches its branch on or off (its effect includes the
                // branch's).
                let p = space.deactivate(&p);
                let (pm, ps) = predict(&p);
                if cover.estimated.get(j).copied().unwrap_or(false) {
                    every.push(pm);
                }
                m += pm;
                s += ps;
            }
            m /= background.len() as f64;
            // The mean of the pointwise bands: wider than the band of the average, so honest.
            s /= background.len() as f64;
            curve_mean.push(m);
            lower.push(m - 2.0 * s);
            upper.push(m + 2.0 * s);
        }
        if cover.estimable {
            let kept: Vec<f64> = curve_mean
                .iter()
                .zip(&cover.estimated)
                .filter(|(_, e)| **e)
                .map(|(m, _)| *m)
                .collect();
            effect_variances.push(Some(population_variance(&kept)));
            total_variances.push(population_variance(&every));
        } else {
            effect_variances.push(None);
        }
        effects.push(MainEffect {
            name: h.name.clone(),
            values: unit.iter().map(|u| h.decode(*u)).collect(),
            unit,
            mean: curve_mean,
            lower,
            upper,
            estimated: cover.estimated.clone(),
            runs: cover.runs.clone(),
            estimable: cover.estimable,
            note: cover.note.clone(),
        });
    }
    let total_var = total_variances.iter().sum::<f64>() / total_variances.len().max(1) as f64;
    let shares: Vec<Option<f64>> = effect_variances
        .iter()
        .map(|v| {
            v.map(|v| {
                if total_var > 0.0 {
                    (v / total_var).min(1.0)
                } else {
                    0.0
                }
            })
        })
        .collect();
    // First-order shares sum to at most 1; an excess is sampling noise of the estimates.
    let sum: f64 = shares.iter().flatten().sum();
    let shares: Vec<Option<f64>> = if sum > 1.0 {
        shares.iter().map(|s| s.map(|s| s / sum)).collect()
    } else {
        shares
    };
    let interactions = (1.0 - shares.iter().flatten().sum::<f64>()).max(0.0);
    let notes = coverages.iter().filter_map(|c| c.note.clone()).collect();
    Some(Importance {
        method: format!(
            "functional ANOVA of a Matern 5/2 GP fitted (MAP) to {} of {successful} successful results: each share is the variance of the hyperparameter's main effect over the variance of the GP mean, under the uniform measure on the encoded space restricted to the categories with at least {MIN_CATEGORY_RUNS} successful runs; bands are ±2 posterior standard deviations",
            data.len()
        ),
        shares,
        interactions,
        notes,
        effects,
        fitted_on: data.len(),
    })
}

/// Where a main effect is evaluated: every member of a small discrete or categorical domain,
/// else an even grid.
fn curve_positions(h: &crate::space::Hyperparameter) -> Vec<f64> {
    match &h.domain {
        Domain::Categorical { values } => (0..values.len())
            .map(|i| (i as f64 + 0.5) / values.len() as f64)
            .collect(),
        Domain::Discrete { values, .. } if values.len() <= CURVE_POINTS => values
            .iter()
            .filter_map(|v| h.encode(&Value::from(*v)))
            .collect(),
        _ => (0..CURVE_POINTS)
            .map(|i| i as f64 / (CURVE_POINTS - 1) as f64)
            .collect(),
    }
}

/// Variance with divisor n: of a function's values over a sample of its domain.
fn population_variance(values: &[f64]) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n
}
