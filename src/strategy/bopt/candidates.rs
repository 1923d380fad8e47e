//! Where the acquisition is maximised: random points, perturbations of the best observed ones
//! and a trust region around the incumbent, snapped to the domain; the best few refined by
//! L-BFGS-B and their categoricals swept; the best-scoring valid new point is the suggestion
//! (for a deterministic loss, on a face of the box only where the model expects improvement
//! there).

use super::random_point;
use super::surrogate::Surrogate;
use crate::space::{Domain, Space};
use rand::RngExt;
use std::collections::HashSet;

pub(super) const RANDOM_CANDIDATES: usize = 2048;
pub(super) const LOCAL_STARTS: usize = 10;
/// Candidates drawn in a box around the incumbent, and the box's mean side (unit cube).
pub(super) const TRUST_REGION_CANDIDATES: usize = 512;
pub(super) const TRUST_REGION_SIDE: f64 = 0.2;

/// The candidates of one suggestion, every discrete and categorical value snapped to its domain.
/// `order` ranks `data` best first; `numeric` gives each hyperparameter's feature when it is
/// numeric, `map_lengthscales` the MAP fit's log lengthscales per feature.
pub(super) fn draw(
    space: &Space,
    data: &[(&Vec<f64>, f64)],
    order: &[usize],
    numeric: &[Option<usize>],
    map_lengthscales: &[f64],
    rng: &mut impl rand::Rng,
) -> (Vec<Vec<f64>>, Vec<Option<usize>>) {
    // Candidates: random points, perturbations of the best observed ones, and a trust region.
    let mut candidates: Vec<Vec<f64>> = (0..RANDOM_CANDIDATES)
        .map(|_| random_point(space.dims(), rng))
        .collect();
    for i in order.iter().take(5) {
        for _ in 0..24 {
            let mut p = data[*i].0.clone();
            for (d, u) in p.iter_mut().enumerate() {
                if numeric[d].is_some() {
                    *u = (*u + 0.05 * (rng.random::<f64>() - 0.5) * 2.0 * rng.random::<f64>())
                        .clamp(0.0, 1.0);
                } else if rng.random::<f64>() < 0.2 {
                    *u = rng.random::<f64>();
                }
            }
            candidates.push(p);
        }
    }
    // A trust region around the incumbent: boxes of side `TRUST_REGION_SIDE` on average,
    // wider along dimensions with long lengthscales (the MAP fit's, relative to their
    // geometric mean, within 1/4..4).
    let numeric_ls: Vec<f64> = numeric
        .iter()
        .flatten()
        .map(|f| map_lengthscales[*f])
        .collect();
    let mean_log_ls = numeric_ls.iter().sum::<f64>() / numeric_ls.len().max(1) as f64;
    let incumbent = data[order[0]].0;
    for _ in 0..TRUST_REGION_CANDIDATES {
        let mut p = incumbent.clone();
        for (d, u) in p.iter_mut().enumerate() {
            if let Some(f) = numeric[d] {
                let width =
                    TRUST_REGION_SIDE * (map_lengthscales[f] - mean_log_ls).exp().clamp(0.25, 4.0);
                *u = (*u + width * (rng.random::<f64>() - 0.5)).clamp(0.0, 1.0);
            } else if rng.random::<f64>() < 0.2 {
                *u = rng.random::<f64>();
            }
        }
        candidates.push(p);
    }
    // Discrete and categorical values are scored only where they can run: every candidate
    // is snapped to the domain before the acquisition sees it, and the refinement moves the
    // continuous dimensions alone (the snapped acquisition is flat along the others). Against
    // scoring relaxed values and snapping afterwards, with or without a search over
    // neighbouring values, this won on both mixed problems (docs/benchmarks/anchors.md).
    let continuous: Vec<Option<usize>> = numeric
        .iter()
        .zip(space.hyperparameters())
        .map(|(f, h)| match h.domain {
            Domain::Continuous { .. } => *f,
            _ => None,
        })
        .collect();
    if continuous.iter().any(Option::is_none) {
        for c in candidates.iter_mut() {
            space.snap_to_members(c);
        }
    }
    (candidates, continuous)
}

