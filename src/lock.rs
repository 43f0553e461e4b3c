//! One redeploy of a container at a time, across processes: two salt-call runs, a Python script
//! and the minion all take the same file lock before they look at the container.
//!
//! An advisory `flock` on `<dir>/<name>@<engine>.lock`: the kernel drops it when the holder
//! exits, so a killed run never leaves a stale lock behind, and a forked child never inherits
//! one (locks are taken per call, inside it). `<engine>` names the Docker Engine: the same
//! container name on two Engines is two locks, the same Engine reached by two spellings of its
//! socket is one.
//!
//! Nobody else may touch the locks, so the place is fixed and checked, never guessed:
//! - the directory is `/run/saltext-docker-deploy` for every caller (root or not, any
//!   `TMPDIR`); `/run` is root's, so no other user can create it first or put a link there;
//! - it must be a real directory (`lstat`), owned by root or the caller, never writable by
//!   others; group-writable only for the group of the Docker socket (the users who may run
//!   containers anyway), with the sticky bit so that none of them can delete another's lock;
//!   root creates it so (mode 3770), or 0700 when the socket has no such group;
//! - lock files are opened without following links and without blocking (a FIFO or a socket
//!   under the name is refused, not waited on), must be regular files owned by root, the caller
//!   or (in a shared directory) the socket's group, readable by nobody else (0600, or 0640 in a
//!   shared directory); after the `flock` the path must still name the file that was locked,
//!   else a deleted or swapped file is locked again.
//!
//! Anything else is an error that names the path and what is wrong with it.

use std::fs::{File, Metadata, OpenOptions, TryLockError};
use std::io::ErrorKind as IoErrorKind;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::error::{Error, ErrorKind, Result, NOTHING_CHANGED};

/// Where the locks live on every host.
pub const DEFAULT_DIR: &str = "/run/saltext-docker-deploy";
/// Another directory (for tests, or a host without `/run`); it is checked the same way.
pub const DIR_ENV: &str = "SALTEXT_DOCKER_DEPLOY_LOCK_DIR";

/// What a lock is for.
#[derive(Debug, Clone, Copy)]
pub enum Subject<'a> {
    /// One container (a redeploy, a removal).
    Container(&'a str),
    /// The rolling update of a replica set (each replica also takes its own).
    Replicas(&'a str),
    /// Not a lock: the record of a container this tool adopted (see [`write_adoption`]).
    Adopted(&'a str),
}

impl Subject<'_> {
    /// The file name: `@` cannot be part of a container name, so no two subjects share one.
    fn file_name(self, engine: &str) -> String {
        match self {
            Subject::Container(name) => format!("{name}@{engine}.lock"),
            Subject::Replicas(name) => format!("{name}@replicas@{engine}.lock"),
            Subject::Adopted(name) => format!("{name}@adopted@{engine}.json"),
        }
    }

    /// What the file is, in an error about it.
    fn file_kind(self) -> &'static str {
        match self {
            Subject::Container(_) | Subject::Replicas(_) => "the lock file",
            Subject::Adopted(_) => "the adoption record",
        }
    }

    /// What an error about this lock is about: `container "web"`.
    fn describe(self) -> String {
        match self {
            Subject::Container(name) => format!("container {name:?}"),
            Subject::Replicas(name) => format!("the replicas of container {name:?}"),
            Subject::Adopted(name) => format!("the adoption record of container {name:?}"),
        }
    }
}

/// Held while it lives.
#[derive(Debug)]
pub struct HostLock {
    _file: File,
    pub waited: Duration,
    /// Another run held the lock when this one asked: what it changed must be read again.
    pub contended: bool,
}

