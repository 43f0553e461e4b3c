//! The record contract: the labels this tool writes on every container it creates, and how
//! they read back. The declared spec is recorded as canonical JSON
//! ([`super::declared::ContainerSpec::canonical_json`]), so drift is a string comparison and a
//! rollback rebuilds from the record alone.

use std::collections::HashMap;

/// Labels under this prefix belong to this tool; users may not declare them.
pub const LABEL_PREFIX: &str = "io.saltext.docker-deploy.";
/// The canonical JSON of the declared spec, recorded on every container we create.
pub const LABEL_SPEC: &str = "io.saltext.docker-deploy.spec";
/// The image reference the container was declared with.
pub const LABEL_IMAGE: &str = "io.saltext.docker-deploy.image";
/// The container name the spec belongs to (the temporary container carries it too).
pub const LABEL_NAME: &str = "io.saltext.docker-deploy.name";
/// The image ID that ran under the name before this container replaced it.
pub const LABEL_PREVIOUS_IMAGE: &str = "io.saltext.docker-deploy.previous-image";
/// The ID of the container this one replaced: links a new container to its backup.
pub const LABEL_PREVIOUS_CONTAINER: &str = "io.saltext.docker-deploy.previous-container";
/// The role the container was created for: `temporary` (created under `name.deploy-new`) or
/// `primary` (created under the name). Labels cannot change, so a container's role now is the
/// name it holds; this one records where it started.
pub const LABEL_ROLE: &str = "io.saltext.docker-deploy.role";
/// The registry's manifest digest (`repo@sha256:...`) the container's image was pulled under,
/// when the run knew it. A no-op compares the registry's digest with it instead of reading the
/// local tag: the same manifest digest means the same image.
pub const LABEL_DIGEST: &str = "io.saltext.docker-deploy.digest";
/// The replica set a container belongs to (`replicas=N` manages `name-1` .. `name-N`).
pub const LABEL_REPLICA_OF: &str = "io.saltext.docker-deploy.replica-of";
/// The options that shape how the container is replaced (strategy, verification, ...), where
/// they differ from the defaults, as canonical JSON: what `update()` (a registry push)
/// redeploys it with. Never credentials. As of the run that created the container.
pub const LABEL_OPTIONS: &str = "io.saltext.docker-deploy.options";
/// The image ID the container was created from. A container carries its image's labels too,
/// and an image committed from one of our containers carries ours: labels are ours only on a
/// container that runs the image they record (an image's ID hashes its labels, so no image can
/// record itself).
pub const LABEL_IMAGE_ID: &str = "io.saltext.docker-deploy.image-id";

/// What our labels say of a container: its declaration and where it came from. Written on
/// every container this tool creates ([`Record::labels`]), read back from a container
/// ([`Record::read`]) only where the labels are ours.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Record {
    /// The canonical JSON of the declared spec; `None` on a container this tool did not create
    /// (or an older version without the record).
    pub spec: Option<String>,
    /// The name the container was declared for.
    pub owner: Option<String>,
    /// The image reference it was declared with.
    pub image_ref: Option<String>,
    /// The ID of the container it replaced, which links a new container to the backup an
    /// interrupted redeploy left.
    pub previous_container: Option<String>,
    /// The image ID of the container it replaced (what `rollback` goes to).
    pub previous_image: Option<String>,
    /// The replica set it belongs to.
    pub replica_of: Option<String>,
    /// The manifest digest its image was pulled under (`repo@sha256:...`).
    pub digest: Option<String>,
    /// The options it was deployed with, where not the defaults (see [`LABEL_OPTIONS`]).
    pub options: Option<String>,
}

/// Where a container's labels under our prefix came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provenance {
    /// None of ours.
    None,
    /// Written by this tool: they record the very image the container runs.
    Ours,
    /// Inherited from its image (a `docker commit` of one of our containers, or an image built
    /// with our labels): they record another image, so they say nothing of this container.
    Inherited,
    /// Written by a version before the image record, or inherited: [`Record::vet_unproven`]
    /// keeps those its image does not carry too.
    Unproven,
}

/// Whose our labels on a container running `image_id` are.
pub fn provenance(labels: Option<&HashMap<String, String>>, image_id: &str) -> Provenance {
    let Some(labels) = labels else {
        return Provenance::None;
    };
    match labels.get(LABEL_IMAGE_ID) {
        Some(recorded) if recorded == image_id => Provenance::Ours,
        Some(_) => Provenance::Inherited,
        None if labels.keys().any(|k| k.starts_with(LABEL_PREFIX)) => Provenance::Unproven,
        None => Provenance::None,
    }
}

/// How a container was created: under the name, or under the temporary name beside the one
/// it replaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Primary,
    Temporary,
}

