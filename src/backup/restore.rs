//! Restoring a backup onto a data dir: refused while a service runs on it, and refused,
//! changing nothing, unless the backup is a sound tickitecking database whose migrations
//! this binary knows. Then the database is swapped in atomically (written beside, synced,
//! renamed), the database it replaces kept beside it, and the backup's posters and JWT
//! secret put back.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use rusqlite::{Connection, OpenFlags};

use super::place::{self, BackupPlace};
use super::snapshot::{self, FILES_TABLE, MANIFEST, POSTERS};
use crate::store::sqlite::MIGRATOR;
use crate::store::sqlite::live_lock::{LiveLock, Use};

/// Where a restore puts things.
#[derive(Debug, Clone)]
pub struct RestoreTarget {
    /// The SQLite database file the service opens.
    pub database: PathBuf,
    /// The local poster folder; `None` when posters are in S3 (then left alone).
    pub posters: Option<PathBuf>,
    /// Where the generated keys go (each by its file name); a configured one is not put back.
    pub secrets: Vec<PathBuf>,
}

/// What a restore did.
#[derive(Debug)]
pub struct Restored {
    pub from: String,
    pub schema_version: i64,
    pub posters: usize,
    /// The names of the keys put back.
    pub secrets: Vec<String>,
    /// The database that was replaced, kept under this name.
    pub previous: Option<PathBuf>,
}

/// Restores the backup at `from` onto `target`.
pub async fn restore(from: &BackupPlace, target: &RestoreTarget) -> anyhow::Result<Restored> {
    let database = &target.database;
    if let Some(dir) = database.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    // First, before anything is read or written: no service may be running on the data.
    let lock = LiveLock::take(database, Use::Restore)?;
    let incoming = snapshot::partial_name(database)?;
    let fetched = place::fetch(from, &incoming).await;
    let result = match fetched {
        Ok(shown) => {
            let target = target.clone();
            let incoming_copy = incoming.clone();
            tokio::task::spawn_blocking(move || swap_in(&incoming_copy, &target, shown))
                .await
                .context("the restore stopped")?
        }
        Err(e) => Err(e),
    };
    let _ = std::fs::remove_file(&incoming);
    drop(lock);
    result
}

/// Checks the fetched backup, then puts it and its files in place.
fn swap_in(incoming: &Path, target: &RestoreTarget, from: String) -> anyhow::Result<Restored> {
    let checked = check(incoming).with_context(|| format!("refusing to restore {from}"))?;
    let mut conn = Connection::open_with_flags(incoming, OpenFlags::SQLITE_OPEN_READ_WRITE)?;
    let files = bundled_files(&conn)?;
    let mut posters = 0;
    let mut secrets = Vec::new();
    for (name, content) in &files {
        if let Some(key) = name.strip_prefix(POSTERS) {
            let Some(dir) = &target.posters else { continue };
            write_file(&dir.join(safe_relative(key)?), content)?;
            posters += 1;
        } else if let Some(path) =
            target.secrets.iter().find(|p| p.file_name().is_some_and(|f| f == name.as_str()))
        {
            write_file(path, content)?;
            secrets.push(name.clone());
        }
    }
    // The service's schema, without the backup's own table.
    let tx = conn.transaction()?;
    tx.execute_batch(&format!("DROP TABLE IF EXISTS {FILES_TABLE}"))?;
    tx.commit()?;
    conn.execute_batch("PRAGMA journal_mode = DELETE;")?;
    drop(conn);
    std::fs::File::open(incoming)?.sync_all()?;
    let previous = set_aside(&target.database)?;
    std::fs::rename(incoming, &target.database)
        .with_context(|| format!("renaming {} to {}", incoming.display(), target.database.display()))?;
    snapshot::sync_parent(&target.database)?;
    Ok(Restored { from, schema_version: checked, posters, secrets, previous })
}

