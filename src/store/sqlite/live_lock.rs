//! Who is using a SQLite database file: every process that serves (or loads demo data)
//! holds a shared `flock` on `<database>.lock` for as long as its store is open; a restore
//! takes it exclusively. So a restore is refused while any service runs on the file, and a
//! service refuses to start while a restore swaps the file in. The kernel drops the lock
//! when the process ends, `kill -9` included: no stale lock to clean up.

use std::fs::{File, OpenOptions};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use anyhow::Context;

/// A held lock on a database file; released when dropped.
#[derive(Debug)]
pub struct LiveLock {
    _file: File,
}

/// How the lock is held.
#[derive(Debug, Clone, Copy)]
pub enum Use {
    /// Serving or loading: many at once.
    Serve,
    /// Swapping the file: alone.
    Restore,
}

/// The lock file beside `database`.
pub fn lock_path(database: &Path) -> PathBuf {
    let mut name = database.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

impl LiveLock {
    /// Takes the lock on `database` at once, or says who holds it.
    pub fn take(database: &Path, purpose: Use) -> anyhow::Result<Self> {
        let path = lock_path(database);
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .with_context(|| format!("opening the lock file {}", path.display()))?;
        let operation = match purpose {
            Use::Serve => libc::LOCK_SH,
            Use::Restore => libc::LOCK_EX,
        } | libc::LOCK_NB;
        // SAFETY: flock on a file descriptor this function owns.
        if unsafe { libc::flock(file.as_raw_fd(), operation) } != 0 {
            let error = std::io::Error::last_os_error();
            if error.kind() == std::io::ErrorKind::WouldBlock {
                anyhow::bail!(match purpose {
                    Use::Serve => format!(
                        "{} is being restored (lock {} held): start the service when the restore has finished",
                        database.display(),
                        path.display()
                    ),
                    Use::Restore => format!(
                        "{} is in use by a running tickitecking (lock {} held): stop the service before restoring onto its data",
                        database.display(),
                        path.display()
                    ),
                });
            }
            return Err(error).with_context(|| format!("locking {}", path.display()));
        }
        Ok(Self { _file: file })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn services_share_the_lock_and_a_restore_needs_it_alone() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("tickitecking.db");
        let first = LiveLock::take(&db, Use::Serve).unwrap();
        let second = LiveLock::take(&db, Use::Serve).unwrap();
        let refused = LiveLock::take(&db, Use::Restore).unwrap_err().to_string();
        assert!(refused.contains("in use by a running tickitecking"), "{refused}");
        drop((first, second));
        let restoring = LiveLock::take(&db, Use::Restore).unwrap();
        assert!(LiveLock::take(&db, Use::Serve).unwrap_err().to_string().contains("being restored"));
        drop(restoring);
        LiveLock::take(&db, Use::Serve).unwrap();
    }
}
