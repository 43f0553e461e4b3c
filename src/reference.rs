//! The one parser of image references: `[registry[:port]/]path[:tag][@digest]`, with Docker Hub
//! defaults (`docker.io`, `library/`, `latest`). Everything else in the crate works on
//! [`ImageRef`]. Also how image and container IDs are shown ([`short_id`]).

use std::fmt;

use crate::error::{Error, ErrorKind, Result};

const DOCKER_HUB: &str = "docker.io";
const MAX_NAME_LEN: usize = 255;
const MAX_TAG_LEN: usize = 128;

/// A parsed, validated image reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRef {
    /// `docker.io`, `registry.example.com`, `127.0.0.1:5000`.
    pub registry: String,
    /// Repository path inside the registry, `library/` already added for Docker Hub.
    pub path: String,
    /// The tag; `latest` when neither tag nor digest was given.
    pub tag: Option<String>,
    /// `algorithm:hex`, when pinned by digest.
    pub digest: Option<String>,
}

impl ImageRef {
    pub fn parse(input: &str) -> Result<Self> {
        let bad = |why: &str| {
            // Never the whole of a long input in a message.
            let shown: String = input.chars().take(80).collect();
            let more = if shown.len() < input.len() { "..." } else { "" };
            let why: String = why.chars().take(200).collect();
            Error::new(
                ErrorKind::InvalidSpec,
                format!("image reference {shown:?}{more} is invalid: {why}"),
            )
            .left("nothing was pulled or changed")
        };
        if input.is_empty() {
            return Err(bad("it is empty"));
        }
        if input.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad("it contains whitespace"));
        }

        let (rest, digest) = match input.split_once('@') {
            Some((rest, digest)) => {
                validate_digest(digest).map_err(|why| bad(&why))?;
                (rest, Some(digest.to_string()))
            }
            None => (input, None),
        };

        // A ':' after the last '/' starts the tag; one before it belongs to a registry port.
        let last_slash = rest.rfind('/');
        let (name, tag) = match rest.rfind(':') {
            Some(colon) if last_slash.is_none_or(|slash| colon > slash) => {
                (&rest[..colon], Some(&rest[colon + 1..]))
            }
            _ => (rest, None),
        };
        if let Some(tag) = tag {
            validate_tag(tag).map_err(|why| bad(&why))?;
        }
        if name.is_empty() {
            return Err(bad("the repository name is empty"));
        }
        if name.len() > MAX_NAME_LEN {
            return Err(bad("the repository name is longer than 255 characters"));
        }

        // The first component is a registry when it looks like a host: has a '.' or a ':' or is
        // `localhost` (the rule the Docker CLI uses).
        let (registry, path) = match name.split_once('/') {
            Some((first, remainder))
                if first.contains('.') || first.contains(':') || first == "localhost" =>
            {
                validate_registry(first).map_err(|why| bad(&why))?;
                (first.to_string(), remainder.to_string())
            }
            _ => (DOCKER_HUB.to_string(), name.to_string()),
        };
        for component in path.split('/') {
            validate_path_component(component).map_err(|why| bad(&why))?;
        }
        let path = if registry == DOCKER_HUB && !path.contains('/') {
            format!("library/{path}")
        } else {
            path
        };
        let tag = match (tag, &digest) {
            (Some(tag), _) => Some(tag.to_string()),
            (None, None) => Some("latest".to_string()),
            (None, Some(_)) => None,
        };
        Ok(ImageRef {
            registry,
            path,
            tag,
            digest,
        })
    }

    /// The repository as the Engine names it locally: Docker Hub images without `docker.io/`
    /// and official images without `library/`, the way `docker images` shows them.
    pub fn repository(&self) -> String {
        if self.registry == DOCKER_HUB {
            self.path
                .strip_prefix("library/")
                .unwrap_or(&self.path)
                .to_string()
        } else {
            format!("{}/{}", self.registry, self.path)
        }
    }

    /// The reference to inspect locally: by digest when pinned, else by tag.
    pub fn local_name(&self) -> String {
        match (&self.digest, &self.tag) {
            (Some(digest), _) => format!("{}@{digest}", self.repository()),
            (None, Some(tag)) => format!("{}:{tag}", self.repository()),
            (None, None) => self.repository(),
        }
    }

    /// What to ask the Engine to pull: the digest when pinned, else the tag.
    pub fn pull_tag(&self) -> String {
        self.digest
            .clone()
            .or_else(|| self.tag.clone())
            .unwrap_or_else(|| "latest".to_string())
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.repository())?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

