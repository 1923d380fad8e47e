//! Reading a run's intermediate results as they grow: the lines of `{save_folder}/progress.jsonl`
//! (`{"step": 3, "objective": 0.42}`), or, with `progress_pattern` in job_config.json, the lines
//! of the run's log.txt that the pattern matches. Each read takes only what was appended since the
//! last one, and a line still being written (no newline yet) waits for the next read.

use crate::config::early_stopping::MAX_STEP;
use crate::executor::run_files::{open_regular, RunFileError};
use regex::Regex;
use serde_json::{Map, Value};
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

/// The file a script appends its intermediate results to, in its run folder.
pub const PROGRESS_FILE: &str = "progress.jsonl";

/// The most one read takes from a file: a script printing megabytes per second is read over
/// several loop steps instead of stalling the coordinator.
const MAX_READ: u64 = 4 << 20;

/// A line longer than this is not a progress line (and is not kept in memory whole).
const MAX_LINE: usize = 64 << 10;

/// One intermediate result.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    pub step: u64,
    pub objective: f64,
    /// The line's other numeric keys (progress.jsonl only): kept as a pruned run's metrics.
    pub metrics: Map<String, Value>,
}

/// Where the reading of one run's progress has got to.
#[derive(Debug, Default)]
pub struct ProgressReader {
    offset: u64,
    partial: Vec<u8>,
    /// Lines read so far, for the line numbers of notes.
    lines: u64,
    last_step: u64,
    skipping_long_line: bool,
    /// Whether the run's log has been told that its progress file is not a regular file.
    refused: bool,
}

impl ProgressReader {
    /// Everything appended since the last read, however much (`read` takes at most `MAX_READ`
    /// a call, to keep the coordinator's loop steps short): for a run that has ended, whose
    /// whole curve is wanted at once.
    pub fn read_all(
        &mut self,
        folder: &Path,
        pattern: Option<&Regex>,
    ) -> (Vec<Point>, Vec<String>) {
        let (mut points, mut notes) = (Vec::new(), Vec::new());
        // At most 4 GB in one call: a run still writing cannot keep the loop going for ever.
        for _ in 0..1024 {
            let before = self.offset;
            let (more, more_notes) = self.read(folder, pattern);
            points.extend(more);
            notes.extend(more_notes);
            if self.offset == before {
                break;
            }
        }
        (points, notes)
    }

    /// The results appended to the run's progress since the last read, and a note for each line
    /// that is not a valid progress line (skipped; the run goes on). With `pattern`, log.txt is
    /// read and lines that don't match are not progress lines at all.
    pub fn read(&mut self, folder: &Path, pattern: Option<&Regex>) -> (Vec<Point>, Vec<String>) {
        let name = if pattern.is_some() {
            "log.txt"
        } else {
            PROGRESS_FILE
        };
        let mut points = Vec::new();
        let mut notes = Vec::new();
        // Only a regular file is read (a named pipe there would hold the coordinator).
        let (mut file, metadata) = match open_regular(&folder.join(name)) {
            Ok(opened) => opened,
            Err(RunFileError::NotRegular) if !self.refused => {
                self.refused = true;
                notes.push(format!("{name} is not a regular file (a named pipe, a device or a folder), so it is not read for progress: append lines to a plain file"));
                return (points, notes);
            }
            Err(_) => return (points, notes),
        };
        let length = metadata.len();
        if length < self.offset {
            // Rewritten from the start (a script restarted after an interruption): read it anew.
            *self = ProgressReader::default();
        }
        if length == self.offset || file.seek(SeekFrom::Start(self.offset)).is_err() {
            return (points, notes);
        }
        let mut chunk = Vec::new();
        if file
            .take(MAX_READ.min(length - self.offset))
            .read_to_end(&mut chunk)
            .is_err()
        {
            return (points, notes);
        }
        self.offset += chunk.len() as u64;
        let mut rest = chunk.as_slice();
        while let Some(end) = rest.iter().position(|b| *b == b'\n') {
            let (line, after) = rest.split_at(end);
            rest = &after[1..];
            if self.skipping_long_line {
                self.skipping_long_line = false;
                self.partial.clear();
                continue;
            }
            self.partial.extend_from_slice(line);
            let whole = std::mem::take(&mut self.partial);
            self.lines += 1;
            self.take_line(&whole, pattern, name, &mut points, &mut notes);
        }
        if !self.skipping_long_line {
            self.partial.extend_from_slice(rest);
            if self.partial.len() > MAX_LINE {
                self.lines += 1;
                if pattern.is_none() {
                    notes.push(format!(
                        "{name} line {}: longer than {} KB, not a progress line; skipped",
                        self.lines,
                        MAX_LINE >> 10
                    ));
                }
                self.partial.clear();
                self.skipping_long_line = true;
            }
        }
        (points, notes)
    }

