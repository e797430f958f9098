//! The lines in Redis, shared by every instance.

use async_trait::async_trait;

use super::{Counts, Joined, LineError, LineKey, Lines, Standing};
use crate::shared_state::SharedState;
use crate::store::EntryRecord;

/// Every room's line, in the shared Redis.
pub struct RedisLines {
    #[allow(dead_code)]
    redis: SharedState,
}

impl RedisLines {
    pub fn new(redis: SharedState) -> Self {
        Self { redis }
    }
}

#[async_trait]
impl Lines for RedisLines {
    async fn join(&self, _: LineKey, _: i64, _: u64, _: i64) -> Result<Joined, LineError> {
        Err(anyhow::anyhow!("unbuilt").into())
    }
    async fn standing(&self, _: LineKey, _: i64, _: i64) -> Result<Option<Standing>, LineError> {
        Err(anyhow::anyhow!("unbuilt").into())
    }
    async fn admit(&self, _: LineKey, _: u64, _: i64) -> Result<Vec<i64>, LineError> {
        Err(anyhow::anyhow!("unbuilt").into())
    }
    async fn counts(&self, _: LineKey) -> Result<Counts, LineError> {
        Err(anyhow::anyhow!("unbuilt").into())
    }
    async fn load(&self, _: LineKey, _: Vec<EntryRecord>) -> anyhow::Result<()> {
        Err(anyhow::anyhow!("unbuilt"))
    }
    async fn forget(&self, _: i64) -> anyhow::Result<()> {
        Err(anyhow::anyhow!("unbuilt"))
    }
}
