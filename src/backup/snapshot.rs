//! A consistent copy of the live SQLite database, taken while the service sells.
//!
//! SQLite's online backup API copies the database page by page from one read transaction.
//! In WAL mode a reader never blocks the writer: bookings go on committing to the WAL while
//! the copy reads the snapshot it began with. The copy is taken in one step: a backup in
//! several steps starts again from the first page whenever another connection writes
//! between two steps, which during an on-sale is every few milliseconds, so it would never
//! end. (`VACUUM INTO` also reads from one transaction, but rebuilds every table and index
//! on the way, several times the CPU of a page copy on a machine that is selling.)
//!
//! The copy is written under a temporary name beside its destination, the posters of a
//! local folder and a generated JWT secret are added to it in a table of their own, and
//! only then, synced to disk, is it renamed to its name. A backup killed halfway leaves
//! the live database and every earlier backup as they were.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use rusqlite::{Connection, OpenFlags};

/// The table of a backup that holds files beside the database.
pub const FILES_TABLE: &str = "tickitecking_backup_files";
/// The name, in that table, of the backup's description.
pub const MANIFEST: &str = "manifest.json";
/// Posters are kept in that table under this prefix and their key.
pub const POSTERS: &str = "posters/";

/// What a backup holds besides the database.
#[derive(Debug, Clone)]
pub struct Extras {
    /// The local poster folder; `None` when posters live elsewhere (named in `notes`).
    pub posters: Option<PathBuf>,
    /// The keys generated into the data dir (kept in that table by their file names:
    /// `jwt-secret`, `ticket-signing.key`); a configured one is not among them.
    pub secrets: Vec<PathBuf>,
    /// What the backup does not hold, and where it is instead.
    pub notes: Vec<String>,
}

/// A finished snapshot.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub path: PathBuf,
    pub bytes: u64,
    /// The newest migration applied to the copied database.
    pub schema_version: i64,
    pub posters: usize,
    /// The names of the keys it holds.
    pub secrets: Vec<String>,
    /// How long the database copy's read transaction lasted.
    pub copy: Duration,
}

/// Copies `database` (with `extras`) to `to`, atomically: nothing is at `to` until the
/// whole backup is there and on disk. Blocking; run it off the async runtime.
pub fn write(database: &Path, extras: &Extras, to: &Path) -> anyhow::Result<Snapshot> {
    if !database.is_file() {
        bail!("no database at {}", database.display());
    }
    let partial = partial_name(to)?;
    remove_stale_partials(to);
    let result = write_partial(database, extras, &partial);
    let snapshot = match result {
        Ok(snapshot) => snapshot,
        Err(e) => {
            let _ = std::fs::remove_file(&partial);
            return Err(e);
        }
    };
    std::fs::rename(&partial, to)
        .with_context(|| format!("renaming {} to {}", partial.display(), to.display()))?;
    sync_parent(to)?;
    Ok(Snapshot { path: to.to_owned(), ..snapshot })
}

/// The temporary name a backup to `to` is written under: hidden, beside it, unique to
/// this process.
pub fn partial_name(to: &Path) -> anyhow::Result<PathBuf> {
    let name = to.file_name().with_context(|| format!("{} names no file", to.display()))?;
    Ok(to.with_file_name(format!(".{}.partial-{}", name.to_string_lossy(), std::process::id())))
}