    fn take_line(
        &mut self,
        line: &[u8],
        pattern: Option<&Regex>,
        name: &str,
        points: &mut Vec<Point>,
        notes: &mut Vec<String>,
    ) {
        let text = String::from_utf8_lossy(line);
        let text = text.trim();
        // hpsearch's own notes in the log (those about malformed lines among them) are not the
        // script's progress: a pattern that matched a note would read it back, note it again,
        // and grow the log without end.
        if pattern.is_some() && text.starts_with("hpsearch:") {
            return;
        }
        let parsed = match pattern {
            Some(pattern) => match pattern.captures(text) {
                None => return,
                Some(found) => from_groups(
                    found.name("step").map(|m| m.as_str()),
                    found.name("objective").map(|m| m.as_str()),
                ),
            },
            None if text.is_empty() => return,
            None => from_json(text),
        };
        let where_ = format!("{name} line {}", self.lines);
        match parsed {
            Err(why) => notes.push(format!("{where_}: {why}; skipped")),
            Ok(point) if point.step <= self.last_step => notes.push(format!(
                "{where_}: step {} does not follow step {} (steps must increase); skipped",
                point.step, self.last_step
            )),
            Ok(point) => {
                self.last_step = point.step;
                points.push(point);
            }
        }
    }
}

fn from_json(text: &str) -> Result<Point, String> {
    let value: Value = serde_json::from_str(text)
        .map_err(|e| format!("not a JSON object ({e}); write one object per line, e.g. {{\"step\": 3, \"objective\": 0.42}}"))?;
    let Value::Object(map) = value else {
        return Err(
            "not a JSON object; write one object per line, e.g. {\"step\": 3, \"objective\": 0.42}"
                .into(),
        );
    };
    let step = match map.get("step") {
        None => return Err("no \"step\" (a whole number from 1)".into()),
        Some(Value::Number(n)) => n.as_u64().filter(|s| *s >= 1),
        Some(_) => None,
    }
    .ok_or_else(|| format!("\"step\" is {}, not a whole number from 1", map["step"]))
    .and_then(within_max_step)?;
    let objective = match map.get("objective") {
        None => return Err("no \"objective\" (a finite number)".into()),
        Some(value) => value
            .as_f64()
            .filter(|x| x.is_finite())
            .ok_or_else(|| format!("\"objective\" is {value}, not a finite number"))?,
    };
    let metrics = map
        .into_iter()
        .filter(|(key, value)| {
            key != "step" && key != "objective" && value.as_f64().is_some_and(f64::is_finite)
        })
        .collect();
    Ok(Point {
        step,
        objective,
        metrics,
    })
}

/// A step the store can keep: a larger one (a counter of samples or tokens gone past 2^63, or
/// a pattern's group that caught another number) is a malformed line, noted, not a failed
/// write that would end the search.
fn within_max_step(step: u64) -> Result<u64, String> {
    if step <= MAX_STEP {
        Ok(step)
    } else {
        Err(format!(
            "step {step} is larger than the largest step hpsearch keeps ({MAX_STEP}); count steps from 1 in epochs, rounds or batches"
        ))
    }
}

