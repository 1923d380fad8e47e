//! The foreground search's progress bar: done, running, failed, best so far, elapsed.

use crate::coordinator::events::{describe, Event, Observer, Summary};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;

pub struct ProgressObserver {
    bar: ProgressBar,
    interactive: bool,
}

impl ProgressObserver {
    pub fn new() -> Self {
        let interactive = std::io::stderr().is_terminal();
        let bar = ProgressBar::with_draw_target(
            Some(0),
            if interactive {
                ProgressDrawTarget::stderr()
            } else {
                ProgressDrawTarget::hidden()
            },
        );
        bar.set_style(
            ProgressStyle::with_template(
                "{bar:30.cyan/blue} {pos}/{len} done · {msg} · {elapsed_precise}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        ProgressObserver { bar, interactive }
    }

    /// A handle to clear the bar when the search ends (the observer itself belongs to the coordinator).
    pub fn handle(&self) -> ProgressBar {
        self.bar.clone()
    }

    /// Another observer drawing on the same bar (for the coordinator opened after a pause).
    pub fn share(&self) -> ProgressObserver {
        ProgressObserver {
            bar: self.bar.clone(),
            interactive: self.interactive,
        }
    }

    /// Shows a line above the bar (or on stderr where there is no bar).
    pub fn note(&self, text: &str) {
        if self.interactive {
            self.bar.println(text);
        } else {
            errln!("{text}");
        }
    }
}

impl Default for ProgressObserver {
    fn default() -> Self {
        Self::new()
    }
}

impl Observer for ProgressObserver {
    fn event(&mut self, event: &Event, summary: &Summary) {
        if let Some(planned) = summary.planned {
            self.bar.set_length(planned);
        }
        self.bar
            .set_position(summary.succeeded + summary.failed + summary.cancelled + summary.pruned);
        let best = match (summary.best_loss, summary.best_id) {
            (Some(loss), Some(id)) => format!("best {loss:.6} (#{id})"),
            _ => "best -".to_string(),
        };
        let queued = if summary.queued > 0 {
            format!("{} queued · ", summary.queued)
        } else {
            String::new()
        };
        self.bar.set_message(format!(
            "{queued}{} running · {} failed · {best}",
            summary.running, summary.failed
        ));
        let noteworthy = matches!(
            event,
            Event::RunFailed { .. }
                | Event::RunAdopted { .. }
                | Event::RunStopped { .. }
                | Event::Note(_)
                | Event::RunRestarted { .. }
        );
        if noteworthy {
            self.note(&describe(event));
        }
    }
}