impl Record {
    /// The record on a container running `image_id` with `labels`, as far as they are ours
    /// ([`provenance`]); empty for a container this tool did not create.
    pub fn read(labels: Option<&HashMap<String, String>>, image_id: &str) -> Record {
        let trusted = match provenance(labels, image_id) {
            Provenance::Ours | Provenance::Unproven => labels,
            Provenance::None | Provenance::Inherited => None,
        };
        // Empty is "none": every label of ours is always written, so that none is inherited.
        let label = |key: &str| {
            trusted
                .and_then(|l| l.get(key))
                .filter(|v| !v.is_empty())
                .cloned()
        };
        Record {
            spec: label(LABEL_SPEC),
            owner: label(LABEL_NAME),
            image_ref: label(LABEL_IMAGE),
            previous_container: label(LABEL_PREVIOUS_CONTAINER),
            previous_image: label(LABEL_PREVIOUS_IMAGE),
            replica_of: label(LABEL_REPLICA_OF),
            digest: label(LABEL_DIGEST),
            options: label(LABEL_OPTIONS),
        }
    }

    /// For a container whose labels are [`Provenance::Unproven`]: forgets each of our labels
    /// that its image carries with the same value (the image's, not ours). `image_labels` are
    /// the labels of the image it runs.
    pub fn vet_unproven(&mut self, image_labels: &HashMap<String, String>) {
        let fields: [(&str, &mut Option<String>); 8] = [
            (LABEL_SPEC, &mut self.spec),
            (LABEL_NAME, &mut self.owner),
            (LABEL_IMAGE, &mut self.image_ref),
            (LABEL_PREVIOUS_CONTAINER, &mut self.previous_container),
            (LABEL_PREVIOUS_IMAGE, &mut self.previous_image),
            (LABEL_REPLICA_OF, &mut self.replica_of),
            (LABEL_DIGEST, &mut self.digest),
            (LABEL_OPTIONS, &mut self.options),
        ];
        for (key, value) in fields {
            if value.is_some() && image_labels.get(key) == value.as_ref() {
                *value = None;
            }
        }
    }

    /// The labels of a new container of `image_id` in `role` with this record. Every label of
    /// ours is always set, empty when it does not apply: a container also carries its image's
    /// labels, and an image committed from one of ours carries ours.
    pub fn labels(&self, image_id: &str, role: Role) -> Vec<(&'static str, String)> {
        let text = |value: &Option<String>| value.clone().unwrap_or_default();
        vec![
            (LABEL_SPEC, text(&self.spec)),
            (LABEL_IMAGE, text(&self.image_ref)),
            (LABEL_IMAGE_ID, image_id.to_string()),
            (LABEL_NAME, text(&self.owner)),
            (
                LABEL_ROLE,
                match role {
                    Role::Primary => "primary",
                    Role::Temporary => "temporary",
                }
                .to_string(),
            ),
            (LABEL_PREVIOUS_IMAGE, text(&self.previous_image)),
            (LABEL_PREVIOUS_CONTAINER, text(&self.previous_container)),
            (LABEL_DIGEST, text(&self.digest)),
            (LABEL_REPLICA_OF, text(&self.replica_of)),
            (LABEL_OPTIONS, text(&self.options)),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn what_is_written_reads_back_on_the_image_it_records() {
        let record = Record {
            spec: Some("{}".into()),
            owner: Some("web".into()),
            image_ref: Some("reg/web:prod".into()),
            previous_container: Some("c0".into()),
            previous_image: Some("sha256:old".into()),
            replica_of: None,
            digest: Some("reg/web@sha256:d".into()),
            options: Some(r#"{"strategy":"stop-first"}"#.into()),
        };
        let written: HashMap<String, String> = record
            .labels("sha256:new", Role::Primary)
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
        assert_eq!(
            written[LABEL_REPLICA_OF], "",
            "always written, empty when unused"
        );
        assert_eq!(Record::read(Some(&written), "sha256:new"), record);
        // The same labels on a container of another image were inherited: not ours.
        assert_eq!(
            provenance(Some(&written), "sha256:other"),
            Provenance::Inherited
        );
        assert_eq!(
            Record::read(Some(&written), "sha256:other"),
            Record::default()
        );
    }

    #[test]
    fn unproven_labels_the_image_also_carries_are_the_images() {
        let on_container = labels(&[(LABEL_NAME, "web"), (LABEL_SPEC, "{}")]);
        assert_eq!(
            provenance(Some(&on_container), "sha256:x"),
            Provenance::Unproven
        );
        let mut record = Record::read(Some(&on_container), "sha256:x");
        record.vet_unproven(&labels(&[(LABEL_NAME, "web")]));
        assert_eq!(record.owner, None);
        assert_eq!(record.spec.as_deref(), Some("{}"));
        assert_eq!(
            provenance(Some(&labels(&[("a", "b")])), "x"),
            Provenance::None
        );
    }
}
