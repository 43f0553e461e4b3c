//! The declared container configuration: [`declared`] (the normalised spec a container is
//! built from), [`parse`] (strictly, from the keyword arguments of Salt's
//! `docker_container.running`), [`record`] (the labels this tool writes on every container and
//! reads back: the canonical spec, so that drift is a string comparison) and [`create`] (the
//! Engine's create request, from the spec alone).

pub mod create;
pub mod declared;
pub mod parse;
pub mod record;

pub use declared::ContainerSpec;
pub use parse::{split_shell_words, KEYWORDS};
