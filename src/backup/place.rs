//! Where backups go and come from: one file, a folder of dated backups, or an S3 bucket
//! (the object store the posters use, configured by the same `AWS_*` variables).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use futures_util::StreamExt;
use object_store::path::Path as ObjectPath;
use object_store::{BackoffConfig, ObjectStore, RetryConfig, WriteMultipart};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Names of dated backups: `tickitecking-<UTC time>.sqlite`, sorting by time.
const NAME_PREFIX: &str = "tickitecking-";
const NAME_SUFFIX: &str = ".sqlite";

/// Where backups are kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BackupPlace {
    /// Exactly this file.
    File(PathBuf),
    /// Dated backups in a folder.
    Folder(PathBuf),
    /// Dated backups in an S3 bucket under `prefix` (or, to restore, the object `prefix`
    /// names when it ends in `.sqlite`), configured by the `AWS_*` variables with
    /// `options` (object_store's S3 keys) on top.
    S3 { bucket: String, prefix: String, options: Vec<(String, String)> },
}

impl BackupPlace {
    /// `s3://bucket/prefix`; a folder (existing, or written with a trailing `/`); else a file.
    pub fn parse(raw: &str) -> anyhow::Result<Self> {
        if raw.is_empty() {
            bail!("a backup place is empty: give a file, a folder/ or s3://bucket/prefix");
        }
        if let Some(rest) = raw.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                bail!("{raw:?} needs a bucket: s3://bucket/prefix");
            }
            let prefix = prefix.trim_matches('/').to_owned();
            return Ok(Self::S3 { bucket: bucket.to_owned(), prefix, options: Vec::new() });
        }
        let path = PathBuf::from(raw.strip_prefix("file://").unwrap_or(raw));
        if raw.ends_with('/') || path.is_dir() { Ok(Self::Folder(path)) } else { Ok(Self::File(path)) }
    }

    /// A place for scheduled backups: a folder or a bucket, where dated backups accumulate.
    pub fn parse_for_schedule(raw: &str) -> anyhow::Result<Self> {
        match Self::parse(raw)? {
            Self::File(path) => Ok(Self::Folder(path)),
            place => Ok(place),
        }
    }

    /// The place as safe to log.
    pub fn describe(&self) -> String {
        match self {
            Self::File(path) | Self::Folder(path) => path.display().to_string(),
            Self::S3 { bucket, prefix, .. } => format!("s3://{bucket}/{prefix}"),
        }
    }

    fn bucket(&self) -> anyhow::Result<Arc<dyn ObjectStore>> {
        let Self::S3 { bucket, prefix, options } = self else { bail!("not a bucket") };
        // Bounded: a bucket that is down fails the backup in seconds, and the schedule
        // tries again, instead of object_store's three minutes of retries.
        let retry = RetryConfig {
            backoff: BackoffConfig::default(),
            max_retries: 3,
            retry_timeout: Duration::from_secs(30),
        };
        let prefix = if prefix.ends_with(NAME_SUFFIX) { "" } else { prefix.as_str() };
        Ok(crate::posters::s3_bucket(bucket, prefix, options, Some(retry))?.0)
    }
}

/// A new dated name, from the time now.
pub fn dated_name() -> String {
    format!("{NAME_PREFIX}{}{NAME_SUFFIX}", chrono::Utc::now().format("%Y%m%dT%H%M%S%.3fZ"))
}

fn is_dated(name: &str) -> bool {
    name.starts_with(NAME_PREFIX) && name.ends_with(NAME_SUFFIX)
}

/// Where a snapshot is written first: the file itself for file and folder places; for a
/// bucket, a hidden file in `staging` (the data dir), uploaded and then removed.
pub fn local_destination(place: &BackupPlace, staging: &Path) -> anyhow::Result<PathBuf> {
    match place {
        BackupPlace::File(path) => {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            }
            Ok(path.clone())
        }
        BackupPlace::Folder(dir) => {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            Ok(dir.join(dated_name()))
        }
        BackupPlace::S3 { .. } => Ok(staging.join(format!(".upload-{}", dated_name()))),
    }
}

/// Sends a snapshot written by [`local_destination`] to its place; gives where it is.
pub async fn deliver(place: &BackupPlace, local: &Path) -> anyhow::Result<String> {
    let BackupPlace::S3 { bucket, prefix, .. } = place else {
        return Ok(local.display().to_string());
    };
    let name = local
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.strip_prefix(".upload-"))
        .context("a staged backup's name")?
        .to_owned();
    let result = upload(place, local, &name).await;
    let _ = tokio::fs::remove_file(local).await;
    result?;
    Ok(format!("s3://{bucket}/{}", if prefix.is_empty() { name } else { format!("{prefix}/{name}") }))
}

async fn upload(place: &BackupPlace, local: &Path, name: &str) -> anyhow::Result<()> {
    let store = place.bucket()?;
    let key = ObjectPath::from(name);
    let upload = store.put_multipart(&key).await.with_context(|| format!("starting the upload of {name}"))?;
    let mut writer = WriteMultipart::new(upload);
    let mut file = tokio::fs::File::open(local).await?;
    let mut chunk = vec![0; 8 << 20];
    let sent: anyhow::Result<()> = async {
        loop {
            let read = file.read(&mut chunk).await?;
            if read == 0 {
                return Ok(());
            }
            writer.wait_for_capacity(4).await?;
            writer.write(&chunk[..read]);
        }
    }
    .await;
    match sent {
        Ok(()) => {
            writer.finish().await.with_context(|| format!("uploading {name}"))?;
            Ok(())
        }
        Err(e) => {
            let _ = writer.abort().await;
            Err(e).with_context(|| format!("uploading {name}"))
        }
    }
}

