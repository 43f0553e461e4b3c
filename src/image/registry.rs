//! "Which manifest does the registry hold for this tag?", asked of the registry itself: one
//! `HEAD /v2/<path>/manifests/<tag>`, answering the registry's Basic or Bearer-token challenge
//! when it sends one. No layer and no manifest body is fetched.
//!
//! Why not only the Engine's `GET /distribution/{name}/json`: the Engine pings the registry
//! and fetches the manifest on every call, and runs concurrent calls one after the other, which
//! costs ~20 ms a tag even against a loopback registry (BENCHMARKS.md, S1 and S4).
//!
//! The direct answer is a shortcut, never an authority of its own. Whatever it cannot settle
//! (a proxy in the environment, a registry it cannot reach or verify, client certificates, an
//! identity token, any answer but a well-formed digest) comes back as [`Unanswered`], and the
//! caller asks the Engine, which knows the daemon's mirrors, proxies, certificates and insecure
//! registries. A digest that disagreed with the Engine's could only cost a pull that finds
//! nothing new (redeploys decide on image IDs), never a wrong deploy.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use http_body_util::{BodyExt, Empty, Limited};
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use hyper::header::{ACCEPT, AUTHORIZATION, HOST, RETRY_AFTER, USER_AGENT, WWW_AUTHENTICATE};
use hyper::{Method, Request, Response, StatusCode, Uri};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};

use crate::engine::Io;
use crate::error::RateLimit;
use crate::image::auth::Auth;
use crate::reference::ImageRef;

/// Why the registry gave no usable answer directly; the caller asks the Engine instead and
/// logs this, unless the credentials are at risk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unanswered {
    pub why: String,
    /// The registry wants the credentials sent where this module would not send them: a token
    /// realm on another host over plain HTTP, or over TLS that cannot be verified. The Engine
    /// must not be handed them either: for a registry it treats as insecure (loopback, or
    /// `insecure-registries`) it sends them to such a realm unchecked (seen with Engine 20.10).
    pub credentials_at_risk: bool,
    /// The TLS handshake failed: the peer's certificate could not be verified.
    tls_failed: bool,
    /// The registry limits the rate (`429 Too Many Requests`). Nobody else is asked then:
    /// the Engine's question would count against the same limit.
    pub rate_limit: Option<RateLimit>,
}

impl Unanswered {
    fn new(why: impl Into<String>) -> Unanswered {
        Unanswered {
            why: why.into(),
            credentials_at_risk: false,
            tls_failed: false,
            rate_limit: None,
        }
    }
}

impl std::fmt::Display for Unanswered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.why)
    }
}

type Answer<T> = std::result::Result<T, Unanswered>;

fn unanswered<T>(why: impl Into<String>) -> Answer<T> {
    Err(Unanswered::new(why))
}

/// The credentials must not be sent: not by us, not by the Engine.
fn at_risk<T>(why: impl Into<String>) -> Answer<T> {
    Err(Unanswered {
        credentials_at_risk: true,
        ..Unanswered::new(why)
    })
}

/// Every manifest type the Engine accepts when it pulls, indexes first: the registry then
/// names the digest the Engine records in the image's `RepoDigests`.
const MANIFEST_TYPES: &str = "application/vnd.docker.distribution.manifest.list.v2+json, \
     application/vnd.oci.image.index.v1+json, \
     application/vnd.docker.distribution.manifest.v2+json, \
     application/vnd.oci.image.manifest.v1+json";
const AGENT: &str = concat!("saltext-docker-deploy/", env!("CARGO_PKG_VERSION"));
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// A token response is a few KiB; anything much larger is not one.
const MAX_TOKEN_BODY: usize = 1 << 20;
/// Turns the direct question off (`0`, `off`, `false`, `no`): every check goes through the Engine.
pub const DIRECT_ENV: &str = "SALTEXT_DOCKER_DEPLOY_DIRECT_REGISTRY";
/// Where the Engine looks for per-registry CA files; ours too (overridable for tests).
pub const CERTS_D_ENV: &str = "SALTEXT_DOCKER_DEPLOY_CERTS_D";
const CERTS_D: &str = "/etc/docker/certs.d";

