//! The Redis connection behind the shared seat gate, token revocations and caches of a
//! scaled-out deployment (`REDIS_URL`).
//!
//! One reconnecting connection per process, multiplexed by every request. Calls are bounded
//! by short timeouts so that, with Redis gone, a request that needs it fails at once with a
//! 503 instead of waiting; the connection manager reconnects in the background, so the
//! service recovers by itself when Redis is back. Pub/sub, which needs a connection of its
//! own, gets one per subscription ([`SharedState::subscribe`]).

use std::future::Future;
use std::time::Duration;

use anyhow::Context;
use redis::aio::{ConnectionManager, ConnectionManagerConfig, PubSubSink, PubSubStream};

/// Longest a Redis call may take before the request that needs it gives up.
const CALL_TIMEOUT: Duration = Duration::from_millis(1500);

/// Redis could not answer: the request that needed it is answered 503, not 500.
#[derive(Debug, thiserror::Error)]
#[error("Redis unavailable: {0}")]
pub struct RedisUnavailable(pub String);

/// A handle on the shared Redis, with the key prefix of this deployment.
#[derive(Clone)]
pub struct SharedState {
    /// Opens the connections of their own that subscriptions need.
    client: redis::Client,
    connection: ConnectionManager,
    prefix: String,
    /// The URL without credentials, for logs and `/ready`.
    pub description: String,
}

impl SharedState {
    /// Connects to `url`; every key this deployment uses starts with `prefix`, so several
    /// deployments (or test runs) can share one Redis.
    pub async fn connect(url: &str, prefix: &str) -> anyhow::Result<Self> {
        let client = redis::Client::open(url).context("parsing REDIS_URL")?;
        let info = client.get_connection_info();
        let description = format!("redis {}", info.addr());
        // Few, quick reconnection attempts: a command issued while reconnecting waits for
        // them, and with Redis down it must fail fast. Every later command starts a new
        // attempt, so recovery needs no restart.
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_millis(500)))
            .set_response_timeout(Some(Duration::from_millis(1000)))
            .set_number_of_retries(1)
            .set_min_delay(Duration::from_millis(50))
            .set_max_delay(Duration::from_millis(200));
        let pubsub = client.clone();
        let connection =
            tokio::time::timeout(Duration::from_secs(5), ConnectionManager::new_with_config(client, config))
                .await
                .map_err(|_| anyhow::anyhow!("connecting to {description}: timed out"))?
                .with_context(|| format!("connecting to {description}"))?;
        Ok(Self { client: pubsub, connection, prefix: prefix.to_owned(), description })
    }

    /// The full name of a key of this deployment.
    pub fn key(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    /// The key prefix of this deployment.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Runs one Redis call on the shared connection, bounded by [`CALL_TIMEOUT`]. Lost
    /// connections and timeouts become [`RedisUnavailable`].
    pub async fn call<T, F, Fut>(&self, what: &'static str, call: F) -> anyhow::Result<T>
    where
        F: FnOnce(ConnectionManager) -> Fut,
        Fut: Future<Output = redis::RedisResult<T>>,
    {
        bounded(what, call(self.connection.clone())).await
    }

    /// Opens a connection of its own subscribed to `channel` (a subscribed connection can
    /// do nothing else), bounded and failing like [`SharedState::call`]. The stream ends
    /// when the connection drops; the sink can ping it.
    pub async fn subscribe(&self, channel: &str) -> anyhow::Result<(PubSubSink, PubSubStream)> {
        bounded("subscribing", async {
            let (mut sink, stream) = self.client.get_async_pubsub().await?.split();
            sink.subscribe(channel).await?;
            Ok((sink, stream))
        })
        .await
    }

    /// Takes (or takes over) the lease `key` for `lease`, so that a loader's later writes
    /// can check in Lua that no one cancelled or took over its load; returns the lease token.
    pub async fn take_lease(
        &self,
        what: &'static str,
        key: String,
        lease: Duration,
    ) -> anyhow::Result<String> {
        let token = uuid::Uuid::new_v4().to_string();
        let value = token.clone();
        let millis = u64::try_from(lease.as_millis()).unwrap_or(u64::MAX);
        self.call(what, |mut c| async move {
            redis::cmd("SET").arg(key).arg(value).arg("PX").arg(millis).query_async::<()>(&mut c).await
        })
        .await?;
        Ok(token)
    }

    /// Whether Redis answers a `PING`.
    pub async fn ping(&self) -> anyhow::Result<()> {
        self.call("ping", |mut c| async move { redis::cmd("PING").query_async::<String>(&mut c).await })
            .await
            .map(drop)
    }
}

/// Awaits `call` for at most [`CALL_TIMEOUT`]; lost connections and timeouts become
/// [`RedisUnavailable`].
async fn bounded<T>(
    what: &'static str,
    call: impl Future<Output = redis::RedisResult<T>>,
) -> anyhow::Result<T> {
    let unavailable = |why: String| {
        metrics::counter!("redis_unavailable_total").increment(1);
        Err(RedisUnavailable(format!("{what}: {why}")).into())
    };
    match tokio::time::timeout(CALL_TIMEOUT, call).await {
        Err(_) => unavailable(format!("no answer within {CALL_TIMEOUT:?}")),
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) if unreachable(&e) => unavailable(e.to_string()),
        Ok(Err(e)) => Err(anyhow::Error::new(e).context(what)),
    }
}

/// Whether an error means Redis is out of reach (rather than a bad command).
fn unreachable(e: &redis::RedisError) -> bool {
    e.is_io_error()
        || e.is_timeout()
        || e.is_connection_refusal()
        || e.is_connection_dropped()
        || e.is_unrecoverable_error()
        // Still loading its data after a restart, or a replica cut off from its primary.
        || matches!(e.code(), Some("LOADING" | "MASTERDOWN" | "TRYAGAIN" | "CLUSTERDOWN"))
}

/// Whether `e` (anywhere in its chain) says Redis was unavailable.
pub fn is_unavailable(e: &anyhow::Error) -> bool {
    e.chain().any(|cause| cause.is::<RedisUnavailable>())
}
