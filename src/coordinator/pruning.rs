//! The early-stopping rules: given every run's intermediate results, whether a run should stop.
//!
//! Values here are losses in the search's direction (lower is better: the objective, negated
//! when `y_transformation` maximises); the rules compare only their order. A rule judges a run
//! when it reaches a new point of judgement (an interval step after the warm-up for `median`, a
//! rung for `asha` and `hyperband`), never twice at the same one, so a decision does not change
//! when other runs catch up.
//!
//! With `order_check` (the default), asha and hyperband judge at a rung only once the runs'
//! order there has held to the end: once `ORDER_CHECK_MIN_RUNS` runs reached `max_step`, at
//! least `ORDER_CHECK_CONCORDANCE` of the pairs among the latest decided runs are in the same
//! order at the rung as where the pair was decided (pairs tied in either left out; where every
//! pair ties, the rung does not judge). A decided run is one that reached `max_step` or one a
//! later rung stopped; a pair is decided where the first of the two ended (`max_step` for two
//! whole runs). Until then runs pass the rung unjudged. Only decided runs count, never runs in
//! flight at a nearer step: with runs in flight, neighbouring steps agree even where the curves
//! cross later. The runs stopped later count because the whole runs alone are the survivors of
//! every later rung: where a region's curves start fast and end worse, its runs are stopped at
//! a later rung and never finish, and without them the whole runs would show an order at the
//! early rung that the search as a whole does not have. Once a rung judges, only its survivors
//! reach the end, and they alone cannot show that the runs it stops would have ended best: so
//! the check keeps controls. A run a judging rung would stop that ranks within twice the cut
//! goes on instead, to the end and past every later rung, while the controls' steps stay within
//! `ORDER_CHECK_CONTROL_SHARE` of the steps reported; in the check at that rung a control stands
//! for every run the rung stopped (its pairs weighted by their number over the controls'), so a
//! few controls that end better than the survivors turn the rung off. Where learning curves
//! cross (a fast learner looks best early and ends worse), the early rungs never pass the check
//! and the rule judges late; where the order holds from the start, it is ASHA after a few runs.

use crate::config::early_stopping::{EarlyStopping, Rungs};
use crate::config::search::YTransformation;
use std::collections::BTreeMap;

#[derive(Debug, Default)]
struct Curve {
    /// (step, loss), steps increasing.
    points: Vec<(u64, f64)>,
    /// Ended with a result: its curve is one the median rule compares against.
    succeeded: bool,
    /// The last judgement point already passed (an interval index or a rung step).
    judged: u64,
    /// The lowest loss so far, kept as points come: the median rule asks for it at each
    /// interval, and a script reporting every batch has millions of points.
    best: Option<f64>,
    /// The step at which the rule stopped the run.
    stopped_at: Option<u64>,
    /// The rung at which the order check let the run go on as a control: a run that rung would
    /// have stopped, run to the end so the check sees how such runs end. No rung stops it.
    control_at: Option<u64>,
    /// The spacing in steps of the points a thinned curve keeps (0 or 1: every point).
    grid: u64,
    /// Whether the last point is kept only for being the last (see `push`).
    off_grid: bool,
}

impl Curve {
    /// The loss at `step`: of the last point at or before it.
    fn at(&self, step: u64) -> Option<f64> {
        let i = self.points.partition_point(|(s, _)| *s <= step);
        i.checked_sub(1).map(|i| self.points[i].1)
    }

    /// The loss at `step` as a rung reads it: of the first point at or past it.
    fn from(&self, step: u64) -> Option<f64> {
        let i = self.points.partition_point(|(s, _)| *s < step);
        self.points.get(i).map(|(_, v)| *v)
    }

    fn push(&mut self, step: u64, loss: f64, pinned: &[u64]) {
        let grid = self.grid.max(1);
        if let Some(&(previous, _)) = self.points.last() {
            // The last report stays while it is the last; once another comes, it stays only if
            // it is on the grid or beside a pinned step.
            if self.off_grid && !self.beside_pinned(self.points.len() - 1, step, pinned) {
                self.points.pop();
            }
            self.off_grid = previous / grid == step / grid;
        }
        self.points.push((step, loss));
        self.best = Some(self.best.map_or(loss, |best| best.min(loss)));
        if self.points.len() >= 2 * CURVE_POINTS {
            self.thin(pinned);
        }
    }

    /// Whether the point at `i` is the first report at or past a pinned step, or the last at or
    /// before one (`next`: the step reported after it), which is how the rules and the
    /// in-process optimizer read a rung and `max_step`.
    fn beside_pinned(&self, i: usize, next: u64, pinned: &[u64]) -> bool {
        let step = self.points[i].0;
        let before = i.checked_sub(1).map_or(0, |j| self.points[j].0);
        pinned
            .iter()
            .any(|p| (before < *p && *p <= step) || (step <= *p && *p < next))
    }