/// The digest (`sha256:...`) the registry holds for the image's tag (or pinned digest).
pub async fn manifest_digest(image: &ImageRef, auth: Option<&Auth>) -> Answer<String> {
    let host = registry_host(&image.registry);
    if let Some(why) = direct_refused(&host) {
        return unanswered(why);
    }
    let path = format!("/v2/{}/manifests/{}", image.path, image.pull_tag());
    // The Engine treats loopback registries as insecure (plain HTTP allowed); elsewhere, TLS.
    let schemes: &[Scheme] = if is_loopback(&host) {
        &[Scheme::Http, Scheme::Https]
    } else {
        &[Scheme::Https]
    };
    let mut whys = Vec::new();
    for &scheme in schemes {
        let target = Target::new(scheme, &host);
        match ask(&target, &path, image, auth).await {
            Ok(digest) => return Ok(digest),
            Err(refused) if refused.credentials_at_risk => {
                return at_risk(format!("{}: {}", target.origin(), refused.why))
            }
            Err(refused) if refused.rate_limit.is_some() => {
                return Err(Unanswered {
                    why: format!("{}: {}", target.origin(), refused.why),
                    ..refused
                })
            }
            Err(refused) => whys.push(format!("{}: {}", target.origin(), refused.why)),
        }
    }
    unanswered(whys.join("; "))
}

/// The longest wait a `Retry-After` is taken at: a day (a registry's mistake beyond that).
const MAX_RETRY_AFTER: Duration = Duration::from_secs(86_400);

/// A `Retry-After` in seconds (the form registries use; an HTTP date is not read).
pub fn retry_after_seconds(header: &str) -> Option<Duration> {
    let seconds: u64 = header.trim().parse().ok()?;
    Some(Duration::from_secs(seconds).min(MAX_RETRY_AFTER))
}

/// Docker Hub's API host; every other registry is its own.
fn registry_host(registry: &str) -> String {
    match registry {
        "docker.io" | "index.docker.io" => "registry-1.docker.io".to_string(),
        other => other.to_string(),
    }
}

/// Why this process must not ask `host` itself: switched off, or a proxy stands between.
fn direct_refused(host: &str) -> Option<String> {
    if let Ok(value) = std::env::var(DIRECT_ENV) {
        if matches!(value.to_lowercase().as_str(), "0" | "off" | "false" | "no") {
            return Some(format!("{DIRECT_ENV}={value}"));
        }
    }
    let proxy = [
        "HTTPS_PROXY",
        "https_proxy",
        "HTTP_PROXY",
        "http_proxy",
        "ALL_PROXY",
        "all_proxy",
    ]
    .into_iter()
    .find(|var| std::env::var(var).is_ok_and(|v| !v.is_empty()))?;
    let no_proxy = std::env::var("NO_PROXY")
        .or_else(|_| std::env::var("no_proxy"))
        .unwrap_or_default();
    (!no_proxy_covers(&no_proxy, host))
        .then(|| format!("{proxy} is set and the Engine knows its own proxy"))
}

/// `NO_PROXY` as curl reads it: `*`, exact hosts, and domain suffixes (`.example.com` or
/// `example.com` both cover `registry.example.com`).
fn no_proxy_covers(no_proxy: &str, host: &str) -> bool {
    let bare = strip_port(host);
    no_proxy
        .split(',')
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .any(|entry| {
            let domain = strip_port(entry).trim_start_matches('.');
            entry == "*" || entry == host || bare == domain || bare.ends_with(&format!(".{domain}"))
        })
}

fn strip_port(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        // [::1]:5000
        return rest.split(']').next().unwrap_or(rest);
    }
    match host.rsplit_once(':') {
        Some((name, port)) if !name.contains(':') && port.chars().all(|c| c.is_ascii_digit()) => {
            name
        }
        _ => host,
    }
}