/// A sound SQLite file, of tickitecking, with only migrations this binary knows (an older
/// schema is fine: the service migrates it at start). Gives its schema version.
pub fn check(path: &Path) -> anyhow::Result<i64> {
    let mut header = [0u8; 100];
    {
        use std::io::Read;
        let mut file = std::fs::File::open(path)?;
        let length = file.metadata()?.len();
        file.read_exact(&mut header)
            .map_err(|_| anyhow::anyhow!("it is not a SQLite database (too short)"))?;
        if &header[..16] != b"SQLite format 3\0" {
            bail!("it is not a SQLite database");
        }
        // A database's size in its header: page size × page count (SQLite file format §1.3).
        let page_size = match u16::from_be_bytes([header[16], header[17]]) {
            1 => 65536,
            size => u64::from(size),
        };
        let pages = u64::from(u32::from_be_bytes([header[28], header[29], header[30], header[31]]));
        if pages > 0 && length < page_size * pages {
            bail!("it is truncated: its header says {} bytes, the file has {length}", page_size * pages);
        }
    }
    // Read and write: a copy saved in WAL mode needs its shared-memory file to be read.
    // `path` is the restore's own copy, never the live database.
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_WRITE)
        .context("it cannot be opened as a SQLite database")?;
    conn.busy_timeout(Duration::from_secs(10))?;
    let mut problems = Vec::new();
    {
        let damaged = "it is damaged (PRAGMA integrity_check failed)";
        let mut statement = conn.prepare("PRAGMA integrity_check").context(damaged)?;
        let mut rows = statement.query([]).context(damaged)?;
        while let Some(row) = rows.next().context(damaged)? {
            problems.push(row.get::<_, String>(0)?);
        }
    }
    if problems != ["ok"] {
        problems.truncate(5);
        bail!("it is damaged (PRAGMA integrity_check: {})", problems.join("; "));
    }
    let applied = {
        let mut statement = conn
            .prepare("SELECT version, checksum, success FROM _sqlx_migrations ORDER BY version")
            .context("it is not a tickitecking database (no migrations table)")?;
        statement
            .query_map([], |row| {
                Ok((row.get::<_, i64>(0)?, row.get::<_, Vec<u8>>(1)?, row.get::<_, bool>(2)?))
            })?
            .collect::<Result<Vec<_>, _>>()?
    };
    for (version, checksum, success) in &applied {
        let Some(known) = MIGRATOR.iter().find(|m| m.version == *version) else {
            bail!(
                "its schema has migration {version}, which this binary does not know: restore it with the release that took it, or a newer one"
            );
        };
        if known.checksum.as_ref() != checksum.as_slice() {
            bail!(
                "its migration {version} differs from this binary's: it was made by another build of the schema"
            );
        }
        if !success {
            bail!("its migration {version} did not finish");
        }
    }
    applied
        .last()
        .map(|(version, ..)| *version)
        .context("it is not a tickitecking database (no migrations applied)")
}

/// The files a backup carries (none for a plain copy of a database).
fn bundled_files(conn: &Connection) -> anyhow::Result<Vec<(String, Vec<u8>)>> {
    let exists: bool = conn.query_row(
        "SELECT count(*) > 0 FROM sqlite_schema WHERE type = 'table' AND name = ?1",
        [FILES_TABLE],
        |row| row.get(0),
    )?;
    if !exists {
        return Ok(Vec::new());
    }
    let mut statement =
        conn.prepare(&format!("SELECT name, content FROM {FILES_TABLE} WHERE name <> ?1 ORDER BY name"))?;
    let files =
        statement.query_map([MANIFEST], |row| Ok((row.get(0)?, row.get(1)?)))?.collect::<Result<_, _>>()?;
    Ok(files)
}

/// A poster key as a relative path that stays inside the poster folder.
fn safe_relative(key: &str) -> anyhow::Result<PathBuf> {
    let path = PathBuf::from(key);
    let inside = path.components().all(|c| matches!(c, std::path::Component::Normal(_)));
    if !inside || key.is_empty() {
        bail!("the backup holds a poster named {key:?}, which is not a plain file name");
    }
    Ok(path)
}

/// Writes `content` to `path` atomically (beside, synced, renamed).
fn write_file(path: &Path, content: &[u8]) -> anyhow::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let partial = snapshot::partial_name(path)?;
    std::fs::write(&partial, content).with_context(|| format!("writing {}", partial.display()))?;
    std::fs::File::open(&partial)?.sync_all()?;
    std::fs::rename(&partial, path).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// Keeps the database being replaced as `<database>.before-restore-<time>`, its WAL
/// folded in first so the file alone is whole; gives that name (`None`: there was none).
fn set_aside(database: &Path) -> anyhow::Result<Option<PathBuf>> {
    if !database.exists() {
        return Ok(None);
    }
    {
        let conn = Connection::open_with_flags(database, OpenFlags::SQLITE_OPEN_READ_WRITE)
            .with_context(|| format!("opening the database being replaced, {}", database.display()))?;
        conn.busy_timeout(Duration::from_secs(10))?;
        let busy: i64 = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |row| row.get(0))?;
        if busy != 0 {
            bail!("{} is busy: is a service still using it?", database.display());
        }
    }
    // The replaced database's WAL is empty now; a leftover would be replayed onto the
    // restored file by the next open.
    for suffix in ["-wal", "-shm"] {
        let mut name = database.as_os_str().to_owned();
        name.push(suffix);
        match std::fs::remove_file(PathBuf::from(name)) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).context("removing the replaced database's WAL"),
        }
    }
    let mut name = database.as_os_str().to_owned();
    name.push(format!(".before-restore-{}", chrono::Utc::now().format("%Y%m%dT%H%M%SZ")));
    let kept = PathBuf::from(name);
    std::fs::hard_link(database, &kept)
        .with_context(|| format!("keeping the replaced database as {}", kept.display()))?;
    Ok(Some(kept))
}