fn from_groups(step: Option<&str>, objective: Option<&str>) -> Result<Point, String> {
    let step_text = step.unwrap_or_default().trim();
    let step = step_text
        .parse::<u64>()
        .ok()
        .filter(|s| *s >= 1)
        .ok_or_else(|| {
            format!("progress_pattern matched, but its `step` group is \"{step_text}\", not a whole number from 1")
        })
        .and_then(within_max_step)?;
    let objective_text = objective.unwrap_or_default().trim();
    let objective = objective_text
        .parse::<f64>()
        .ok()
        .filter(|x| x.is_finite())
        .ok_or_else(|| {
            format!("progress_pattern matched, but its `objective` group is \"{objective_text}\", not a finite number")
        })?;
    Ok(Point {
        step,
        objective,
        metrics: Map::new(),
    })
}

/// Writes a progress.jsonl of 100,000 lines (steps 1 to 100,000, objective 0.5), longer than
/// one read takes; returns its last step.
#[cfg(test)]
pub(super) fn write_long_progress(folder: &Path) -> u64 {
    let lines = 100_000u64;
    let text: String = (1..=lines)
        .map(|step| {
            format!(
                "{{\"step\": {step}, \"objective\": 0.5, \"note\": \"{:>24}\"}}\n",
                "x"
            )
        })
        .collect();
    assert!(
        text.len() as u64 > MAX_READ,
        "the file must exceed one read"
    );
    std::fs::write(folder.join(PROGRESS_FILE), text).expect("write progress");
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn point(step: u64, objective: f64) -> Point {
        Point {
            step,
            objective,
            metrics: Map::new(),
        }
    }

    fn append(folder: &Path, name: &str, text: &str) {
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(folder.join(name))
            .unwrap();
        file.write_all(text.as_bytes()).unwrap();
    }

    #[test]
    fn reads_what_was_appended_and_waits_for_a_line_being_written() {
        let dir = tempfile::tempdir().unwrap();
        let mut reader = ProgressReader::default();
        assert_eq!(reader.read(dir.path(), None), (vec![], vec![]));
        append(
            dir.path(),
            PROGRESS_FILE,
            "{\"step\": 1, \"objective\": 0.5, \"acc\": 0.7}\n{\"step\": 2, ",
        );
        let (points, notes) = reader.read(dir.path(), None);
        let mut first = point(1, 0.5);
        first.metrics.insert("acc".into(), serde_json::json!(0.7));
        assert_eq!(points, vec![first], "its other numeric keys are metrics");
        assert!(notes.is_empty());
        append(dir.path(), PROGRESS_FILE, "\"objective\": 0.25}\n");
        let (points, _) = reader.read(dir.path(), None);
        assert_eq!(points, vec![point(2, 0.25)]);
    }

    #[test]
    fn a_malformed_line_is_noted_and_skipped_and_the_next_one_counts() {
        let dir = tempfile::tempdir().unwrap();
        let mut reader = ProgressReader::default();
        append(
            dir.path(),
            PROGRESS_FILE,
            "epoch 1 done\n{\"step\": 0, \"objective\": 1}\n{\"step\": 2}\n{\"step\": 3, \"objective\": \"nan\"}\n{\"step\": 4, \"objective\": 0.1}\n{\"step\": 4, \"objective\": 0.05}\n{\"step\": 5.5, \"objective\": 0.1}\n",
        );
        let (points, notes) = reader.read(dir.path(), None);
        assert_eq!(points, vec![point(4, 0.1)]);
        assert_eq!(notes.len(), 6, "{notes:?}");
        assert!(
            notes[0].starts_with("progress.jsonl line 1: not a JSON object"),
            "{}",
            notes[0]
        );
        assert!(
            notes[1].contains("\"step\" is 0, not a whole number from 1"),
            "{}",
            notes[1]
        );
        assert!(notes[2].contains("no \"objective\""), "{}", notes[2]);
        assert!(notes[3].contains("not a finite number"), "{}", notes[3]);
        assert!(
            notes[4].contains("step 4 does not follow step 4"),
            "{}",
            notes[4]
        );
        assert!(notes[5].contains("\"step\" is 5.5"), "{}", notes[5]);
    }

    #[test]
    fn a_pattern_reads_the_matching_lines_of_the_log() {
        let dir = tempfile::tempdir().unwrap();
        let pattern = Regex::new(r"epoch (?P<step>\d+) .*val_loss=(?P<objective>\S+)").unwrap();
        append(
            dir.path(),
            "log.txt",
            "loading data\nepoch 1 train_loss=3 val_loss=0.9\nepoch 2 train_loss=2 val_loss=oops\nepoch 3 train_loss=1 val_loss=0.4\n",
        );
        let mut reader = ProgressReader::default();
        let (points, notes) = reader.read(dir.path(), Some(&pattern));
        assert_eq!(points, vec![point(1, 0.9), point(3, 0.4)]);
        assert_eq!(notes.len(), 1);
        assert!(
            notes[0].contains("log.txt line 3") && notes[0].contains("\"oops\""),
            "{}",
            notes[0]
        );
    }

    #[test]
    fn a_progress_file_that_is_a_named_pipe_is_noted_once_and_not_waited_for() {
        let dir = tempfile::tempdir().unwrap();
        nix::unistd::mkfifo(
            &dir.path().join(PROGRESS_FILE),
            nix::sys::stat::Mode::from_bits_truncate(0o644),
        )
        .unwrap();
        let folder = dir.path().to_path_buf();
        let (sender, receiver) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut reader = ProgressReader::default();
            let first = reader.read(&folder, None);
            let second = reader.read(&folder, None);
            let _ = sender.send((first, second));
        });
        let ((points, notes), (_, later_notes)) = receiver
            .recv_timeout(std::time::Duration::from_secs(10))
            .expect("reading the progress waited on a named pipe");
        assert!(points.is_empty());
        assert_eq!(notes.len(), 1, "{notes:?}");
        assert!(
            notes[0].starts_with("progress.jsonl is not a regular file"),
            "{}",
            notes[0]
        );
        assert!(later_notes.is_empty(), "noted once: {later_notes:?}");
    }

    #[test]
    fn a_pattern_does_not_read_back_hpsearchs_own_notes_in_the_log() {
        // A train line and a validation line at the same step: the second is noted in the log,
        // and the note itself matched this pattern, so each read noted it again for ever.
        let dir = tempfile::tempdir().unwrap();
        let pattern = Regex::new(r"step (?P<step>\d+).*?(?P<objective>[0-9.]+)").unwrap();
        append(
            dir.path(),
            "log.txt",
            "step 100 train 0.5\nstep 100 val 0.4\n",
        );
        let mut reader = ProgressReader::default();
        let (points, notes) = reader.read(dir.path(), Some(&pattern));
        assert_eq!(points.len(), 1);
        assert_eq!(notes.len(), 1, "{notes:?}");
        append(dir.path(), "log.txt", &format!("hpsearch: {}\n", notes[0]));
        let (points, notes) = reader.read(dir.path(), Some(&pattern));
        assert!(
            points.is_empty() && notes.is_empty(),
            "{points:?} {notes:?}"
        );
    }

    #[test]
    fn an_ended_runs_curve_is_read_whole_however_long_its_file() {
        let dir = tempfile::tempdir().unwrap();
        let lines = write_long_progress(dir.path());
        let (chunk, _) = ProgressReader::default().read(dir.path(), None);
        assert!((chunk.len() as u64) < lines);
        let (whole, notes) = ProgressReader::default().read_all(dir.path(), None);
        assert!(notes.is_empty(), "{:?}", &notes[..1]);
        assert_eq!(whole.len() as u64, lines);
        assert_eq!(whole.last().map(|p| p.step), Some(lines));
    }

    #[test]
    fn a_rewritten_file_is_read_from_its_start() {
        let dir = tempfile::tempdir().unwrap();
        let mut reader = ProgressReader::default();
        append(
            dir.path(),
            PROGRESS_FILE,
            "{\"step\": 1, \"objective\": 1}\n{\"step\": 2, \"objective\": 1}\n",
        );
        assert_eq!(reader.read(dir.path(), None).0.len(), 2);
        std::fs::write(
            dir.path().join(PROGRESS_FILE),
            "{\"step\": 1, \"objective\": 3}\n",
        )
        .unwrap();
        assert_eq!(reader.read(dir.path(), None).0, vec![point(1, 3.0)]);
    }
}
