//! `stop_after_failures`: a search whose first runs all fail the same way stops early.
//!
//! A script that raises on every input would otherwise spend the whole budget (on Slurm, a day of
//! an allocation) producing nothing. The rule looks only at the runs of the current start or
//! resume, so a user who fixed the script and resumes gets a fresh count.

use crate::executor::log_tail;
use crate::store::FailureKind;
use std::path::Path;

/// Ends of one coordinator session, until the first success.
#[derive(Debug, Default)]
pub struct FailFast {
    /// Failures in the order they ended, while nothing has succeeded this session.
    failures: Vec<(u64, FailureKind, String)>,
    succeeded: bool,
}

impl FailFast {
    pub fn record_success(&mut self) {
        self.succeeded = true;
    }

    pub fn record_failure(&mut self, id: u64, kind: FailureKind, reason: &str) {
        if !self.succeeded {
            self.failures.push((id, kind, reason.to_string()));
        }
    }

    /// Why the search should stop now: `limit` runs ended, none succeeded (in this session or
    /// before: `any_success`), and all failed with the same kind. `None` while it should go on.
    pub fn verdict(&self, limit: u64, any_success: bool, search: &Path) -> Option<String> {
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        if limit == 0 || self.succeeded || any_success || self.failures.len() < limit {
            return None;
        }
        let (last_id, kind, reason) = self.failures.last()?;
        if self.failures.iter().any(|(_, k, _)| k != kind) {
            return None;
        }
        let folder = search.join(format!("hp_combination_{last_id}"));
        let tail = log_tail(&folder.join("log.txt"), 3);
        let tail = if tail.is_empty() {
            "its log.txt is empty".to_string()
        } else {
            format!("last lines of {}: {tail}", folder.join("log.txt").display())
        };
        Some(format!(
            "stopped early: the first {} runs all failed ({}: {reason}); {tail}; fix the cause, then `hpsearch resume {}` (search_config.json `stop_after_failures`: 0 turns this rule off)",
            self.failures.len(),
            kind.name(),
            search.display()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stops_only_when_the_first_runs_all_fail_alike() {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut rule = FailFast::default();
        for id in 0..2 {
            rule.record_failure(id, FailureKind::NonZeroExit, "exit code 1");
        }
        assert!(rule.verdict(3, false, dir.path()).is_none(), "too few");
        rule.record_failure(2, FailureKind::NonZeroExit, "exit code 1");
        let why = rule.verdict(3, false, dir.path()).expect("stops");
        assert!(
            why.contains("first 3 runs all failed (non_zero_exit"),
            "{why}"
        );
        assert!(!why.contains('\n'));
        assert!(
            rule.verdict(0, false, dir.path()).is_none(),
            "0 turns it off"
        );
        assert!(
            rule.verdict(3, true, dir.path()).is_none(),
            "a success before"
        );

        let mut mixed = FailFast::default();
        mixed.record_failure(0, FailureKind::NonZeroExit, "exit code 1");
        mixed.record_failure(1, FailureKind::TimedOut, "time");
        mixed.record_failure(2, FailureKind::NonZeroExit, "exit code 1");
        assert!(
            mixed.verdict(3, false, dir.path()).is_none(),
            "not the same way"
        );
    }
}
