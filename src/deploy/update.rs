//! The containers this tool keeps on an Engine, found by their records alone (`managed`), and
//! the redeploy of those declared with one image reference from their records (`update`): what
//! a registry push calls, through Salt's reactor, on a host that has no declaration at hand.
//!
//! A record is what the last run that replaced the container declared: its spec, the image
//! reference it follows, and the options that shape a replacement (see
//! [`crate::spec::record::LABEL_OPTIONS`]). `update` redeploys from it through the same
//! verified path as a declared run: locked, health-gated, rolled back. The tag decides what is
//! deployed, never the notification: a late or repeated delivery finds the tag's digest
//! already running and does nothing (no second replacement, no downgrade).

use std::collections::{BTreeMap, HashMap};

use bollard::query_parameters::ListContainersOptions;
use bollard::Docker;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::container::adopted;
use crate::container::observe::{observe_summary, vet, Observed, Status};
use crate::deploy::group::{redeploy_group, GroupEntry};
use crate::deploy::request::RedeployRequest;
use crate::deploy::single::{redeploy, refresh_for};
use crate::error::{EngineFault, Error, Result, NOTHING_CHANGED};
use crate::lock;
use crate::options::{Call, NamePattern, Options};
use crate::pause::PausePoint;
use crate::reference::ImageRef;
use crate::spec::record::{provenance, Provenance};
use crate::spec::ContainerSpec;
use crate::steps::{LogSink, Steps};

/// One container this tool keeps: under its own name, with its record.
#[derive(Debug, Clone, Serialize)]
pub struct Managed {
    pub name: String,
    /// The image reference it follows (as recorded: `registry/path:tag`).
    pub image: String,
    /// The manifest digest its image was pulled under, when recorded.
    pub digest: Option<String>,
    pub image_id: String,
    pub container_id: String,
    pub status: Status,
    /// The replica set it belongs to.
    pub replica_of: Option<String>,
    /// Made by someone else and adopted (its record lives beside its lock).
    pub adopted: bool,
    /// The declaration it was deployed with (canonical JSON); not returned to Python, where
    /// it could show `environment` values.
    #[serde(skip)]
    spec: String,
    #[serde(skip)]
    options: Option<String>,
}

/// Every container this tool keeps on the Engine, by name: one listing of all containers.
/// Helper containers of an interrupted run (`.deploy-new`, `.deploy-old`) are not listed:
/// the next run of their name recovers them.
pub async fn managed(docker: &Docker) -> Result<Vec<Managed>> {
    let containers = docker
        .list_containers(Some(ListContainersOptions {
            all: true,
            ..Default::default()
        }))
        .await
        .map_err(|e| EngineFault::from(e).into_error("listing the containers", NOTHING_CHANGED))?;
    let mut found = Vec::new();
    for summary in &containers {
        let Some(name) = summary
            .names
            .iter()
            .flatten()
            .map(|n| n.trim_start_matches('/'))
            .find(|n| !n.contains('/'))
        else {
            continue;
        };
        let mut observed = observe_summary(summary);
        match provenance(summary.labels.as_ref(), &observed.image_id) {
            Provenance::Unproven => vet(docker, &mut observed, NOTHING_CHANGED).await?,
            Provenance::None => adopted::recall(name, &mut observed),
            Provenance::Ours | Provenance::Inherited => {}
        }
        if let Some(managed) = keeps(name, observed) {
            found.push(managed);
        }
    }
    found.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(found)
}

/// The container under `name`, if this tool keeps it there: its record names it the owner of
/// the name (ours), or it was adopted under it.
fn keeps(name: &str, observed: Observed) -> Option<Managed> {
    let record = observed.record;
    let (spec, image) = (record.spec?, record.image_ref?);
    let adopted = record.owner.is_none();
    if !adopted && record.owner.as_deref() != Some(name) {
        return None;
    }
    Some(Managed {
        name: name.to_string(),
        image,
        digest: record.digest,
        image_id: observed.image_id,
        container_id: observed.id,
        status: observed.status,
        replica_of: record.replica_of,
        adopted,
        spec,
        options: record.options,
    })
}

/// Which containers an update takes, and how many at once.
pub struct Scope<'a> {
    /// Only names that match one of these (all, when `None`).
    pub names: Option<&'a [NamePattern]>,
    pub concurrency: usize,
}

impl Scope<'_> {
    fn takes(&self, name: &str) -> bool {
        self.names
            .is_none_or(|patterns| patterns.iter().any(|p| p.matches(name)))
    }
}

