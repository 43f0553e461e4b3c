//! The image side of a redeploy: is there a new image ([`check`], asking the [`registry`]
//! directly), bring it here ([`pull`]), the two as the pull policy says ([`refresh`]), and
//! old images gone after a success ([`prune`]). Nothing here touches a container.

pub mod auth;
pub mod check;
pub mod fault;
pub mod prune;
pub mod pull;
pub mod refresh;
pub mod registry;
