//! The container side of a redeploy: what runs under a name ([`observe`], read-only
//! [`diff`]), what has to happen ([`plan`], pure), the steps that survive a kill at any point
//! and their undoing ([`converge`], pure over an engine trait), those steps on the Docker
//! Engine ([`docker`]) and the proof that a new container works ([`verify`]).

pub mod adopted;
pub mod converge;
pub mod diff;
pub mod docker;
pub mod observe;
pub mod plan;
pub mod scene;
pub mod verify;
