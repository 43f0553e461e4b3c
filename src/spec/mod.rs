//! The declared container configuration: [`keywords`] (the table: every keyword of Salt's
//! `docker_container.running`, its aliases and forms, where it lands), [`forms`] (the value
//! forms, read strictly), [`parse`] (keyword arguments to a spec), [`declared`] (the
//! normalised spec and its canonical record, so that drift is a string comparison),
//! [`record`] (the labels every container carries) and [`create`] (the Engine's create
//! request, from the spec alone).

pub mod create;
pub mod declared;
pub mod forms;
pub mod keywords;
pub mod parse;
pub mod record;
pub mod running;

pub use declared::ContainerSpec;
pub use parse::split_shell_words;
