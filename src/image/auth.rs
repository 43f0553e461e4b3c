//! Registry credentials: given by the caller (or Salt's pillar), sent only to the registry
//! itself, its token realm where that is safe ([`super::registry`]), and the Engine for a pull.

use bollard::auth::DockerCredentials;

use crate::reference::ImageRef;

/// Registry credentials. Never logged, never returned.
#[derive(Clone, Default)]
pub struct Auth {
    pub username: Option<String>,
    pub password: Option<String>,
    pub identity_token: Option<String>,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

impl Auth {
    /// The credentials as the Engine takes them for `image`'s registry.
    pub(crate) fn credentials(&self, image: &ImageRef) -> DockerCredentials {
        DockerCredentials {
            username: self.username.clone(),
            password: self.password.clone(),
            identitytoken: self.identity_token.clone(),
            serveraddress: Some(image.registry.clone()),
            ..Default::default()
        }
    }
}
