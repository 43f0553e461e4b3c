//! One error type for the whole core. An error carries its parts as data: what it is about
//! (`container "web"`), what went wrong, and what was left as it was (or what runs now),
//! because the operator reading a failed Salt run needs all three, and because a caller that
//! knows more (a redeploy around a pull) adds to a part instead of rewriting a sentence.

use std::fmt;

use serde_json::Value;

/// The kinds of error, one row each: the variant, the Python exception it surfaces as (and in
/// Salt comments), that exception's base, and its docstring. The enum, [`ErrorKind::ALL`],
/// the names and the Python exception classes (`python.rs`) all come from this one table.
macro_rules! error_kinds {
    ($callback:ident) => {
        $callback! {
            /// Any other failure of the Engine or of the host (an unsafe lock directory, a name
            /// held by a container this tool did not create); also the base of every error.
            Docker => DeployError(PyException),
                "Base of every error of saltext-docker-deploy (and any failure without a more specific class).";
            /// The Docker Engine could not be reached or gave no answer in time.
            DockerUnavailable => DockerUnavailable(DeployError),
                "The Docker Engine could not be reached.";
            /// The image (or the tag) does not exist locally or in the registry.
            ImageNotFound => ImageNotFound(DeployError),
                "The image or tag does not exist locally or in the registry.";
            /// The registry could not be reached, refused the credentials, or failed.
            Registry => RegistryError(DeployError),
                "The registry failed, was unreachable or refused the credentials.";
            /// A bad argument: unknown keyword, malformed value, bad image reference. Raised
            /// before any Docker call.
            InvalidSpec => InvalidSpec(DeployError),
                "A bad argument; raised before any Docker call.";
            /// The new container could not be created, started or verified; the previous one
            /// was left running or restored.
            ContainerStart => ContainerStartError(DeployError),
                "The new container could not be created, started or verified; the previous one was restored.";
            /// The new container failed and the previous one was brought back; the error
            /// carries the redeploy's report.
            RolledBack => RolledBack(ContainerStartError),
                "The new container failed verification and the previous one runs again; `.report` has the details.";
            /// Another run held the host lock of the container for too long.
            LockTimeout => LockTimeout(DeployError),
                "Another redeploy of the same container held the host lock past `lock_timeout`.";
        }
    };
}
#[allow(unused_imports)] // used by the Python binding (feature `python`)
pub(crate) use error_kinds;

macro_rules! define_kinds {
    ($( $(#[$meta:meta])* $kind:ident => $exception:ident($base:ident), $doc:literal; )*) => {
        /// What kind of failure an [`Error`] is; each surfaces as its own Python exception.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum ErrorKind {
            $( $(#[$meta])* $kind, )*
        }

        impl ErrorKind {
            /// Every kind, in the order of the table (the base first).
            pub const ALL: &'static [ErrorKind] = &[$(ErrorKind::$kind),*];

            /// The Python exception class name (`RegistryError`, `RolledBack`, ...).
            pub fn exception(self) -> &'static str {
                match self { $(ErrorKind::$kind => stringify!($exception),)* }
            }

            /// The class the exception derives from (`PyException` for the base).
            pub fn base(self) -> &'static str {
                match self { $(ErrorKind::$kind => stringify!($base),)* }
            }

            /// The exception's docstring.
            pub fn doc(self) -> &'static str {
                match self { $(ErrorKind::$kind => $doc,)* }
            }
        }
    };
}
error_kinds!(define_kinds);

/// What every error says when nothing was touched.
pub const NOTHING_CHANGED: &str = "nothing was changed";

/// An error of the core: `{subject}: {problem}; {left}`.
#[derive(Debug)]
pub struct Error {
    pub kind: ErrorKind,
    /// What the error is about, outermost first: `container "web"`, `image reg/web:prod`.
    pub subject: Vec<String>,
    /// What went wrong.
    pub problem: String,
    /// What was left as it was, or what runs now; empty when a caller says it.
    pub left: String,
    /// With [`ErrorKind::RolledBack`] (and a failed first start): the redeploy's report
    /// (steps, images, the failure, what runs now).
    pub report: Option<Box<Value>>,
    /// With [`ErrorKind::Registry`], when the registry limits the rate: so that a caller
    /// asking again and again (the beacon) backs off.
    pub rate_limit: Option<RateLimit>,
}