/// Redeploys every running container that follows `image`, from its record: single containers
/// as a group (`concurrency` at a time), each replica set one replica at a time under its
/// lock, on one pull, stopping at its first failure. `given` are the caller's options (`auth`,
/// `dry_run`, `pull_timeout`), over each container's recorded ones for this run only (the
/// record stays as it was). One entry per container, by name; none when nothing here follows
/// the image.
///
/// A stopped container is not taken: someone stopped it, and the next declared run decides.
/// What was listed may be replaced or removed by another run before its lock is taken: each
/// redeploy acts only on the very container it listed, and otherwise leaves the name as that
/// run left it (never a container created where one was removed, never an older declaration
/// put back).
pub async fn update(
    docker: &Docker,
    image: &ImageRef,
    given: &Map<String, Value>,
    scope: &Scope<'_>,
    log: LogSink<'_>,
) -> Result<Vec<GroupEntry>> {
    let wanted = image.to_string();
    let following: Vec<Managed> = managed(docker)
        .await?
        .into_iter()
        .filter(|m| ImageRef::parse(&m.image).is_ok_and(|r| r.to_string() == wanted))
        .filter(|m| scope.takes(&m.name) && m.status.is_running())
        .collect();
    if let Some(mut pause) = PausePoint::from_env() {
        pause.after("listed");
    }
    let mut entries = Vec::new();
    let mut singles = Vec::new();
    let mut warnings = HashMap::new();
    let mut sets: BTreeMap<String, Vec<RedeployRequest>> = BTreeMap::new();
    for managed in &following {
        match request_from_record(managed, image, given) {
            Ok((request, warning)) => {
                if let Some(warning) = warning {
                    warnings.insert(request.name.clone(), warning);
                }
                match &managed.replica_of {
                    Some(set) => sets.entry(set.clone()).or_default().push(request),
                    None => singles.push(request),
                }
            }
            // One record that no longer reads stops only its own container.
            Err(err) => entries.push(GroupEntry::of(&managed.name, Err(err))),
        }
    }
    if !singles.is_empty() {
        entries.extend(redeploy_group(docker, &singles, scope.concurrency, log).await);
    }
    for (set, mut members) in sets {
        members.sort_by_key(|m| replica_order(&m.name));
        entries.extend(update_replica_set(docker, &set, members, log).await);
    }
    for entry in &mut entries {
        if let (Some(report), Some(warning)) = (&mut entry.report, warnings.remove(&entry.name)) {
            report.warnings.push(warning);
        }
    }
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(entries)
}

/// The request that redeploys `managed` from its record: its declaration, the image it
/// follows, its recorded options with the caller's over them for this run; the record of
/// options is written again as it was. With a warning when the options are not recorded.
fn request_from_record(
    managed: &Managed,
    image: &ImageRef,
    given: &Map<String, Value>,
) -> Result<(RedeployRequest, Option<String>)> {
    let context = format!("container {:?}", managed.name);
    let recorded: Option<Map<String, Value>> = managed
        .options
        .as_deref()
        .and_then(|text| serde_json::from_str(text).ok());
    let warning = match (&managed.options, &recorded) {
        (_, Some(_)) => None,
        (None, None) => Some(
            "its options are not recorded (deployed by an earlier version): redeployed with the \
             defaults"
                .to_string(),
        ),
        (Some(_), None) => {
            Some("its recorded options could not be read: redeployed with the defaults".to_string())
        }
    };
    let mut options = recorded.clone().unwrap_or_default();
    options.extend(given.iter().map(|(k, v)| (k.clone(), v.clone())));
    let options = Options::parse(&context, Call::Redeploy, &options)?;
    let spec = ContainerSpec::from_record(&managed.name, &managed.spec)?;
    let mut request = RedeployRequest::new(&managed.name, image.clone(), spec, options)?;
    request.replica_of = managed.replica_of.clone();
    request.expected_container = Some(managed.container_id.clone());
    if let Some(recorded) = recorded {
        request.options_record = Value::Object(recorded).to_string();
    }
    Ok((request, warning))
}

/// `web-10` after `web-9`: replicas roll in their order.
fn replica_order(name: &str) -> (u64, String) {
    let index = name
        .rsplit_once('-')
        .and_then(|(_, n)| n.parse().ok())
        .unwrap_or(u64::MAX);
    (index, name.to_string())
}

