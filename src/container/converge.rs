//! Replacement as data, and the one loop that carries it out.
//!
//! A redeploy of `name` uses three names: the name itself, `name.deploy-new` for a new container
//! that does not serve yet, and `name.deploy-old` for the previous container while the new one
//! proves itself. Every strategy is a list of [`Op`]s over those names; whatever the process
//! leaves behind when it dies between two of them is a [`Scene`] that [`recover`] turns back into
//! one container under the name. Failures take the same road: the new container is distrusted
//! and the scene recovered, which brings the backup back.
//!
//! [`converge`] runs it all against an [`Engine`]: the Docker Engine in production, an in-memory
//! one in the tests below, which kill the process (stop the loop) after every single step and
//! check that the next run ends with exactly one container, running the declared image.

use std::time::Instant;

use crate::container::observe::{Observed, Status};
use crate::container::plan::{plan, Action, Desired, Plan};
use crate::container::scene::{Scene, Slot};
use crate::error::NOTHING_CHANGED;
use crate::options::Strategy;
use crate::reference::short_id;

/// A container an op acts on: one that was observed, or the one this run creates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Who {
    Id(String),
    New,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// Create the declared container under the slot's name; from then on it is [`Who::New`].
    Create(Slot),
    Stop(Who),
    Start(Who),
    /// Healthy (when it has a HEALTHCHECK) or running without a restart for `min_uptime`.
    Verify(Who),
    Rename(Who, Slot),
    /// Remove the previous container, no longer needed: the new one under the name proved
    /// itself. Its anonymous volumes stay (the new one took them over).
    Retire(Who),
    /// Remove a new container that never proved itself, with the fresh anonymous volumes it
    /// was created with (never one it took over: those belong to the previous container).
    Discard(Who),
}

/// How a container leaves: see [`Op::Retire`] and [`Op::Discard`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Removal {
    Retire,
    Discard,
}

impl Op {
    /// The name of the step that carries the operation out, as the report lists it.
    pub fn step(&self) -> &'static str {
        match self {
            Op::Create(_) => "create",
            Op::Stop(_) => "stop",
            Op::Start(_) => "start",
            Op::Verify(_) => "verify",
            Op::Rename(..) => "rename",
            Op::Retire(_) | Op::Discard(_) => "remove",
        }
    }
}

/// What an interrupted or failed run left needs before a plan can be made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recovery {
    Nothing,
    Ops {
        ops: Vec<Op>,
        what: String,
    },
    /// A name we need is held by something we did not create: touch nothing.
    Refuse(Refusal),
}

/// Why a run touches nothing, and what it left (and what the operator can do).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub problem: String,
    pub left: String,
}

/// Turns what a run left behind back into one container under the name.
///
/// `trust_new`: a new container under the name that runs is kept once it passes verification
/// now, whatever is declared today (it is at least as new as the backup, and a changed
/// declaration is the plan's business, after the recovery); `false` distrusts it (its
/// verification failed) so the backup comes back. `start_restored`: start the backup once it
/// has its name back (it served before it was stopped).
///
/// The order keeps the evidence: a backup this tool did not create (an adopted container) is
/// recognised only by the new container that records it, so that one is removed last, after
/// the backup has its name back and runs. A run killed (or failing) anywhere in between leaves
/// a scene the next run still recognises; nothing is ever left for every later run to refuse.
pub fn recover(name: &str, scene: &Scene, trust_new: bool, start_restored: bool) -> Recovery {
    let owned = |c: &Observed| c.record.owner.as_deref() == Some(name);
    let links_to = |c: &Option<Observed>, id: &str| {
        c.as_ref()
            .is_some_and(|c| c.record.previous_container.as_deref() == Some(id))
    };
    let foreign = |slot: Slot, c: &Observed| {
        Recovery::Refuse(Refusal {
            problem: format!(
                "the name {:?} that a redeploy needs is held by a container this tool did not \
                 create ({})",
                slot.name_for(name),
                short_id(&c.id)
            ),
            left: "every container was left as it was".into(),
        })
    };
    if let Some(temporary) = &scene.temporary {
        if !owned(temporary) {
            return foreign(Slot::Temporary, temporary);
        }
    }
    let mut ops = Vec::new();
    let mut what = Vec::new();
    // The unfinished new container goes last, unless its name is needed before.
    let mut discard_temporary = scene.temporary.as_ref().map(|t| Who::Id(t.id.clone()));
    let discarded_temporary = |what: &mut Vec<String>, t: &Observed| {
        what.push(format!(
            "removed the unfinished new container {}",
            short_id(&t.id)
        ))
    };
    match (&scene.backup, &scene.primary) {
        (Some(backup), primary) => {
            let linked = links_to(&scene.primary, &backup.id);
            if !owned(backup) && !linked && !links_to(&scene.temporary, &backup.id) {
                return foreign(Slot::Backup, backup);
            }
            let backup_id = Who::Id(backup.id.clone());
            match primary {
                Some(primary) if linked => {
                    if trust_new && primary.is_running() {
                        ops.push(Op::Verify(Who::Id(primary.id.clone())));
                        if backup.is_running() {
                            ops.push(Op::Stop(backup_id.clone()));
                        }
                        ops.push(Op::Retire(backup_id));
                        what.push(format!(
                            "verified {} and removed the previous container {}",
                            short_id(&primary.id),
                            short_id(&backup.id)
                        ));
                    } else {
                        // The new one steps aside to the temporary name (freed first), still
                        // recording the backup, and goes once the backup has its name back.
                        if let (Some(t), Some(who)) = (&scene.temporary, discard_temporary.take()) {
                            ops.push(Op::Discard(who));
                            discarded_temporary(&mut what, t);
                        }
                        // Stopped first: it may hold the host ports the backup needs, and the
                        // Engine cannot rename a container in a restart loop.
                        let new = Who::Id(primary.id.clone());
                        if primary.is_running() {
                            ops.push(Op::Stop(new.clone()));
                        }
                        ops.push(Op::Rename(new.clone(), Slot::Temporary));
                        ops.extend(restore(backup_id, start_restored));
                        ops.push(Op::Discard(new));
                        what.push(format!(
                            "removed the new container {} and gave {} its name back",
                            short_id(&primary.id),
                            short_id(&backup.id)
                        ));
                    }
                }
                Some(primary) => {
                    return Recovery::Refuse(Refusal {
                        problem: format!(
                            "{:?} holds a previous container ({}) that {} under the name does \
                             not come from",
                            Slot::Backup.name_for(name),
                            short_id(&backup.id),
                            short_id(&primary.id)
                        ),
                        left: "both were left as they were: keep the one you want and remove \
                               the other, then run again"
                            .into(),
                    })
                }
                None => {
                    ops.extend(stop_temporary(scene, start_restored));
                    ops.extend(restore(backup_id, start_restored));
                    what.push(format!("gave {} its name back", short_id(&backup.id)));
                }
            }
        }
        (None, Some(primary)) => {
            // The run that created the temporary container may have stopped this one.
            if links_to(&scene.temporary, &primary.id) && !primary.is_running() && start_restored {
                ops.extend(stop_temporary(scene, true));
                ops.push(Op::Start(Who::Id(primary.id.clone())));
                ops.push(Op::Verify(Who::Id(primary.id.clone())));
                what.push(format!("started {} again", short_id(&primary.id)));
            }
        }
        (None, None) => {}
    }
    if let (Some(t), Some(who)) = (&scene.temporary, discard_temporary) {
        ops.push(Op::Discard(who));
        discarded_temporary(&mut what, t);
    }
    if ops.is_empty() {
        Recovery::Nothing
    } else {
        Recovery::Ops {
            ops,
            what: what.join("; "),
        }
    }
}