    /// Halves a long curve by doubling its grid: of the points, the first report at or past
    /// each multiple of the grid stays, with the last report and the ones beside a pinned step.
    /// So a curve keeps under twice `CURVE_POINTS` points (plus the pinned ones), spread evenly
    /// over its steps, however often a script reports.
    fn thin(&mut self, pinned: &[u64]) {
        self.grid = self.grid.max(1).saturating_mul(2);
        let grid = self.grid;
        let n = self.points.len();
        let mut kept_step: Option<u64> = None;
        let keep: Vec<bool> = (0..n)
            .map(|i| {
                let step = self.points[i].0;
                let on_grid = kept_step.is_none_or(|k| k / grid < step / grid);
                let next = self.points.get(i + 1).map_or(u64::MAX, |(s, _)| *s);
                let kept = i + 1 == n || on_grid || self.beside_pinned(i, next, pinned);
                if kept {
                    kept_step = Some(step);
                }
                kept
            })
            .collect();
        let mut index = 0;
        self.points.retain(|_| {
            index += 1;
            keep[index - 1]
        });
        // The last report is kept as the last; it is on the new grid only by chance.
        self.off_grid = true;
    }
}

/// A curve is thinned (see `Curve::thin`) when it reaches twice this many points. Scripts that
/// report every batch, or a `progress_pattern` that matches a line per batch, report hundreds of
/// thousands of points a run; kept whole for every run of a long search they took gigabytes of
/// the coordinator's memory (16 bytes a point). Curves of up to twice this many points, one per
/// epoch or boosting round, are kept whole, and every rule reads them exactly; on a thinned
/// curve the median rule reads a finished run's loss at the nearest kept report before the
/// step, at most a few hundredths of its length early.
const CURVE_POINTS: usize = 1024;

/// Fewest runs whose order at a rung and at `max_step` the order check compares.
pub(super) const ORDER_CHECK_MIN_RUNS: usize = 4;
/// Share of concordant pairs (ties left out) that lets a rung judge: Kendall's tau of 0.5.
const ORDER_CHECK_CONCORDANCE: f64 = 0.75;
/// Most runs the check compares (the latest), so it stays cheap in searches of thousands of runs.
const ORDER_CHECK_MAX_RUNS: usize = 200;
/// Most of the steps reported so far that the order check's control runs may take (each
/// counted, to `max_step`, when it is let go on). A tenth: where the rungs' order holds, the
/// controls are the check's whole cost (level with no controls over the ten learning-curve
/// problems at 15 runs' worth; docs/benchmarks/early-stopping.md).
const ORDER_CHECK_CONTROL_SHARE: f64 = 0.1;

/// Every run's curve, and the rule that judges them.
#[derive(Debug)]
pub struct Pruner {
    rule: EarlyStopping,
    curves: BTreeMap<u64, Curve>,
    /// For asha/hyperband: the losses each run had on reaching each rung, by (bracket, step).
    rungs: BTreeMap<(u64, u64), Vec<(u64, f64)>>,
    /// Steps reported by every run so far (each run's furthest step, summed).
    steps_seen: u64,
    /// Steps a long curve keeps whatever its thinning (the rungs and `max_step`), sorted.
    pinned: Vec<u64>,
    /// Steps that control runs were let go on for (each to `max_step`), when let go on.
    control_steps: u64,
    /// By rung step: the runs the rung would have stopped (controls included), and the controls.
    would_stop: BTreeMap<u64, (u64, u64)>,
    /// Controls made since `take_controls` was last called: (run, rung, why).
    new_controls: Vec<(u64, u64, String)>,
}

/// A decision to stop a run: where it was and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Stop {
    pub step: u64,
    pub reason: String,
}

impl Pruner {
    pub fn new(rule: EarlyStopping) -> Self {
        let pinned = match &rule {
            EarlyStopping::Asha(rungs) | EarlyStopping::Hyperband(rungs) => {
                // From rate 0: what the in-process optimizer reads (`highest_rung`) too.
                let mut steps = rungs.rung_steps(0);
                steps.push(rungs.max_step);
                steps
            }
            _ => Vec::new(),
        };
        Pruner {
            rule,
            pinned,
            curves: BTreeMap::new(),
            rungs: BTreeMap::new(),
            steps_seen: 0,
            control_steps: 0,
            would_stop: BTreeMap::new(),
            new_controls: Vec::new(),
        }
    }

    /// The run's last reported (step, loss).
    pub fn last(&self, id: u64) -> Option<(u64, f64)> {
        self.curves.get(&id).and_then(|c| c.points.last().copied())
    }

