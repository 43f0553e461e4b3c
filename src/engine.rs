//! The edge to the Docker Engine: connecting, the per-call runtime, reading containers and
//! images, and the step log every operation writes.

use std::future::Future;
use std::sync::Mutex;
use std::time::Instant;

use bollard::models::{ContainerInspectResponse, ImageInspect};
use bollard::{ClientVersion, Docker};
use serde::Serialize;

use crate::error::{EngineFault, Error, Result};

/// Where step lines go (the Python binding forwards them to `logging`).
pub type LogSink<'a> = &'a (dyn Fn(&str) + Send + Sync);

/// A sink that drops every line, for callers that only want the returned report.
pub fn no_log(_: &str) {}

/// Runs one operation to completion on a fresh current-thread runtime.
///
/// A runtime per call, never a global one: Salt forks a process per job, and a tokio runtime
/// built before a fork is unusable in the child (tokio-rs/tokio#4301). Building one costs
/// microseconds next to a Docker round trip. It needs a few file descriptors: a process out of
/// them gets an error, not a panic.
/// `context` names what the operation is for, in the error when the runtime cannot start.
pub fn block_on<T>(context: &str, operation: impl Future<Output = Result<T>>) -> Result<T> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| {
            Error::Docker(format!(
                "{context}: cannot start the I/O runtime ({e}); nothing was changed"
            ))
        })?
        .block_on(operation)
}

/// Where `DOCKER_HOST` points (the local socket when unset).
pub fn docker_host() -> String {
    std::env::var("DOCKER_HOST").unwrap_or_else(|_| "unix:///var/run/docker.sock".to_string())
}

/// The API version negotiated with each host, kept for the life of the process: `GET /version`
/// costs the Engine ~5 ms (it asks containerd), more than the rest of a no-op run. Plain data,
/// so a forked child inherits a valid copy; only ever `try_lock`ed, so a lock held by another
/// thread at fork time cannot deadlock the child (it negotiates again instead).
static NEGOTIATED: Mutex<Vec<(String, usize, usize)>> = Mutex::new(Vec::new());

fn cached_version(host: &str) -> Option<ClientVersion> {
    let cache = NEGOTIATED.try_lock().ok()?;
    cache
        .iter()
        .find(|(h, ..)| h == host)
        .map(|&(_, major_version, minor_version)| ClientVersion {
            major_version,
            minor_version,
        })
}

fn remember_version(host: &str, version: ClientVersion) {
    if let Ok(mut cache) = NEGOTIATED.try_lock() {
        cache.retain(|(h, ..)| h != host);
        cache.push((
            host.to_string(),
            version.major_version,
            version.minor_version,
        ));
    }
}

/// Connects as the Docker CLI does (`DOCKER_HOST`: `unix://` or `tcp://`, else the local
/// socket) and negotiates the API version down to what the Engine speaks (Engine 20.10 is 1.41).
pub async fn connect(context: &str) -> Result<Docker> {
    let host = docker_host();
    let unreachable = |why: String| {
        Error::DockerUnavailable(format!(
            "{context}: cannot reach the Docker Engine at {host} ({why}); nothing was changed"
        ))
    };
    let timeout_s = engine_timeout(context)?;
    let version = match cached_version(&host) {
        Some(version) => Some(version),
        None => ping_version(&host).await.map(|server| {
            // Never above what bollard's models were written for (as negotiation does).
            let version = if server < *bollard::API_DEFAULT_VERSION {
                server
            } else {
                *bollard::API_DEFAULT_VERSION
            };
            remember_version(&host, version);
            version
        }),
    };
    if let Some(version) = version {
        let known = if host.starts_with("unix://") {
            Some(Docker::connect_with_unix(&host, timeout_s, &version))
        } else if host.starts_with("tcp://") || host.starts_with("http://") {
            Some(Docker::connect_with_http(&host, timeout_s, &version))
        } else {
            None
        };
        if let Some(docker) = known {
            return docker.map_err(|e| unreachable(e.to_string()));
        }
    }
    let docker = Docker::connect_with_defaults()
        .map_err(|e| unreachable(e.to_string()))?
        .with_timeout(std::time::Duration::from_secs(timeout_s));
    let docker = docker.negotiate_version().await.map_err(|e| {
        let fault = EngineFault::from(e);
        unreachable(fault.message().to_string())
    })?;
    remember_version(&host, docker.client_version());
    Ok(docker)
}

