//! The operations, one file each: a [`single`] container's redeploy, a [`group`] of them,
//! rolling [`replicas`], [`rollback`] and [`remove`]; what they are asked ([`request`]) and
//! what they report ([`report`]).

pub mod group;
pub mod remove;
pub mod replicas;
pub mod report;
pub mod request;
pub mod rollback;
pub mod single;