    /// The run's loss at `step`: its last report at or before it.
    pub fn at(&self, id: u64, step: u64) -> Option<f64> {
        self.curves.get(&id).and_then(|c| c.at(step))
    }

    /// Adds a run's new point and says whether the rule stops it there. With `judge` false the
    /// point only joins the record (a run read again after a restart: what it passed before is
    /// not judged again).
    pub fn add(&mut self, id: u64, step: u64, loss: f64, judge: bool) -> Option<Stop> {
        let curve = self.curves.entry(id).or_default();
        let previous = match curve.points.last() {
            Some((s, _)) if *s >= step => return None,
            Some((s, _)) => *s,
            None => 0,
        };
        curve.push(step, loss, &self.pinned);
        // Saturating: steps are a script's numbers (each at most MAX_STEP, summed over runs).
        self.steps_seen = self.steps_seen.saturating_add(step - previous);
        let stop = match self.rule {
            EarlyStopping::None => None,
            EarlyStopping::Median {
                startup_runs,
                warmup_steps,
                interval_steps,
            } => self.median(id, step, startup_runs, warmup_steps, interval_steps, judge),
            EarlyStopping::Asha(_) | EarlyStopping::Hyperband(_) => {
                let (rungs, bracket, rate) = self.bracket_of(id)?;
                self.successive_halving(id, step, bracket, rate, &rungs, judge)
            }
        };
        if let Some(stop) = &stop {
            self.curves.entry(id).or_default().stopped_at = Some(stop.step);
        }
        stop
    }

    /// Marks a run an earlier session's rule stopped at `step`, as the store remembers it: the
    /// order check reads it as decided there, and counts it among the runs its rung stopped.
    pub fn stopped(&mut self, id: u64, step: u64) {
        self.curves.entry(id).or_default().stopped_at = Some(step);
        if let Some(rung) = self.rung_at_or_before(id, step) {
            self.would_stop.entry(rung).or_default().0 += 1;
        }
    }

    /// Marks a run the order check let go on as a control at `rung` (now, or in an earlier
    /// session as the store remembers it): no rung stops it, and the check weighs it for the
    /// runs stopped there.
    pub fn control(&mut self, id: u64, rung: u64) {
        let Some((rungs, _, _)) = self.bracket_of(id) else {
            return;
        };
        self.curves.entry(id).or_default().control_at = Some(rung);
        let counts = self.would_stop.entry(rung).or_default();
        counts.0 += 1;
        counts.1 += 1;
        self.control_steps += Self::control_cost(rungs.max_step, rung);
    }

    /// The steps a control let go on at `rung` is counted for: the rest of a whole run.
    fn control_cost(max_step: u64, rung: u64) -> u64 {
        max_step.saturating_sub(rung)
    }

    /// The runs the order check let go on as controls since the last call: (run, rung, why).
    pub fn take_controls(&mut self) -> Vec<(u64, u64, String)> {
        std::mem::take(&mut self.new_controls)
    }

    /// For asha and hyperband: the rungs, the run's bracket (hyperband deals runs to brackets in
    /// turn; asha has one) and the bracket's early-stopping rate.
    fn bracket_of(&self, id: u64) -> Option<(Rungs, u64, u64)> {
        match self.rule {
            EarlyStopping::Asha(rungs) => Some((rungs, 0, rungs.min_early_stopping_rate)),
            EarlyStopping::Hyperband(rungs) => {
                let bracket = id % rungs.brackets().max(1);
                Some((rungs, bracket, rungs.min_early_stopping_rate + bracket))
            }
            _ => None,
        }
    }

    /// The last rung at or before `step` of the run's bracket (asha and hyperband).
    fn rung_at_or_before(&self, id: u64, step: u64) -> Option<u64> {
        let (rungs, _, rate) = self.bracket_of(id)?;
        rungs.rung_steps(rate).into_iter().rfind(|r| *r <= step)
    }

    /// Marks a run's end: a run that succeeded is one the median rule compares against.
    pub fn ended(&mut self, id: u64, succeeded: bool) {
        self.curves.entry(id).or_default().succeeded = succeeded;
    }

    fn median(
        &mut self,
        id: u64,
        step: u64,
        startup_runs: u64,
        warmup_steps: u64,
        interval_steps: u64,
        judge: bool,
    ) -> Option<Stop> {
        if step <= warmup_steps {
            return None;
        }
        // Judged once per interval crossed after the warm-up, whatever steps the run reports.
        let interval = (step - warmup_steps) / interval_steps;
        let curve = self.curves.get_mut(&id)?;
        if interval == 0 || interval <= curve.judged {
            return None;
        }
        curve.judged = interval;
        let best = curve.best?;
        if !judge {
            return None;
        }
        let finished: Vec<&Curve> = self
            .curves
            .iter()
            .filter(|(other, c)| **other != id && c.succeeded)
            .map(|(_, c)| c)
            .collect();
        let others: Vec<f64> = finished.iter().filter_map(|c| c.at(step)).collect();
        if (finished.len() as u64) < startup_runs.max(1) || others.is_empty() {
            return None;
        }
        let compared = others.len();
        (best > median(others)).then(|| Stop {
            step,
            reason: format!(
                "its best result by step {step} is worse than the median of {compared} finished runs at that step"
            ),
        })
    }

