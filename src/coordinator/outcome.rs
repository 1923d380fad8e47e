//! Turning the end of a run into a result: the objective from output.json, the loss from the
//! objective, or a failure with its reason.

use crate::config::search::YTransformation;
use crate::executor::RunEnd;
use crate::store::FailureKind;
use serde_json::{Map, Value};
use std::path::Path;

#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Success {
        objective: f64,
        loss: f64,
        metrics: Map<String, Value>,
    },
    Failure {
        kind: FailureKind,
        reason: String,
        objective: Option<f64>,
        metrics: Map<String, Value>,
    },
}

fn failure(kind: FailureKind, reason: impl Into<String>) -> Outcome {
    Outcome::Failure {
        kind,
        reason: reason.into(),
        objective: None,
        metrics: Map::new(),
    }
}

/// Judges a run from how it ended and what it left in its folder.
pub fn judge(end: &RunEnd, folder: &Path, y: YTransformation, time_limit_hours: f64) -> Outcome {
    match end {
        RunEnd::Exited(0) => read_output(folder, y),
        RunEnd::Exited(code) => failure(
            FailureKind::NonZeroExit,
            with_log_tail(format!("the script exited with code {code}"), folder),
        ),
        RunEnd::Signaled(signal) => {
            let name = nix::sys::signal::Signal::try_from(*signal)
                .map(|s| s.as_str().to_string())
                .unwrap_or_else(|_| signal.to_string());
            let hint = if *signal == 9 {
                " (out of memory, or killed from outside?)"
            } else {
                ""
            };
            failure(
                FailureKind::KilledBySignal,
                with_log_tail(
                    format!("the script was killed by signal {name}{hint}"),
                    folder,
                ),
            )
        }
        RunEnd::TimedOut => failure(
            FailureKind::TimedOut,
            format!(
                "the run passed its time limit of {} (job_config.json `time`) and was stopped",
                crate::clock::hours_text(time_limit_hours)
            ),
        ),
        RunEnd::StartFailed(message) => failure(FailureKind::StartFailed, message.clone()),
        RunEnd::OutOfMemory => failure(
            FailureKind::OutOfMemory,
            with_log_tail(
                "the job ran out of memory (job_config.json `memory`)".into(),
                folder,
            ),
        ),
        RunEnd::CancelledOutside => failure(
            FailureKind::CancelledOutside,
            "the job was cancelled from outside hpsearch (scancel or an administrator)",
        ),
        RunEnd::NodeFailure(message) => failure(FailureKind::NodeFailure, message.clone()),
        RunEnd::Lost(message) | RunEnd::Interrupted(message) => {
            failure(FailureKind::Lost, message.clone())
        }
    }
}

/// Adds the last line the script printed, which usually names the error.
fn with_log_tail(reason: String, folder: &Path) -> String {
    match crate::executor::last_lines(&folder.join("log.txt"), 1).pop() {
        Some(line) => format!("{reason}; last line of log.txt: {line}"),
        None => reason,
    }
}

/// The most of output.json that is read: an objective and its metrics fit in far less, and a
/// script that writes gigabytes there by mistake must not fill the coordinator's memory.
const MAX_OUTPUT_BYTES: u64 = 64 << 20;

fn read_output(folder: &Path, y: YTransformation) -> Outcome {
    use crate::executor::run_files::{read_regular, RunFileError};
    let path = folder.join("output.json");
    let text = match read_regular(&path, MAX_OUTPUT_BYTES) {
        Ok(text) => text,
        Err(RunFileError::NotFound) => {
            return failure(
                FailureKind::MissingOutput,
                "the script exited with code 0 but wrote no output.json in save_folder",
            )
        }
        Err(RunFileError::TooLarge { bytes }) => {
            return failure(
                FailureKind::UnparseableOutput,
                format!(
                    "output.json holds {} MB, over the {} MB hpsearch reads: write the objective and a few metrics there, and larger results to files of their own",
                    bytes >> 20,
                    MAX_OUTPUT_BYTES >> 20
                ),
            )
        }
        Err(e) => {
            return failure(
                FailureKind::UnparseableOutput,
                format!("cannot read output.json: {e}"),
            )
        }
    };
    let value = match parse_lenient(&text) {
        Ok(value) => value,
        Err(message) => {
            return failure(
                FailureKind::UnparseableOutput,
                format!("output.json is not valid JSON: {message}"),
            )
        }
    };
    let (objective, metrics) = match extract(&value) {
        Ok(found) => found,
        Err(outcome) => return outcome,
    };
    if !objective.is_finite() {
        return Outcome::Failure {
            kind: FailureKind::NonFiniteObjective,
            reason: format!("the objective is {objective}, not a finite number"),
            objective: None,
            metrics,
        };
    }
    match transform(objective, y) {
        Ok(loss) => Outcome::Success {
            objective,
            loss,
            metrics,
        },
        Err(reason) => Outcome::Failure {
            kind: FailureKind::TransformationFailed,
            reason,
            objective: Some(objective),
            metrics,
        },
    }
}