/// Which points may be suggested: valid ones, new (not in `existing`), not within `eps` of a
/// finished run, and, with `faces_rule` (a deterministic loss), not on a face of the box for the
/// model's variance alone.
pub(super) struct Admissible<'a> {
    pub existing: &'a HashSet<String>,
    pub eps: f64,
    pub faces_rule: bool,
}

/// The suggestion among `candidates`: the best by acquisition after refining the top
/// `LOCAL_STARTS` that `rules` admit.
pub(super) fn pick(
    surrogate: &Surrogate,
    space: &Space,
    data: &[(&Vec<f64>, f64)],
    candidates: Vec<Vec<f64>>,
    continuous: &[Option<usize>],
    rules: &Admissible,
) -> Option<Vec<f64>> {
    let Admissible {
        existing,
        eps,
        faces_rule,
    } = *rules;
    let mut scored: Vec<(f64, Vec<f64>)> = surrogate
        .score_batch(&candidates)
        .into_iter()
        .zip(candidates)
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0));
    let mut finals: Vec<(f64, Vec<f64>)> = Vec::new();
    for (_, start) in scored.iter().take(LOCAL_STARTS) {
        let refined = space.canonical(&surrogate.refine(start, continuous));
        // Sweep every categorical exactly at the refined point.
        let mut point = refined;
        for (d, h) in space.hyperparameters().iter().enumerate() {
            if let Domain::Categorical { values } = &h.domain {
                let k = values.len();
                let mut best_u = point[d];
                let mut best_s = surrogate.score(&point);
                for i in 0..k {
                    let mut trial = point.clone();
                    trial[d] = (i as f64 + 0.5) / k as f64;
                    let s = surrogate.score(&trial);
                    if s > best_s {
                        best_s = s;
                        best_u = trial[d];
                    }
                }
                point[d] = best_u;
            }
        }
        finals.push((surrogate.score(&point), point));
    }
    finals.extend(scored);
    finals.sort_by(|a, b| b.0.total_cmp(&a.0));
    let too_close = |p: &[f64]| {
        eps > 0.0
            && data.iter().any(|(q, _)| {
                p.iter()
                    .zip(q.iter())
                    .map(|(a, b)| (a - b).powi(2))
                    .sum::<f64>()
                    .sqrt()
                    < eps
            })
    };
    // A point with a continuous coordinate on a face of the box is taken only where the model
    // expects the face itself to improve (a slope running out of the box, an optimum on a
    // bound); one that the acquisition prefers for its variance alone is passed over for the
    // next. The variance is largest where the data are one-sided, so the refinement climbed to
    // the faces: on Michalewicz's function in 5-D 59 of 250 suggested coordinates sat on one,
    // where that function is flat (docs/benchmarks/broad-benchmark.md, "The fitted noise bounded").
    let on_face_for_its_variance = |p: &[f64]| {
        faces_rule
            && p.iter()
                .zip(continuous)
                .any(|(u, c)| c.is_some() && (*u <= FACE || *u >= 1.0 - FACE))
            && surrogate.mean(p) >= surrogate.best
    };
    // Canonical forms only as far down the ranking as needed; if every valid point is on a face
    // for its variance, the best of those.
    let mut on_a_face = None;
    for (s, p) in finals.into_iter().map(|(s, p)| (s, space.canonical(&p))) {
        if s.is_finite()
            && !existing.contains(&space.combination_key(&p))
            && !too_close(&p)
            && !space.is_forbidden(&p)
        {
            if on_face_for_its_variance(&p) {
                on_a_face.get_or_insert(p);
                continue;
            }
            return Some(p);
        }
    }
    on_a_face
}

/// How close to 0 or 1 (unit cube) a coordinate counts as on a face of the box.
const FACE: f64 = 1e-9;