/// Removes what backups killed more than an hour ago left beside `to` (their partial
/// files, and copies staged for a bucket).
fn remove_stale_partials(to: &Path) {
    let Some(dir) = to.parent().map(|d| if d.as_os_str().is_empty() { Path::new(".") } else { d }) else {
        return;
    };
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let stale = entry
            .metadata()
            .and_then(|m| m.modified())
            .is_ok_and(|modified| modified.elapsed().unwrap_or_default() > Duration::from_secs(3600));
        let name = name.to_string_lossy();
        let left_behind =
            name.starts_with(".upload-") || (name.starts_with('.') && name.contains(".partial-"));
        if left_behind && stale {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

fn write_partial(database: &Path, extras: &Extras, partial: &Path) -> anyhow::Result<Snapshot> {
    let _ = std::fs::remove_file(partial);
    let source = Connection::open_with_flags(
        database,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .with_context(|| format!("opening {}", database.display()))?;
    source.busy_timeout(Duration::from_secs(10))?;
    let mut copy = Connection::open(partial).with_context(|| format!("creating {}", partial.display()))?;
    // The copy is synced once, at the end; until then a crash only loses the copy.
    copy.execute_batch("PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF;")?;
    let started = Instant::now();
    {
        let backup = rusqlite::backup::Backup::new(&source, &mut copy)?;
        // -1: every page in one step, from one read transaction (see the module's notes).
        match backup.step(-1).context("copying the database")? {
            rusqlite::backup::StepResult::Done => {}
            other => bail!("copying the database stopped early: {other:?}"),
        }
    }
    let copied = started.elapsed();
    drop(source);
    let schema_version = schema_version(&copy)
        .with_context(|| format!("{} is not a tickitecking database", database.display()))?;
    let (posters, secrets) = add_extras(&mut copy, extras, schema_version)?;
    copy.execute_batch("PRAGMA journal_mode = DELETE;")?;
    drop(copy);
    let file = File::open(partial)?;
    write_back_gently(&file);
    file.sync_all().with_context(|| format!("syncing {}", partial.display()))?;
    Ok(Snapshot {
        path: partial.to_owned(),
        bytes: file.metadata()?.len(),
        schema_version,
        posters,
        secrets,
        copy: copied,
    })
}

/// Sends the copy to the disk a few MiB at a time before the final fsync. One fsync of a
/// whole database's worth of dirty pages fills the disk's queue for seconds, and every
/// booking's WAL fsync would wait behind it; in small steps, they take turns.
#[cfg(target_os = "linux")]
fn write_back_gently(file: &File) {
    use std::os::fd::AsRawFd;
    const STEP: i64 = 4 << 20;
    let Ok(length) = file.metadata().map(|m| m.len() as i64) else { return };
    let flags =
        libc::SYNC_FILE_RANGE_WAIT_BEFORE | libc::SYNC_FILE_RANGE_WRITE | libc::SYNC_FILE_RANGE_WAIT_AFTER;
    let mut offset = 0;
    while offset < length {
        // SAFETY: a system call on a file descriptor `file` keeps open; on failure the
        // final fsync does the work.
        if unsafe { libc::sync_file_range(file.as_raw_fd(), offset, STEP, flags) } != 0 {
            return;
        }
        offset += STEP;
    }
}

#[cfg(not(target_os = "linux"))]
fn write_back_gently(_file: &File) {}

/// The newest migration applied to the database on `conn`.
pub fn schema_version(conn: &Connection) -> anyhow::Result<i64> {
    let version: Option<i64> = conn
        .query_row("SELECT max(version) FROM _sqlx_migrations WHERE success", [], |row| row.get(0))
        .context("reading its migrations")?;
    version.context("it has no migrations applied")
}

/// Adds the poster files and the keys to the copy, with a manifest naming what the
/// backup holds and what it does not.
fn add_extras(
    copy: &mut Connection,
    extras: &Extras,
    schema_version: i64,
) -> anyhow::Result<(usize, Vec<String>)> {
    let tx = copy.transaction()?;
    tx.execute_batch(&format!("CREATE TABLE {FILES_TABLE} (name TEXT PRIMARY KEY, content BLOB NOT NULL)"))?;
    let mut posters = 0;
    let mut secrets = Vec::new();
    {
        let mut insert = tx.prepare(&format!("INSERT INTO {FILES_TABLE} (name, content) VALUES (?1, ?2)"))?;
        if let Some(dir) = &extras.posters {
            for (key, path) in files_under(dir)? {
                let content = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
                insert.execute(rusqlite::params![format!("{POSTERS}{key}"), content])?;
                posters += 1;
            }
        }
        for path in &extras.secrets {
            let Some(name) = path.file_name().and_then(|n| n.to_str()) else { continue };
            match std::fs::read(path) {
                Ok(content) => {
                    insert.execute(rusqlite::params![name, content])?;
                    secrets.push(name.to_owned());
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
            }
        }
        let manifest = serde_json::json!({
            "takenAt": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            "binaryVersion": env!("CARGO_PKG_VERSION"),
            "schemaVersion": schema_version,
            "posters": posters,
            "jwtSecret": secrets.iter().any(|s| s == "jwt-secret"),
            "keys": secrets,
            "notIncluded": extras.notes,
        });
        insert.execute(rusqlite::params![MANIFEST, serde_json::to_vec_pretty(&manifest)?])?;
    }
    tx.commit()?;
    Ok((posters, secrets))
}

/// Every file under `dir` with its key (the path below `dir`, `/`-separated).
fn files_under(dir: &Path) -> anyhow::Result<Vec<(String, PathBuf)>> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(folder) = pending.pop() {
        let entries = match std::fs::read_dir(&folder) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e).with_context(|| format!("listing {}", folder.display())),
        };
        for entry in entries {
            let entry = entry?;
            let path = entry.path();
            if entry.file_type()?.is_dir() {
                pending.push(path);
            } else if let Ok(relative) = path.strip_prefix(dir) {
                let key = relative.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>();
                found.push((key.join("/"), path));
            }
        }
    }
    found.sort();
    Ok(found)
}

/// Makes a rename in `path`'s folder durable.
pub fn sync_parent(path: &Path) -> anyhow::Result<()> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    File::open(dir)
        .and_then(|d| d.sync_all())
        .with_context(|| format!("syncing the folder {}", dir.display()))
}
