//! The waiting room in storage: who joined a room, at which place and when, who was let
//! in, the room's pace, and the lease that lets one instance tick at a time. The fast
//! state (positions) lives in the process or in Redis; this is what it is rebuilt from.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{ColumnIndex, Encode, Executor, IntoArguments, Type};

use super::StoreError;
use super::sql::{Args, Backend, Column, Conn, RowOf};
use crate::domain::venue::WaitingRoom;

/// Who ended a room.
pub const ENDED_BY_OWNER: &str = "OWNER";
/// A room that ended because its concert sold out.
pub const ENDED_BY_SELLING_OUT: &str = "SOLD_OUT";

/// A concert's room: its settings, and its life so far (`seed` `None`: nobody joined yet).
#[derive(Debug, Clone, PartialEq)]
pub struct RoomRecord {
    pub concert_id: i64,
    pub owner_id: i64,
    pub settings: WaitingRoom,
    pub sales_open_at: DateTime<Utc>,
    pub start_time: DateTime<Utc>,
    pub seed: Option<String>,
    pub paused: bool,
    /// When and why it ended (`OWNER`, `SOLD_OUT`).
    pub ended: Option<(DateTime<Utc>, String)>,
    /// Fans let in so far, when the ticker last ticked, and the fraction of a fan it owes.
    pub admitted: i64,
    pub ticked_at: Option<DateTime<Utc>>,
    pub carry: f64,
}

/// A fan's place in a room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EntryRecord {
    pub user_id: i64,
    pub place: i64,
    pub joined_at: DateTime<Utc>,
    pub admitted_at: Option<DateTime<Utc>>,
}

/// One tick of a room's ticker, kept with the fans it let in.
#[derive(Debug, Clone)]
pub struct Tick<'a> {
    pub concert_id: i64,
    pub at: DateTime<Utc>,
    pub admitted: &'a [i64],
    /// The room's total after the tick, and what it owes the next.
    pub admitted_total: i64,
    pub carry: f64,
}

