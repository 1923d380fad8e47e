//! What a search cost in compute, for the snapshot's readers (`status`, the report): hours of
//! run time, CPU hours and GPU hours, in all and for the runs early stopping stopped, with an
//! estimate of what those would have cost had they run to their end.

use crate::store::{Combination, RunState};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Compute {
    /// Wall time of every run from its start to its end (or to now, for runs in flight).
    pub run_hours: f64,
    /// CPU time the runs' supervisors measured (wait4: user and system, children included);
    /// runs without a measure (in flight, lost) add nothing.
    pub cpu_hours: f64,
    /// GPUs × run hours of GPU jobs (`processor_type` GPU): the GPUs Slurm's accounting says it
    /// allocated each run, or those the job config asks for where it does not say.
    pub gpu_hours: f64,
    pub pruned_runs: u64,
    pub pruned_run_hours: f64,
    pub pruned_cpu_hours: f64,
    pub pruned_gpu_hours: f64,
    /// Estimated run hours the pruned runs would have taken to their end: each one's hours scaled
    /// by the full length over the step it reached. The full length is `max_step` under asha and
    /// hyperband, else the median of the steps the finished runs reported; `None` when neither
    /// is known.
    pub pruned_run_hours_to_end: Option<f64>,
    pub pruned_cpu_hours_to_end: Option<f64>,
    pub pruned_gpu_hours_to_end: Option<f64>,
}

impl Compute {
    /// `gpus_per_run` is 0 for CPU jobs; `max_step` the full length when the rule knows it.
    pub fn of(
        combinations: &[Combination],
        gpus_per_run: u64,
        max_step: Option<u64>,
        now: f64,
    ) -> Compute {
        let mut total = Compute::default();
        let full_steps = max_step.or_else(|| median_finished_steps(combinations));
        let mut to_end = [0.0; 3];
        let mut estimable = true;
        for c in combinations {
            let Some(minutes) = c.job_minutes(now) else {
                continue;
            };
            let run = minutes / 60.0;
            let cpu = c
                .cpu_seconds
                .filter(|s| s.is_finite() && *s >= 0.0)
                .unwrap_or(0.0)
                / 3600.0;
            let gpu = c.gpus.unwrap_or(gpus_per_run) as f64 * run;
            total.run_hours += run;
            total.cpu_hours += cpu;
            total.gpu_hours += gpu;
            if c.state != RunState::Pruned {
                continue;
            }
            total.pruned_runs += 1;
            total.pruned_run_hours += run;
            total.pruned_cpu_hours += cpu;
            total.pruned_gpu_hours += gpu;
            match (full_steps, c.steps.filter(|s| *s > 0)) {
                (Some(full), Some(reached)) => {
                    let scale = (full as f64 / reached as f64).max(1.0);
                    to_end[0] += run * scale;
                    to_end[1] += cpu * scale;
                    to_end[2] += gpu * scale;
                }
                _ => estimable = false,
            }
        }
        if total.pruned_runs > 0 && estimable {
            total.pruned_run_hours_to_end = Some(to_end[0]);
            total.pruned_cpu_hours_to_end = Some(to_end[1]);
            total.pruned_gpu_hours_to_end = Some(to_end[2]);
        }
        total
    }

    /// One line for `status` and the report: `None` before any run started.
    pub fn describe(&self) -> Option<String> {
        if self.run_hours <= 0.0 && self.pruned_runs == 0 {
            return None;
        }
        let mut text = format!(
            "compute: {} run-hours, {} CPU-hours",
            hours(self.run_hours),
            hours(self.cpu_hours)
        );
        if self.gpu_hours > 0.0 {
            text.push_str(&format!(", {} GPU-hours", hours(self.gpu_hours)));
        }
        if self.pruned_runs > 0 {
            let (what, used, to_end) = if self.gpu_hours > 0.0 {
                (
                    "GPU-hours",
                    self.pruned_gpu_hours,
                    self.pruned_gpu_hours_to_end,
                )
            } else {
                (
                    "run-hours",
                    self.pruned_run_hours,
                    self.pruned_run_hours_to_end,
                )
            };
            text.push_str(&format!(
                "; the {} pruned runs used {} {what}",
                self.pruned_runs,
                hours(used)
            ));
            if let Some(to_end) = to_end {
                text.push_str(&format!(
                    " (about {} to their end: early stopping saved about {})",
                    hours(to_end),
                    hours((to_end - used).max(0.0))
                ));
            }
        }
        Some(text)
    }
}