    fn successive_halving(
        &mut self,
        id: u64,
        step: u64,
        bracket: u64,
        rate: u64,
        rungs: &Rungs,
        judge: bool,
    ) -> Option<Stop> {
        let curve = self.curves.get_mut(&id)?;
        let loss = curve.points.last()?.1;
        // Every rung reached since the last report, lowest first; the run stops at the first it
        // fails.
        let reached: Vec<u64> = rungs
            .rung_steps(rate)
            .into_iter()
            .filter(|r| *r <= step && *r > curve.judged)
            .collect();
        if let Some(last) = reached.last() {
            curve.judged = *last;
        }
        let mut control = curve.control_at.is_some();
        for rung in reached {
            self.rungs
                .entry((bracket, rung))
                .or_default()
                .push((id, loss));
            if !judge || control {
                continue;
            }
            let entries = &self.rungs[&(bracket, rung)];
            let better = entries.iter().filter(|(_, other)| *other < loss).count();
            let n = entries.len();
            let going_on = (n as u64 / rungs.reduction_factor).max(1) as usize;
            // The order check only where it matters: a run that would be stopped.
            if better >= going_on && (!rungs.order_check || self.order_holds(rung, rungs)) {
                let near = better < 2 * going_on;
                if rungs.order_check && self.let_go_on_as_control(id, rung, rungs, near) {
                    self.new_controls.push((
                        id,
                        rung,
                        format!(
                            "at the rung of step {rung} it ranks {} of the {n} runs that reached it and would stop there, but it goes on to the end as a control of the rung's order check: a run near the cut, so the check sees how the runs this rung stops would have ended",
                            better + 1
                        ),
                    ));
                    control = true;
                    continue;
                }
                self.would_stop.entry(rung).or_default().0 += 1;
                return Some(Stop {
                    step,
                    reason: format!(
                        "at the rung of step {rung} it ranks {} of the {n} runs that reached it; the best {going_on} go on (1 in {})",
                        better + 1,
                        rungs.reduction_factor
                    ),
                });
            }
        }
        None
    }

    /// Whether a run that `rung` would stop goes on instead, as a control: one near the cut
    /// (`near`), while the controls' steps (each to `max_step`) stay within
    /// `ORDER_CHECK_CONTROL_SHARE` of the steps reported so far.
    fn let_go_on_as_control(&mut self, id: u64, rung: u64, rungs: &Rungs, near: bool) -> bool {
        let cost = Self::control_cost(rungs.max_step, rung);
        let affordable = (self.control_steps + cost) as f64
            <= ORDER_CHECK_CONTROL_SHARE * self.steps_seen as f64;
        if near && affordable {
            self.control(id, rung);
        }
        near && affordable
    }

    /// How many runs a decided run stands for in the check at `rung`: a control there stands
    /// for every run that rung would have stopped, shared among its controls; any other, itself.
    fn weight_at(&self, curve: &Curve, rung: u64) -> f64 {
        match (curve.control_at, self.would_stop.get(&rung)) {
            (Some(at), Some((stopped, controls))) if at == rung && *controls > 0 => {
                *stopped as f64 / *controls as f64
            }
            _ => 1.0,
        }
    }

