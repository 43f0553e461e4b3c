//! A test-only hook: a run that pauses after a given step, so that a test can kill it there
//! or change the Engine under it. Unset in production, it costs one environment lookup.

use std::time::{Duration, Instant};

/// Test-only pause points: `SALTEXT_DOCKER_DEPLOY_PAUSE_AFTER=<step>[:<n>]` (say `stop` or
/// `rename:2`) and `SALTEXT_DOCKER_DEPLOY_PAUSE_FILE=<path>` make the process write the file
/// after the n-th step of that name and wait until the file is gone, so a test can act there:
/// kill -9 the process, or change the engine under it and let it go on.
pub(crate) struct PausePoint {
    step: String,
    nth: usize,
    seen: usize,
    file: std::path::PathBuf,
}

impl PausePoint {
    pub(crate) fn from_env() -> Option<PausePoint> {
        let spec = std::env::var("SALTEXT_DOCKER_DEPLOY_PAUSE_AFTER").ok()?;
        let file = std::env::var_os("SALTEXT_DOCKER_DEPLOY_PAUSE_FILE")?.into();
        let (step, nth) = match spec.split_once(':') {
            Some((step, n)) => (step.to_string(), n.parse().unwrap_or(1)),
            None => (spec, 1),
        };
        Some(PausePoint {
            step,
            nth,
            seen: 0,
            file,
        })
    }

    pub(crate) fn after(&mut self, step: &str) {
        if step != self.step {
            return;
        }
        self.seen += 1;
        if self.seen == self.nth && std::fs::write(&self.file, step).is_ok() {
            // Blocks the whole runtime on purpose: nothing may happen while paused.
            let deadline = Instant::now() + Duration::from_secs(600);
            while self.file.exists() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}
