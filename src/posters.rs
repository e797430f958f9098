//! Poster files in an object store: a local folder by default, S3 or an S3-compatible
//! server (MinIO, …) in a scaled-out deployment.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use axum::body::Bytes;
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::prefix::PrefixStore;
use object_store::{ObjectStore, PutPayload, RetryConfig};

/// Where poster files live.
#[derive(Debug, Clone)]
pub struct PosterStore {
    store: Arc<dyn ObjectStore>,
    /// For the start-up log line.
    pub description: String,
}

impl PosterStore {
    /// Posters in a local folder (created if missing).
    pub fn local(dir: &Path) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let store =
            LocalFileSystem::new_with_prefix(dir).with_context(|| format!("opening {}", dir.display()))?;
        Ok(Self { store: Arc::new(store), description: format!("local folder {}", dir.display()) })
    }

    /// Posters in an S3 bucket under `prefix`, configured by the `AWS_*` variables and
    /// then `options` (object_store's S3 configuration keys).
    pub fn s3(bucket: &str, prefix: &str, options: &[(String, String)]) -> anyhow::Result<Self> {
        let (store, description) = s3_bucket(bucket, prefix, options, None)?;
        Ok(Self { store, description })
    }

    /// Stores a file under `key`.
    pub async fn put(&self, key: &str, content: Bytes) -> anyhow::Result<()> {
        self.store
            .put(&ObjectPath::from(key), PutPayload::from(content))
            .await
            .with_context(|| format!("storing {key}"))?;
        Ok(())
    }

    /// The file under `key`, or `None` when there is none.
    pub async fn get(&self, key: &str) -> anyhow::Result<Option<Bytes>> {
        match self.store.get(&ObjectPath::from(key)).await {
            Ok(result) => Ok(Some(result.bytes().await.with_context(|| format!("reading {key}"))?)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e).with_context(|| format!("reading {key}")),
        }
    }
}

/// An S3 bucket (under `prefix`), configured by the `AWS_*` variables and then `options`
/// (object_store's S3 configuration keys), with a description of where it is; `retry`
/// replaces object_store's retries (ten, for up to three minutes). Shared by posters and
/// backups.
pub fn s3_bucket(
    bucket: &str,
    prefix: &str,
    options: &[(String, String)],
    retry: Option<RetryConfig>,
) -> anyhow::Result<(Arc<dyn ObjectStore>, String)> {
    let mut builder = AmazonS3Builder::from_env().with_bucket_name(bucket);
    for (key, value) in options {
        let key: AmazonS3ConfigKey = key.parse().with_context(|| format!("S3 option {key}"))?;
        builder = builder.with_config(key, value);
    }
    // A plain-http endpoint is an S3-compatible server on a private network (or a
    // test): allowed because it was configured explicitly.
    let endpoint = builder.get_config_value(&AmazonS3ConfigKey::Endpoint);
    if endpoint.as_deref().is_some_and(|e| e.starts_with("http://")) {
        builder = builder.with_allow_http(true);
    }
    if let Some(retry) = retry {
        builder = builder.with_retry(retry);
    }
    let s3 = builder.build().with_context(|| format!("configuring S3 bucket {bucket}"))?;
    let location = match &endpoint {
        Some(endpoint) => format!("s3://{bucket}/{prefix} at {endpoint}"),
        None => format!("s3://{bucket}/{prefix}"),
    };
    let store: Arc<dyn ObjectStore> =
        if prefix.is_empty() { Arc::new(s3) } else { Arc::new(PrefixStore::new(s3, prefix)) };
    Ok((store, location))
}

/// Where the API serves a stored poster.
pub fn public_path(key: &str) -> String {
    format!("/api/v1/images/{key}")
}
