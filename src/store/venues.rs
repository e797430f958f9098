//! Auditoriums (venues), concerts, seats and posters in storage.

mod auditoriums;
mod concerts;
mod sql;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{StoreError, letter};
use crate::domain::venue::{AuditoriumSpec, ConcertSpec, Letter, Price, SeatStatus};

/// A live auditorium with its owner's names.
#[derive(Debug, Clone)]
pub struct AuditoriumRecord {
    pub id: i64,
    pub name: String,
    pub address: String,
    pub max_row: Letter,
    pub max_column: u8,
    pub owner_id: i64,
    pub owner_username: String,
    pub owner_nickname: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A live concert with its venue and prices.
#[derive(Debug, Clone)]
pub struct ConcertRecord {
    pub id: i64,
    pub name: String,
    pub description: String,
    pub start_time: DateTime<Utc>,
    pub owner_id: i64,
    pub max_seats_per_fan: i64,
    pub poster_key: Option<String>,
    pub auditorium: AuditoriumRecord,
    /// By grade.
    pub prices: Vec<(Letter, Price)>,
    pub created_at: DateTime<Utc>,
}

/// One line of the concert list.
#[derive(Debug, Clone)]
pub struct ConcertSummary {
    pub id: i64,
    pub name: String,
    pub poster_key: Option<String>,
    pub start_time: DateTime<Utc>,
    /// The promoter's nickname, or username when they have none.
    pub writer: String,
    pub auditorium_name: String,
}

/// One row of a seat map.
#[derive(Debug, Clone, PartialEq)]
pub struct SeatRow {
    pub horizontal: Letter,
    pub grade: Letter,
    pub price: Price,
    /// `(column, status)` of each seat of the row.
    pub seats: Vec<(usize, SeatStatus)>,
}

/// Every seat of a concert, read in one snapshot with the map's version.
#[derive(Debug, Clone, PartialEq)]
pub struct SeatMapRecord {
    pub concert_id: i64,
    pub version: i64,
    /// The venue's width: the length of every row's compact line.
    pub max_column: usize,
    pub rows: Vec<SeatRow>,
}

/// What toggling the lock of one seat position did in one concert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockToggle {
    pub concert_id: i64,
    pub concert_name: String,
    /// The seat's status afterwards.
    pub status: SeatStatus,
    /// False when the seat is reserved and was left as it was.
    pub changed: bool,
}

/// A stored poster image.
#[derive(Debug, Clone)]
pub struct NewImage {
    pub concert_id: i64,
    pub original_name: String,
    pub store_key: String,
    pub content_type: String,
    pub size: i64,
}

/// The shared statements of venues, run on one backend.
struct Sql<'a, B>(&'a B);

/// Reads [`AuditoriumRow`]s.
const AUDITORIUM_SELECT: &str = "SELECT a.id, a.name, a.address, a.max_row, a.max_column, a.owner_id,
        u.username AS owner_username, u.nickname AS owner_nickname, a.created_at, a.updated_at
    FROM auditoriums a JOIN users u ON u.id = a.owner_id";

