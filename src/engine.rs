//! The edge to the Docker Engine: connecting, the per-call runtime, reading containers and
//! images, and how their IDs are shown.

use std::future::Future;
use std::sync::Mutex;

use bollard::models::{ContainerInspectResponse, ImageInspect};
use bollard::{ClientVersion, Docker};
use tokio::io::{AsyncRead, AsyncWrite};

use crate::error::{EngineFault, Error, ErrorKind, Result};

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
            Error::new(
                ErrorKind::Docker,
                format!("cannot start the I/O runtime ({e})"),
            )
            .about(context)
            .left(crate::error::NOTHING_CHANGED)
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
        Error::new(
            ErrorKind::DockerUnavailable,
            format!("cannot reach the Docker Engine at {host} ({why})"),
        )
        .about(context)
        .left(crate::error::NOTHING_CHANGED)
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
            Error::invalid(
                context,
                format!(
                    "{ENGINE_TIMEOUT_ENV}={text:?} is not a whole number of seconds from 1 to \
                     3600"
                ),
            )
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

    let io: Box<dyn Io> = if let Some(path) = host.strip_prefix("unix://") {
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

/// A byte stream hyper can speak HTTP/1.1 over (TCP, TLS, or a Unix socket): the Engine's
/// socket here, a registry in [`crate::image::registry`].
pub(crate) trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

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