fn is_loopback(host: &str) -> bool {
    let bare = strip_port(host);
    bare == "localhost"
        || bare
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scheme {
    Http,
    Https,
}

/// One origin to talk to: scheme, `host[:port]` as written, and where to connect.
#[derive(Debug, Clone)]
struct Target {
    scheme: Scheme,
    authority: String,
    host: String,
    port: u16,
}

impl Target {
    fn new(scheme: Scheme, authority: &str) -> Target {
        let host = strip_port(authority).to_string();
        let default_port = match scheme {
            Scheme::Http => 80,
            Scheme::Https => 443,
        };
        let port = match authority.strip_prefix('[') {
            Some(bracketed) => bracketed.split_once("]:").map(|(_, port)| port),
            None => authority
                .rsplit_once(':')
                .filter(|(name, _)| !name.contains(':'))
                .map(|(_, port)| port),
        }
        .and_then(|port| port.parse().ok())
        .unwrap_or(default_port);
        Target {
            scheme,
            authority: authority.to_string(),
            host,
            port,
        }
    }

    fn from_uri(uri: &Uri) -> Answer<Target> {
        let scheme = match uri.scheme_str() {
            Some("https") => Scheme::Https,
            Some("http") => Scheme::Http,
            other => return unanswered(format!("token realm has scheme {other:?}")),
        };
        let Some(authority) = uri.authority() else {
            return unanswered("token realm has no host");
        };
        Ok(Target::new(scheme, authority.as_str()))
    }

    fn origin(&self) -> String {
        let scheme = match self.scheme {
            Scheme::Http => "http",
            Scheme::Https => "https",
        };
        format!("{scheme}://{}", self.authority)
    }

    /// Credentials travel in the clear only to this machine.
    fn may_carry_credentials(&self) -> bool {
        self.scheme == Scheme::Https || is_loopback(&self.authority)
    }
}

/// Asks one origin, answering one auth challenge.
async fn ask(target: &Target, path: &str, image: &ImageRef, auth: Option<&Auth>) -> Answer<String> {
    let mut connection = Connection::open(target).await?;
    let response = connection.send(Method::HEAD, path, None).await?;
    let response = match response.status() {
        StatusCode::UNAUTHORIZED => {
            let challenge = response
                .headers()
                .get(WWW_AUTHENTICATE)
                .and_then(|v| v.to_str().ok())
                .map(Challenge::parse)
                .ok_or_else(|| Unanswered::new("401 without a WWW-Authenticate challenge"))?;
            let authorization = authorize(target, &challenge, image, auth).await?;
            if !connection.is_ready() {
                connection = Connection::open(target).await?;
            }
            connection
                .send(Method::HEAD, path, Some(&authorization))
                .await?
        }
        _ => response,
    };
    digest_of(&response)
}

/// The `Docker-Content-Digest` of a 200 answer, checked for shape.
fn digest_of(response: &Response<hyper::body::Incoming>) -> Answer<String> {
    if response.status() == StatusCode::TOO_MANY_REQUESTS {
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(retry_after_seconds);
        return Err(Unanswered {
            rate_limit: Some(RateLimit { retry_after }),
            ..Unanswered::new(match retry_after {
                Some(after) => format!(
                    "the registry limits the rate (429): retry after {} s",
                    after.as_secs()
                ),
                None => "the registry limits the rate (429)".to_string(),
            })
        });
    }
    if response.status() != StatusCode::OK {
        return unanswered(format!("the registry answered {}", response.status()));
    }
    let digest = response
        .headers()
        .get("docker-content-digest")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| Unanswered::new("200 without a Docker-Content-Digest header"))?;
    // The algorithms the Engine knows, each with its exact length: anything else (a 10 KB
    // "sha256:aaa...") is no digest, and goes to the Engine, which refuses it too.
    let well_formed = digest.split_once(':').is_some_and(|(algorithm, hex)| {
        let length = match algorithm {
            "sha256" => 64,
            "sha384" => 96,
            "sha512" => 128,
            _ => return false,
        };
        hex.len() == length
            && hex
                .chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
    });
    if !well_formed {
        return unanswered(format!("malformed Docker-Content-Digest {digest:?}"));
    }
    Ok(digest.to_string())
}

/// The `Authorization` value that answers `challenge`.
async fn authorize(
    target: &Target,
    challenge: &Challenge,
    image: &ImageRef,
    auth: Option<&Auth>,
) -> Answer<String> {
    if auth.is_some_and(|a| a.identity_token.is_some()) {
        return unanswered("an identity token is exchanged by the Engine");
    }
    match challenge.scheme.to_ascii_lowercase().as_str() {
        "basic" => {
            if !target.may_carry_credentials() {
                return unanswered("Basic auth over plain HTTP to another host");
            }
            basic(auth).ok_or_else(|| Unanswered::new("Basic auth asked and no credentials given"))
        }
        "bearer" => Ok(format!("Bearer {}", token(challenge, image, auth).await?)),
        other => unanswered(format!("unknown auth scheme {other:?}")),
    }
}

fn basic(auth: Option<&Auth>) -> Option<String> {
    let auth = auth?;
    let user_pass = format!(
        "{}:{}",
        auth.username.as_deref()?,
        auth.password.as_deref().unwrap_or("")
    );
    Some(format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(user_pass)
    ))
}