/// Stops a running temporary container before the container it was to replace starts again:
/// it may hold the same host ports.
fn stop_temporary(scene: &Scene, starting: bool) -> Option<Op> {
    let temporary = scene.temporary.as_ref()?;
    (starting && temporary.is_running()).then(|| Op::Stop(Who::Id(temporary.id.clone())))
}

/// Gives the backup its name back. Started before it is renamed: a run killed in between
/// leaves a running backup, which the next run restores as running; the other order would
/// leave a stopped container under the name with nothing to say it served before.
fn restore(backup: Who, start: bool) -> Vec<Op> {
    if start {
        vec![
            Op::Start(backup.clone()),
            Op::Rename(backup.clone(), Slot::Primary),
            Op::Verify(backup),
        ]
    } else {
        vec![Op::Rename(backup, Slot::Primary)]
    }
}

/// The ops that carry out a plan.
pub fn ops_for(action: Action, strategy: Strategy, current: Option<&Observed>) -> Vec<Op> {
    match (action, current) {
        // Adopting changes nothing on the Engine: the record is kept beside the lock.
        (Action::None | Action::Adopt, _) => vec![],
        // Created under the temporary name and renamed once complete (networks attached): a
        // run killed half-way leaves a `.deploy-new` the next run removes, never a half-built
        // container under the name that would pass for the declared one.
        (Action::Create, _) | (_, None) => vec![
            Op::Create(Slot::Temporary),
            Op::Rename(Who::New, Slot::Primary),
            Op::Start(Who::New),
            Op::Verify(Who::New),
        ],
        (Action::Start, Some(c)) => {
            vec![
                Op::Start(Who::Id(c.id.clone())),
                Op::Verify(Who::Id(c.id.clone())),
            ]
        }
        (Action::Replace, Some(c)) => {
            let old = Who::Id(c.id.clone());
            let stop_old = c.is_running().then(|| Op::Stop(old.clone()));
            let ops: Vec<Option<Op>> = match strategy {
                Strategy::CreateFirst => vec![
                    Some(Op::Create(Slot::Temporary)),
                    stop_old,
                    Some(Op::Rename(old.clone(), Slot::Backup)),
                    Some(Op::Rename(Who::New, Slot::Primary)),
                    Some(Op::Start(Who::New)),
                    Some(Op::Verify(Who::New)),
                    Some(Op::Retire(old)),
                ],
                // Nothing runs beside the old container: the new one is only created (it
                // records the old one, so a backup left by a kill is always recognised, also
                // one this tool did not create). The old one is moved aside before it stops: a
                // run killed in between leaves a backup the next run restores as running.
                Strategy::StopFirst => vec![
                    Some(Op::Create(Slot::Temporary)),
                    Some(Op::Rename(old.clone(), Slot::Backup)),
                    stop_old,
                    Some(Op::Rename(Who::New, Slot::Primary)),
                    Some(Op::Start(Who::New)),
                    Some(Op::Verify(Who::New)),
                    Some(Op::Retire(old)),
                ],
                Strategy::StartFirst => vec![
                    Some(Op::Create(Slot::Temporary)),
                    Some(Op::Start(Who::New)),
                    Some(Op::Verify(Who::New)),
                    Some(Op::Rename(old.clone(), Slot::Backup)),
                    Some(Op::Rename(Who::New, Slot::Primary)),
                    stop_old,
                    Some(Op::Retire(old)),
                ],
            };
            ops.into_iter().flatten().collect()
        }
    }
}

/// Why an engine call failed.
#[derive(Debug, Clone)]
pub struct Fault {
    pub message: String,
    /// The Engine could not be reached: nothing more can be done in this run.
    pub unreachable: bool,
}

impl Fault {
    pub fn new(message: impl Into<String>) -> Self {
        Fault {
            message: message.into(),
            unreachable: false,
        }
    }
}

/// What [`converge`] needs from an engine. `create` makes the declared container, labelled
/// with the name it belongs to and `previous` (the container it replaces).
pub(crate) trait Engine {
    async fn scene(&mut self) -> std::result::Result<Scene, Fault>;
    async fn create(
        &mut self,
        as_name: &str,
        previous: Option<&Observed>,
    ) -> std::result::Result<String, Fault>;
    async fn stop(&mut self, id: &str) -> std::result::Result<(), Fault>;
    async fn start(&mut self, id: &str) -> std::result::Result<(), Fault>;
    async fn verify(&mut self, id: &str) -> std::result::Result<(), Fault>;
    async fn rename(&mut self, id: &str, to: &str) -> std::result::Result<(), Fault>;
    async fn remove(&mut self, id: &str, how: Removal) -> std::result::Result<(), Fault>;
    /// What `create` checks before it creates anything (read only): a dry run asks it, so
    /// that it predicts a create that would fail.
    async fn preflight(&mut self) -> std::result::Result<(), Fault> {
        Ok(())
    }
    /// Logs one finished step.
    fn note(&mut self, step: &'static str, started: Instant, detail: String);
}

/// How to converge.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    pub strategy: Strategy,
    /// Bring the previous container back when the new one fails verification.
    pub rollback: bool,
    pub force: bool,
    /// Decide as a real run would, and stop there: no step is taken.
    pub dry_run: bool,
}

/// What a successful [`converge`] did.
#[derive(Debug, Clone)]
pub struct Converged {
    pub current: Option<Observed>,
    pub plan: Plan,
    pub container_id: Option<String>,
    /// What an interrupted run had left and how it was put right.
    pub recovered: Option<String>,
    pub downtime_ms: Option<f64>,
    pub warnings: Vec<String>,
}

