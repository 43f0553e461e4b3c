//! `keep_images`: after a success, the images of the repository beyond the newest N go,
//! never one a container uses or one the same run deploys.

use std::collections::HashSet;
use std::time::Instant;

use bollard::query_parameters::{ListContainersOptions, ListImagesOptions, RemoveImageOptions};
use bollard::Docker;

use crate::error::EngineFault;
use crate::reference::short_id;
use crate::reference::ImageRef;
use crate::steps::Steps;

/// Removes images of `image`'s repository beyond the newest `keep`, never one that any
/// container uses. Returns the removed IDs and a warning per image that could not go.
pub(crate) async fn prune_images(
    docker: &Docker,
    image: &ImageRef,
    keep: u32,
    protected: &HashSet<String>,
    steps: &mut Steps<'_>,
) -> (Vec<String>, Vec<String>) {
    let started = Instant::now();
    let repository = image.repository();
    let listed = tokio::join!(
        docker.list_images(Some(ListImagesOptions::default())),
        docker.list_containers(Some(ListContainersOptions {
            all: true,
            ..Default::default()
        })),
    );
    let (images, containers) = match listed {
        (Ok(images), Ok(containers)) => (images, containers),
        (Err(e), _) | (_, Err(e)) => {
            return (
                vec![],
                vec![format!(
                    "keep_images: the images could not be listed ({}); none was removed",
                    EngineFault::from(e).message()
                )],
            )
        }
    };
    let in_use: HashSet<String> = containers.into_iter().filter_map(|c| c.image_id).collect();
    let of_repository = |names: &[String], separator: char| {
        names.iter().any(|n| {
            n.rsplit_once(separator)
                .is_some_and(|(repo, _)| repo == repository)
        })
    };
    let mut mine: Vec<_> = images
        .into_iter()
        .filter(|i| of_repository(&i.repo_tags, ':') || of_repository(&i.repo_digests, '@'))
        .collect();
    mine.sort_by_key(|i| std::cmp::Reverse(i.created));
    let mut removed = Vec::new();
    let mut warnings = Vec::new();
    for old in mine.into_iter().skip(keep as usize) {
        if in_use.contains(&old.id) || protected.contains(&old.id) {
            continue;
        }
        // Not forced: an image another tag still names stays, and says so.
        match docker
            .remove_image(&old.id, None::<RemoveImageOptions>, None)
            .await
        {
            Ok(_) => removed.push(old.id),
            Err(e) => warnings.push(format!(
                "keep_images: image {} was kept ({})",
                short_id(&old.id),
                EngineFault::from(e).message()
            )),
        }
    }
    steps.record(
        "prune",
        started,
        format!("{} old image(s) of {repository} removed", removed.len()),
    );
    (removed, warnings)
}
