//! Auditoriums (venues), concerts, seats and posters in storage.

mod auditoriums;
mod concerts;
mod sql;

use std::collections::HashMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{StoreError, letter, row_label};
use crate::domain::booking::SeatRef;
use crate::domain::sections::{Layout, RowLabel, Section, SectionKind, SectionName};
use crate::domain::venue::{AuditoriumSpec, Checkout, ConcertSpec, Letter, Price, SeatStatus, WaitingRoom};

/// A live auditorium with its owner's names.
#[derive(Debug, Clone)]
pub struct AuditoriumRecord {
    pub id: i64,
    pub name: String,
    pub address: String,
    /// The seed's description, for a venue described that way.
    pub max_row: Option<Letter>,
    pub max_column: Option<u8>,
    pub layout: Layout,
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
    /// When sales open (`None`: since it was put up) and close (`None`: at the start).
    pub sales_open_at: Option<DateTime<Utc>>,
    pub sales_close_at: Option<DateTime<Utc>>,
    /// Confirmed at once, or held until paid (for `hold_minutes`), in `currency`.
    pub checkout: Checkout,
    pub hold_minutes: i64,
    pub currency: String,
    /// The waiting room in front of the sale, if any.
    pub waiting_room: Option<WaitingRoom>,
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
    /// When sales open and close, as the concert says (`None`: at once; at the start).
    pub sales_open_at: Option<DateTime<Utc>>,
    pub sales_close_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

/// One row of a seat map (a standing section's places are its one row).
#[derive(Debug, Clone, PartialEq)]
pub struct SeatRow {
    pub horizontal: RowLabel,
    pub grade: Letter,
    pub price: Price,
    /// Seats of the row in the venue: the length of its compact line.
    pub width: usize,
    /// `(seat number, status)` of each seat of the row on sale.
    pub seats: Vec<(u32, SeatStatus)>,
}

/// The rows of one section on sale in a concert.
#[derive(Debug, Clone, PartialEq)]
pub struct SectionMap {
    pub name: SectionName,
    /// A standing section: its one row holds its places.
    pub standing: bool,
    pub rows: Vec<SeatRow>,
}

/// Every seat of a concert, read in one snapshot with the map's version.
#[derive(Debug, Clone, PartialEq)]
pub struct SeatMapRecord {
    pub concert_id: i64,
    pub version: i64,
    /// Sections with seats on sale, in the venue's order.
    pub sections: Vec<SectionMap>,
    /// The map is of one seated section (its venue has one): it keeps the seed's shape.
    pub seed_shaped: bool,
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
    max_row: Option<String>,
    max_column: Option<i64>,
    owner_id: i64,
    owner_username: String,
    owner_nickname: Option<String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

/// A venue's rows as stored (`auditorium_rows`): `(section, kind, label, seats)`, in order.
type VenueRow = (String, String, String, i64);

/// The rows of a venue (`$1`) in order: sections in order, rows in order.
const VENUE_ROWS: &str = "SELECT section, kind, label, seats FROM auditorium_rows WHERE auditorium_id = $1
     ORDER BY section_position, position";

/// A venue's layout from its stored rows.
fn layout_of(rows: Vec<VenueRow>) -> Result<Layout, StoreError> {
    let mut sections: Vec<Section> = Vec::new();
    for (section, kind, label, seats) in rows {
        let name = SectionName::stored(&section);
        let seats = u32::try_from(seats).map_err(|e| StoreError::Other(e.into()))?;
        let label = row_label(&label)?;
        match sections.last_mut() {
            Some(Section { name: last, kind: SectionKind::Seated(rows) }) if *last == name => {
                rows.push((label, seats))
            }
            _ if kind == "STANDING" => sections.push(Section { name, kind: SectionKind::Standing(seats) }),
            _ => sections.push(Section { name, kind: SectionKind::Seated(vec![(label, seats)]) }),
        }
    }
    Ok(Layout { sections })
}

impl AuditoriumRow {
    fn into_record(self, rows: Vec<VenueRow>) -> Result<AuditoriumRecord, StoreError> {
        let r = self;
        Ok(AuditoriumRecord {
            id: r.id,
            name: r.name,
            address: r.address,
            max_row: r.max_row.as_deref().map(letter).transpose()?,
            max_column: r
                .max_column
                .map(u8::try_from)
                .transpose()
                .map_err(|e| StoreError::Other(e.into()))?,
            layout: layout_of(rows)?,
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
    sales_open_at: Option<DateTime<Utc>>,
    sales_close_at: Option<DateTime<Utc>>,
    checkout: String,
    hold_minutes: i64,
    currency: String,
    room_opens_at: Option<DateTime<Utc>>,
    room_admit_per_minute: Option<i64>,
    room_pass_minutes: Option<i64>,
}

impl ConcertRow {
    fn into_record(
        self,
        auditorium: AuditoriumRecord,
        prices: Vec<(Letter, Price)>,
    ) -> Result<ConcertRecord, StoreError> {
        Ok(ConcertRecord {
            id: self.id,
            name: self.name,
            description: self.description,
            start_time: self.start_time,
            owner_id: self.owner_id,
            max_seats_per_fan: self.max_seats_per_fan,
            poster_key: self.poster_key,
            sales_open_at: self.sales_open_at,
            sales_close_at: self.sales_close_at,
            checkout: Checkout::parse(&self.checkout).map_err(|e| StoreError::Other(anyhow::anyhow!(e)))?,
            hold_minutes: self.hold_minutes,
            currency: self.currency,
            waiting_room: match (self.room_opens_at, self.room_admit_per_minute, self.room_pass_minutes) {
                (Some(opens_at), Some(admit_per_minute), Some(pass_minutes)) => {
                    Some(WaitingRoom { opens_at, admit_per_minute, pass_minutes })
                }
                _ => None,
            },
            auditorium,
            prices,
            created_at: self.created_at,
        })
    }
}

/// Refuses a concert with a row its venue does not have (it changed since the concert was
/// checked against it).
fn rows_fit(spec: &ConcertSpec, auditorium: &AuditoriumRecord) -> Result<(), StoreError> {
    let missing = spec
        .rows
        .keys()
        .find(|(section, row)| auditorium.layout.section(*section).and_then(|s| s.row_seats(*row)).is_none());
    match missing {
        Some((section, row)) => Err(StoreError::conflict(
            "AUDITORIUM_CHANGED",
            format!("the auditorium has no row {row:?} in section {section:?} any more"),
        )),
        None => Ok(()),
    }
}

/// A concert's seat-map version (`$1`: the live concert).
pub(in crate::store) const SEAT_MAP_HEAD: &str =
    "SELECT seat_version FROM concerts WHERE id = $1 AND deleted_at IS NULL";

/// The venue rows of a concert (`$1`) in the venue's order: `(section, kind, label, seats)`.
pub(in crate::store) const SEAT_MAP_ROWS: &str = "SELECT r.section, r.kind, r.label, r.seats
     FROM concerts c JOIN auditorium_rows r ON r.auditorium_id = c.auditorium_id
     WHERE c.id = $1 ORDER BY r.section_position, r.position";

/// Every [`SeatLine`] of a concert (`$1`), by section, row and column.
pub(in crate::store) const SEAT_MAP_SEATS: &str =
    "SELECT s.section, s.horizontal, s.vertical, s.grade, s.status, p.price_cents
     FROM seats s JOIN seat_prices p ON p.concert_id = s.concert_id AND p.grade = s.grade
     WHERE s.concert_id = $1 ORDER BY s.section, s.horizontal, s.vertical";

/// Assembles a concert's seat map from its seats, read in section, row and seat order
/// ([`SEAT_MAP_SEATS`]), one row of the query at a time and borrowed from it: a map of
/// 100,000 places allocates per row of seats, not per seat.
pub(in crate::store) struct SeatMapBuilder {
    rows: HashMap<(SectionName, RowLabel), SeatRow>,
    /// The row being filled and its key.
    current: Option<((SectionName, RowLabel), SeatRow)>,
}

impl SeatMapBuilder {
    pub(in crate::store) fn new() -> Self {
        Self { rows: HashMap::new(), current: None }
    }

    /// One seat: `(section, horizontal, vertical, grade, status, price in cents)`.
    pub(in crate::store) fn push(
        &mut self,
        section: &str,
        horizontal: &str,
        vertical: i64,
        grade: &str,
        status: &str,
        cents: i64,
    ) -> Result<(), StoreError> {
        let same = self
            .current
            .as_ref()
            .is_some_and(|((s, r), _)| s.as_str() == section && r.as_str() == horizontal);
        if !same {
            let key = (SectionName::stored(section), row_label(horizontal)?);
            let row = SeatRow {
                horizontal: key.1,
                grade: letter(grade)?,
                price: Price::from_cents(cents),
                width: 0,
                seats: Vec::new(),
            };
            if let Some((key, row)) = self.current.replace((key, row)) {
                self.rows.insert(key, row);
            }
        }
        let status = SeatStatus::parse(status).map_err(|e| StoreError::Other(anyhow::anyhow!(e)))?;
        if let Some((_, row)) = self.current.as_mut() {
            let column = u32::try_from(vertical).unwrap_or(0);
            row.width = row.width.max(column as usize);
            row.seats.push((column, status));
        }
        Ok(())
    }

    /// The map: the rows with seats on sale, in the venue's order (`venue`: its rows as
    /// [`SEAT_MAP_ROWS`] reads them).
    pub(in crate::store) fn finish(
        mut self,
        concert_id: i64,
        version: i64,
        venue: Vec<VenueRow>,
    ) -> Result<SeatMapRecord, StoreError> {
        if let Some((key, row)) = self.current.take() {
            self.rows.insert(key, row);
        }
        let venue = layout_of(venue)?;
        let mut sections = Vec::new();
        for section in &venue.sections {
            let mut rows = Vec::new();
            for (label, width) in section.rows() {
                if let Some(mut row) = self.rows.remove(&(section.name, label)) {
                    row.width = row.width.max(width as usize);
                    rows.push(row);
                }
            }
            if !rows.is_empty() {
                let standing = matches!(section.kind, SectionKind::Standing(_));
                sections.push(SectionMap { name: section.name, standing, rows });
            }
        }
        // Rows the venue no longer has (it changed after the concert was over), at the end.
        let mut left: Vec<_> = self.rows.into_iter().collect();
        left.sort_by_key(|(key, _)| *key);
        for ((name, _), row) in left {
            match sections.iter_mut().find(|s| s.name == name) {
                Some(section) => section.rows.push(row),
                None => sections.push(SectionMap {
                    name,
                    standing: row.horizontal.is_standing(),
                    rows: vec![row],
                }),
            }
        }
        // A past concert may sell sections its venue has since lost: such a map keeps them all.
        let seed_shaped = venue.is_one_seated_section() && sections.len() <= 1;
        Ok(SeatMapRecord { concert_id, version, sections, seed_shaped })
    }
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
        seat: SeatRef,
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