/// The registry token flow: `GET realm?service=..&scope=repository:<path>:pull`, with Basic
/// credentials when given (anonymous otherwise).
async fn token(challenge: &Challenge, image: &ImageRef, auth: Option<&Auth>) -> Answer<String> {
    let realm = challenge
        .param("realm")
        .ok_or_else(|| Unanswered::new("Bearer challenge without a realm"))?;
    let realm_uri: Uri = realm
        .parse()
        .map_err(|_| Unanswered::new(format!("token realm {realm:?} is not a URL")))?;
    let target = Target::from_uri(&realm_uri)?;
    let scope = challenge
        .param("scope")
        .map(str::to_string)
        .unwrap_or_else(|| format!("repository:{}:pull", image.path));
    let mut query: Vec<String> = realm_uri.query().map(str::to_string).into_iter().collect();
    if let Some(service) = challenge.param("service") {
        query.push(format!("service={}", percent_encode(service)));
    }
    query.push(format!("scope={}", percent_encode(&scope)));
    let path = format!("{}?{}", realm_uri.path(), query.join("&"));
    let credentials = match basic(auth) {
        Some(_) if !target.may_carry_credentials() => {
            return at_risk(format!(
                "its token realm {} is plain HTTP on another host",
                target.origin()
            ));
        }
        other => other,
    };
    let mut connection = match Connection::open(&target).await {
        // The Engine may not check that certificate (see `credentials_at_risk`).
        Err(refused)
            if refused.tls_failed && credentials.is_some() && !is_loopback(&target.authority) =>
        {
            return at_risk(format!(
                "its token realm {} has a certificate that cannot be verified ({})",
                target.origin(),
                refused.why
            ));
        }
        other => other?,
    };
    let response = connection
        .send(Method::GET, &path, credentials.as_deref())
        .await?;
    if response.status() != StatusCode::OK {
        return unanswered(format!("the token service answered {}", response.status()));
    }
    let body = tokio::time::timeout(
        REQUEST_TIMEOUT,
        Limited::new(response.into_body(), MAX_TOKEN_BODY).collect(),
    )
    .await
    .map_err(|_| Unanswered::new("the token service timed out"))?
    .map_err(|e| Unanswered::new(format!("reading the token: {e}")))?
    .to_bytes();
    #[derive(serde::Deserialize)]
    struct TokenBody {
        token: Option<String>,
        access_token: Option<String>,
    }
    let parsed: TokenBody = serde_json::from_slice(&body)
        .map_err(|e| Unanswered::new(format!("the token service answered no JSON ({e})")))?;
    parsed
        .token
        .or(parsed.access_token)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| Unanswered::new("the token service answered no token"))
}