/// An auditorium row with its owner's names, as every backend returns it.
#[derive(sqlx::FromRow)]
struct AuditoriumRow {
    id: i64,
    name: String,
    address: String,
    max_row: String,
    max_column: i64,
    owner_id: i64,
    owner_username: String,
    owner_nickname: Option<String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl TryFrom<AuditoriumRow> for AuditoriumRecord {
    type Error = StoreError;
    fn try_from(r: AuditoriumRow) -> Result<Self, StoreError> {
        Ok(AuditoriumRecord {
            id: r.id,
            name: r.name,
            address: r.address,
            max_row: letter(&r.max_row)?,
            max_column: u8::try_from(r.max_column).map_err(|e| StoreError::Other(e.into()))?,
            owner_id: r.owner_id,
            owner_username: r.owner_username,
            owner_nickname: r.owner_nickname,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

/// A `concerts` row as every backend returns it.
#[derive(sqlx::FromRow)]
struct ConcertRow {
    id: i64,
    name: String,
    description: String,
    start_time: DateTime<Utc>,
    owner_id: i64,
    max_seats_per_fan: i64,
    poster_key: Option<String>,
    auditorium_id: i64,
    created_at: DateTime<Utc>,
}

impl ConcertRow {
    fn into_record(self, auditorium: AuditoriumRecord, prices: Vec<(Letter, Price)>) -> ConcertRecord {
        ConcertRecord {
            id: self.id,
            name: self.name,
            description: self.description,
            start_time: self.start_time,
            owner_id: self.owner_id,
            max_seats_per_fan: self.max_seats_per_fan,
            poster_key: self.poster_key,
            auditorium,
            prices,
            created_at: self.created_at,
        }
    }
}

/// Refuses a concert whose rows go beyond its auditorium's last row.
fn rows_fit(spec: &ConcertSpec, auditorium: &AuditoriumRecord) -> Result<(), StoreError> {
    match spec.rows.keys().find(|row| **row > auditorium.max_row) {
        Some(row) => Err(StoreError::conflict(
            "AUDITORIUM_CHANGED",
            format!("row {row} is beyond the auditorium's last row {}", auditorium.max_row),
        )),
        None => Ok(()),
    }
}

/// A concert's seat-map version and its venue's width (`$1`: the live concert).
pub(in crate::store) const SEAT_MAP_HEAD: &str =
    "SELECT c.seat_version, a.max_column FROM concerts c JOIN auditoriums a ON a.id = c.auditorium_id
     WHERE c.id = $1 AND c.deleted_at IS NULL";

/// Every [`SeatLine`] of a concert (`$1`), in row and column order.
pub(in crate::store) const SEAT_MAP_SEATS: &str =
    "SELECT s.horizontal, s.vertical, s.grade, s.status, p.price_cents
     FROM seats s JOIN seat_prices p ON p.concert_id = s.concert_id AND p.grade = s.grade
     WHERE s.concert_id = $1 ORDER BY s.horizontal, s.vertical";

/// A seat as the seat-map query reads it: `(horizontal, vertical, grade, status, price in cents)`.
pub(in crate::store) type SeatLine = (String, i64, String, String, i64);

/// Assembles a concert's seat map from its seats, read in row and column order.
pub(in crate::store) fn seat_map_of(
    concert_id: i64,
    version: i64,
    max_column: i64,
    seats: Vec<SeatLine>,
) -> Result<SeatMapRecord, StoreError> {
    let mut rows: Vec<SeatRow> = Vec::new();
    let mut width = usize::try_from(max_column).unwrap_or(0);
    for (horizontal, vertical, grade, status, cents) in seats {
        let horizontal = letter(&horizontal)?;
        let column = usize::try_from(vertical).unwrap_or(0);
        width = width.max(column);
        let status = SeatStatus::parse(&status).map_err(|e| StoreError::Other(anyhow::anyhow!(e)))?;
        match rows.last_mut() {
            Some(row) if row.horizontal == horizontal => row.seats.push((column, status)),
            _ => rows.push(SeatRow {
                horizontal,
                grade: letter(&grade)?,
                price: Price::from_cents(cents),
                seats: vec![(column, status)],
            }),
        }
    }
    Ok(SeatMapRecord { concert_id, version, max_column: width, rows })
}

/// Auditoriums, concerts, seats and posters.
#[async_trait]
pub trait VenueStore {
    async fn create_auditorium(
        &self,
        owner_id: i64,
        spec: &AuditoriumSpec,
    ) -> Result<AuditoriumRecord, StoreError>;
    /// A live auditorium.
    async fn auditorium(&self, id: i64) -> Result<Option<AuditoriumRecord>, StoreError>;
    /// Live auditoriums, of one owner or of everyone, oldest first.
    async fn list_auditoriums(&self, owner_id: Option<i64>) -> Result<Vec<AuditoriumRecord>, StoreError>;
    /// Changes an auditorium; `Conflict` when it would no longer hold the seats of an
    /// upcoming concert.
    async fn update_auditorium(&self, id: i64, spec: &AuditoriumSpec)
    -> Result<AuditoriumRecord, StoreError>;
    /// Soft-deletes an auditorium; `Conflict` while it has upcoming concerts.
    async fn delete_auditorium(&self, id: i64) -> Result<(), StoreError>;
    /// Toggles available ↔ locked at one seat position in every upcoming concert of the
    /// auditorium; reserved seats stay reserved and are reported.
    async fn toggle_seat_lock(
        &self,
        auditorium_id: i64,
        horizontal: Letter,
        vertical: u8,
    ) -> Result<Vec<LockToggle>, StoreError>;

    /// Creates a concert with its prices and one seat per row on sale × column, in one
    /// transaction. The owner is the auditorium's owner. Returns the new id.
    async fn create_concert(&self, spec: &ConcertSpec) -> Result<i64, StoreError>;
    /// A live concert.
    async fn concert(&self, id: i64) -> Result<Option<ConcertRecord>, StoreError>;
    /// One page of live concerts, newest first, and the total count.
    async fn list_concerts(&self, offset: i64, limit: i64) -> Result<(Vec<ConcertSummary>, i64), StoreError>;
    /// Changes name, description, start, limit, prices and row grades; adds new rows.
    /// Reserved seats keep their reservations. `Conflict` once the concert has started.
    async fn update_concert(&self, id: i64, spec: &ConcertSpec) -> Result<(), StoreError>;
    /// Soft-deletes a concert; `Conflict` while it has active reservations.
    async fn delete_concert(&self, id: i64) -> Result<(), StoreError>;
    /// The whole seat map of a live concert.
    async fn seat_map(&self, concert_id: i64) -> Result<Option<SeatMapRecord>, StoreError>;
    /// Records an uploaded poster and makes it the concert's poster.
    async fn set_poster(&self, image: &NewImage) -> Result<(), StoreError>;
    /// The content type of a stored poster, by its key.
    async fn poster_content_type(&self, store_key: &str) -> Result<Option<String>, StoreError>;
}