fn validate_tag(tag: &str) -> Result<(), String> {
    let mut chars = tag.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
    if !first_ok || tag.len() > MAX_TAG_LEN {
        return Err(format!(
            "tag {tag:?} must start with a letter, digit or '_' and be at most 128 characters"
        ));
    }
    if !chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')) {
        return Err(format!(
            "tag {tag:?} may only contain letters, digits, '_', '.' and '-'"
        ));
    }
    Ok(())
}

fn validate_digest(digest: &str) -> Result<(), String> {
    let (algorithm, hex) = digest
        .split_once(':')
        .ok_or_else(|| format!("digest {digest:?} must look like sha256:<hex>"))?;
    let algorithm_ok = !algorithm.is_empty()
        && algorithm.chars().all(|c| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '+' | '.' | '_' | '-')
        });
    let hex_ok = hex.len() >= 32
        && hex
            .chars()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase());
    let sha256_ok = algorithm != "sha256" || hex.len() == 64;
    if algorithm_ok && hex_ok && sha256_ok {
        Ok(())
    } else {
        Err(format!(
            "digest {digest:?} must look like sha256:<64 lowercase hex digits>"
        ))
    }
}

fn validate_registry(registry: &str) -> Result<(), String> {
    let (host, port) = match registry.rsplit_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (registry, None),
    };
    if let Some(port) = port {
        if port.is_empty()
            || !port.chars().all(|c| c.is_ascii_digit())
            || port.parse::<u16>().is_err()
        {
            return Err(format!("registry {registry:?} has a bad port"));
        }
    }
    let labels_ok = !host.is_empty()
        && host.split('.').all(|label| {
            !label.is_empty()
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        });
    if labels_ok {
        Ok(())
    } else {
        Err(format!("registry {registry:?} is not a valid host name"))
    }
}