fn median_finished_steps(combinations: &[Combination]) -> Option<u64> {
    let mut steps: Vec<u64> = combinations
        .iter()
        .filter(|c| c.state == RunState::Succeeded)
        .filter_map(|c| c.steps)
        .collect();
    if steps.is_empty() {
        return None;
    }
    steps.sort_unstable();
    Some(steps[steps.len() / 2])
}

/// Hours with the precision a reader needs: 120, 3.4, 0.25, 0.0012.
fn hours(h: f64) -> String {
    if h >= 100.0 {
        format!("{h:.0}")
    } else if h >= 1.0 {
        format!("{h:.1}")
    } else if h >= 0.01 {
        format!("{h:.2}")
    } else {
        format!("{h:.4}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(id: u64, state: &str, minutes: f64, cpu: f64, steps: Option<u64>) -> Combination {
        serde_json::from_value(json!({
            "id": id, "state": state, "search_type": "random", "point": [0.5],
            "params": {}, "previous_results_count": 0, "is_queued": true, "job_id": null,
            "pid": null, "pid_start": null, "created_at": 0.0, "started_at": 100.0,
            "finished_at": 100.0 + minutes * 60.0, "attempts": 1, "objective": 1.0,
            "loss": 1.0, "failure_kind": null, "failure_reason": null, "metrics": {},
            "steps": steps, "cpu_seconds": cpu
        }))
        .expect("a combination")
    }

    #[test]
    fn totals_and_what_the_pruned_runs_would_have_cost_to_their_end() {
        let runs = [
            run(0, "succeeded", 60.0, 1800.0, Some(10)),
            run(1, "succeeded", 60.0, 3600.0, Some(10)),
            run(2, "pruned", 12.0, 360.0, Some(2)),
            run(3, "failed", 30.0, 0.0, None),
        ];
        let c = Compute::of(&runs, 0, None, 0.0);
        assert!(
            (c.run_hours - (1.0 + 1.0 + 0.2 + 0.5)).abs() < 1e-9,
            "{c:?}"
        );
        assert!((c.cpu_hours - 1.6).abs() < 1e-9, "{c:?}");
        assert_eq!(c.gpu_hours, 0.0);
        assert_eq!(c.pruned_runs, 1);
        // Stopped at step 2 of the finished runs' 10: five times its 0.2 h.
        assert!(
            (c.pruned_run_hours_to_end.unwrap() - 1.0).abs() < 1e-9,
            "{c:?}"
        );
        let text = c.describe().unwrap();
        assert!(text.contains("2.7 run-hours, 1.6 CPU-hours"), "{text}");
        assert!(
            text.contains("the 1 pruned runs used 0.20 run-hours (about 1.0 to their end: early stopping saved about 0.80)"),
            "{text}"
        );

        // GPU jobs count GPUs × hours, and asha's max_step is the full length.
        let c = Compute::of(&runs, 2, Some(20), 0.0);
        assert!((c.gpu_hours - 5.4).abs() < 1e-9, "{c:?}");
        assert!(
            (c.pruned_gpu_hours_to_end.unwrap() - 4.0).abs() < 1e-9,
            "{c:?}"
        );
        assert!(c.describe().unwrap().contains("GPU-hours"));

        // What the scheduler allocated counts over what the config asked: run 0 got 4 GPUs.
        let mut runs = runs;
        runs[0].gpus = Some(4);
        let c = Compute::of(&runs, 2, Some(20), 0.0);
        assert!((c.gpu_hours - 7.4).abs() < 1e-9, "{c:?}");
    }

    #[test]
    fn nothing_to_say_before_any_run() {
        assert_eq!(Compute::of(&[], 0, None, 0.0).describe(), None);
    }
}
