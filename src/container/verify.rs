//! The proof that a new container works: `healthy` within `health_timeout` when it has a
//! HEALTHCHECK, else running without a restart for `min_uptime`; a failure says why (exit code,
//! out of memory, the health check's or the container's last output).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bollard::models::{ContainerStateStatusEnum, HealthStatusEnum};
use bollard::query_parameters::{EventsOptions, LogsOptions, WaitContainerOptions};
use bollard::Docker;

use crate::container::converge::Fault;

/// When a new container counts as working.
#[derive(Debug, Clone, Copy)]
pub struct Verification {
    /// With a HEALTHCHECK (the image's or the spec's): how long to wait for `healthy`.
    pub health_timeout: Duration,
    /// Without one: how long it must stay running without a restart.
    pub min_uptime: Duration,
}

/// Waits until the container proves itself: `healthy` when it has a HEALTHCHECK (within
/// `health_timeout`), else running without a restart for `min_uptime`. Fails as soon as it
/// exits, restarts or turns unhealthy, saying why.
pub(crate) async fn verify(
    docker: &Docker,
    id: &str,
    verification: Verification,
    started_by_us: bool,
) -> std::result::Result<(), Fault> {
    let started = Instant::now();
    // For the Engine's events: from a little before this verification (its start step).
    let since = std::time::SystemTime::now() - Duration::from_secs(30);
    let mut first_restart_count = None;
    let mut first_started_at = None;
    let mut waited_for_exit = false;
    loop {
        let inspect = docker
            .inspect_container(id, None)
            .await
            .map_err(Fault::from)?;
        // A start through the API resets the count, so after ours any restart is one since; a
        // baseline from the first inspect would miss a crash that the restart policy answered
        // before it. A container this run did not start is judged from its first inspect.
        let restarts = inspect.restart_count.unwrap_or(0);
        let baseline = match started_by_us {
            true => 0,
            false => *first_restart_count.get_or_insert(restarts),
        };
        let state = inspect.state.unwrap_or_default();
        // A restart that the count misses (one by hand, say) still moves the start time.
        let started_at = state.started_at.clone().unwrap_or_default();
        let restarted = *first_started_at.get_or_insert_with(|| started_at.clone()) != started_at;
        let health_tail = || {
            let last = state
                .health
                .as_ref()
                .and_then(|h| h.log.as_ref())
                .and_then(|log| log.last());
            match last {
                Some(check) => {
                    let output = check.output.as_deref().unwrap_or("").trim();
                    let tail: String = output
                        .chars()
                        .rev()
                        .take(200)
                        .collect::<Vec<_>>()
                        .into_iter()
                        .rev()
                        .collect();
                    format!(
                        "; last check exited {}: {tail:?}",
                        check.exit_code.unwrap_or_default()
                    )
                }
                None => String::new(),
            }
        };
        if state.restarting.unwrap_or(false) || restarts > baseline || restarted {
            // Between two restarts the exit code is already reset, and a start resets the
            // out-of-memory flag: the output and the Engine's events tell more.
            let oom =
                state.oom_killed.unwrap_or(false) || oom_killed_since(docker, id, since).await;
            return Err(Fault::new(format!(
                "it keeps restarting ({} restarts, last exit code {}{}){}",
                restarts,
                state.exit_code.unwrap_or_default(),
                if oom { "; killed: out of memory" } else { "" },
                output_tail(docker, id).await
            )));
        }
        if !state.running.unwrap_or(false) {
            let status = state
                .status
                .unwrap_or(ContainerStateStatusEnum::EMPTY)
                .to_string();
            let oom = if state.oom_killed.unwrap_or(false) {
                " (killed: out of memory)"
            } else {
                ""
            };
            let error = state
                .error
                .as_deref()
                .filter(|e| !e.is_empty())
                .map(|e| format!(": {e}"))
                .unwrap_or_default();
            return Err(Fault::new(format!(
                "it is {status}, exit code {}{oom}{error}{}{}",
                state.exit_code.unwrap_or_default(),
                health_tail(),
                output_tail(docker, id).await
            )));
        }
        let elapsed = started.elapsed();
        match state.health.as_ref().and_then(|h| h.status) {
            Some(HealthStatusEnum::HEALTHY) => return Ok(()),
            Some(HealthStatusEnum::UNHEALTHY) => {
                return Err(Fault::new(format!(
                    "its HEALTHCHECK reports unhealthy{}",
                    health_tail()
                )))
            }
            Some(HealthStatusEnum::STARTING) => {
                if elapsed >= verification.health_timeout {
                    return Err(Fault::new(format!(
                        "it did not become healthy within {:.0} s (health_timeout){}",
                        verification.health_timeout.as_secs_f64(),
                        health_tail()
                    )));
                }
            }
            _ => {
                if elapsed >= verification.min_uptime {
                    return Ok(());
                }
                // Without a HEALTHCHECK nothing is learned before the container exits, so
                // rather than ask every 100 ms (an inspect costs the Engine ~0.6 ms of CPU,
                // which it lacks when many containers start at once) wait for the exit itself,
                // until min_uptime is reached; the next inspect judges either way. Only once:
                // a wait that returns early without an exit falls back to polling.
                if !waited_for_exit {
                    waited_for_exit = true;
                    wait_for_exit(docker, id, verification.min_uptime - elapsed).await;
                    continue;
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Returns when the container stops running (an exit, also one a restart policy answers) or
/// after `limit`, whichever comes first. Dropping the Engine's wait closes its request.
async fn wait_for_exit(docker: &Docker, id: &str, limit: Duration) {
    use futures_util::StreamExt;
    let options = WaitContainerOptions {
        condition: "not-running".into(),
    };
    let mut exit = docker.wait_container(id, Some(options));
    tokio::select! {
        _ = exit.next() => {}
        _ = tokio::time::sleep(limit) => {}
    }
}

/// Whether the Engine reported an out-of-memory kill of the container since `since` (its
/// `oom` event: the state's flag is gone once a restart policy has started it again).
async fn oom_killed_since(docker: &Docker, id: &str, since: std::time::SystemTime) -> bool {
    use futures_util::StreamExt;
    let seconds = |t: std::time::SystemTime| {
        t.duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs().to_string())
            .unwrap_or_default()
    };
    let options = EventsOptions {
        since: Some(seconds(since)),
        until: Some(seconds(
            std::time::SystemTime::now() + Duration::from_secs(1),
        )),
        filters: Some(HashMap::from([
            ("container".to_string(), vec![id.to_string()]),
            ("event".to_string(), vec!["oom".to_string()]),
        ])),
    };
    let mut events = docker.events(Some(options));
    let first = tokio::time::timeout(Duration::from_secs(3), events.next()).await;
    matches!(first, Ok(Some(Ok(_))))
}

/// The last lines the container wrote (stdout and stderr), for the message of a failure:
/// `; last output: "..."`, or nothing when there is none or it cannot be read.
async fn output_tail(docker: &Docker, id: &str) -> String {
    use futures_util::StreamExt;
    let options = LogsOptions {
        stdout: true,
        stderr: true,
        tail: "5".to_string(),
        ..Default::default()
    };
    let mut lines = Vec::new();
    let mut stream = docker.logs(id, Some(options));
    // A message detail, never worth a long wait (an Engine that stopped answering).
    let read = async {
        let mut read_bytes = 0;
        while let Some(Ok(chunk)) = stream.next().await {
            let bytes = chunk.into_bytes();
            read_bytes += bytes.len();
            lines.push(String::from_utf8_lossy(&bytes).trim_end().to_string());
            // Five lines may still be gigabytes: only a few hundred characters are shown.
            if read_bytes > 64 * 1024 {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(5), read).await;
    let text = lines.join(" | ");
    let text: String = text.chars().take(300).collect();
    if text.trim().is_empty() {
        String::new()
    } else {
        format!("; last output: {text:?}")
    }
}
