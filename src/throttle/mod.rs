//! Rate limits against brute force and abuse: logins per account and per client address,
//! signups per client address, bookings per user.
//!
//! The counting sits behind [`RateLimiter`]: [`MemoryLimiter`] counts in this process,
//! [`RedisLimiter`] in the Redis every instance behind a load balancer shares (chosen with
//! `REDIS_URL`); [`Throttle`] holds the configured rules and is what handlers call.

mod memory;
mod redis;

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;

pub use memory::MemoryLimiter;
pub use redis::RedisLimiter;

/// At most `count` events per `period`, with bursts up to `count` (GCRA: the allowance
/// refills evenly, one event every `period / count`). A count of zero means no limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub count: u32,
    pub period: Duration,
}

impl Rate {
    /// No limit at all.
    pub const OFF: Rate = Rate { count: 0, period: Duration::from_secs(1) };

    pub const fn new(count: u32, period: Duration) -> Self {
        Self { count, period }
    }

    pub fn is_off(&self) -> bool {
        self.count == 0
    }

    /// The time one event uses up of the allowance.
    pub fn interval(&self) -> Duration {
        self.period / self.count.max(1)
    }
}

impl FromStr for Rate {
    type Err = String;

    /// `10/5m` (ten per five minutes), `30/1m`, or `off` / `0` for no limit.
    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        if s.eq_ignore_ascii_case("off") || s == "0" {
            return Ok(Rate::OFF);
        }
        let (count, period) =
            s.split_once('/').ok_or_else(|| format!("{s:?}: expected COUNT/PERIOD like 10/5m, or off"))?;
        let count: u32 = count.trim().parse().map_err(|_| format!("{s:?}: {count:?} is not a count"))?;
        let period = humantime::parse_duration(period.trim()).map_err(|e| format!("{s:?}: {e}"))?;
        if count > 0 && period.is_zero() {
            return Err(format!("{s:?}: the period must be longer than zero"));
        }
        Ok(Rate { count, period })
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_off() {
            f.write_str("off")
        } else {
            write!(f, "{}/{}", self.count, humantime::format_duration(self.period))
        }
    }
}

/// The outcome of counting one event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allowed,
    /// Over the limit; the earliest time worth trying again.
    Limited {
        retry_after: Duration,
    },
}

/// Counts events per key against a rate. Keys of different rules never meet: callers
/// prefix them with the rule's name.
#[async_trait]
pub trait RateLimiter: Send + Sync {
    /// Counts one event for `key` if the rate allows it; a refused event is not counted,
    /// so a client that waits as told gets through.
    async fn hit(&self, key: &str, rate: Rate) -> anyhow::Result<Decision>;
}

/// The configured limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimits {
    /// Login attempts per account (whatever the address): slows password guessing
    /// against one account spread over many addresses.
    pub login_per_account: Rate,
    /// Login attempts per client address: slows one client trying many accounts.
    pub login_per_address: Rate,
    /// Signups per client address.
    pub signup_per_address: Rate,
    /// Booking attempts per user (single seats and orders alike).
    pub booking_per_user: Rate,
}

impl Default for RateLimits {
    /// The production defaults (also the flags' defaults).
    fn default() -> Self {
        RateLimits {
            login_per_account: Rate::new(10, Duration::from_secs(5 * 60)),
            login_per_address: Rate::new(60, Duration::from_secs(60)),
            signup_per_address: Rate::new(20, Duration::from_secs(3600)),
            booking_per_user: Rate::new(30, Duration::from_secs(60)),
        }
    }
}

impl RateLimits {
    /// No limits (tests and benchmarks that create thousands of fans from one address).
    pub const OFF: RateLimits = RateLimits {
        login_per_account: Rate::OFF,
        login_per_address: Rate::OFF,
        signup_per_address: Rate::OFF,
        booking_per_user: Rate::OFF,
    };
}

/// A refused event: answered with 429 and `Retry-After`.
#[derive(Debug, thiserror::Error)]
pub enum Throttled {
    #[error("too many {what}; retry in {} s", retry_after_secs(*.retry_after))]
    Limited { what: &'static str, retry_after: Duration },
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

/// Whole seconds to wait, rounded up, at least one (what `Retry-After` carries).
pub fn retry_after_secs(wait: Duration) -> u64 {
    wait.as_secs() + u64::from(wait.subsec_nanos() > 0).max(u64::from(wait.as_secs() == 0))
}

/// The rules, applied through a limiter.
pub struct Throttle {
    limiter: Box<dyn RateLimiter>,
    limits: RateLimits,
}

impl Throttle {
    pub fn new(limiter: Box<dyn RateLimiter>, limits: RateLimits) -> Self {
        Self { limiter, limits }
    }

    async fn check(&self, rule: &str, key: &str, rate: Rate, what: &'static str) -> Result<(), Throttled> {
        if rate.is_off() {
            return Ok(());
        }
        match self.limiter.hit(&format!("{rule}:{key}"), rate).await? {
            Decision::Allowed => Ok(()),
            Decision::Limited { retry_after } => {
                metrics::counter!("rate_limited_total", "rule" => rule.to_owned()).increment(1);
                Err(Throttled::Limited { what, retry_after })
            }
        }
    }

    /// A login attempt for `username` from `address`. The address is counted first, so
    /// one client spraying many accounts cannot use up their per-account allowances.
    pub async fn login(&self, username: &str, address: &str) -> Result<(), Throttled> {
        self.check(
            "login-address",
            address,
            self.limits.login_per_address,
            "login attempts from this address",
        )
        .await?;
        let account = username.trim().to_lowercase();
        self.check(
            "login-account",
            &account,
            self.limits.login_per_account,
            "login attempts for this account",
        )
        .await
    }

    /// A signup from `address`.
    pub async fn signup(&self, address: &str) -> Result<(), Throttled> {
        self.check("signup-address", address, self.limits.signup_per_address, "signups from this address")
            .await
    }

    /// A booking attempt by `user_id`.
    pub async fn booking(&self, user_id: i64) -> Result<(), Throttled> {
        self.check("booking-user", &user_id.to_string(), self.limits.booking_per_user, "booking attempts")
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_parse_counts_per_period_and_off() {
        assert_eq!("10/5m".parse::<Rate>().unwrap(), Rate::new(10, Duration::from_secs(300)));
        assert_eq!(" 30 / 1s ".parse::<Rate>().unwrap(), Rate::new(30, Duration::from_secs(1)));
        assert!("off".parse::<Rate>().unwrap().is_off());
        assert!("0".parse::<Rate>().unwrap().is_off());
        assert!("10".parse::<Rate>().is_err());
        assert!("x/1m".parse::<Rate>().is_err());
        assert!("5/0s".parse::<Rate>().is_err());
        assert_eq!(Rate::new(10, Duration::from_secs(300)).to_string(), "10/5m");
    }

    #[test]
    fn retry_after_rounds_up_to_whole_seconds_and_is_never_zero() {
        assert_eq!(retry_after_secs(Duration::from_millis(1)), 1);
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(1500)), 2);
        assert_eq!(retry_after_secs(Duration::from_secs(3)), 3);
    }
}