/// Takes the lock for `subject`, waiting up to `timeout`.
pub async fn acquire(subject: Subject<'_>, timeout: Duration) -> Result<HostLock> {
    let place = Place::find(subject)?;
    let started = Instant::now();
    let mut contended = false;
    loop {
        match place.try_lock()? {
            Some(file) => {
                return Ok(HostLock {
                    _file: file,
                    waited: started.elapsed(),
                    contended,
                })
            }
            None if started.elapsed() < timeout => {
                contended = true;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            None => {
                return Err(Error::new(
                    ErrorKind::LockTimeout,
                    format!(
                        "another run still holds it after {:.0} s (lock {})",
                        timeout.as_secs_f64(),
                        place.path.display()
                    ),
                )
                .about(subject.describe())
                .left(NOTHING_CHANGED))
            }
        }
    }
}

/// Takes the lock for `subject` if nobody holds it; `None` when somebody does.
pub fn try_acquire(subject: Subject<'_>) -> Result<Option<HostLock>> {
    let place = Place::find(subject)?;
    Ok(place.try_lock()?.map(|file| HostLock {
        _file: file,
        waited: Duration::ZERO,
        contended: false,
    }))
}

/// The most an adoption record may hold: a declaration is a few KiB.
const MAX_ADOPTION_RECORD: u64 = 1 << 20;

/// The record of a container this tool adopted (`None` when there is none, or it cannot be
/// trusted: the adoption is then decided again from the container, which is only slower).
/// Labels cannot be added to a container, so the record lives beside its lock, in the same
/// directory, checked the same way.
pub fn read_adoption(name: &str) -> Option<String> {
    use std::io::Read;
    let place = Place::find(Subject::Adopted(name)).ok()?;
    let flags = libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC;
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(flags)
        .open(&place.path)
        .ok()?;
    place.check_file(&file.metadata().ok()?).ok()?;
    let mut text = String::new();
    file.take(MAX_ADOPTION_RECORD)
        .read_to_string(&mut text)
        .ok()?;
    Some(text)
}

/// Keeps the record of an adopted container (called under its lock): written beside, then
/// renamed into place, so that a reader never sees half of one.
pub fn write_adoption(name: &str, text: &str) -> Result<()> {
    use std::io::Write;
    let place = Place::find(Subject::Adopted(name))?;
    let file_name = place.path.file_name().unwrap_or_default().to_string_lossy();
    let partial = place
        .path
        .with_file_name(format!(".{file_name}.{}", std::process::id()));
    let _ = std::fs::remove_file(&partial);
    let mode = if place.shared_gid.is_some() {
        0o640
    } else {
        0o600
    };
    let written = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(&partial)
        .and_then(|mut file| file.write_all(text.as_bytes()))
        .and_then(|()| std::fs::rename(&partial, &place.path));
    written.map_err(|e| {
        let _ = std::fs::remove_file(&partial);
        place.err(format_args!("cannot be written ({e})"))
    })
}

/// Forgets the record of an adopted container (it was removed or replaced).
pub fn forget_adoption(name: &str) {
    if let Ok(place) = Place::find(Subject::Adopted(name)) {
        let _ = std::fs::remove_file(&place.path);
    }
}

/// One lock file, in a directory found fit.
struct Place<'a> {
    subject: Subject<'a>,
    path: PathBuf,
    /// The group that shares the directory (the Docker socket's), when it is shared.
    shared_gid: Option<u32>,
    caller: Option<u32>,
}

impl<'a> Place<'a> {
    fn find(subject: Subject<'a>) -> Result<Place<'a>> {
        let dir = std::env::var_os(DIR_ENV)
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(DEFAULT_DIR));
        let engine = engine_key(&crate::engine::docker_host());
        let caller = effective_uid();
        let socket_gid = socket_group();
        let shared_gid = checked_dir(subject, &dir, caller, socket_gid)?;
        Ok(Place {
            subject,
            path: dir.join(subject.file_name(&engine)),
            shared_gid,
            caller,
        })
    }

    fn err(&self, why: impl std::fmt::Display) -> Error {
        Error::new(
            ErrorKind::Docker,
            format!("{} {} {why}", self.subject.file_kind(), self.path.display()),
        )
        .about(self.subject.describe())
        .left(NOTHING_CHANGED)
    }