/// Why [`converge`] failed, and what runs now.
#[derive(Debug, Clone)]
pub struct Failed {
    pub current: Option<Observed>,
    pub plan: Option<Plan>,
    /// The step that failed (`create`, `start`, `verify`, ...), when one did.
    pub step: Option<&'static str>,
    pub why: String,
    pub kind: FailKind,
    /// A sentence on what runs now ("the previous container ... was restored and is running").
    pub state: String,
    pub recovered: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailKind {
    /// A name is held by a container we did not create; nothing was touched.
    Refused,
    /// The Engine could not be reached.
    Unreachable,
    /// The new container failed and the previous one was restored.
    RolledBack,
    /// The new container failed; nothing ran before, or `rollback=False` kept things as they are.
    Failed,
}

/// Tracks the container this run created and the times the downtime is measured between.
#[derive(Default)]
struct Progress {
    /// An op stopped, renamed or removed the container that was under the name.
    touched_old: bool,
    new_id: Option<String>,
    new_verified: bool,
    old_stopped_at: Option<Instant>,
    new_running_at: Option<Instant>,
}

struct OpFailure {
    op: Op,
    fault: Fault,
}

async fn run_ops<E: Engine>(
    engine: &mut E,
    name: &str,
    ops: &[Op],
    previous: Option<&Observed>,
    progress: &mut Progress,
) -> std::result::Result<(), OpFailure> {
    for op in ops {
        let resolve = |who: &Who, progress: &Progress| match who {
            Who::Id(id) => id.clone(),
            Who::New => progress.new_id.clone().unwrap_or_default(),
        };
        let fail = |fault| OpFailure {
            op: op.clone(),
            fault,
        };
        let started = Instant::now();
        if matches!(
            op,
            Op::Stop(Who::Id(_))
                | Op::Rename(Who::Id(_), _)
                | Op::Retire(Who::Id(_))
                | Op::Discard(Who::Id(_))
        ) {
            progress.touched_old = true;
        }
        let outcome: std::result::Result<(), Fault> = async {
            match op {
                Op::Create(slot) => {
                    let as_name = slot.name_for(name);
                    let id = engine.create(&as_name, previous).await?;
                    engine.note("create", started, format!("{as_name} {}", short_id(&id)));
                    progress.new_id = Some(id);
                }
                Op::Stop(who) => {
                    let id = resolve(who, progress);
                    if *who != Who::New && progress.old_stopped_at.is_none() {
                        progress.old_stopped_at = Some(started);
                    }
                    engine.stop(&id).await?;
                    engine.note("stop", started, format!("{} stopped", short_id(&id)));
                }
                Op::Start(who) => {
                    let id = resolve(who, progress);
                    engine.start(&id).await?;
                    if *who == Who::New {
                        progress.new_running_at = Some(Instant::now());
                    }
                    engine.note("start", started, format!("{} started", short_id(&id)));
                }
                Op::Verify(who) => {
                    let id = resolve(who, progress);
                    engine.verify(&id).await?;
                    if *who == Who::New {
                        progress.new_verified = true;
                    }
                    engine.note("verify", started, format!("{} verified", short_id(&id)));
                }
                Op::Rename(who, slot) => {
                    let id = resolve(who, progress);
                    let to = slot.name_for(name);
                    engine.rename(&id, &to).await?;
                    engine.note("rename", started, format!("{} -> {to}", short_id(&id)));
                }
                Op::Retire(who) | Op::Discard(who) => {
                    let id = resolve(who, progress);
                    let how = match op {
                        Op::Retire(_) => Removal::Retire,
                        _ => Removal::Discard,
                    };
                    engine.remove(&id, how).await?;
                    engine.note("remove", started, format!("{} removed", short_id(&id)));
                }
            }
            Ok(())
        }
        .await;
        if let Err(fault) = outcome {
            // The failed step is in the report too, with the time it took (a verification
            // that ended at the container's exit says when that was).
            engine.note(op.step(), started, format!("failed: {}", fault.message));
            return Err(fail(fault));
        }
    }
    Ok(())
}

fn describe_running(scene: &Scene) -> String {
    match &scene.primary {
        Some(c) if c.is_running() => format!(
            "{} (image {}) is running under the name",
            short_id(&c.id),
            short_id(&c.image_id)
        ),
        Some(c) => format!(
            "{} (image {}) is under the name, {}",
            short_id(&c.id),
            short_id(&c.image_id),
            c.status
        ),
        None => "no container is under the name".into(),
    }
}

/// Puts the previous container back after a failed replacement: the recovery of what the run
/// left, distrusting the new container. A step that fails is tried once more from the scene it
/// left (a second fault must not leave the service down until the next run), unless the
/// Engine cannot be reached at all.
async fn roll_back<E: Engine>(
    engine: &mut E,
    name: &str,
    was_running: bool,
    started: Instant,
) -> std::result::Result<(), String> {
    let mut outcome = Ok(());
    for _attempt in 0..2 {
        // Without knowing what is where, nothing can be claimed restored.
        let scene = engine.scene().await.map_err(|fault| fault.message)?;
        let (ops, what) = match recover(name, &scene, false, was_running) {
            Recovery::Ops { ops, what } => (ops, what),
            Recovery::Nothing => return outcome,
            Recovery::Refuse(refusal) => {
                return Err(format!("{}; {}", refusal.problem, refusal.left))
            }
        };
        let result = run_ops(engine, name, &ops, None, &mut Progress::default()).await;
        engine.note("rollback", started, what);
        match result {
            Ok(()) => return Ok(()),
            Err(failure) if failure.fault.unreachable => return Err(failure.fault.message),
            Err(failure) => outcome = Err(failure.fault.message),
        }
    }
    outcome
}

/// Recovers what an interrupted run left, plans, and carries the plan out; on failure puts
/// the previous container back (unless `settings.rollback` is off). A dry run takes the same
/// way up to the plan, with the recovery done on paper, and stops there.
pub(crate) async fn converge<E: Engine>(
    engine: &mut E,
    name: &str,
    desired: &Desired<'_>,
    settings: Settings,
) -> std::result::Result<Converged, Box<Failed>> {
    let scene = engine
        .scene()
        .await
        .map_err(|fault| Failed::unreachable(fault, None))?;
    // 1. Whatever an interrupted run left.
    let (scene, recovered) = match settings.dry_run {
        true => recover_on_paper(engine, name, scene)?,
        false => recover_interrupted(engine, name, scene).await?,
    };
    // 2. The plan, against what runs now.
    let current = scene.primary;
    let decision = decide(engine, current.as_ref(), desired, settings)
        .map_err(|refusal| Failed::refused(refusal, current.clone(), recovered.clone()))?;
    if settings.dry_run {
        // What the real run checks before it touches anything, the dry run checks too.
        if matches!(decision.action, Action::Create | Action::Replace) {
            if let Err(fault) = engine.preflight().await {
                return Err(Box::new(Failed {
                    current,
                    plan: Some(decision),
                    step: Some("create"),
                    why: fault.message,
                    kind: FailKind::Failed,
                    state: NOTHING_CHANGED.into(),
                    recovered,
                }));
            }
        }
        return Ok(Converged {
            container_id: current.as_ref().map(|c| c.id.clone()),
            current,
            plan: decision,
            recovered,
            downtime_ms: None,
            warnings: vec![],
        });
    }
    // 3. The steps, and their undoing when one fails.
    apply(engine, name, current, decision, settings, recovered).await
}

impl Failed {
    fn unreachable(fault: Fault, current: Option<Observed>) -> Box<Failed> {
        Box::new(Failed {
            current,
            plan: None,
            step: None,
            why: fault.message,
            kind: FailKind::Unreachable,
            state: NOTHING_CHANGED.into(),
            recovered: None,
        })
    }

