//! Poster files in an object store: a local folder by default.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use axum::body::Bytes;
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, PutPayload};

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
