//! The steps of an operation, each timed, logged as it completes and returned in its report.

use std::time::Instant;

use serde::Serialize;

/// Where step lines go (the Python binding forwards them to `logging`).
pub type LogSink<'a> = &'a (dyn Fn(&str) + Send + Sync);

/// A sink that drops every line, for callers that only want the returned report.
pub fn no_log(_: &str) {}

/// One step of an operation, as reported back and logged.
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    pub step: &'static str,
    pub detail: String,
    pub duration_ms: f64,
}

/// The steps of one operation, each logged as it completes.
pub struct Steps<'a> {
    subject: String,
    sink: LogSink<'a>,
    pub done: Vec<Step>,
}

impl<'a> Steps<'a> {
    pub fn new(subject: impl Into<String>, sink: LogSink<'a>) -> Self {
        Steps {
            subject: subject.into(),
            sink,
            done: Vec::new(),
        }
    }

    /// Steps of a part of the operation (one replica), logged to the same sink.
    pub fn child(&self, subject: impl Into<String>) -> Steps<'a> {
        Steps::new(subject, self.sink)
    }

    pub fn record(&mut self, step: &'static str, started: Instant, detail: impl Into<String>) {
        let step = Step {
            step,
            detail: detail.into(),
            duration_ms: started.elapsed().as_secs_f64() * 1000.0,
        };
        self.log(&step);
        self.done.push(step);
    }

    /// Takes over the steps `other` recorded (quietly, for a path that may be abandoned),
    /// logging each one now.
    pub fn adopt(&mut self, other: Steps<'_>) {
        for step in other.done {
            self.log(&step);
            self.done.push(step);
        }
    }

    fn log(&self, step: &Step) {
        (self.sink)(&format!(
            "{}: {}: {} ({:.1} ms)",
            self.subject, step.step, step.detail, step.duration_ms
        ));
    }
}