/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`
fn validate_path_component(component: &str) -> Result<(), String> {
    let bad = || {
        Err(format!(
            "repository path component {component:?} must be lowercase letters and digits, \
             separated by '.', '_', '__' or '-'"
        ))
    };
    let bytes = component.as_bytes();
    if bytes.is_empty() {
        return bad();
    }
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let mut i = 0;
    while i < bytes.len() {
        if !alnum(bytes[i]) {
            return bad();
        }
        while i < bytes.len() && alnum(bytes[i]) {
            i += 1;
        }
        if i == bytes.len() {
            break;
        }
        let sep_start = i;
        while i < bytes.len() && !alnum(bytes[i]) {
            i += 1;
        }
        let sep = &component[sep_start..i];
        let sep_ok = sep == "." || sep == "_" || sep == "__" || sep.chars().all(|c| c == '-');
        if !sep_ok || i == bytes.len() {
            return bad();
        }
    }
    Ok(())
}

/// `sha256:0123456789ab...` -> `sha256:0123456789ab`, the length `docker ps` shows.
pub fn short_id(id: &str) -> String {
    // By characters, not bytes: IDs also come from labels, which may hold anything.
    let first_12 = |text: &str| text.chars().take(12).collect::<String>();
    match id.split_once(':') {
        Some((algo, hex)) => format!("{algo}:{}", first_12(hex)),
        None => first_12(id),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(input: &str) -> (String, String, Option<String>, Option<String>) {
        let r = ImageRef::parse(input).unwrap();
        (r.registry, r.path, r.tag, r.digest)
    }

    const DIGEST: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn docker_hub_defaults() {
        assert_eq!(
            parts("busybox"),
            (
                "docker.io".into(),
                "library/busybox".into(),
                Some("latest".into()),
                None
            )
        );
        assert_eq!(parts("user/app:prod").1, "user/app");
        assert_eq!(ImageRef::parse("busybox").unwrap().repository(), "busybox");
        assert_eq!(
            ImageRef::parse("docker.io/library/busybox:1")
                .unwrap()
                .local_name(),
            "busybox:1"
        );
        assert_eq!(
            ImageRef::parse("user/app:qa").unwrap().local_name(),
            "user/app:qa"
        );
    }

    #[test]
    fn registry_with_port_and_tag() {
        let r = ImageRef::parse("127.0.0.1:5000/team/web:prod").unwrap();
        assert_eq!(r.registry, "127.0.0.1:5000");
        assert_eq!(r.path, "team/web");
        assert_eq!(r.tag.as_deref(), Some("prod"));
        assert_eq!(r.local_name(), "127.0.0.1:5000/team/web:prod");
        assert_eq!(r.pull_tag(), "prod");
        // A port but no tag: the ':' belongs to the registry.
        let r = ImageRef::parse("localhost:5000/web").unwrap();
        assert_eq!(
            (r.registry.as_str(), r.tag.as_deref()),
            ("localhost:5000", Some("latest"))
        );
        assert_eq!(
            ImageRef::parse("localhost/web").unwrap().registry,
            "localhost"
        );
    }

    #[test]
    fn digests() {
        let r = ImageRef::parse(&format!("reg.example.com/web@{DIGEST}")).unwrap();
        assert_eq!((r.tag.clone(), r.digest.as_deref()), (None, Some(DIGEST)));
        assert_eq!(r.local_name(), format!("reg.example.com/web@{DIGEST}"));
        assert_eq!(r.pull_tag(), DIGEST);
        let r = ImageRef::parse(&format!("web:1.2@{DIGEST}")).unwrap();
        assert_eq!(r.tag.as_deref(), Some("1.2"));
        assert_eq!(r.to_string(), format!("web:1.2@{DIGEST}"));
    }

    #[test]
    fn rejects_bad_references() {
        for bad in [
            "",
            " web",
            "Web",
            "web:",
            "web:-x",
            "web:a/b",
            "web@sha256:abc",
            "web@sha256:0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef",
            "web@nocolon",
            "/web",
            "web/",
            "a//b",
            "web..x",
            "web-",
            "reg.example.com:port/web",
            "reg.example.com:99999/web",
            "-reg.example.com/web",
            ":tag",
            &format!("{}:t", "a".repeat(256)),
            &format!("web:{}", "t".repeat(129)),
        ] {
            let err = ImageRef::parse(bad).expect_err(bad);
            assert!(err.is(ErrorKind::InvalidSpec), "{bad}: {err}");
            assert!(
                err.to_string().contains("nothing was pulled or changed"),
                "{err}"
            );
        }
    }

    #[test]
    fn accepts_separators_the_grammar_allows() {
        for good in [
            "a.b",
            "a_b",
            "a__b",
            "a---b",
            "a-b/c.d_e",
            "web:v1.2-rc_3",
            "web:_x",
        ] {
            ImageRef::parse(good).unwrap_or_else(|e| panic!("{good}: {e}"));
        }
    }

    #[test]
    fn ids_are_shortened_as_docker_ps_does() {
        assert_eq!(
            short_id(&format!("sha256:{}", "1".repeat(64))),
            "sha256:111111111111"
        );
        assert_eq!(short_id("abc"), "abc");
        assert_eq!(short_id("sha256:ééééééééééééé"), "sha256:éééééééééééé");
    }
}