    /// Whether the runs' order at `rung` has held where it was decided (see the module's doc).
    /// Each run is read at the rung as the rung read it (its first report at or past the rung
    /// step), and a pair where the first of the two ended: `max_step` (each run's last report
    /// at or past it) or the step a later rung stopped one of them at.
    fn order_holds(&self, rung: u64, rungs: &Rungs) -> bool {
        // (value at the rung, the step where the run was decided, the curve)
        let decided: Vec<(f64, u64, &Curve)> = self
            .curves
            .values()
            .rev()
            .filter_map(|c| {
                let last = c.points.last()?.0;
                let end = if last >= rungs.max_step {
                    rungs.max_step
                } else {
                    c.stopped_at.filter(|stop| *stop > rung)?
                };
                Some((c.from(rung)?, end, c))
            })
            .take(ORDER_CHECK_MAX_RUNS)
            .collect();
        let whole = decided
            .iter()
            .filter(|(_, end, _)| *end == rungs.max_step)
            .count();
        if whole < ORDER_CHECK_MIN_RUNS {
            return false;
        }
        let mut pairs = Vec::new();
        for (i, (at_rung_a, end_a, a)) in decided.iter().enumerate() {
            for (at_rung_b, end_b, b) in &decided[i + 1..] {
                let end = (*end_a).min(*end_b);
                let at_end = |c: &Curve| {
                    if end == rungs.max_step {
                        c.points.last().map(|(_, v)| *v)
                    } else {
                        c.from(end)
                    }
                };
                if let (Some(end_a), Some(end_b)) = (at_end(a), at_end(b)) {
                    let weight = self.weight_at(a, rung) * self.weight_at(b, rung);
                    pairs.push(((*at_rung_a, *at_rung_b), (end_a, end_b), weight));
                }
            }
        }
        concordant_share(pairs).is_some_and(|c| c >= ORDER_CHECK_CONCORDANCE)
    }
}

/// Of pairs of runs, each read twice (`(first, second)` at one point, then at another), the
/// share ordered alike both times (pairs tied at either point left out); `None` when every pair
/// ties.
fn concordant_share(pairs: impl IntoIterator<Item = ((f64, f64), (f64, f64), f64)>) -> Option<f64> {
    let (mut same, mut opposite) = (0.0, 0.0);
    for ((a1, a2), (b1, b2), weight) in pairs {
        if a1 == a2 || b1 == b2 {
            continue;
        }
        if (a1 < a2) == (b1 < b2) {
            same += weight;
        } else {
            opposite += weight;
        }
    }
    let total = same + opposite;
    (total > 0.0).then(|| same / total)
}

