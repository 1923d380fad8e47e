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
mod tests;