    /// The locked file, or `None` when another process holds the lock.
    fn try_lock(&self) -> Result<Option<File>> {
        // A file deleted or swapped between the open and the lock is locked again: at most a
        // few rounds, unless something keeps swapping it.
        for _ in 0..10 {
            let file = self.open()?;
            match file.try_lock() {
                Ok(()) => {}
                Err(TryLockError::WouldBlock) => return Ok(None),
                Err(TryLockError::Error(e)) => {
                    return Err(self.err(format_args!("cannot be locked ({e})")))
                }
            }
            let locked = file
                .metadata()
                .map_err(|e| self.err(format_args!("cannot be read ({e})")))?;
            match std::fs::symlink_metadata(&self.path) {
                Ok(now) if now.dev() == locked.dev() && now.ino() == locked.ino() => {
                    return Ok(Some(file))
                }
                _ => continue,
            }
        }
        Err(self.err("keeps being replaced while it is locked"))
    }

    /// Opens the lock file (creating it when missing), without following links or blocking.
    fn open(&self) -> Result<File> {
        // O_NOFOLLOW: a link is refused (ELOOP), not followed; O_NONBLOCK: a FIFO opens at
        // once (and is then refused as no regular file) instead of hanging the run.
        let flags = libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC;
        let mode = if self.shared_gid.is_some() {
            0o640
        } else {
            0o600
        };
        let opened = match OpenOptions::new()
            .read(true)
            .custom_flags(flags)
            .open(&self.path)
        {
            Err(e) if e.kind() == IoErrorKind::NotFound => OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(mode)
                .custom_flags(flags)
                .open(&self.path)
                .or_else(|e| match e.kind() {
                    // Created by another run in between: open that one.
                    IoErrorKind::AlreadyExists => OpenOptions::new()
                        .read(true)
                        .custom_flags(flags)
                        .open(&self.path),
                    _ => Err(e),
                }),
            other => other,
        };
        let file = opened.map_err(|e| match e.raw_os_error() {
            Some(libc::ELOOP) => self.err("is a symbolic link: remove it"),
            Some(libc::ENXIO) => self.err("is no regular file (a FIFO or socket?): remove it"),
            Some(libc::EACCES) => self.err(format_args!(
                "cannot be opened ({e}): run as root, or as a member of the Docker socket's \
                 group with {} shared with that group (mode 3770)",
                self.path.parent().unwrap_or(Path::new("/")).display()
            )),
            _ => self.err(format_args!("cannot be opened ({e})")),
        })?;
        let meta = file
            .metadata()
            .map_err(|e| self.err(format_args!("cannot be read ({e})")))?;
        self.check_file(&meta)?;
        Ok(file)
    }

    fn check_file(&self, meta: &Metadata) -> Result<()> {
        if !meta.file_type().is_file() {
            return Err(self.err("is no regular file: remove it"));
        }
        let owner_ok = meta.uid() == 0
            || Some(meta.uid()) == self.caller
            || self.shared_gid.is_some_and(|gid| meta.gid() == gid);
        if !owner_ok {
            return Err(self.err(format_args!(
                "belongs to user {} (group {}), neither root nor this user nor the Docker \
                 socket's group: remove it",
                meta.uid(),
                meta.gid()
            )));
        }
        // Anyone who can open it can hold it, and so stop every deploy of the container.
        let forbidden = if self.shared_gid.is_some() {
            0o007
        } else {
            0o077
        };
        if meta.mode() & forbidden != 0 {
            return Err(self.err(format_args!(
                "has mode {:04o}: it must not be open to {}; remove it",
                meta.mode() & 0o7777,
                if self.shared_gid.is_some() {
                    "other users"
                } else {
                    "other users or groups"
                }
            )));
        }
        Ok(())
    }
}