/// The replicas of `set`, one at a time under the set's lock (as a declared rollout runs
/// them), all on the image one pull brought, stopping at the first failure: the replicas after
/// it are not touched.
async fn update_replica_set(
    docker: &Docker,
    set: &str,
    mut members: Vec<RedeployRequest>,
    log: LogSink<'_>,
) -> Vec<GroupEntry> {
    let Some(first) = members.first() else {
        return Vec::new();
    };
    let failed_all = |err: Error| {
        let message = err.to_string();
        members
            .iter()
            .map(|m| GroupEntry::failed(&m.name, err.exception(), message.clone()))
            .collect::<Vec<_>>()
    };
    let _held = match first.dry_run {
        true => None,
        false => match lock::acquire(lock::Subject::Replicas(set), first.lock_timeout).await {
            Ok(held) => Some(held),
            Err(err) => return failed_all(err),
        },
    };
    // One pull for the set: a push during the rollout cannot leave it on two images.
    let mut steps = Steps::new(first.name.clone(), log);
    match refresh_for(docker, first, &mut steps).await {
        Ok(refreshed) => {
            let pinned = refreshed.pinned();
            for member in &mut members {
                member.pinned = pinned.clone();
            }
        }
        Err(err) => return failed_all(err),
    }
    let mut entries = Vec::new();
    for (index, member) in members.iter().enumerate() {
        let mut steps = Steps::new(member.name.clone(), log);
        let result = redeploy(docker, member, &mut steps).await;
        let after: Vec<&str> = members[index + 1..]
            .iter()
            .map(|m| m.name.as_str())
            .collect();
        let stopped = result.is_err() && !after.is_empty();
        let result = result.map_err(|err| match after.is_empty() {
            true => err,
            false => err.and_left(format!(
                "the update of the replicas stopped here: {} not touched",
                after.join(", ")
            )),
        });
        entries.push(GroupEntry::of(&member.name, result));
        if stopped {
            break;
        }
    }
    entries
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::record::Record;

    fn observed(record: Record) -> Observed {
        Observed {
            id: "c1".into(),
            image_id: "sha256:i".into(),
            status: Status::Running,
            record,
            ..Observed::default()
        }
    }

    #[test]
    fn a_name_is_kept_by_its_owner_or_its_adoption() {
        let ours = Record {
            spec: Some("{}".into()),
            owner: Some("web".into()),
            image_ref: Some("reg/web:prod".into()),
            ..Record::default()
        };
        assert_eq!(keeps("web", observed(ours.clone())).unwrap().name, "web");
        // A helper of an interrupted run, or a container renamed by hand: not kept there.
        assert!(keeps("web.deploy-new", observed(ours.clone())).is_none());
        assert!(keeps("other", observed(ours)).is_none());
        // Adopted: the record recalled from beside the lock names no owner.
        let adopted = Record {
            spec: Some("{}".into()),
            image_ref: Some("reg/web:prod".into()),
            ..Record::default()
        };
        assert!(keeps("web", observed(adopted)).unwrap().adopted);
        // No record at all: someone else's.
        assert!(keeps("web", observed(Record::default())).is_none());
    }

    #[test]
    fn replicas_roll_in_their_order() {
        let mut names = vec!["web-10", "web-2", "web-1"];
        names.sort_by_key(|n| replica_order(n));
        assert_eq!(names, ["web-1", "web-2", "web-10"]);
    }

    fn sample() -> Managed {
        Managed {
            name: "web".into(),
            image: "reg/web:prod".into(),
            digest: None,
            image_id: "sha256:i".into(),
            container_id: "c1".into(),
            status: Status::Running,
            replica_of: None,
            adopted: false,
            spec: r#"{"environment":{"A":"1"}}"#.into(),
            options: None,
        }
    }

    #[test]
    fn recorded_options_are_taken_and_the_callers_win() {
        let managed = Managed {
            options: Some(r#"{"strategy":"stop-first","min_uptime":7.0}"#.into()),
            ..sample()
        };
        let image = ImageRef::parse("reg/web:prod").unwrap();
        let given: Map<String, Value> =
            serde_json::from_str(r#"{"min_uptime": 1, "dry_run": true}"#).unwrap();
        let (request, warning) = request_from_record(&managed, &image, &given).unwrap();
        assert_eq!(request.strategy.as_str(), "stop-first");
        assert_eq!(request.verification.min_uptime.as_secs(), 1);
        assert!(request.dry_run && warning.is_none());
        assert_eq!(request.spec.environment()["A"], "1");
        assert_eq!(request.expected_container.as_deref(), Some("c1"));
        // What was recorded is recorded again, not this run's own choice.
        assert_eq!(
            request.options_record,
            r#"{"strategy":"stop-first","min_uptime":7.0}"#
        );
    }

    #[test]
    fn an_unreadable_record_of_options_is_the_defaults() {
        let managed = Managed {
            options: Some("{not json".into()),
            replica_of: Some("web".into()),
            ..sample()
        };
        let image = ImageRef::parse("reg/web:prod").unwrap();
        let (request, warning) = request_from_record(&managed, &image, &Map::new()).unwrap();
        assert_eq!(request.options_record, "{}");
        assert!(warning.unwrap().contains("could not be read"));
        assert_eq!(request.replica_of.as_deref(), Some("web"));
        // No record at all: an earlier version's container; the defaults, and it says so.
        let older = Managed {
            options: None,
            ..sample()
        };
        let (_, warning) = request_from_record(&older, &image, &Map::new()).unwrap();
        assert!(warning.unwrap().contains("earlier version"));
    }
}