/// A `WWW-Authenticate` header as this module reads it: the scheme and the parameters (for
/// the fuzz target: registries are the hostile input here).
#[doc(hidden)]
pub fn parse_challenge(header: &str) -> (String, Vec<(String, String)>) {
    let challenge = Challenge::parse(header);
    (challenge.scheme, challenge.params)
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A `WWW-Authenticate` challenge: `Bearer realm="...",service="...",scope="..."`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Challenge {
    scheme: String,
    params: Vec<(String, String)>,
}

impl Challenge {
    fn parse(header: &str) -> Challenge {
        let header = header.trim();
        let (scheme, mut rest) = header.split_once(' ').unwrap_or((header, ""));
        let mut params = Vec::new();
        loop {
            rest = rest.trim_start_matches([' ', ',']);
            let Some((key, after)) = rest.split_once('=') else {
                break;
            };
            let key = key.trim().to_ascii_lowercase();
            let (value, after) = if let Some(quoted) = after.strip_prefix('"') {
                // A quoted string; `\"` and `\\` are escapes.
                let mut value = String::new();
                let mut chars = quoted.char_indices();
                let mut end = quoted.len();
                while let Some((i, c)) = chars.next() {
                    match c {
                        '\\' => {
                            if let Some((_, escaped)) = chars.next() {
                                value.push(escaped);
                            }
                        }
                        '"' => {
                            end = i + 1;
                            break;
                        }
                        c => value.push(c),
                    }
                }
                (value, &quoted[end..])
            } else {
                let end = after.find(',').unwrap_or(after.len());
                (after[..end].trim().to_string(), &after[end..])
            };
            params.push((key, value));
            rest = after;
        }
        Challenge {
            scheme: scheme.to_string(),
            params,
        }
    }

    fn param(&self, key: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// One HTTP/1.1 connection to an origin, kept for the challenge's second request.
struct Connection {
    target: Target,
    sender: SendRequest<Empty<Bytes>>,
}

impl Connection {
    async fn open(target: &Target) -> Answer<Connection> {
        let timed_out =
            || Unanswered::new(format!("connecting timed out after {CONNECT_TIMEOUT:?}"));
        let tcp = tokio::time::timeout(
            CONNECT_TIMEOUT,
            TcpStream::connect((target.host.as_str(), target.port)),
        )
        .await
        .map_err(|_| timed_out())?
        .map_err(|e| Unanswered::new(format!("cannot connect ({e})")))?;
        let _ = tcp.set_nodelay(true);
        let io: Box<dyn Io> = match target.scheme {
            Scheme::Http => Box::new(tcp),
            Scheme::Https => {
                let connector = tls_connector(&target.authority)?;
                let name = ServerName::try_from(target.host.clone()).map_err(|_| {
                    Unanswered::new(format!("{:?} is no TLS server name", target.host))
                })?;
                let tls = tokio::time::timeout(CONNECT_TIMEOUT, connector.connect(name, tcp))
                    .await
                    .map_err(|_| timed_out())?
                    .map_err(|e| Unanswered {
                        tls_failed: true,
                        ..Unanswered::new(format!("TLS: {e}"))
                    })?;
                Box::new(tls)
            }
        };
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(io))
            .await
            .map_err(|e| Unanswered::new(format!("HTTP handshake: {e}")))?;
        // Drives the connection; it ends when the sender is dropped.
        tokio::spawn(connection);
        Ok(Connection {
            target: target.clone(),
            sender,
        })
    }

    fn is_ready(&self) -> bool {
        !self.sender.is_closed()
    }

    async fn send(
        &mut self,
        method: Method,
        path_and_query: &str,
        authorization: Option<&str>,
    ) -> Answer<Response<hyper::body::Incoming>> {
        let mut request = Request::builder()
            .method(method)
            .uri(path_and_query)
            .header(HOST, &self.target.authority)
            .header(USER_AGENT, AGENT)
            .header(ACCEPT, MANIFEST_TYPES);
        if let Some(authorization) = authorization {
            request = request.header(AUTHORIZATION, authorization);
        }
        let request = request
            .body(Empty::new())
            .map_err(|e| Unanswered::new(format!("building the request: {e}")))?;
        tokio::time::timeout(REQUEST_TIMEOUT, async {
            self.sender
                .ready()
                .await
                .map_err(|e| Unanswered::new(format!("connection closed ({e})")))?;
            self.sender
                .send_request(request)
                .await
                .map_err(|e| Unanswered::new(format!("no answer ({e})")))
        })
        .await
        .map_err(|_| Unanswered::new(format!("no answer within {REQUEST_TIMEOUT:?}")))?
    }
}

/// The system's trust roots, loaded once per process (a few ms for ~150 certificates). Plain
/// data behind `try_lock`, as the Engine version cache: a fork never inherits a held lock
/// that could block the child.
static SYSTEM_ROOTS: Mutex<Option<Arc<rustls::RootCertStore>>> = Mutex::new(None);

fn system_roots() -> Arc<rustls::RootCertStore> {
    if let Some(roots) = SYSTEM_ROOTS.try_lock().ok().and_then(|r| r.clone()) {
        return roots;
    }
    let mut roots = rustls::RootCertStore::empty();
    // Unreadable or odd certificates are skipped; a registry they would have verified then
    // fails the handshake and the Engine is asked instead.
    let loaded = rustls_native_certs::load_native_certs();
    roots.add_parsable_certificates(loaded.certs);
    let roots = Arc::new(roots);
    if let Ok(mut cache) = SYSTEM_ROOTS.try_lock() {
        *cache = Some(roots.clone());
    }
    roots
}

/// TLS as the Engine does it for `authority`: the system roots plus the CA files in
/// `/etc/docker/certs.d/<authority>/`. Client certificates there are left to the Engine.
fn tls_connector(authority: &str) -> Answer<tokio_rustls::TlsConnector> {
    let certs_d = std::env::var_os(CERTS_D_ENV)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(CERTS_D));
    let extra = registry_cas(&certs_d.join(authority))?;
    let roots = if extra.is_empty() {
        system_roots()
    } else {
        let mut roots = (*system_roots()).clone();
        roots.add_parsable_certificates(extra);
        Arc::new(roots)
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Unanswered::new(format!("TLS setup: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(tokio_rustls::TlsConnector::from(Arc::new(config)))
}

/// The `*.crt` CA files of one registry's certs.d directory; a client key pair there means
/// the registry wants client certificates, which only the Engine presents.
fn registry_cas(dir: &Path) -> Answer<Vec<CertificateDer<'static>>> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(Vec::new());
    };
    let mut cas = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        match path.extension().and_then(|e| e.to_str()) {
            Some("crt") => {
                let certs = CertificateDer::pem_file_iter(&path)
                    .map_err(|e| Unanswered::new(format!("reading {}: {e}", path.display())))?;
                cas.extend(certs.flatten());
            }
            Some("cert") | Some("key") => {
                return unanswered(format!(
                    "{} holds a client certificate, which the Engine presents",
                    dir.display()
                ));
            }
            _ => {}
        }
    }
    Ok(cas)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges_parse_as_registries_send_them() {
        let bearer = Challenge::parse(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/nginx:pull""#,
        );
        assert_eq!(bearer.scheme, "Bearer");
        assert_eq!(bearer.param("realm"), Some("https://auth.docker.io/token"));
        assert_eq!(bearer.param("service"), Some("registry.docker.io"));
        assert_eq!(bearer.param("scope"), Some("repository:library/nginx:pull"));

        let basic = Challenge::parse(r#"Basic realm="test""#);
        assert_eq!(
            (basic.scheme.as_str(), basic.param("realm")),
            ("Basic", Some("test"))
        );

        // Escapes inside quotes, a comma inside a quoted value, unquoted tokens, odd spacing.
        let odd = Challenge::parse(r#"Bearer  realm="a \"b\", c" , service=svc,scope="x:y""#);
        assert_eq!(odd.param("realm"), Some(r#"a "b", c"#));
        assert_eq!(odd.param("service"), Some("svc"));
        assert_eq!(odd.param("scope"), Some("x:y"));
        assert_eq!(Challenge::parse("Bearer").params, vec![]);
    }

    #[test]
    fn hosts_ports_and_loopback() {
        assert!(is_loopback("127.0.0.1:5000"));
        assert!(is_loopback("localhost:5000"));
        assert!(is_loopback("[::1]:5000"));
        assert!(!is_loopback("registry.example.com:5000"));
        assert!(!is_loopback("10.0.0.1"));
        let t = Target::new(Scheme::Https, "registry.example.com");
        assert_eq!((t.host.as_str(), t.port), ("registry.example.com", 443));
        let t = Target::new(Scheme::Http, "127.0.0.1:5055");
        assert_eq!((t.host.as_str(), t.port), ("127.0.0.1", 5055));
        let t = Target::new(Scheme::Http, "[::1]:5055");
        assert_eq!((t.host.as_str(), t.port), ("::1", 5055));
        assert_eq!(registry_host("docker.io"), "registry-1.docker.io");
        assert_eq!(registry_host("ghcr.io"), "ghcr.io");
    }

    #[test]
    fn no_proxy_matches_as_curl_does() {
        assert!(no_proxy_covers("*", "registry.example.com"));
        assert!(no_proxy_covers("example.com", "registry.example.com:5000"));
        assert!(no_proxy_covers(".example.com", "registry.example.com"));
        assert!(no_proxy_covers("localhost, 127.0.0.1", "127.0.0.1:5000"));
        assert!(!no_proxy_covers("example.com", "registry.example.org"));
        assert!(!no_proxy_covers("ample.com", "registry.example.com"));
        assert!(!no_proxy_covers("", "registry.example.com"));
    }

    #[test]
    fn credentials_stay_off_plain_http_to_other_hosts() {
        assert!(Target::new(Scheme::Https, "auth.example.com").may_carry_credentials());
        assert!(Target::new(Scheme::Http, "127.0.0.1:5000").may_carry_credentials());
        assert!(!Target::new(Scheme::Http, "auth.example.com").may_carry_credentials());
        let auth = Auth {
            username: Some("ci".into()),
            password: Some("s3cret".into()),
            identity_token: None,
        };
        assert_eq!(basic(Some(&auth)).unwrap(), "Basic Y2k6czNjcmV0");
        assert_eq!(basic(None), None);
    }

    #[test]
    fn percent_encoding_keeps_unreserved_only() {
        assert_eq!(
            percent_encode("repository:team/web:pull"),
            "repository%3Ateam%2Fweb%3Apull"
        );
        assert_eq!(percent_encode("a-b_c.d~e"), "a-b_c.d~e");
    }
}
