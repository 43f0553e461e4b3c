//! The operations, one file each: a [`single`] container's redeploy, a [`group`] of them,
//! rolling [`replicas`], [`rollback`], [`remove`], and the [`update`] of every container that
//! follows an image, from their records; what they are asked ([`request`]) and what they
//! report ([`report`]).

pub mod group;
pub mod remove;
pub mod replicas;
pub mod report;
pub mod request;
pub mod rollback;
pub mod single;
pub mod update;
