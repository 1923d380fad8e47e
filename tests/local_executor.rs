//! The local executor through its trait, with the real runner (`hpsearch _runner`) and real
//! scripts: runs sent without waiting are answered in order, and a run's end is never reported
//! before its start was taken.

use hpsearch::executor::{Executor, ExecutorError, LocalExecutor, RunEnd, RunSpec};
use std::path::Path;
use std::time::{Duration, Instant};

fn spec(root: &Path, id: u64, program: &str, script: &str) -> RunSpec {
    let folder = root.join(format!("hp_combination_{id}"));
    std::fs::create_dir_all(&folder).expect("a run folder");
    std::fs::write(folder.join("input.json"), "{}").expect("input.json");
    let script_path = root.join(format!("script_{id}.sh"));
    std::fs::write(&script_path, script).expect("the script");
    RunSpec {
        combination_id: id,
        input: folder.join("input.json"),
        folder,
        program: program.into(),
        script: script_path,
        time_limit: Duration::from_secs(60),
        kill_grace: Duration::from_secs(1),
        checkpoint_signal: Duration::ZERO,
    }
}

fn executor() -> LocalExecutor {
    LocalExecutor::new(env!("CARGO_BIN_EXE_hpsearch").into())
}

/// Polls until `count` runs have been reported ended (at most 20 s).
fn ends(executor: &mut LocalExecutor, count: usize) -> Vec<(u64, RunEnd)> {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut ended = Vec::new();
    while ended.len() < count && Instant::now() < deadline {
        ended.extend(
            executor
                .poll()
                .into_iter()
                .map(|e| (e.combination_id, e.end)),
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    ended.sort_by_key(|(id, _)| *id);
    ended
}

#[test]
fn runs_sent_without_waiting_are_answered_in_order_and_end_only_after_their_start_is_taken() {
    let root = tempfile::tempdir().expect("a temporary folder");
    let mut executor = executor();
    let quick = "echo '{\"objective\": 1}' > output.json\n";
    let specs = [
        spec(root.path(), 0, "/bin/sh", quick),
        spec(root.path(), 1, "/no/such/interpreter", quick),
        spec(root.path(), 2, "/bin/sh", quick),
    ];
    for spec in &specs {
        let sent = executor.send(spec).expect("the runner takes the request");
        assert!(sent.is_none(), "the answer comes later");
    }
    assert_eq!(executor.active(), 3, "sent runs hold their slots");

    // The scripts end within milliseconds, but their ends wait for their starts to be taken.
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        executor.poll().is_empty(),
        "no end is reported before its start"
    );

    let mut answers = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while answers.len() < 3 && Instant::now() < deadline {
        answers.extend(executor.answers());
        std::thread::sleep(Duration::from_millis(10));
    }
    let ids: Vec<u64> = answers.iter().map(|(id, _)| *id).collect();
    assert_eq!(ids, [0, 1, 2], "answers come in the order sent");
    for (id, answer) in &answers {
        match (id, answer) {
            (1, Err(ExecutorError::Start { message, .. })) => {
                assert!(message.contains("/no/such/interpreter"), "{message}")
            }
            (_, Ok(submitted)) if *id != 1 => {
                let pid = submitted.pid.expect("a started run has a pid");
                assert_eq!(submitted.job_id, format!("local:{pid}"));
            }
            other => panic!("unexpected answer {other:?}"),
        }
    }
    assert_eq!(
        executor.active(),
        2,
        "the run that could not start holds no slot"
    );
    assert_eq!(
        ends(&mut executor, 2),
        [(0, RunEnd::Exited(0)), (2, RunEnd::Exited(0))]
    );
    for id in [0, 2] {
        let output = root.path().join(format!("hp_combination_{id}/output.json"));
        assert!(output.exists(), "run {id} wrote its output");
    }
    assert_eq!(executor.active(), 0);
}

#[test]
fn a_run_submitted_after_others_were_sent_leaves_their_answers_for_later() {
    let root = tempfile::tempdir().expect("a temporary folder");
    let mut executor = executor();
    let slow = "sleep 0.2; echo '{\"objective\": 1}' > output.json\n";
    let sent = spec(root.path(), 0, "/bin/sh", slow);
    let submitted = spec(root.path(), 1, "/bin/sh", slow);
    assert!(executor.send(&sent).expect("sent").is_none());
    let own = executor.submit(&submitted).expect("started");
    assert!(own.pid.is_some());
    let answers = executor.answers();
    assert_eq!(answers.len(), 1, "{answers:?}");
    assert_eq!(answers[0].0, 0);
    assert!(answers[0].1.is_ok(), "{answers:?}");
    assert_eq!(
        ends(&mut executor, 2),
        [(0, RunEnd::Exited(0)), (1, RunEnd::Exited(0))]
    );
}

#[test]
fn stopping_everything_also_stops_runs_whose_answer_was_not_read() {
    let root = tempfile::tempdir().expect("a temporary folder");
    let mut executor = executor();
    let long = "sleep 30\n";
    for id in 0..2 {
        assert!(executor
            .send(&spec(root.path(), id, "/bin/sh", long))
            .expect("sent")
            .is_none());
    }
    let began = Instant::now();
    let mut stopped = executor.stop_all(Duration::from_secs(5));
    stopped.sort_unstable();
    assert_eq!(stopped, [0, 1]);
    assert!(
        began.elapsed() < Duration::from_secs(5),
        "SIGTERM ended them"
    );
    assert_eq!(executor.active(), 0);
    // Their starts are still owed to the caller, which records them before their stop.
    let answered: Vec<u64> = executor.answers().into_iter().map(|(id, _)| id).collect();
    assert_eq!(answered, [0, 1]);
}
