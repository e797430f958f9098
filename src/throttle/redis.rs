//! The limiter shared by every instance: the same GCRA as [`super::MemoryLimiter`], one
//! Redis key per limited key holding when its allowance is whole again, updated by one Lua
//! script so that two instances counting at once cannot both take the last slot. Times
//! come from Redis's own clock, so instances with drifting clocks still agree.

use std::time::Duration;

use ::redis::Script;
use async_trait::async_trait;

use super::{Decision, Rate, RateLimiter};
use crate::shared_state::SharedState;

/// `KEYS[1]`: the key; `ARGV[1]`: the interval one event uses up, `ARGV[2]`: how far ahead
/// the allowance may be spent (both in microseconds). Returns -1 when allowed, else the
/// microseconds until trying again is worth it.
const HIT: &str = r"
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local full_at = tonumber(redis.call('GET', KEYS[1]) or now)
if full_at < now then full_at = now end
if full_at - now > tolerance then
    return full_at - now - tolerance
end
local later = full_at + interval
redis.call('SET', KEYS[1], string.format('%d', later), 'PX', math.ceil((later - now) / 1000) + 1)
return -1
";

/// Rate limits counted in Redis, for every instance of a deployment at once.
pub struct RedisLimiter {
    redis: SharedState,
    hit: Script,
}

impl RedisLimiter {
    pub fn new(redis: SharedState) -> Self {
        Self { redis, hit: Script::new(HIT) }
    }
}

#[async_trait]
impl RateLimiter for RedisLimiter {
    async fn hit(&self, key: &str, rate: Rate) -> anyhow::Result<Decision> {
        if rate.is_off() {
            return Ok(Decision::Allowed);
        }
        let micros = |d: Duration| u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        let mut invocation = self.hit.key(self.redis.key(&format!("rate:{key}")));
        invocation.arg(micros(rate.interval())).arg(micros(rate.period.saturating_sub(rate.interval())));
        let wait: i64 = self
            .redis
            .call("counting a rate limit", |mut c| async move { invocation.invoke_async(&mut c).await })
            .await?;
        Ok(match u64::try_from(wait) {
            Ok(wait) => Decision::Limited { retry_after: Duration::from_micros(wait) },
            Err(_) => Decision::Allowed,
        })
    }
}