/// The objective and the extra metrics of an output.json: a number, a list (first element), or an
/// object (`objective`; its other numeric keys are metrics).
fn extract(value: &Value) -> Result<(f64, Map<String, Value>), Outcome> {
    let number = |v: &Value, what: &str| -> Result<f64, Outcome> {
        match v {
            Value::Number(n) => Ok(n.as_f64().unwrap_or(f64::NAN)),
            Value::String(s) if non_finite_word(s).is_some() => {
                Ok(non_finite_word(s).unwrap_or(f64::NAN))
            }
            other => Err(failure(
                FailureKind::NoObjective,
                format!(
                    "{what} is {}, not a number",
                    crate::config::fields::describe(other)
                ),
            )),
        }
    };
    match value {
        Value::Array(items) => match items.first() {
            Some(first) => Ok((
                number(first, "the first element of the list in output.json")?,
                Map::new(),
            )),
            None => Err(failure(
                FailureKind::NoObjective,
                "output.json holds an empty list; its first element must be the objective",
            )),
        },
        Value::Object(map) => {
            let Some(objective) = map.get("objective") else {
                // Quoted, so that a key with a line break keeps the reason on one line.
                let keys: Vec<String> = map.keys().take(8).map(|k| format!("{k:?}")).collect();
                return Err(failure(
                    FailureKind::NoObjective,
                    format!(
                        "output.json is an object without the key \"objective\" (keys: {})",
                        keys.join(", ")
                    ),
                ));
            };
            let objective = number(objective, "\"objective\" in output.json")?;
            let metrics = map
                .iter()
                .filter(|(k, v)| k.as_str() != "objective" && v.is_number())
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            Ok((objective, metrics))
        }
        other => Ok((number(other, "output.json")?, Map::new())),
    }
}

fn non_finite_word(s: &str) -> Option<f64> {
    match s {
        "NaN" | "nan" => Some(f64::NAN),
        "Infinity" | "inf" => Some(f64::INFINITY),
        "-Infinity" | "-inf" => Some(f64::NEG_INFINITY),
        _ => None,
    }
}

/// Parses JSON, also accepting the bare `NaN`, `Infinity` and `-Infinity` that Python's json
/// module writes for non-finite floats (they become strings, judged non-finite later).
fn parse_lenient(text: &str) -> Result<Value, String> {
    match serde_json::from_str(text) {
        Ok(value) => Ok(value),
        Err(first) => {
            let mut patched = String::with_capacity(text.len() + 16);
            let mut in_string = false;
            let mut escaped = false;
            let mut rest = text;
            while let Some(c) = rest.chars().next() {
                if in_string {
                    patched.push(c);
                    match (escaped, c) {
                        (true, _) => escaped = false,
                        (false, '\\') => escaped = true,
                        (false, '"') => in_string = false,
                        _ => {}
                    }
                    rest = &rest[c.len_utf8()..];
                    continue;
                }
                if c == '"' {
                    in_string = true;
                }
                let word = ["-Infinity", "Infinity", "NaN"]
                    .into_iter()
                    .find(|w| rest.starts_with(w));
                if let Some(word) = word {
                    patched.push('"');
                    patched.push_str(word);
                    patched.push('"');
                    rest = &rest[word.len()..];
                } else {
                    patched.push(c);
                    rest = &rest[c.len_utf8()..];
                }
            }
            serde_json::from_str(&patched).map_err(|_| first.to_string())
        }
    }
}