/// Checks (and, when it is missing and we may, creates) the lock directory. Returns the group
/// it is shared with, if any.
fn checked_dir(
    subject: Subject,
    dir: &Path,
    caller: Option<u32>,
    socket_gid: Option<u32>,
) -> Result<Option<u32>> {
    let bad = |why: String| {
        Error::new(
            ErrorKind::Docker,
            format!("the lock directory {} {why}", dir.display()),
        )
        .about(subject.describe())
        .left(NOTHING_CHANGED)
    };
    let meta = match std::fs::symlink_metadata(dir) {
        Ok(meta) => meta,
        Err(e) if e.kind() == IoErrorKind::NotFound => {
            create_dir(dir, socket_gid).map_err(|e| match e.kind() {
                IoErrorKind::PermissionDenied => bad(format!(
                    "does not exist and this user cannot create it ({e}): a run as root \
                     creates it, or create it once with `install -d -m 3770 -o root -g \
                     <the Docker socket's group> {}`",
                    dir.display()
                )),
                _ => bad(format!("cannot be created ({e})")),
            })?;
            std::fs::symlink_metadata(dir).map_err(|e| bad(format!("cannot be read ({e})")))?
        }
        Err(e) => return Err(bad(format!("cannot be read ({e})"))),
    };
    if meta.file_type().is_symlink() || !meta.is_dir() {
        return Err(bad("is not a directory (a link is not followed)".into()));
    }
    if meta.uid() != 0 && Some(meta.uid()) != caller {
        return Err(bad(format!(
            "belongs to user {}, neither root nor this user: another user may have made it; \
             remove it (a run as root makes it anew)",
            meta.uid()
        )));
    }
    let mode = meta.mode();
    if mode & 0o002 != 0 {
        return Err(bad(format!(
            "has mode {:04o}: writable by every user, who could delete or replace the locks",
            mode & 0o7777
        )));
    }
    if mode & 0o020 == 0 {
        return Ok(None);
    }
    // Group-writable: only for the group that may use the Docker socket; sticky, so that no
    // member deletes another's lock; setgid, so that every lock file is the group's.
    if Some(meta.gid()) != socket_gid {
        return Err(bad(format!(
            "is writable by group {}, which is not the group of the Docker socket {}",
            meta.gid(),
            DOCKER_SOCKET
        )));
    }
    if mode & 0o3000 != 0o3000 {
        return Err(bad(format!(
            "has mode {:04o}: a group-writable lock directory needs the sticky and setgid bits \
             (3770), or one member could delete another's lock or make one the others cannot \
             open",
            mode & 0o7777
        )));
    }
    Ok(Some(meta.gid()))
}

/// Creates the directory complete under a name of its own (0700, then handed to the socket's
/// group as 3770 when there is one) and only then renames it into place: another run never
/// sees it half made, nor uses it before it is shared.
fn create_dir(dir: &Path, socket_gid: Option<u32>) -> std::io::Result<()> {
    let name = dir.file_name().unwrap_or_default().to_string_lossy();
    let making = dir.with_file_name(format!(".{name}.{}", std::process::id()));
    let _ = std::fs::remove_dir(&making);
    std::fs::DirBuilder::new().mode(0o700).create(&making)?;
    let made = (|| {
        if let Some(gid) = socket_gid {
            std::os::unix::fs::chown(&making, None, Some(gid))?;
            std::fs::set_permissions(&making, std::fs::Permissions::from_mode(0o3770))?;
        }
        std::fs::rename(&making, dir)
    })();
    match made {
        Ok(()) => Ok(()),
        Err(e) => {
            let _ = std::fs::remove_dir(&making);
            // Another run made it in the meantime (and it holds locks already): it is
            // checked like any other.
            match dir.exists() {
                true => Ok(()),
                false => Err(e),
            }
        }
    }
}

/// This process's effective user, from `/proc/self` (owned by it): no `unsafe` `geteuid`.
fn effective_uid() -> Option<u32> {
    std::fs::metadata("/proc/self").ok().map(|m| m.uid())
}

