//! The record of a container this tool adopted. Labels cannot be added to a container, so what
//! a container made by `docker_container.running` (or by hand) would carry as our labels, once
//! it is found to run as declared, is kept beside its lock instead, where the next run's no-op
//! reads it for the price of a small file.

use serde::{Deserialize, Serialize};

use crate::container::observe::Observed;
use crate::lock;

/// What is kept: the container it is about, and the labels it would carry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Adopted {
    /// The container's ID: a record of another container (since replaced) counts for nothing.
    pub container: String,
    /// The canonical JSON of the declaration it was found to run.
    pub spec: String,
    /// The image reference it was declared with.
    pub image: String,
    /// The manifest digest its image was pulled under, when known.
    pub digest: Option<String>,
    /// The options it was adopted with, where not the defaults (`update` uses them).
    #[serde(default)]
    pub options: Option<String>,
}

/// Keeps the record of `name`'s adopted container (called under its lock).
pub fn keep(name: &str, adopted: &Adopted) -> crate::error::Result<()> {
    let text = serde_json::to_string(adopted).unwrap_or_default();
    lock::write_adoption(name, &text)
}

/// Forgets the record of `name` (its container was removed or replaced).
pub fn forget(name: &str) {
    lock::forget_adoption(name);
}

/// Gives `found` (the container under `name`) the record it was adopted with, if it was and
/// carries none of its own.
pub fn recall(name: &str, found: &mut Observed) {
    if found.record.spec.is_some() {
        return;
    }
    let Some(adopted) = lock::read_adoption(name)
        .and_then(|text| serde_json::from_str::<Adopted>(&text).ok())
        .filter(|a| a.container == found.id)
    else {
        return;
    };
    found.record.spec = Some(adopted.spec);
    found.record.image_ref = Some(adopted.image);
    found.record.digest = adopted.digest;
    found.record.options = adopted.options;
    found.running = None;
}
