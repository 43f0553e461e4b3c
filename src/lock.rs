//! One redeploy of a container at a time on a host, across processes: two salt-call runs, a
//! Python script and the minion all take the same file lock before they look at the container.
//!
//! An advisory `flock` on `<dir>/<name>.lock`: the kernel drops it when the holder exits, so a
//! killed run never leaves a stale lock behind, and a forked child never inherits one (locks
//! are taken per call, inside it).

use std::fs::{File, OpenOptions, TryLockError};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};

/// Where the lock files live: `SALTEXT_DOCKER_DEPLOY_LOCK_DIR`, else `/run/lock` (root, as
/// the minion runs), else the temp directory.
pub fn lock_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("SALTEXT_DOCKER_DEPLOY_LOCK_DIR") {
        return PathBuf::from(dir);
    }
    let run_lock = PathBuf::from("/run/lock/saltext-docker-deploy");
    if std::fs::create_dir_all(&run_lock).is_ok() {
        return run_lock;
    }
    std::env::temp_dir().join("saltext-docker-deploy")
}

/// Held while it lives.
#[derive(Debug)]
pub struct HostLock {
    _file: File,
    pub waited: Duration,
    /// Another run held the lock when this one asked: what it changed must be read again.
    pub contended: bool,
}

/// Takes the lock for container `name`, waiting up to `timeout`.
pub async fn acquire(name: &str, timeout: Duration) -> Result<HostLock> {
    let (file, path) = open(name)?;
    let started = Instant::now();
    let mut contended = false;
    loop {
        match file.try_lock() {
            Ok(()) => {
                return Ok(HostLock {
                    _file: file,
                    waited: started.elapsed(),
                    contended,
                })
            }
            Err(TryLockError::WouldBlock) if started.elapsed() < timeout => {
                contended = true;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(TryLockError::WouldBlock) => {
                return Err(Error::LockTimeout(format!(
                    "container {name:?}: another redeploy of it still runs after {:.0} s \
                     (lock {}); nothing was changed",
                    timeout.as_secs_f64(),
                    path.display()
                )))
            }
            Err(TryLockError::Error(e)) => return Err(cannot_lock(name, &path, e)),
        }
    }
}

/// Takes the lock for container `name` if nobody holds it; `None` when somebody does.
pub fn try_acquire(name: &str) -> Result<Option<HostLock>> {
    let (file, path) = open(name)?;
    match file.try_lock() {
        Ok(()) => Ok(Some(HostLock {
            _file: file,
            waited: Duration::ZERO,
            contended: false,
        })),
        Err(TryLockError::WouldBlock) => Ok(None),
        Err(TryLockError::Error(e)) => Err(cannot_lock(name, &path, e)),
    }
}

fn open(name: &str) -> Result<(File, PathBuf)> {
    let dir = lock_dir();
    let path = dir.join(format!("{name}.lock"));
    let file = std::fs::create_dir_all(&dir)
        .and_then(|_| {
            OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&path)
        })
        .map_err(|e| {
            Error::Docker(format!(
                "container {name:?}: cannot open the lock file {} ({e}); nothing was changed",
                path.display()
            ))
        })?;
    Ok((file, path))
}

fn cannot_lock(name: &str, path: &std::path::Path, e: std::io::Error) -> Error {
    Error::Docker(format!(
        "container {name:?}: cannot lock {} ({e}); nothing was changed",
        path.display()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::block_on;

    #[test]
    fn a_second_holder_waits_then_times_out() {
        let dir = std::env::temp_dir().join(format!("dd-lock-test-{}", std::process::id()));
        std::env::set_var("SALTEXT_DOCKER_DEPLOY_LOCK_DIR", &dir);
        block_on(async {
            let held = acquire("web", Duration::from_secs(1)).await.unwrap();
            let err = acquire("web", Duration::from_millis(200))
                .await
                .unwrap_err();
            assert!(matches!(err, Error::LockTimeout(_)), "{err}");
            assert!(err.to_string().contains("\"web\""), "{err}");
            assert!(try_acquire("web").unwrap().is_none(), "held: no waiting, no lock");
            // Another name is another lock.
            acquire("api", Duration::from_millis(10)).await.unwrap();
            drop(held);
            let again = acquire("web", Duration::from_millis(200)).await.unwrap();
            assert!(again.waited < Duration::from_millis(200) && !again.contended);
            drop(again);
            assert!(try_acquire("web").unwrap().is_some());
        });
        let _ = std::fs::remove_dir_all(dir);
    }
}