/// The rules compare losses in the search's direction (lower is better): the objective times
/// this.
pub(crate) fn direction(y: YTransformation) -> f64 {
    match y {
        YTransformation::Neg | YTransformation::NegLog => -1.0,
        YTransformation::None | YTransformation::Log => 1.0,
    }
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn median_rule(startup_runs: u64, warmup_steps: u64, interval_steps: u64) -> Pruner {
        Pruner::new(EarlyStopping::Median {
            startup_runs,
            warmup_steps,
            interval_steps,
        })
    }

    /// Runs 0..n, run i's loss at step s = (i + 1) / s, each to the end.
    fn finished_runs(pruner: &mut Pruner, n: u64, steps: u64) {
        for id in 0..n {
            for step in 1..=steps {
                assert_eq!(
                    pruner.add(id, step, (id + 1) as f64 / step as f64, true),
                    None
                );
            }
            pruner.ended(id, true);
        }
    }

    #[test]
    fn median_stops_a_run_worse_than_the_finished_runs_median_and_spares_a_better_one() {
        let mut pruner = median_rule(3, 1, 1);
        // Runs 0, 1, 2 at step 2: 0.5, 1.0, 1.5: median 1.0. The first three are never stopped:
        // they have no finished runs (or too few) to compare with.
        finished_runs(&mut pruner, 3, 5);
        // Within the warm-up (step 1) even a poor run goes on.
        assert_eq!(pruner.add(10, 1, 9.0, true), None);
        let stop = pruner
            .add(10, 2, 2.0, true)
            .expect("2.0 is worse than the median 1.0");
        assert_eq!(stop.step, 2);
        assert!(
            stop.reason.contains("median of 3 finished runs"),
            "{}",
            stop.reason
        );
        // A run as good as the median goes on.
        assert_eq!(pruner.add(11, 2, 1.0, true), None);
        assert_eq!(pruner.add(11, 3, 0.2, true), None);
    }

    #[test]
    fn steps_summed_over_runs_at_the_largest_step_do_not_overflow() {
        // Each run's furthest step counts towards the order check's control budget: three runs
        // at the largest step a script may report overflowed the sum (a panic in a debug build).
        let mut pruner = median_rule(1, 0, 1);
        let largest = crate::config::early_stopping::MAX_STEP;
        for id in 0..3 {
            assert_eq!(pruner.add(id, 1, 1.0, true), None);
            pruner.add(id, largest, 0.5, true);
        }
        assert_eq!(pruner.steps_seen, u64::MAX);
    }

    #[test]
    fn median_waits_for_startup_runs_and_judges_once_per_interval() {
        let mut pruner = median_rule(3, 0, 4);
        finished_runs(&mut pruner, 2, 8);
        assert_eq!(
            pruner.add(10, 4, 100.0, true),
            None,
            "only 2 of 3 startup runs finished"
        );
        finished_runs(&mut pruner, 3, 8);
        // Steps 5-7 are inside the second interval, not yet crossed: no judgement.
        for step in 5..8 {
            assert_eq!(pruner.add(10, step, 100.0, true), None);
        }
        assert!(pruner.add(10, 8, 100.0, true).is_some());
    }

    #[test]
    fn median_compares_sparse_reports_with_the_last_value_at_or_before_the_step() {
        let mut pruner = median_rule(1, 0, 1);
        for (step, loss) in [(10, 5.0), (20, 1.0)] {
            pruner.add(0, step, loss, true);
        }
        pruner.ended(0, true);
        // At step 15 the finished run stood at 5.0 (its value at step 10).
        assert_eq!(pruner.add(1, 15, 4.0, true), None);
        assert!(pruner.add(2, 15, 6.0, true).is_some());
    }

    fn asha(max_step: u64) -> Rungs {
        Rungs {
            min_step: 1,
            max_step,
            reduction_factor: 3,
            min_early_stopping_rate: 0,
            order_check: false,
        }
    }

    #[test]
    fn a_curve_reported_every_batch_is_thinned_but_its_rungs_and_end_are_read_exactly() {
        // A script reporting 200,000 batches: kept whole, 3.2 MB for this one run.
        let steps = 200_000;
        let mut pruner = Pruner::new(EarlyStopping::Asha(asha(steps)));
        let loss = |step: u64| 1.0 + 1.0 / step as f64;
        for step in 1..=steps {
            pruner.add(0, step, loss(step), true);
        }
        pruner.ended(0, true);
        let kept = pruner.curves[&0].points.len();
        assert!(kept < 2 * CURVE_POINTS + 40, "{kept} points kept");
        assert_eq!(pruner.last(0), Some((steps, loss(steps))));
        // Every rung (3^k) and max_step reads the value reported there, before and after it.
        let mut rungs = asha(steps).rung_steps(0);
        rungs.push(steps);
        for rung in rungs {
            assert_eq!(pruner.at(0, rung), Some(loss(rung)), "at {rung}");
            assert_eq!(
                pruner.curves[&0].from(rung),
                Some(loss(rung)),
                "from {rung}"
            );
        }
        // Between them the nearest kept report before the step: close, never later.
        let read = pruner.at(0, 150_000).expect("a loss");
        assert!(read >= loss(150_000) && read < loss(140_000), "{read}");
    }

    #[test]
    fn a_curve_of_an_epoch_a_step_is_kept_whole() {
        let mut pruner = median_rule(1, 0, 1);
        for step in 1..=(2 * CURVE_POINTS as u64 - 1) {
            pruner.add(0, step, 1.0 / step as f64, true);
        }
        assert_eq!(pruner.curves[&0].points.len(), 2 * CURVE_POINTS - 1);
    }

    #[test]
    fn asha_lets_the_best_third_of_each_rung_go_on() {
        let mut pruner = Pruner::new(EarlyStopping::Asha(asha(27)));
        // Rung steps 1, 3, 9. The first run at a rung always goes on.
        assert_eq!(pruner.add(0, 1, 0.5, true), None);
        // Second run, worse: of 2 runs the best max(2/3, 1) = 1 goes on.
        let stop = pruner
            .add(1, 1, 0.9, true)
            .expect("worse than the only other run");
        assert!(
            stop.reason.contains("ranks 2 of the 2 runs"),
            "{}",
            stop.reason
        );
        // Better than run 0: goes on.
        assert_eq!(pruner.add(2, 1, 0.1, true), None);
        // Six runs at the rung: the best 2 go on; this one would be 2nd.
        for (id, loss) in [(3, 0.8), (4, 0.7)] {
            pruner.add(id, 1, loss, true);
        }
        assert_eq!(pruner.add(5, 1, 0.3, true), None);
        // A report that skips rungs is judged at each rung it passed, the lowest first.
        let stop = pruner.add(6, 9, 0.95, true).expect("worst at rung 1");
        assert!(stop.reason.contains("rung of step 1"), "{}", stop.reason);
    }

    #[test]
    fn a_run_read_again_after_a_restart_is_not_judged_again_at_rungs_it_passed() {
        let mut pruner = Pruner::new(EarlyStopping::Asha(asha(27)));
        for id in 0..6 {
            pruner.add(id, 1, 0.1 * id as f64, true);
        }
        // Read again without judging: it had passed rung 1 before the restart.
        assert_eq!(pruner.add(9, 1, 5.0, false), None);
        assert_eq!(pruner.add(9, 2, 4.0, true), None);
        // It is judged at the next rung (3), where it is the first: it goes on.
        assert_eq!(pruner.add(9, 3, 3.0, true), None);
        assert_eq!(pruner.last(9), Some((3, 3.0)));
    }

    fn checked(max_step: u64) -> Pruner {
        Pruner::new(EarlyStopping::Asha(Rungs {
            order_check: true,
            ..asha(max_step)
        }))
    }

    /// Runs `ids`, each to `max_step` with loss `loss(id, step)`; none may be stopped.
    fn whole_runs(
        pruner: &mut Pruner,
        ids: std::ops::Range<u64>,
        max_step: u64,
        loss: fn(u64, u64) -> f64,
    ) {
        for id in ids {
            for step in 1..=max_step {
                assert_eq!(
                    pruner.add(id, step, loss(id, step), true),
                    None,
                    "run {id} step {step}"
                );
            }
            pruner.ended(id, true);
        }
    }

    /// Crossing curves: run `id`'s loss is `id` before step 9 and `10 - id` from step 9 on.
    fn crossing(id: u64, step: u64) -> f64 {
        if step < 9 {
            id as f64
        } else {
            10.0 - id as f64
        }
    }

    #[test]
    fn order_check_judges_only_at_rungs_whose_order_held_later() {
        // Crossing curves: the runs' order at steps 1-8 is the reverse of their order from
        // step 9 on (rungs 1, 3, 9 of 27).
        let mut pruner = checked(27);
        // Run 1 onwards are worse at rung 1 than run 0, and go on: nothing has been seen to hold.
        whole_runs(&mut pruner, 0..5, 27, crossing);
        // The worst run yet at rungs 1 and 3 goes on: there the order was reversed at the end.
        assert_eq!(pruner.add(10, 1, 100.0, true), None);
        assert_eq!(pruner.add(10, 3, 100.0, true), None);
        // At rung 9 the order held to the end: it is judged there, and stopped.
        let stop = pruner
            .add(10, 9, 100.0, true)
            .expect("worst at rung 9, whose order holds");
        assert!(stop.reason.contains("rung of step 9"), "{}", stop.reason);

        // Without the check, plain ASHA stops it at the first rung.
        let mut plain = Pruner::new(EarlyStopping::Asha(asha(27)));
        for step in 1..=27 {
            plain.add(0, step, crossing(0, step), true);
        }
        let stop = plain
            .add(10, 1, 100.0, true)
            .expect("worse than run 0 at rung 1");
        assert!(stop.reason.contains("rung of step 1"), "{}", stop.reason);
    }

    #[test]
    fn order_check_waits_for_four_runs_past_the_rung_then_is_asha() {
        let kept = |id: u64, step: u64| (id + 1) as f64 / step as f64;
        let mut pruner = checked(27);
        whole_runs(&mut pruner, 0..3, 27, kept);
        assert_eq!(
            pruner.add(10, 1, 50.0, true),
            None,
            "3 runs are too few to check"
        );
        whole_runs(&mut pruner, 3..4, 27, kept);
        let stop = pruner
            .add(11, 1, 50.0, true)
            .expect("4 runs kept their order");
        assert!(stop.reason.contains("rung of step 1"), "{}", stop.reason);
    }

    #[test]
    fn order_check_counts_runs_a_later_rung_stopped_not_only_the_whole_runs() {
        // Slow learners (0-4) go the whole way, in the same order at every step. Fast learners
        // (10-13) looked best at rungs 1 and 3, then worst, and rung 9 stopped them: at rung 1
        // the whole runs alone keep their order, the search as a whole does not.
        let slow = |id: u64, step: u64| 3.0 - 2.5 * step as f64 / 27.0 - id as f64 / 100.0;
        let fast = |id: u64, step: u64| {
            let level = if step < 9 { 1.0 } else { 2.5 };
            level + id as f64 / 100.0
        };
        // The runs recorded (as read again on resume), with the fast ones marked stopped or not
        // (the check as it was read the whole runs alone).
        let recorded = |mark_stopped: bool| {
            let mut pruner = checked(27);
            for id in 0..5 {
                for step in 1..=27 {
                    pruner.add(id, step, slow(id, step), false);
                }
                pruner.ended(id, true);
            }
            for id in 10..14 {
                for step in 1..=9 {
                    pruner.add(id, step, fast(id, step), false);
                }
                if mark_stopped {
                    pruner.stopped(id, 9);
                }
                pruner.ended(id, false);
            }
            pruner
        };
        // A slow learner, worse at rung 1 than every fast one: it goes on.
        assert_eq!(recorded(true).add(20, 1, slow(0, 1) + 0.01, true), None);
        // Reading the whole runs alone, their order holds, and rung 1 stops it.
        let stop = recorded(false)
            .add(20, 1, slow(0, 1) + 0.01, true)
            .expect("the whole runs alone kept their order at rung 1");
        assert!(stop.reason.contains("rung of step 1"), "{}", stop.reason);
    }

    #[test]
    fn order_check_lets_a_run_near_the_cut_go_on_as_a_control_and_counts_it_for_those_stopped() {
        // Ten whole runs in the same order at every step, each better than the last: rungs 1, 3
        // and 9 judge.
        let kept = |id: u64, step: u64| (10 - id) as f64 / step as f64;
        let mut pruner = checked(27);
        whole_runs(&mut pruner, 0..10, 27, kept);
        // Run 20 ranks 4th of 11 at rung 1, below the best 3 but near them: rung 1 would stop
        // it, and with 270 steps seen its 26 more are within a tenth: it goes on as a control.
        assert_eq!(pruner.add(20, 1, 3.5, true), None);
        // No later rung stops it, though it is the worst at rungs 3 and 9; it ends the best.
        for step in 2..27 {
            assert_eq!(pruner.add(20, step, 100.0, true), None, "step {step}");
        }
        assert_eq!(pruner.add(20, 27, 0.0, true), None);
        pruner.ended(20, true);
        // Run 21 is the worst at rung 1: stopped (rung 1's order held for all but the control).
        // Each run stopped there adds to the weight of the control, which stands for them, until
        // its pairs outweigh the whole runs' and the rung no longer judges.
        let mut stopped = 0;
        for id in 21..60 {
            if pruner.add(id, 1, 50.0, true).is_none() {
                break;
            }
            stopped += 1;
        }
        // The control's pairs: 7 in the same order at rung 1 and at the end, 3 reversed; the
        // whole runs' 45 pairs all the same: the rung judges while (45 + 7w) / (45 + 10w) >= 0.75,
        // that is for w up to 22.5 runs stopped, the control among them.
        assert_eq!(
            stopped, 22,
            "runs stopped at rung 1 before the check turned it off"
        );
    }

    #[test]
    fn order_check_is_not_passed_by_runs_in_flight_at_a_nearer_step() {
        // Four runs in flight at step 3, none at the end yet; their order at steps 1 and 3 is
        // the same (it reverses only from step 9): rung 1 must not judge on that.
        let mut pruner = checked(27);
        for id in 0..4 {
            for step in 1..=3 {
                assert_eq!(pruner.add(id, step, crossing(id, step), true), None);
            }
        }
        assert_eq!(pruner.add(10, 1, 100.0, true), None);
    }

    #[test]
    fn order_check_reads_runs_that_skip_the_rung_step_where_the_rung_does() {
        // Reports at even steps only: rung 1 reads each run at step 2.
        let mut pruner = checked(27);
        for id in 0..4 {
            for step in (2..=26).step_by(2).chain([27]) {
                assert_eq!(
                    pruner.add(id, step, (id + 1) as f64 / step as f64, true),
                    None
                );
            }
            pruner.ended(id, true);
        }
        let stop = pruner
            .add(10, 2, 50.0, true)
            .expect("worst at rung 1, whose order held");
        assert!(stop.reason.contains("rung of step 1"), "{}", stop.reason);
    }

    /// The share of pairs ordered alike by both values (pairs tied in either left out); `None`
    /// when every pair ties.
    fn concordance(items: &[(f64, f64)]) -> Option<f64> {
        let pairs = items.iter().enumerate().flat_map(|(i, (a1, b1))| {
            items[i + 1..]
                .iter()
                .map(move |(a2, b2)| ((*a1, *a2), (*b1, *b2), 1.0))
        });
        concordant_share(pairs)
    }

    #[test]
    fn concordance_leaves_ties_out() {
        assert_eq!(
            concordance(&[(1.0, 1.0), (2.0, 2.0), (3.0, 0.0)]),
            Some(1.0 / 3.0)
        );
        assert_eq!(concordance(&[(1.0, 1.0), (1.0, 2.0), (1.0, 3.0)]), None);
        assert_eq!(
            concordance(&[(1.0, 5.0), (2.0, 6.0), (2.0, 7.0)]),
            Some(1.0)
        );
    }

    #[test]
    fn hyperband_brackets_compete_apart() {
        let rungs = asha(9);
        assert_eq!(rungs.brackets(), 2);
        let mut pruner = Pruner::new(EarlyStopping::Hyperband(rungs));
        // Even ids: bracket 0 (rungs 1, 3); odd ids: bracket 1 (rung 3 only).
        assert_eq!(pruner.add(0, 1, 0.1, true), None);
        assert_eq!(
            pruner.add(1, 1, 9.0, true),
            None,
            "bracket 1 has no rung at step 1"
        );
        assert!(
            pruner.add(2, 1, 0.5, true).is_some(),
            "worse than run 0 in bracket 0"
        );
        assert_eq!(
            pruner.add(1, 3, 9.0, true),
            None,
            "first of bracket 1 at rung 3"
        );
        assert!(pruner.add(3, 3, 9.5, true).is_some());
    }
}