/// A change of a room by its owner.
#[derive(Debug, Clone, Default)]
pub struct RoomChange {
    pub admit_per_minute: Option<i64>,
    pub paused: Option<bool>,
    /// Ends the room (by `ENDED_BY_OWNER` or `ENDED_BY_SELLING_OUT`) at this time.
    pub end: Option<(DateTime<Utc>, &'static str)>,
}

/// The waiting rooms as the service keeps them.
#[async_trait]
pub trait QueueStore {
    /// Every live concert's room whose concert has not started by `now`.
    async fn rooms(&self, now: DateTime<Utc>) -> Result<Vec<RoomRecord>, StoreError>;
    /// A live concert's room; `None` if the concert has none (or is gone).
    async fn room(&self, concert_id: i64) -> Result<Option<RoomRecord>, StoreError>;
    /// Starts a room's life with `seed` unless it started already: the seed it has.
    async fn start_room(&self, concert_id: i64, seed: &str) -> Result<String, StoreError>;
    /// Keeps fans' places, those kept already unchanged; in one transaction.
    async fn join_many(&self, concert_id: i64, entries: &[EntryRecord]) -> Result<(), StoreError>;
    /// Every place of a room, in no particular order.
    async fn entries(&self, concert_id: i64) -> Result<Vec<EntryRecord>, StoreError>;
    /// Marks the fans a tick let in and the room's pace, in one transaction.
    async fn tick(&self, tick: &Tick<'_>) -> Result<(), StoreError>;
    /// Changes a started room; `NotFound` if the concert has no room.
    async fn change_room(&self, concert_id: i64, change: &RoomChange) -> Result<(), StoreError>;
    /// Takes (or keeps) the ticker's lease for `holder` until `until`, unless another
    /// holder's lease is current at `now`: whether `holder` has it.
    async fn take_lease(
        &self,
        holder: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<bool, StoreError>;
    /// The fans let in since `since`, by when: `(when, how many)`.
    async fn admitted_since(
        &self,
        concert_id: i64,
        since: DateTime<Utc>,
    ) -> Result<Vec<(DateTime<Utc>, i64)>, StoreError>;
    /// Whether a concert has no seat or standing place left to sell.
    async fn sold_out(&self, concert_id: i64) -> Result<bool, StoreError>;
}

type RoomRow = (
    i64,
    i64,
    DateTime<Utc>,
    i64,
    i64,
    DateTime<Utc>,
    DateTime<Utc>,
    Option<String>,
    Option<bool>,
    Option<DateTime<Utc>>,
    Option<String>,
    Option<i64>,
    Option<DateTime<Utc>>,
    Option<f64>,
);

const ROOM_COLUMNS: &str = "c.id, c.owner_id, c.room_opens_at, c.room_admit_per_minute, c.room_pass_minutes,
     c.sales_open_at, c.start_time, q.seed, q.paused, q.ended_at, q.ended_by, q.admitted, q.ticked_at, q.carry
     FROM concerts c LEFT JOIN queue_rooms q ON q.concert_id = c.id
     WHERE c.deleted_at IS NULL AND c.room_opens_at IS NOT NULL";

fn room_record(row: RoomRow) -> RoomRecord {
    let (concert_id, owner_id, opens_at, admit_per_minute, pass_minutes, sales_open_at, start_time, seed) =
        (row.0, row.1, row.2, row.3, row.4, row.5, row.6, row.7);
    RoomRecord {
        concert_id,
        owner_id,
        settings: WaitingRoom { opens_at, admit_per_minute, pass_minutes },
        sales_open_at,
        start_time,
        seed,
        paused: row.8.unwrap_or(false),
        ended: row.9.zip(row.10),
        admitted: row.11.unwrap_or(0),
        ticked_at: row.12,
        carry: row.13.unwrap_or(0.0),
    }
}

/// Fans kept by one statement at most (five parameters each).
const ENTRIES_PER_STATEMENT: usize = 400;

#[async_trait]
impl<B> QueueStore for B
where
    B: Backend,
    for<'c> &'c mut Conn<B>: Executor<'c, Database = B::DB>,
    for<'q> Args<'q, B>: IntoArguments<'q, B::DB>,
    for<'r> &'r str: ColumnIndex<RowOf<B>>,
    usize: ColumnIndex<RowOf<B>>,
    for<'q> &'q str: Encode<'q, B::DB> + Type<B::DB>,
    i64: Column<B::DB>,
    f64: Column<B::DB>,
    bool: Column<B::DB>,
    Option<i64>: Column<B::DB>,
    Option<f64>: Column<B::DB>,
    Option<bool>: Column<B::DB>,
    String: Column<B::DB>,
    Option<String>: Column<B::DB>,
    DateTime<Utc>: Column<B::DB>,
    Option<DateTime<Utc>>: Column<B::DB>,
{
    async fn rooms(&self, now: DateTime<Utc>) -> Result<Vec<RoomRecord>, StoreError> {
        let rows: Vec<RoomRow> =
            sqlx::query_as(&format!("SELECT {ROOM_COLUMNS} AND c.start_time > $1 ORDER BY c.id"))
                .bind(now)
                .fetch_all(self.fresh())
                .await?;
        Ok(rows.into_iter().map(room_record).collect())
    }

    async fn room(&self, concert_id: i64) -> Result<Option<RoomRecord>, StoreError> {
        let row: Option<RoomRow> = sqlx::query_as(&format!("SELECT {ROOM_COLUMNS} AND c.id = $1"))
            .bind(concert_id)
            .fetch_optional(self.fresh())
            .await?;
        Ok(row.map(room_record))
    }

    async fn start_room(&self, concert_id: i64, seed: &str) -> Result<String, StoreError> {
        let mut tx = self.begin().await?;
        sqlx::query("INSERT INTO queue_rooms (concert_id, seed) VALUES ($1, $2) ON CONFLICT DO NOTHING")
            .bind(concert_id)
            .bind(seed)
            .execute(&mut *tx)
            .await?;
        let seed: String = sqlx::query_scalar("SELECT seed FROM queue_rooms WHERE concert_id = $1")
            .bind(concert_id)
            .fetch_one(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(seed)
    }

    async fn join_many(&self, concert_id: i64, entries: &[EntryRecord]) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        for chunk in entries.chunks(ENTRIES_PER_STATEMENT) {
            let values: Vec<String> = (0..chunk.len())
                .map(|i| {
                    let n = 4 * i + 2;
                    format!("($1, ${}, ${}, ${}, ${})", n, n + 1, n + 2, n + 3)
                })
                .collect();
            let sql = format!(
                "INSERT INTO queue_entries (concert_id, user_id, place, joined_at, admitted_at) VALUES {}
                 ON CONFLICT DO NOTHING",
                values.join(", ")
            );
            // Each length of chunk is a statement of its own: prepared for this batch only,
            // not kept by the connection (hundreds of shapes would each stay prepared).
            let mut query = sqlx::query(&sql).persistent(false).bind(concert_id);
            for entry in chunk {
                query =
                    query.bind(entry.user_id).bind(entry.place).bind(entry.joined_at).bind(entry.admitted_at);
            }
            query.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn entries(&self, concert_id: i64) -> Result<Vec<EntryRecord>, StoreError> {
        let rows: Vec<(i64, i64, DateTime<Utc>, Option<DateTime<Utc>>)> = sqlx::query_as(
            "SELECT user_id, place, joined_at, admitted_at FROM queue_entries WHERE concert_id = $1",
        )
        .bind(concert_id)
        .fetch_all(self.fresh())
        .await?;
        Ok(rows
            .into_iter()
            .map(|(user_id, place, joined_at, admitted_at)| EntryRecord {
                user_id,
                place,
                joined_at,
                admitted_at,
            })
            .collect())
    }

    async fn tick(&self, tick: &Tick<'_>) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        for chunk in tick.admitted.chunks(ENTRIES_PER_STATEMENT) {
            let list: Vec<String> = (0..chunk.len()).map(|i| format!("${}", i + 3)).collect();
            let sql = format!(
                "UPDATE queue_entries SET admitted_at = $2
                 WHERE concert_id = $1 AND admitted_at IS NULL AND user_id IN ({})",
                list.join(", ")
            );
            let mut query = sqlx::query(&sql).persistent(false).bind(tick.concert_id).bind(tick.at);
            for user in chunk {
                query = query.bind(*user);
            }
            query.execute(&mut *tx).await?;
        }
        sqlx::query("UPDATE queue_rooms SET admitted = $2, ticked_at = $3, carry = $4 WHERE concert_id = $1")
            .bind(tick.concert_id)
            .bind(tick.admitted_total)
            .bind(tick.at)
            .bind(tick.carry)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn change_room(&self, concert_id: i64, change: &RoomChange) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        if let Some(rate) = change.admit_per_minute {
            let changed: Option<i64> = sqlx::query_scalar(
                "UPDATE concerts SET room_admit_per_minute = $2
                 WHERE id = $1 AND deleted_at IS NULL AND room_opens_at IS NOT NULL RETURNING id",
            )
            .bind(concert_id)
            .bind(rate)
            .fetch_optional(&mut *tx)
            .await?;
            changed.ok_or(StoreError::NotFound)?;
        }
        let (ended_at, ended_by) = change.end.map_or((None, None), |(at, by)| (Some(at), Some(by)));
        let changed: Option<i64> = sqlx::query_scalar(
            "UPDATE queue_rooms SET paused = coalesce($2, paused),
                                    ended_by = coalesce(ended_by, $3), ended_at = coalesce(ended_at, $4)
             WHERE concert_id = $1 RETURNING concert_id",
        )
        .bind(concert_id)
        .bind(change.paused)
        .bind(ended_by.map(str::to_owned))
        .bind(ended_at)
        .fetch_optional(&mut *tx)
        .await?;
        changed.ok_or(StoreError::NotFound)?;
        tx.commit().await?;
        Ok(())
    }

    async fn take_lease(
        &self,
        holder: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let taken: Option<String> = sqlx::query_scalar(
            "INSERT INTO queue_ticker (id, holder, lease_until) VALUES (1, $1, $3)
             ON CONFLICT (id) DO UPDATE SET holder = excluded.holder, lease_until = excluded.lease_until
             WHERE queue_ticker.holder = excluded.holder OR queue_ticker.lease_until <= $2
             RETURNING holder",
        )
        .bind(holder)
        .bind(now)
        .bind(until)
        .fetch_optional(&*self.write().await?)
        .await?;
        Ok(taken.is_some())
    }

    async fn admitted_since(
        &self,
        concert_id: i64,
        since: DateTime<Utc>,
    ) -> Result<Vec<(DateTime<Utc>, i64)>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT admitted_at, count(*) FROM queue_entries WHERE concert_id = $1 AND admitted_at > $2
             GROUP BY admitted_at ORDER BY admitted_at",
        )
        .bind(concert_id)
        .bind(since)
        .fetch_all(self.fresh())
        .await?)
    }

    async fn sold_out(&self, concert_id: i64) -> Result<bool, StoreError> {
        let available: Option<i64> =
            sqlx::query_scalar("SELECT 1 FROM seats WHERE concert_id = $1 AND status = 'AVAILABLE' LIMIT 1")
                .bind(concert_id)
                .fetch_optional(self.fresh())
                .await?;
        Ok(available.is_none())
    }
}