/// The host's Docker socket, whose group may share the lock directory.
const DOCKER_SOCKET: &str = "/var/run/docker.sock";

/// The group that may use the host's Docker socket (group read and write, not root's). The
/// same for every caller, whatever its `DOCKER_HOST`: the directory is one for the host.
fn socket_group() -> Option<u32> {
    let meta = std::fs::metadata(DOCKER_SOCKET).ok()?;
    (meta.mode() & 0o060 == 0o060 && meta.gid() != 0).then(|| meta.gid())
}

/// A short, stable name for the Engine at `docker_host`: the socket's real path (so
/// `/var/run/docker.sock` and `/run/docker.sock` are one Engine), or the TCP address.
pub fn engine_key(docker_host: &str) -> String {
    let canonical = match docker_host.strip_prefix("unix://") {
        Some(path) => match std::fs::canonicalize(path) {
            Ok(real) => format!("unix://{}", real.display()),
            Err(_) => docker_host.to_string(),
        },
        None => docker_host
            .replacen("http://", "tcp://", 1)
            .trim_end_matches('/')
            .to_ascii_lowercase(),
    };
    // FNV-1a: stable across processes, versions and builds (std's hashers are not promised to
    // be), and 64 bits are plenty for the few Engines of one host.
    let hash = canonical.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    format!("{hash:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::block_on;

    /// One private lock directory per test (tests run in threads of one process, and the
    /// directory is read from the environment: set it once for all).
    fn test_dir() -> PathBuf {
        static DIR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
        DIR.get_or_init(|| {
            let dir = std::env::temp_dir().join(format!("dd-lock-test-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::env::set_var(DIR_ENV, &dir);
            dir
        })
        .clone()
    }

    #[test]
    fn a_second_holder_waits_then_times_out() {
        let _dir = test_dir();
        let web = Subject::Container("web");
        let done: Result<()> = block_on("test", async {
            let held = acquire(web, Duration::from_secs(1)).await.unwrap();
            let err = acquire(web, Duration::from_millis(200)).await.unwrap_err();
            assert!(err.is(ErrorKind::LockTimeout), "{err}");
            assert!(err.to_string().contains("\"web\""), "{err}");
            assert!(
                try_acquire(web).unwrap().is_none(),
                "held: no waiting, no lock"
            );
            // Another name is another lock, and so are the replicas of the same name.
            acquire(Subject::Container("api"), Duration::from_millis(10)).await?;
            acquire(Subject::Replicas("web"), Duration::from_millis(10)).await?;
            drop(held);
            let again = acquire(web, Duration::from_millis(200)).await.unwrap();
            assert!(again.waited < Duration::from_millis(200) && !again.contended);
            drop(again);
            assert!(try_acquire(web).unwrap().is_some());
            Ok(())
        });
        done.unwrap();
    }

    #[test]
    fn the_directory_and_the_files_are_private() {
        let dir = test_dir();
        drop(try_acquire(Subject::Container("private")).unwrap());
        let meta = std::fs::symlink_metadata(&dir).unwrap();
        // Shared with the Docker socket's group when it has one, else root's (or ours) alone.
        let shared = socket_group();
        match shared {
            Some(gid) => {
                assert_eq!(meta.mode() & 0o7777, 0o3770, "{:o}", meta.mode());
                assert_eq!(meta.gid(), gid);
            }
            None => assert_eq!(meta.mode() & 0o7777, 0o700, "{:o}", meta.mode()),
        }
        let file = std::fs::read_dir(&dir)
            .unwrap()
            .flatten()
            .find(|e| e.file_name().to_string_lossy().starts_with("private@"))
            .unwrap();
        let mode = file.metadata().unwrap().mode() & 0o7777;
        let forbidden = if shared.is_some() { 0o027 } else { 0o077 };
        assert_eq!(mode & forbidden, 0, "{mode:o}");
    }

    #[test]
    fn links_fifos_and_open_files_are_refused() {
        let dir = test_dir();
        let _ = try_acquire(Subject::Container("probe"));
        let engine = engine_key(&crate::engine::docker_host());
        let path = |name: &str| dir.join(Subject::Container(name).file_name(&engine));

        let target = dir.join("target-of-link");
        std::os::unix::fs::symlink(&target, path("linked")).unwrap();
        let err = try_acquire(Subject::Container("linked"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("symbolic link") && err.contains("linked"),
            "{err}"
        );
        assert!(
            !target.exists(),
            "a link must never be followed to create its target"
        );

        let fifo = path("fifo");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        let started = Instant::now();
        let err = try_acquire(Subject::Container("fifo"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("no regular file"), "{err}");
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "a FIFO must not block the open"
        );

        std::fs::write(path("open"), b"").unwrap();
        std::fs::set_permissions(path("open"), std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = try_acquire(Subject::Container("open"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("mode 0644"), "{err}");
    }

    #[test]
    fn a_world_writable_or_linked_directory_is_refused() {
        let base = std::env::temp_dir().join(format!("dd-lock-dirs-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        std::fs::create_dir_all(&base).unwrap();
        let subject = Subject::Container("web");
        let open_dir = base.join("open");
        std::fs::create_dir(&open_dir).unwrap();
        std::fs::set_permissions(&open_dir, std::fs::Permissions::from_mode(0o777)).unwrap();
        let err = checked_dir(subject, &open_dir, effective_uid(), None).unwrap_err();
        assert!(err.to_string().contains("writable by every user"), "{err}");

        let group_dir = base.join("group");
        std::fs::create_dir(&group_dir).unwrap();
        std::fs::set_permissions(&group_dir, std::fs::Permissions::from_mode(0o770)).unwrap();
        let gid = std::fs::metadata(&group_dir).unwrap().gid();
        let err = checked_dir(subject, &group_dir, effective_uid(), Some(gid)).unwrap_err();
        assert!(err.to_string().contains("sticky"), "{err}");
        std::fs::set_permissions(&group_dir, std::fs::Permissions::from_mode(0o3770)).unwrap();
        assert_eq!(
            checked_dir(subject, &group_dir, effective_uid(), Some(gid)).unwrap(),
            Some(gid)
        );

        let link = base.join("link");
        std::os::unix::fs::symlink(&group_dir, &link).unwrap();
        let err = checked_dir(subject, &link, effective_uid(), Some(gid)).unwrap_err();
        assert!(err.to_string().contains("not a directory"), "{err}");

        // Owned by somebody else (root running the test hands it to `nobody`).
        if effective_uid() == Some(0) {
            let theirs = base.join("theirs");
            std::fs::create_dir(&theirs).unwrap();
            std::os::unix::fs::chown(&theirs, Some(65534), None).unwrap();
            let err = checked_dir(subject, &theirs, Some(0), None).unwrap_err();
            assert!(err.to_string().contains("belongs to user 65534"), "{err}");
        }
        let _ = std::fs::remove_dir_all(&base);
    }

    #[test]
    fn engines_are_named_by_where_they_really_are() {
        assert_eq!(
            engine_key("tcp://127.0.0.1:2375"),
            engine_key("http://127.0.0.1:2375/")
        );
        assert_ne!(
            engine_key("tcp://127.0.0.1:2375"),
            engine_key("tcp://127.0.0.1:2376")
        );
        let dir = std::env::temp_dir().join(format!("dd-engine-key-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("real.sock"), b"").unwrap();
        let _ = std::os::unix::fs::symlink(dir.join("real.sock"), dir.join("alias.sock"));
        assert_eq!(
            engine_key(&format!("unix://{}", dir.join("real.sock").display())),
            engine_key(&format!("unix://{}", dir.join("alias.sock").display()))
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