/// The seed's y_transformation: the loss the search minimises.
pub fn transform(objective: f64, y: YTransformation) -> Result<f64, String> {
    let log = |x: f64| {
        if x > 0.0 {
            Ok(x.log10())
        } else {
            // The advice keeps the direction: `log` minimises the objective as `none` does,
            // `neglog` maximises it as `neg` does.
            let (same_direction, goal) = match y {
                YTransformation::NegLog => ("neg", "maximised"),
                _ => ("none", "minimised"),
            };
            Err(format!(
                "y_transformation \"{}\" takes log10 of the objective, but the objective is {x}; if it can be zero or negative, use \"{same_direction}\" in search_config.json (the objective is still {goal})",
                y.name()
            ))
        }
    };
    match y {
        YTransformation::None => Ok(objective),
        YTransformation::Neg => Ok(-objective),
        YTransformation::Log => log(objective),
        YTransformation::NegLog => log(objective).map(|l| -l),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn objective_of(text: &str) -> Result<f64, String> {
        let value = parse_lenient(text)?;
        match extract(&value) {
            Ok((objective, _)) => Ok(objective),
            Err(Outcome::Failure { reason, .. }) => Err(reason),
            Err(_) => Err("?".into()),
        }
    }

    #[test]
    fn the_advice_for_a_non_positive_objective_keeps_its_direction() {
        let log = transform(-1.0, YTransformation::Log).unwrap_err();
        assert!(log.contains("use \"none\""), "{log}");
        assert!(!log.contains("\"neg\""), "neg would maximise a loss: {log}");
        let neglog = transform(0.0, YTransformation::NegLog).unwrap_err();
        assert!(neglog.contains("use \"neg\""), "{neglog}");
        assert!(!neglog.contains("\"none\""), "{neglog}");
    }

    /// The failure reason `judge` gives for a run that exited 0 with this in its folder, or a
    /// test failure if judging waits (a named pipe held the coordinator before).
    fn reason_for(prepare: impl FnOnce(&Path)) -> String {
        let folder = tempfile::tempdir().expect("temp dir");
        prepare(folder.path());
        let path = folder.path().to_path_buf();
        let (sender, receiver) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = sender.send(judge(&RunEnd::Exited(0), &path, YTransformation::None, 1.0));
        });
        match receiver.recv_timeout(std::time::Duration::from_secs(10)) {
            Ok(Outcome::Failure { kind, reason, .. }) => {
                assert_eq!(kind, FailureKind::UnparseableOutput, "{reason}");
                reason
            }
            Ok(other) => panic!("not a failure: {other:?}"),
            Err(_) => panic!("judging the run waited on its output.json"),
        }
    }

    #[test]
    fn an_output_json_that_is_a_pipe_or_runaway_fails_the_run_without_holding_the_coordinator() {
        let pipe = reason_for(|folder| {
            nix::unistd::mkfifo(
                &folder.join("output.json"),
                nix::sys::stat::Mode::from_bits_truncate(0o644),
            )
            .expect("mkfifo");
        });
        assert!(
            pipe.starts_with("cannot read output.json: not a regular file"),
            "{pipe}"
        );
        let huge = reason_for(|folder| {
            // Sparse: no disk is spent on it.
            let file = std::fs::File::create(folder.join("output.json")).expect("create");
            file.set_len(100 << 20).expect("set_len");
        });
        assert!(
            huge.starts_with("output.json holds 100 MB, over the 64 MB hpsearch reads"),
            "{huge}"
        );
    }

    #[test]
    fn reads_the_three_output_shapes() {
        assert_eq!(objective_of("0.25"), Ok(0.25));
        assert_eq!(objective_of("[0.5, 3, 4]"), Ok(0.5));
        assert_eq!(
            objective_of(r#"{"accuracy": 0.9, "objective": 1.5}"#),
            Ok(1.5)
        );
    }

    #[test]
    fn python_nan_is_read_as_non_finite_not_as_garbage() {
        assert!(objective_of("NaN").unwrap().is_nan());
        assert_eq!(
            objective_of(r#"{"objective": -Infinity}"#),
            Ok(f64::NEG_INFINITY)
        );
        assert_eq!(
            objective_of(r#"{"objective": 1, "note": "NaN inside a string"}"#),
            Ok(1.0)
        );
    }

    #[test]
    fn a_key_with_a_line_break_keeps_the_reason_on_one_line() {
        let reason = objective_of("{\"a\\nb\": 1}").unwrap_err();
        assert!(!reason.contains('\n'), "{reason}");
        assert!(reason.contains(r#"(keys: "a\nb")"#), "{reason}");
    }

    #[test]
    fn a_log_line_redrawn_with_carriage_returns_shows_its_last_state() {
        let folder = tempfile::tempdir().unwrap();
        let log = "start\nloss 1\rloss 2\rTraceback\r\n";
        std::fs::write(folder.path().join("log.txt"), log).unwrap();
        let reason = with_log_tail("the script exited with code 1".into(), folder.path());
        assert_eq!(
            reason,
            "the script exited with code 1; last line of log.txt: Traceback"
        );
    }

    #[test]
    fn log_of_a_non_positive_objective_is_a_clear_failure() {
        assert!(transform(0.0, YTransformation::Log)
            .unwrap_err()
            .contains("log10"));
        assert_eq!(transform(100.0, YTransformation::NegLog), Ok(-2.0));
        assert_eq!(transform(3.0, YTransformation::Neg), Ok(-3.0));
    }
}