    fn refused(
        refusal: Refusal,
        current: Option<Observed>,
        recovered: Option<String>,
    ) -> Box<Failed> {
        Box::new(Failed {
            current,
            plan: None,
            step: None,
            why: refusal.problem,
            kind: FailKind::Refused,
            state: refusal.left,
            recovered,
        })
    }
}

/// Phase 1: puts right what an interrupted run left, and returns the scene after it. A step
/// that fails is tried once more, from what the scene is then: a start that failed once (an
/// Engine under load) must not leave the service down until the next run.
async fn recover_interrupted<E: Engine>(
    engine: &mut E,
    name: &str,
    mut scene: Scene,
) -> std::result::Result<(Scene, Option<String>), Box<Failed>> {
    let mut recovered: Option<String> = None;
    let mut trust_new = true;
    for attempt in 1.. {
        let (ops, what) = match recover(name, &scene, trust_new, true) {
            Recovery::Nothing => break,
            Recovery::Refuse(refusal) => {
                return Err(Failed::refused(refusal, scene.primary, recovered))
            }
            Recovery::Ops { ops, what } => (ops, what),
        };
        let started = Instant::now();
        let result = run_ops(engine, name, &ops, None, &mut Progress::default()).await;
        match result {
            Ok(()) => {
                engine.note("recover", started, what.clone());
                recovered = Some(match recovered {
                    Some(before) => format!("{before}; then {what}"),
                    None => what,
                });
                scene = engine
                    .scene()
                    .await
                    .map_err(|f| Failed::unreachable(f, None))?;
                break;
            }
            Err(failure) => {
                // Only a failed verification of the interrupted run's new container is a
                // reason to give it up: the same recovery, distrusting it, brings the backup
                // back. Any other failure (a backup that cannot be removed) must not cost a
                // verified one.
                if matches!(failure.op, Op::Verify(_)) && !failure.fault.unreachable {
                    trust_new = false;
                }
                let after = if failure.fault.unreachable || attempt >= 2 {
                    None
                } else {
                    engine.scene().await.ok()
                };
                match after {
                    Some(after) => scene = after,
                    None => {
                        let after = engine.scene().await.unwrap_or_default();
                        return Err(Box::new(Failed {
                            state: describe_running(&after),
                            current: after.primary,
                            plan: None,
                            step: Some(failure.op.step()),
                            why: format!(
                                "recovering from an interrupted redeploy failed at {:?}: {}",
                                failure.op, failure.fault.message
                            ),
                            kind: if failure.fault.unreachable {
                                FailKind::Unreachable
                            } else {
                                FailKind::Failed
                            },
                            recovered,
                        }));
                    }
                }
            }
        }
    }
    Ok((scene, recovered))
}

/// Phase 1 of a dry run: the recovery a real run would make, done on paper ([`on_paper`]),
/// assuming each of its steps succeeds.
fn recover_on_paper<E: Engine>(
    engine: &mut E,
    name: &str,
    scene: Scene,
) -> std::result::Result<(Scene, Option<String>), Box<Failed>> {
    match recover(name, &scene, true, true) {
        Recovery::Nothing => Ok((scene, None)),
        Recovery::Refuse(refusal) => Err(Failed::refused(refusal, scene.primary, None)),
        Recovery::Ops { ops, what } => {
            engine.note(
                "recover",
                Instant::now(),
                format!("would recover an interrupted redeploy: {what}"),
            );
            Ok((on_paper(scene, &ops), Some(what)))
        }
    }
}

/// The scene that `ops` leave when each of them succeeds: what a recovery would leave, without
/// taking a step. Containers move between the three names, stop, start and go as the Engine
/// would do it; `Create` (which recovery never does) and `Verify` change nothing.
pub fn on_paper(scene: Scene, ops: &[Op]) -> Scene {
    let mut placed: Vec<(Slot, Observed)> = [
        (Slot::Primary, scene.primary),
        (Slot::Temporary, scene.temporary),
        (Slot::Backup, scene.backup),
    ]
    .into_iter()
    .filter_map(|(slot, c)| Some((slot, c?)))
    .collect();
    for op in ops {
        let id = match op {
            Op::Stop(Who::Id(id))
            | Op::Start(Who::Id(id))
            | Op::Rename(Who::Id(id), _)
            | Op::Retire(Who::Id(id))
            | Op::Discard(Who::Id(id)) => id,
            _ => continue,
        };
        let Some(index) = placed.iter().position(|(_, c)| &c.id == id) else {
            continue;
        };
        match op {
            Op::Stop(_) => placed[index].1.status = Status::Exited,
            Op::Start(_) => placed[index].1.status = Status::Running,
            Op::Rename(_, to) => placed[index].0 = *to,
            _ => {
                placed.remove(index);
            }
        }
    }
    let mut under = |slot: Slot| {
        let index = placed.iter().position(|(s, _)| *s == slot)?;
        Some(placed.remove(index).1)
    };
    Scene {
        primary: under(Slot::Primary),
        temporary: under(Slot::Temporary),
        backup: under(Slot::Backup),
    }
}

/// Phase 2: what to do with what runs now (honouring `force`), noted as the `plan` step. A
/// container started with `--rm` is never replaced.
fn decide<E: Engine>(
    engine: &mut E,
    current: Option<&Observed>,
    desired: &Desired<'_>,
    settings: Settings,
) -> std::result::Result<Plan, Refusal> {
    let planned = Instant::now();
    let decision = plan(current, desired).forced(settings.force);
    let said = match settings.dry_run {
        true => format!("would {}", decision.action.verb()),
        false => decision.action.as_str().to_string(),
    };
    engine.note("plan", planned, format!("{said}: {}", decision.summary()));
    if let Some(old) = current.filter(|c| c.auto_remove) {
        if decision.action == Action::Replace {
            return Err(Refusal {
                problem: format!(
                    "it ({}) was started with --rm: the Engine deletes it, and its anonymous \
                     volumes, the moment it stops, so it cannot wait as the backup while the new \
                     one proves itself; recreate it without --rm (or remove it) and run again",
                    short_id(&old.id)
                ),
                left: NOTHING_CHANGED.into(),
            });
        }
    }
    Ok(decision)
}

/// Phase 3: the plan's steps; when one fails, the previous container is put back (unless
/// `settings.rollback` is off and the new one failed its verification).
async fn apply<E: Engine>(
    engine: &mut E,
    name: &str,
    current: Option<Observed>,
    decision: Plan,
    settings: Settings,
    recovered: Option<String>,
) -> std::result::Result<Converged, Box<Failed>> {
    let ops = ops_for(decision.action, settings.strategy, current.as_ref());
    let mut progress = Progress::default();
    let result = run_ops(engine, name, &ops, current.as_ref(), &mut progress).await;
    let downtime_ms = match (progress.old_stopped_at, progress.new_running_at) {
        (Some(stopped), Some(running)) => {
            Some(running.saturating_duration_since(stopped).as_secs_f64() * 1000.0)
        }
        (None, Some(_)) if current.as_ref().is_some_and(Observed::is_running) => Some(0.0),
        _ => None,
    };
    let failure = match result {
        Ok(()) => {
            return Ok(Converged {
                container_id: progress
                    .new_id
                    .clone()
                    .or_else(|| current.as_ref().map(|c| c.id.clone())),
                current,
                plan: decision,
                recovered,
                downtime_ms,
                warnings: vec![],
            })
        }
        Err(failure) => failure,
    };
    let why = failure.fault.message.clone();
    if failure.fault.unreachable {
        return Err(Box::new(Failed {
            current,
            plan: Some(decision),
            step: Some(failure.op.step()),
            why,
            kind: FailKind::Unreachable,
            state: "the containers were left where the run stopped: the next run recovers them"
                .into(),
            recovered,
        }));
    }
    // The old container is gone only at the very last op, after the new one was verified: a
    // failure to remove it leaves a backup to clean, not a broken service.
    if progress.new_verified {
        if let Op::Retire(Who::Id(_)) | Op::Stop(Who::Id(_)) = &failure.op {
            return Ok(Converged {
                container_id: progress.new_id.clone(),
                current,
                plan: decision,
                recovered,
                downtime_ms,
                warnings: vec![format!(
                    "the previous container could not be removed ({why}); the next run removes it"
                )],
            });
        }
    }
    undo(
        engine, name, current, decision, settings, recovered, failure, &progress,
    )
    .await
}

/// After a failed step of [`apply`]: the previous container back (or, with `rollback=False`
/// and a failed verification, everything kept for inspection), and the failure that says what
/// runs now.
#[allow(clippy::too_many_arguments)]
async fn undo<E: Engine>(
    engine: &mut E,
    name: &str,
    current: Option<Observed>,
    decision: Plan,
    settings: Settings,
    recovered: Option<String>,
    failure: OpFailure,
    progress: &Progress,
) -> std::result::Result<Converged, Box<Failed>> {
    let why = failure.fault.message;
    let step = Some(failure.op.step());
    let verify_failed = matches!(failure.op, Op::Verify(Who::New));
    let was_running = current.as_ref().is_some_and(Observed::is_running);
    let replacing = decision.action == Action::Replace;
    if !settings.rollback && verify_failed {
        let after = engine.scene().await.unwrap_or_default();
        return Err(Box::new(Failed {
            current,
            plan: Some(decision),
            step,
            why,
            kind: FailKind::Failed,
            state: format!(
                "rollback=False: the failed container was kept for inspection{}",
                if replacing && progress.touched_old {
                    format!(
                        " and the previous one stays stopped as {:?}",
                        Slot::Backup.name_for(name)
                    )
                } else {
                    String::new()
                }
            ) + &format!("; {}", describe_running(&after)),
            recovered,
        }));
    }
    let started = Instant::now();
    let undone = match decision.action {
        Action::Replace => roll_back(engine, name, was_running, started).await,
        Action::Create => match progress.new_id.clone() {
            Some(id) => {
                let removed = engine
                    .remove(&id, Removal::Discard)
                    .await
                    .map_err(|f| f.message);
                engine.note("rollback", started, format!("{} removed", short_id(&id)));
                removed
            }
            None => Ok(()),
        },
        _ => Ok(()),
    };
    let after = engine.scene().await.unwrap_or_default();
    // The old container never stopped: the new one was created (or even started) beside it.
    let untouched_old = replacing && !progress.touched_old;
    let state = match (&undone, decision.action) {
        (Ok(()), Action::Replace) if untouched_old => format!(
            "the new container was removed and the previous one was left running: {}",
            describe_running(&after)
        ),
        (Ok(()), Action::Replace) => format!(
            "the previous container was restored: {}",
            describe_running(&after)
        ),
        (Ok(()), Action::Create) => {
            "the new container was removed; no container existed before".into()
        }
        (Ok(()), _) => describe_running(&after),
        (Err(e), _) => format!(
            "restoring the previous container failed ({e}); nothing was deleted: {}",
            describe_running(&after)
        ),
    };
    Err(Box::new(Failed {
        current: after.primary,
        plan: Some(decision),
        step,
        why,
        kind: if replacing && undone.is_ok() && (verify_failed || !untouched_old) {
            FailKind::RolledBack
        } else {
            FailKind::Failed
        },
        state,
        recovered,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::container::plan::Target;
    use crate::spec::record::Record;

    const NAME: &str = "web";
    const SPEC: &str = r#"{"environment":{"A":"1"}}"#;

    /// One container in the in-memory engine.
    #[derive(Debug, Clone)]
    struct Sim {
        id: String,
        name: String,
        image: String,
        spec: Option<String>,
        owner: Option<String>,
        previous: Option<String>,
        running: bool,
    }

    /// An engine in memory. `crash_after` mutating calls, the "process" dies: every later call
    /// fails and changes nothing, as after a kill -9.
    struct Fake {
        containers: Vec<Sim>,
        desired_image: String,
        bad_image: Option<String>,
        crash_after: Option<usize>,
        calls: usize,
        next_id: usize,
        /// A container whose removal fails (a busy mount, say).
        undeletable: Option<String>,
        /// The mutating call (counted from 0 in this run) that fails once, changing nothing:
        /// an Engine refusing a step for a moment.
        fail_at: Option<usize>,
        /// The containers started, in order.
        started: Vec<String>,
        /// The old container was started with `--rm`.
        auto_remove: bool,
    }

    impl Fake {
        fn with_old(running: bool) -> Fake {
            Fake {
                containers: vec![Sim {
                    id: "old".into(),
                    name: NAME.into(),
                    image: "sha256:v1".into(),
                    spec: Some(SPEC.into()),
                    owner: Some(NAME.into()),
                    previous: None,
                    running,
                }],
                desired_image: "sha256:v2".into(),
                bad_image: None,
                crash_after: None,
                calls: 0,
                next_id: 0,
                undeletable: None,
                fail_at: None,
                started: Vec::new(),
                auto_remove: false,
            }
        }

        /// The old container as this tool found it: made by hand, none of our labels.
        fn adopted(running: bool) -> Fake {
            let mut fake = Fake::with_old(running);
            fake.containers[0].owner = None;
            fake.containers[0].spec = None;
            fake
        }

        /// A container runs under the name (whatever else is left around it).
        fn assert_serving(&self, context: &str) {
            assert!(
                self.containers.iter().any(|c| c.name == NAME && c.running),
                "{context}: nothing serves under the name: {:?}",
                self.containers
            );
        }

        fn tick(&mut self) -> std::result::Result<(), Fault> {
            if self.crash_after.is_some_and(|n| self.calls >= n) {
                return Err(Fault {
                    message: "killed".into(),
                    unreachable: true,
                });
            }
            self.calls += 1;
            if self.fail_at == Some(self.calls - 1) {
                self.fail_at = None;
                return Err(Fault::new("injected: the Engine refused this once"));
            }
            Ok(())
        }

        fn find(&mut self, id: &str) -> std::result::Result<&mut Sim, Fault> {
            self.containers
                .iter_mut()
                .find(|c| c.id == id)
                .ok_or_else(|| Fault::new(format!("no such container {id}")))
        }

        fn observed(&self, name: &str) -> Option<Observed> {
            self.containers
                .iter()
                .find(|c| c.name == name)
                .map(|c| Observed {
                    id: c.id.clone(),
                    image_id: c.image.clone(),
                    status: if c.running {
                        Status::Running
                    } else {
                        Status::Exited
                    },
                    record: Record {
                        spec: c.spec.clone(),
                        owner: c.owner.clone(),
                        previous_container: c.previous.clone(),
                        ..Record::default()
                    },
                    auto_remove: self.auto_remove && c.id == "old",
                    ..Observed::default()
                })
        }

        /// The service is up on the declared image (or `image`) with nothing else around.
        fn assert_one(&self, image: &str) {
            assert_eq!(self.containers.len(), 1, "{:?}", self.containers);
            let c = &self.containers[0];
            assert_eq!(
                (c.name.as_str(), c.image.as_str(), c.running),
                (NAME, image, true)
            );
        }
    }

    impl Engine for Fake {
        async fn scene(&mut self) -> std::result::Result<Scene, Fault> {
            if self.crash_after.is_some_and(|n| self.calls >= n) {
                return Err(Fault::new("killed"));
            }
            Ok(Scene {
                primary: self.observed(NAME),
                temporary: self.observed(&Slot::Temporary.name_for(NAME)),
                backup: self.observed(&Slot::Backup.name_for(NAME)),
            })
        }
        async fn create(
            &mut self,
            as_name: &str,
            previous: Option<&Observed>,
        ) -> std::result::Result<String, Fault> {
            self.tick()?;
            if self.containers.iter().any(|c| c.name == as_name) {
                return Err(Fault::new("name in use"));
            }
            self.next_id += 1;
            let id = format!("new{}", self.next_id);
            self.containers.push(Sim {
                id: id.clone(),
                name: as_name.into(),
                image: self.desired_image.clone(),
                spec: Some(SPEC.into()),
                owner: Some(NAME.into()),
                previous: previous.map(|p| p.id.clone()),
                running: false,
            });
            Ok(id)
        }
        async fn stop(&mut self, id: &str) -> std::result::Result<(), Fault> {
            self.tick()?;
            self.find(id)?.running = false;
            Ok(())
        }
        async fn start(&mut self, id: &str) -> std::result::Result<(), Fault> {
            self.tick()?;
            self.find(id)?.running = true;
            self.started.push(id.to_string());
            Ok(())
        }
        async fn verify(&mut self, id: &str) -> std::result::Result<(), Fault> {
            self.tick()?;
            let bad = self.bad_image.clone();
            let c = self.find(id)?;
            if !c.running || Some(&c.image) == bad.as_ref() {
                return Err(Fault::new(format!("{id} is unhealthy")));
            }
            Ok(())
        }
        async fn rename(&mut self, id: &str, to: &str) -> std::result::Result<(), Fault> {
            self.tick()?;
            if self.containers.iter().any(|c| c.name == to && c.id != id) {
                return Err(Fault::new("name in use"));
            }
            self.find(id)?.name = to.into();
            Ok(())
        }
        async fn remove(&mut self, id: &str, _: Removal) -> std::result::Result<(), Fault> {
            self.tick()?;
            self.find(id)?;
            if self.undeletable.as_deref() == Some(id) {
                return Err(Fault::new("device or resource busy"));
            }
            self.containers.retain(|c| c.id != id);
            Ok(())
        }
        fn note(&mut self, _: &'static str, _: Instant, _: String) {}
    }

    fn run(
        fake: &mut Fake,
        strategy: Strategy,
        rollback: bool,
    ) -> std::result::Result<Converged, Box<Failed>> {
        run_as(fake, strategy, rollback, false)
    }

    fn run_as(
        fake: &mut Fake,
        strategy: Strategy,
        rollback: bool,
        dry_run: bool,
    ) -> std::result::Result<Converged, Box<Failed>> {
        let image = fake.desired_image.clone();
        let spec = crate::spec::ContainerSpec::default();
        let desired = Desired {
            image: Target::Id(&image),
            spec: &spec,
            spec_json: SPEC,
            adopt: true,
        };
        let settings = Settings {
            strategy,
            rollback,
            force: false,
            dry_run,
        };
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(converge(fake, NAME, &desired, settings))
    }

    const STRATEGIES: [Strategy; 3] = [
        Strategy::CreateFirst,
        Strategy::StopFirst,
        Strategy::StartFirst,
    ];

    #[test]
    fn every_strategy_replaces_and_leaves_one_container() {
        for strategy in STRATEGIES {
            let mut fake = Fake::with_old(true);
            let done = run(&mut fake, strategy, true).unwrap();
            assert_eq!(done.plan.action, Action::Replace);
            assert!(done.downtime_ms.is_some());
            fake.assert_one("sha256:v2");
            assert_eq!(fake.containers[0].previous.as_deref(), Some("old"));
        }
    }

    /// kill -9 after every single step of every strategy: the next run converges, also for an
    /// old container this tool did not create (no labels of ours).
    #[test]
    fn a_kill_at_any_step_boundary_converges_on_the_next_run() {
        for (strategy, adopted) in STRATEGIES.into_iter().flat_map(|s| [(s, false), (s, true)]) {
            let old = |adopted: bool| {
                let mut fake = Fake::with_old(true);
                if adopted {
                    fake.containers[0].owner = None;
                    fake.containers[0].spec = None;
                }
                fake
            };
            let steps = {
                let mut fake = old(adopted);
                run(&mut fake, strategy, true).unwrap();
                fake.calls
            };
            for kill_after in 0..steps {
                let mut fake = old(adopted);
                fake.crash_after = Some(kill_after);
                assert!(
                    run(&mut fake, strategy, true).is_err(),
                    "{strategy:?} {kill_after}"
                );
                fake.crash_after = None;
                let next = run(&mut fake, strategy, true);
                assert!(
                    next.is_ok(),
                    "{strategy:?} killed after {kill_after}: {next:?}"
                );
                fake.assert_one("sha256:v2");
            }
        }
    }

    /// One failing step anywhere in a run, the rollback and its recovery included, also over a
    /// container this tool did not create: the run ends with a container serving under the
    /// name, and the next run converges on the declared image.
    #[test]
    fn a_single_failure_anywhere_leaves_a_service() {
        for (strategy, adopted) in STRATEGIES.into_iter().flat_map(|s| [(s, false), (s, true)]) {
            for fail_at in 0..12 {
                let mut fake = if adopted {
                    Fake::adopted(true)
                } else {
                    Fake::with_old(true)
                };
                fake.fail_at = Some(fail_at);
                let first = run(&mut fake, strategy, true);
                let context = format!("{strategy:?} adopted={adopted} fail_at={fail_at}");
                fake.assert_serving(&context);
                fake.fail_at = None;
                let _ = first;
                let next = run(&mut fake, strategy, true);
                assert!(next.is_ok(), "{context}: {next:?}");
                fake.assert_one("sha256:v2");
            }
        }
    }

    /// A kill at any step, then one failing step anywhere in the next run (its recovery of the
    /// kill included: the double fault), also over an adopted container: that run still ends
    /// with a container serving under the name, none is ever left that every later run would
    /// refuse, and the run after converges.
    #[test]
    fn a_kill_then_a_failure_during_recovery_still_ends_with_a_service() {
        for (strategy, adopted) in STRATEGIES.into_iter().flat_map(|s| [(s, false), (s, true)]) {
            let old = || {
                if adopted {
                    Fake::adopted(true)
                } else {
                    Fake::with_old(true)
                }
            };
            let steps = {
                let mut fake = old();
                run(&mut fake, strategy, true).unwrap();
                fake.calls
            };
            for kill_after in 0..steps {
                for fail_at in 0..14 {
                    let context = format!(
                        "{strategy:?} adopted={adopted} killed after {kill_after}, then \
                         failing call {fail_at}"
                    );
                    let mut fake = old();
                    fake.crash_after = Some(kill_after);
                    let _ = run(&mut fake, strategy, true);
                    fake.crash_after = None;
                    fake.calls = 0;
                    fake.fail_at = Some(fail_at);
                    let second = run(&mut fake, strategy, true);
                    fake.assert_serving(&context);
                    if let Err(failed) = &second {
                        assert_ne!(failed.kind, FailKind::Refused, "{context}: {failed:?}");
                    }
                    fake.fail_at = None;
                    let last = run(&mut fake, strategy, true);
                    assert!(last.is_ok(), "{context}: {last:?}");
                    fake.assert_one("sha256:v2");
                }
            }
        }
    }

    /// A container started with `--rm` vanishes when it stops: never replaced, never touched.
    #[test]
    fn an_auto_remove_container_is_refused_untouched() {
        let mut fake = Fake::adopted(true);
        fake.auto_remove = true;
        let failed = run(&mut fake, Strategy::CreateFirst, true).unwrap_err();
        assert_eq!(failed.kind, FailKind::Refused);
        assert!(failed.why.contains("--rm"), "{}", failed.why);
        assert_eq!(fake.calls, 0, "no step was taken");
        fake.assert_one("sha256:v1");
    }

    /// A bad image whose rollback then meets one failing step: the rollback tries again, and
    /// the previous container serves when the run ends.
    #[test]
    fn a_failure_during_the_rollback_still_restores_the_previous_container() {
        for (strategy, adopted) in STRATEGIES.into_iter().flat_map(|s| [(s, false), (s, true)]) {
            for fail_at in 0..14 {
                let mut fake = if adopted {
                    Fake::adopted(true)
                } else {
                    Fake::with_old(true)
                };
                fake.bad_image = Some("sha256:v2".into());
                fake.fail_at = Some(fail_at);
                let context = format!("{strategy:?} adopted={adopted} fail_at={fail_at}");
                assert!(run(&mut fake, strategy, true).is_err(), "{context}");
                fake.assert_serving(&context);
                fake.fail_at = None;
                assert!(run(&mut fake, strategy, true).is_err(), "{context}");
                fake.assert_one("sha256:v1");
            }
        }
    }

    /// A new container verified and serving, whose backup a kill (or a failed removal) left
    /// behind, is kept by the next run even when the declaration has moved on since: the old
    /// one is removed, never started again on what the new one wrote.
    #[test]
    fn a_verified_new_container_is_kept_when_the_declaration_moved_on() {
        for strategy in STRATEGIES {
            let mut fake = Fake::with_old(true);
            let verified = {
                let mut probe = Fake::with_old(true);
                run(&mut probe, strategy, true).unwrap();
                probe.calls - 1 // every step but the old one's removal
            };
            fake.crash_after = Some(verified);
            assert!(run(&mut fake, strategy, true).is_err());
            fake.crash_after = None;
            fake.calls = 0;
            fake.desired_image = "sha256:v3".into();
            fake.started.clear();
            let done = run(&mut fake, strategy, true).unwrap();
            assert!(done.recovered.is_some(), "{strategy:?}: {done:?}");
            assert!(
                !fake.started.contains(&"old".to_string()),
                "{strategy:?}: the previous container was started again: {:?}",
                fake.started
            );
            fake.assert_one("sha256:v3");
        }
    }

    /// Killed again while recovering from a kill: still converges.
    #[test]
    fn two_kills_in_a_row_still_converge() {
        for (strategy, adopted) in STRATEGIES.into_iter().flat_map(|s| [(s, false), (s, true)]) {
            for first in 0..8 {
                for second in 0..8 {
                    let mut fake = if adopted {
                        Fake::adopted(true)
                    } else {
                        Fake::with_old(true)
                    };
                    fake.crash_after = Some(first);
                    let _ = run(&mut fake, strategy, true);
                    fake.calls = 0;
                    fake.crash_after = Some(second);
                    let _ = run(&mut fake, strategy, true);
                    fake.crash_after = None;
                    let last = run(&mut fake, strategy, true);
                    assert!(last.is_ok(), "{strategy:?} {first} {second}: {last:?}");
                    fake.assert_one("sha256:v2");
                }
            }
        }
    }

    /// A bad new image at any point of the rollout, and also after a kill: the old one serves.
    #[test]
    fn a_failed_verification_rolls_back_also_after_a_kill() {
        for strategy in STRATEGIES {
            let mut fake = Fake::with_old(true);
            fake.bad_image = Some("sha256:v2".into());
            let failed = run(&mut fake, strategy, true).unwrap_err();
            assert_eq!(
                failed.kind,
                FailKind::RolledBack,
                "{strategy:?}: {failed:?}"
            );
            fake.assert_one("sha256:v1");
            // start-first never stopped the old one; the others restored it.
            let expected = match strategy {
                Strategy::StartFirst => "left running",
                _ => "restored",
            };
            assert!(failed.state.contains(expected), "{}", failed.state);

            for kill_after in 0..12 {
                let mut fake = Fake::with_old(true);
                fake.bad_image = Some("sha256:v2".into());
                fake.crash_after = Some(kill_after);
                let _ = run(&mut fake, strategy, true);
                fake.crash_after = None;
                let next = run(&mut fake, strategy, true);
                assert!(next.is_err(), "the bad image must never be accepted");
                fake.assert_one("sha256:v1");
            }
        }
    }

    /// A backup that cannot be removed must not cost the verified new container.
    #[test]
    fn a_backup_that_cannot_be_removed_keeps_the_verified_new_one() {
        let mut fake = Fake::with_old(true);
        // Killed after the new one was verified, before the old one was removed.
        fake.crash_after = Some(6);
        let _ = run(&mut fake, Strategy::CreateFirst, true);
        fake.crash_after = None;
        fake.undeletable = Some("old".into());
        let failed = run(&mut fake, Strategy::CreateFirst, true).unwrap_err();
        assert!(failed.why.contains("recovering"), "{failed:?}");
        let primary = fake.containers.iter().find(|c| c.name == NAME).unwrap();
        assert_eq!(
            (primary.image.as_str(), primary.running),
            ("sha256:v2", true)
        );
    }

    #[test]
    fn rollback_off_keeps_the_failed_container_and_the_stopped_backup() {
        let mut fake = Fake::with_old(true);
        fake.bad_image = Some("sha256:v2".into());
        let failed = run(&mut fake, Strategy::CreateFirst, false).unwrap_err();
        assert_eq!(failed.kind, FailKind::Failed);
        let names: Vec<_> = fake
            .containers
            .iter()
            .map(|c| (c.name.clone(), c.running))
            .collect();
        assert!(
            names.contains(&("web.deploy-old".into(), false)),
            "{names:?}"
        );
        assert!(names.iter().any(|(n, _)| n == "web"));
        // A later run with rollback on restores the old one.
        let _ = run(&mut fake, Strategy::CreateFirst, true);
        fake.assert_one("sha256:v1");
    }

    #[test]
    fn a_failed_first_create_leaves_nothing() {
        let mut fake = Fake::with_old(true);
        fake.containers.clear();
        fake.bad_image = Some("sha256:v2".into());
        let failed = run(&mut fake, Strategy::CreateFirst, true).unwrap_err();
        assert_eq!(failed.kind, FailKind::Failed);
        assert!(fake.containers.is_empty());
    }

    #[test]
    fn foreign_containers_in_our_names_are_refused_untouched() {
        for slot in [Slot::Temporary, Slot::Backup] {
            let mut fake = Fake::with_old(true);
            fake.containers.push(Sim {
                id: "theirs".into(),
                name: slot.name_for(NAME),
                image: "sha256:x".into(),
                spec: None,
                owner: None,
                previous: None,
                running: true,
            });
            let before = format!("{:?}", fake.containers);
            let failed = run(&mut fake, Strategy::CreateFirst, true).unwrap_err();
            assert_eq!(failed.kind, FailKind::Refused);
            assert!(failed.why.contains("did not create"), "{}", failed.why);
            assert_eq!(before, format!("{:?}", fake.containers));
        }
    }

    #[test]
    fn a_stopped_container_is_replaced_without_being_started_on_rollback() {
        let mut fake = Fake::with_old(false);
        fake.bad_image = Some("sha256:v2".into());
        let failed = run(&mut fake, Strategy::CreateFirst, true).unwrap_err();
        assert_eq!(failed.kind, FailKind::RolledBack);
        assert_eq!(fake.containers.len(), 1);
        assert_eq!(
            (fake.containers[0].name.as_str(), fake.containers[0].running),
            (NAME, false)
        );
    }

    #[test]
    fn start_first_has_no_gap() {
        let mut fake = Fake::with_old(true);
        let done = run(&mut fake, Strategy::StartFirst, true).unwrap();
        assert_eq!(done.downtime_ms, Some(0.0));
    }

    #[test]
    fn strategies_parse_and_name_themselves() {
        for name in Strategy::NAMES {
            assert_eq!(Strategy::parse(name).unwrap().as_str(), name);
        }
        let err = Strategy::parse("blue-green").unwrap_err().to_string();
        assert!(
            err.contains("blue-green") && err.contains("create-first"),
            "{err}"
        );
    }

    /// A dry run after a kill anywhere: it takes no step, and predicts what the real run then
    /// does, the recovery (on paper, exactly the scene the real recovery leaves) and the plan.
    #[test]
    fn a_dry_run_predicts_the_recovery_and_the_plan_and_takes_no_step() {
        fn block_on<F: std::future::Future>(f: F) -> F::Output {
            tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap()
                .block_on(f)
        }
        for (strategy, adopted) in STRATEGIES.into_iter().flat_map(|s| [(s, false), (s, true)]) {
            let old = || match adopted {
                true => Fake::adopted(true),
                false => Fake::with_old(true),
            };
            let steps = {
                let mut fake = old();
                run(&mut fake, strategy, true).unwrap();
                fake.calls
            };
            for kill_after in 0..=steps {
                let context = format!("{strategy:?} adopted={adopted} killed after {kill_after}");
                let mut fake = old();
                fake.crash_after = Some(kill_after);
                let _ = run(&mut fake, strategy, true);
                fake.crash_after = None;

                let calls = fake.calls;
                let dry = run_as(&mut fake, strategy, true, true)
                    .unwrap_or_else(|e| panic!("{context}: {e:?}"));
                assert_eq!(fake.calls, calls, "{context}: the dry run took a step");

                let scene = block_on(fake.scene()).unwrap();
                if let Recovery::Ops { ops, .. } = recover(NAME, &scene, true, true) {
                    let predicted = on_paper(scene.clone(), &ops);
                    let mut real = Fake {
                        containers: fake.containers.clone(),
                        ..old()
                    };
                    block_on(run_ops(
                        &mut real,
                        NAME,
                        &ops,
                        None,
                        &mut Progress::default(),
                    ))
                    .unwrap_or_else(|f| panic!("{context}: {:?}", f.fault.message));
                    assert_eq!(predicted, block_on(real.scene()).unwrap(), "{context}");
                }

                let real =
                    run(&mut fake, strategy, true).unwrap_or_else(|e| panic!("{context}: {e:?}"));
                assert_eq!(
                    dry.plan, real.plan,
                    "{context}: the same action, for the same reasons"
                );
                assert_eq!(
                    dry.recovered.is_some(),
                    real.recovered.is_some(),
                    "{context}"
                );
                fake.assert_one("sha256:v2");
            }
        }
    }
}