/// How long one Engine call may take to answer, in seconds (a stop adds the container's own
/// stop timeout): `SALTEXT_DOCKER_DEPLOY_ENGINE_TIMEOUT`, 1 to 3600, default 120. An Engine
/// that stops answering (hung, or `SIGSTOP`ped) costs at most this per call, after which a run
/// rolls back what it can or says what it left.
pub const ENGINE_TIMEOUT_ENV: &str = "SALTEXT_DOCKER_DEPLOY_ENGINE_TIMEOUT";

fn engine_timeout(context: &str) -> Result<u64> {
    let Ok(text) = std::env::var(ENGINE_TIMEOUT_ENV) else {
        return Ok(120);
    };
    text.trim()
        .parse::<u64>()
        .ok()
        .filter(|s| (1..=3600).contains(s))
        .ok_or_else(|| {
            Error::InvalidSpec(format!(
                "{context}: {ENGINE_TIMEOUT_ENV}={text:?} is not a whole number of seconds from \
                 1 to 3600; nothing was changed"
            ))
        })
}

/// The Engine's API version from the `Api-Version` header of `GET /_ping`, as the Docker CLI
/// learns it: ~0.5 ms, where bollard's negotiation (`GET /version`) costs the Engine ~10 ms,
/// because it asks containerd for its version too, once in every salt-call. `None` when the
/// ping gives no version: [`connect`] negotiates the usual way then.
async fn ping_version(host: &str) -> Option<ClientVersion> {
    use http_body_util::Empty;
    use hyper::body::Bytes;
    use hyper_util::rt::TokioIo;

    let io: Box<dyn crate::registry::Io> = if let Some(path) = host.strip_prefix("unix://") {
        Box::new(tokio::net::UnixStream::connect(path).await.ok()?)
    } else {
        let address = host
            .strip_prefix("tcp://")
            .or_else(|| host.strip_prefix("http://"))?;
        Box::new(tokio::net::TcpStream::connect(address).await.ok()?)
    };
    let ask = async {
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(io))
            .await
            .ok()?;
        tokio::spawn(connection);
        let request = hyper::Request::get("/_ping")
            .header(hyper::header::HOST, "docker")
            .body(Empty::<Bytes>::new())
            .ok()?;
        let response = sender.send_request(request).await.ok()?;
        let header = response.headers().get("api-version")?.to_str().ok()?;
        parse_api_version(header)
    };
    tokio::time::timeout(std::time::Duration::from_secs(10), ask)
        .await
        .ok()?
}

/// `1.41` -> 1.41.
fn parse_api_version(text: &str) -> Option<ClientVersion> {
    let (major, minor) = text.trim().split_once('.')?;
    Some(ClientVersion {
        major_version: major.parse().ok()?,
        minor_version: minor.parse().ok()?,
    })
}

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

/// Inspects a container by name or ID; `None` when there is none.
pub async fn inspect_container(
    docker: &Docker,
    name: &str,
    untouched: &str,
) -> Result<Option<ContainerInspectResponse>> {
    match docker.inspect_container(name, None).await {
        // The Engine falls back to an ID-prefix match when no container has the name: a name
        // like "cafe" could otherwise find an unrelated container.
        Ok(found) if found.name.as_deref() == Some(&format!("/{name}")) => Ok(Some(found)),
        Ok(_) => Ok(None),
        Err(e) => {
            let fault = EngineFault::from(e);
            if fault.is_not_found() {
                Ok(None)
            } else {
                Err(fault.into_error(&format!("container {name:?}"), untouched))
            }
        }
    }
}

/// Inspects a local image by reference or ID; `None` when it is not on this host.
pub async fn inspect_image(
    docker: &Docker,
    reference: &str,
    untouched: &str,
) -> Result<Option<ImageInspect>> {
    match docker.inspect_image(reference).await {
        Ok(found) => Ok(Some(found)),
        Err(e) => {
            let fault = EngineFault::from(e);
            if fault.is_not_found() {
                Ok(None)
            } else {
                Err(fault.into_error(&format!("image {reference:?}"), untouched))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_versions_parse_as_the_engine_sends_them() {
        let v = parse_api_version("1.41").unwrap();
        assert_eq!((v.major_version, v.minor_version), (1, 41));
        assert_eq!(
            parse_api_version(" 1.52\r").map(|v| v.minor_version),
            Some(52)
        );
        assert!(parse_api_version("1").is_none());
        assert!(parse_api_version("one.two").is_none());
        assert!(parse_api_version("").is_none());
    }
}