/// Keeps the `keep` newest dated backups of a folder or bucket, removing older ones.
pub async fn prune(place: &BackupPlace, keep: usize) -> anyhow::Result<usize> {
    let mut names = list(place).await?;
    if names.len() <= keep {
        return Ok(0);
    }
    names.sort();
    let old = names.len() - keep;
    for name in &names[..old] {
        match place {
            BackupPlace::Folder(dir) => std::fs::remove_file(dir.join(name))
                .with_context(|| format!("removing the old backup {name}"))?,
            BackupPlace::S3 { .. } => place
                .bucket()?
                .delete(&ObjectPath::from(name.as_str()))
                .await
                .with_context(|| format!("removing the old backup {name}"))?,
            BackupPlace::File(_) => {}
        }
    }
    Ok(old)
}

/// The dated backups of a folder or bucket, by name.
async fn list(place: &BackupPlace) -> anyhow::Result<Vec<String>> {
    match place {
        BackupPlace::File(_) => Ok(Vec::new()),
        BackupPlace::Folder(dir) => {
            let mut names = Vec::new();
            for entry in std::fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))? {
                let name = entry?.file_name().to_string_lossy().into_owned();
                if is_dated(&name) {
                    names.push(name);
                }
            }
            Ok(names)
        }
        BackupPlace::S3 { .. } => {
            let store = place.bucket()?;
            let mut names = Vec::new();
            let mut listing = store.list(None);
            while let Some(object) = listing.next().await {
                let object = object.context("listing the backups")?;
                // Only the prefix's own backups, not those of a deeper prefix.
                if let Some(name) = object.location.filename().filter(|n| is_dated(n))
                    && object.location.parts().count() == 1
                {
                    names.push(name.to_owned());
                }
            }
            Ok(names)
        }
    }
}

/// Fetches the backup a place names (a file, the newest of a folder or bucket, or the
/// bucket's object named `….sqlite`) into `to`, synced; gives what was fetched.
pub async fn fetch(place: &BackupPlace, to: &Path) -> anyhow::Result<String> {
    let newest = |mut names: Vec<String>| {
        names.sort();
        names.pop().with_context(|| format!("no backups (tickitecking-*.sqlite) in {}", place.describe()))
    };
    match place {
        BackupPlace::File(path) => {
            tokio::fs::copy(path, to).await.with_context(|| format!("reading {}", path.display()))?;
            sync(to).await?;
            Ok(path.display().to_string())
        }
        BackupPlace::Folder(dir) => {
            let name = newest(list(place).await?)?;
            tokio::fs::copy(dir.join(&name), to).await.with_context(|| format!("reading {name}"))?;
            sync(to).await?;
            Ok(dir.join(name).display().to_string())
        }
        BackupPlace::S3 { bucket, prefix, .. } => {
            let (name, shown) = if prefix.ends_with(NAME_SUFFIX) {
                (prefix.clone(), format!("s3://{bucket}/{prefix}"))
            } else {
                let name = newest(list(place).await?)?;
                let shown =
                    format!("s3://{bucket}/{}", [prefix.as_str(), &name].join("/").trim_start_matches('/'));
                (name, shown)
            };
            let store = place.bucket()?;
            let mut stream = store
                .get(&ObjectPath::from(name.as_str()))
                .await
                .with_context(|| format!("reading {shown}"))?
                .into_stream();
            let mut file = tokio::fs::File::create(to).await?;
            while let Some(bytes) = stream.next().await {
                file.write_all(&bytes.with_context(|| format!("reading {shown}"))?).await?;
            }
            file.sync_all().await?;
            Ok(shown)
        }
    }
}

async fn sync(path: &Path) -> anyhow::Result<()> {
    tokio::fs::File::open(path).await?.sync_all().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn places_are_files_folders_or_buckets() {
        let dir = tempfile::tempdir().unwrap();
        let existing = dir.path().display().to_string();
        assert_eq!(BackupPlace::parse(&existing).unwrap(), BackupPlace::Folder(dir.path().into()));
        assert_eq!(BackupPlace::parse("/srv/backups/").unwrap(), BackupPlace::Folder("/srv/backups/".into()));
        assert_eq!(BackupPlace::parse("/srv/b.sqlite").unwrap(), BackupPlace::File("/srv/b.sqlite".into()));
        assert_eq!(BackupPlace::parse_for_schedule("/srv/b").unwrap(), BackupPlace::Folder("/srv/b".into()));
        assert_eq!(
            BackupPlace::parse("s3://keep/site/db/").unwrap(),
            BackupPlace::S3 { bucket: "keep".into(), prefix: "site/db".into(), options: Vec::new() }
        );
        assert!(BackupPlace::parse("s3:///db").is_err());
        assert!(BackupPlace::parse("").is_err());
    }

    #[test]
    fn dated_names_sort_by_time() {
        let first = dated_name();
        std::thread::sleep(Duration::from_millis(5));
        let second = dated_name();
        assert!(is_dated(&first) && first < second, "{first} {second}");
    }
}