/// A registry's `429 Too Many Requests`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// How long it asks to wait (its `Retry-After` in seconds), when it says.
    pub retry_after: Option<std::time::Duration>,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An error of `kind` saying `problem`, about nothing yet and with nothing said of what was
    /// left (see [`Error::about`] and [`Error::left`]).
    pub fn new(kind: ErrorKind, problem: impl Into<String>) -> Error {
        Error {
            kind,
            subject: Vec::new(),
            problem: problem.into(),
            left: String::new(),
            report: None,
            rate_limit: None,
        }
    }

    /// The most common error: a bad argument, about `subject`, nothing changed.
    pub fn invalid(subject: impl Into<String>, problem: impl Into<String>) -> Error {
        Error::new(ErrorKind::InvalidSpec, problem)
            .about(subject)
            .left(NOTHING_CHANGED)
    }

    /// The same error about `subject` too, put in front of what it was about (a container
    /// around the image its pull was for).
    pub fn about(mut self, subject: impl Into<String>) -> Error {
        let subject = subject.into();
        if !subject.is_empty() && self.subject.first() != Some(&subject) {
            self.subject.insert(0, subject);
        }
        self
    }

    /// The same error saying `left` of what was left as it was: one registry fault means
    /// different things in a pull and in a check.
    pub fn left(mut self, left: impl Into<String>) -> Error {
        self.left = left.into();
        self
    }

    /// The same error with `more` added to what it says was left (a rollout that stopped).
    pub fn and_left(mut self, more: impl fmt::Display) -> Error {
        self.left = match self.left.is_empty() {
            true => more.to_string(),
            false => format!("{}; {more}", self.left),
        };
        self
    }

    /// The same error carrying a report (a `RolledBack`'s).
    pub fn with_report(mut self, report: Value) -> Error {
        self.report = Some(Box::new(report));
        self
    }

    /// The exception class name this error surfaces as in Python (and in Salt comments).
    pub fn exception(&self) -> &'static str {
        self.kind.exception()
    }

    /// Whether it is of `kind`.
    pub fn is(&self, kind: ErrorKind) -> bool {
        self.kind == kind
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for subject in &self.subject {
            write!(f, "{subject}: ")?;
        }
        f.write_str(&self.problem)?;
        if !self.left.is_empty() {
            write!(f, "; {}", self.left)?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {}

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

    /// Maps a fault of a plain Engine call to an error about `subject`, with `left` saying what
    /// was left as it was.
    pub(crate) fn into_error(self, subject: &str, left: &str) -> Error {
        let error = match self {
            EngineFault::Unreachable(m) => Error::new(
                ErrorKind::DockerUnavailable,
                format!("cannot reach the Docker Engine ({m})"),
            ),
            EngineFault::TimedOut => Error::new(
                ErrorKind::DockerUnavailable,
                "the Docker Engine did not answer in time (request timed out)",
            ),
            other => Error::new(ErrorKind::Docker, other.message()),
        };
        error.about(subject).left(left)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_reads_subject_problem_and_what_was_left() {
        let err = Error::new(ErrorKind::Registry, "refused access (denied)")
            .about("image reg/web:prod")
            .left("nothing was pulled");
        assert_eq!(
            err.to_string(),
            "image reg/web:prod: refused access (denied); nothing was pulled"
        );
        let err = err
            .about("container \"web\"")
            .left("the local tag and all containers were left as they were");
        assert_eq!(
            err.to_string(),
            "container \"web\": image reg/web:prod: refused access (denied); the local tag and \
             all containers were left as they were"
        );
        assert_eq!(err.exception(), "RegistryError");
        let err = err.and_left("the rollout stopped");
        assert!(
            err.to_string().ends_with("were; the rollout stopped"),
            "{err}"
        );
        // The same subject twice is said once.
        assert_eq!(
            Error::invalid("container \"web\"", "bad")
                .about("container \"web\"")
                .to_string(),
            "container \"web\": bad; nothing was changed"
        );
    }

    #[test]
    fn the_table_names_each_exception_once_under_one_base() {
        let names: Vec<_> = ErrorKind::ALL.iter().map(|k| k.exception()).collect();
        let unique: std::collections::HashSet<_> = names.iter().collect();
        assert_eq!(unique.len(), names.len(), "{names:?}");
        assert_eq!(ErrorKind::ALL[0].exception(), "DeployError");
        for kind in ErrorKind::ALL {
            let base = kind.base();
            assert!(
                base == "PyException" || names.contains(&base),
                "{kind:?} derives from {base}, which is not in the table"
            );
            assert!(!kind.doc().is_empty());
        }
    }
}
