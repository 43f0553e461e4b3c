//! One error type for the whole core. Every message names the container or image it is about and
//! says what was left as it was, because the operator reading a failed Salt run needs both.

/// Errors of the core. The Python binding maps each variant to the exception of the same name.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The Docker Engine could not be reached or answered something unusable.
    #[error("{0}")]
    DockerUnavailable(String),
    /// The image (or the tag) does not exist locally or in the registry.
    #[error("{0}")]
    ImageNotFound(String),
    /// The registry could not be reached, refused the credentials, or failed.
    #[error("{0}")]
    Registry(String),
    /// A bad argument: unknown keyword, malformed value, bad image reference. Raised before any
    /// Docker call.
    #[error("{0}")]
    InvalidSpec(String),
    /// The new container could not be created or started; the previous one was restored.
    #[error("{0}")]
    ContainerStart(String),
    /// The new container failed verification and the previous one was brought back; `report`
    /// is the redeploy's report (steps, images, what runs now).
    #[error("{message}")]
    RolledBack {
        message: String,
        report: Box<serde_json::Value>,
    },
    /// Another redeploy of the same container held the host lock for too long.
    #[error("{0}")]
    LockTimeout(String),
    /// Any other failure of the Engine.
    #[error("{0}")]
    Docker(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// The same kind of error with its message rewritten.
    fn map_message(self, f: impl FnOnce(String) -> String) -> Error {
        match self {
            Error::DockerUnavailable(m) => Error::DockerUnavailable(f(m)),
            Error::ImageNotFound(m) => Error::ImageNotFound(f(m)),
            Error::Registry(m) => Error::Registry(f(m)),
            Error::InvalidSpec(m) => Error::InvalidSpec(f(m)),
            Error::ContainerStart(m) => Error::ContainerStart(f(m)),
            Error::RolledBack { message, report } => Error::RolledBack {
                message: f(message),
                report,
            },
            Error::LockTimeout(m) => Error::LockTimeout(f(m)),
            Error::Docker(m) => Error::Docker(f(m)),
        }
    }

    /// The same kind of error with its message rewritten (for other modules).
    pub fn map_message_pub(self, f: impl FnOnce(String) -> String) -> Error {
        self.map_message(f)
    }

    /// The same error with `context` (say, the container a pull was for) put in front.
    pub fn context(self, context: &str) -> Error {
        self.map_message(|m| format!("{context}: {m}"))
    }

    /// The same error with its last clause, what was left untouched, said differently: one
    /// registry fault means different things in a pull and in a check.
    pub fn reword(self, untouched: &str) -> Error {
        self.map_message(|m| match m.rsplit_once("; ") {
            Some((head, _)) => format!("{head}; {untouched}"),
            None => format!("{m}; {untouched}"),
        })
    }

    /// The exception class name this error surfaces as in Python (and in Salt comments).
    pub fn kind(&self) -> &'static str {
        match self {
            Error::DockerUnavailable(_) => "DockerUnavailable",
            Error::ImageNotFound(_) => "ImageNotFound",
            Error::Registry(_) => "RegistryError",
            Error::InvalidSpec(_) => "InvalidSpec",
            Error::ContainerStart(_) => "ContainerStartError",
            Error::RolledBack { .. } => "RolledBack",
            Error::LockTimeout(_) => "LockTimeout",
            Error::Docker(_) => "DeployError",
        }
    }
}

/// What the Engine said, reduced to the parts we decide on.
#[derive(Debug)]
pub(crate) enum EngineFault {
    /// The Engine answered with an HTTP error status.
    Status { code: u16, message: String },
    /// The request never got an answer: socket missing, connection refused.
    Unreachable(String),
    /// The Engine took the request but gave no answer in time (hung or stopped, or itself
    /// waiting on a registry that trickles or never ends its answer).
    TimedOut,
    /// A streamed operation (pull) reported an error in its body.
    Stream(String),
    /// Anything else (a response we could not parse, ...).
    Other(String),
}

impl From<bollard::errors::Error> for EngineFault {
    fn from(err: bollard::errors::Error) -> Self {
        use bollard::errors::Error as B;
        match err {
            B::DockerResponseServerError {
                status_code,
                message,
            } => EngineFault::Status {
                code: status_code,
                message,
            },
            B::DockerStreamError { error } => EngineFault::Stream(error),
            B::SocketNotFoundError(path) => {
                EngineFault::Unreachable(format!("no Docker socket at {path}"))
            }
            B::RequestTimeoutError => EngineFault::TimedOut,
            e @ (B::HyperResponseError { .. }
            | B::HyperLegacyError { .. }
            | B::IOError { .. }
            | B::HttpClientError { .. }
            | B::UnsupportedURISchemeError { .. }
            | B::InvalidURIError { .. }
            | B::URLParseError { .. }) => EngineFault::Unreachable(e.to_string()),
            other => EngineFault::Other(other.to_string()),
        }
    }
}

impl EngineFault {
    pub(crate) fn is_not_found(&self) -> bool {
        matches!(self, EngineFault::Status { code: 404, .. })
    }

    pub(crate) fn message(&self) -> &str {
        match self {
            EngineFault::Status { message, .. } => message,
            EngineFault::Unreachable(m) | EngineFault::Stream(m) | EngineFault::Other(m) => m,
            EngineFault::TimedOut => "request timed out",
        }
    }

    /// Maps a fault of a plain Engine call to an error, with `context` naming the object and
    /// `untouched` saying what was left as it was.
    pub(crate) fn into_error(self, context: &str, untouched: &str) -> Error {
        match self {
            EngineFault::Unreachable(m) => Error::DockerUnavailable(format!(
                "{context}: cannot reach the Docker Engine ({m}); {untouched}"
            )),
            EngineFault::TimedOut => Error::DockerUnavailable(format!(
                "{context}: the Docker Engine did not answer in time (request timed out); \
                 {untouched}"
            )),
            other => Error::Docker(format!("{context}: {}; {untouched}", other.message())),
        }
    }
}
