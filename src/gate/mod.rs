//! The seat gate: a fast answer to "is this seat surely taken?" in front of the database.
//!
//! During an on-sale, almost every attempt is for a seat that is already gone. The gate
//! turns those away without touching the database. It may only ever say "surely taken"
//! (or "surely locked"); "maybe free" sends the request on to the database, which decides.
//! So a gate that lost its state, or never had it, costs speed but never correctness.
//!
//! [`MemoryGate`] serves one process; [`RedisGate`] is shared by every instance of a
//! scaled-out deployment.

mod memory;
mod redis;

use async_trait::async_trait;

pub use self::memory::MemoryGate;
pub use self::redis::RedisGate;

use crate::domain::booking::{SeatRef, StandingRef};
use crate::domain::sections::SectionName;
use crate::domain::venue::SeatStatus;

/// The fast check in front of booking.
#[async_trait]
pub trait SeatGate: Send + Sync {
    /// The seats of `seats` that are surely not bookable now, with their status.
    async fn refused(&self, concert_id: i64, seats: &[SeatRef])
    -> anyhow::Result<Vec<(SeatRef, SeatStatus)>>;
    /// The standing sections of `wanted` that surely have fewer places left than wanted:
    /// `(section, places left)`. A gate that does not count places says none.
    async fn sold_out(
        &self,
        _concert_id: i64,
        _wanted: &[StandingRef],
    ) -> anyhow::Result<Vec<(SectionName, i64)>> {
        Ok(Vec::new())
    }
    /// Records the status of seats as of `version` of the concert's seat map (from a
    /// committed change). Older news than what a seat already shows is ignored.
    async fn record(
        &self,
        concert_id: i64,
        version: i64,
        seats: &[(SeatRef, SeatStatus)],
    ) -> anyhow::Result<()>;
    /// Forgets what it knows of a concert (it reloads from the database when asked).
    async fn forget(&self, concert_id: Option<i64>) -> anyhow::Result<()>;
}
