//! The seat layouts of the concerts being booked, as the booking writer keeps them: each
//! seat's id and price by its position, loaded whole once per concert, so that a booking
//! goes straight to its INSERT instead of looking its seat up first. A layout is trusted
//! while its concert's `layout_version` (migration 0007, kept by triggers whoever changes
//! a grade, a price or a seat) is the one it was loaded at; the writer reads that version
//! with the concert's map version, once per concert per batch, while no one else writes.

use std::collections::HashMap;

use rusqlite::{Connection, OptionalExtension};

use crate::domain::booking::SeatRef;
use crate::domain::sections::SeatGrid;
use crate::domain::venue::Checkout;
use crate::store::BookingError;
use crate::store::bookings::{corrupt, seat_ref};

/// Most concerts kept at once; the one booked least recently goes first. An on-sale books
/// a few concerts at a time, and a layout takes 16 bytes a seat (42 KiB for 2,600).
const MAX_LAYOUTS: usize = 32;

/// A stored seat: its id and the price of its grade (id 0: no such seat).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(super) struct PricedSeat {
    pub id: i64,
    pub price: i64,
}

#[derive(Debug, Default)]
pub(super) struct Layouts {
    concerts: HashMap<i64, Layout>,
    /// Counts [`Layouts::check`] calls: when each layout was last wanted.
    clock: u64,
}

#[derive(Debug)]
struct Layout {
    version: i64,
    used: u64,
    seats: SeatGrid<PricedSeat>,
}

impl Layouts {
    /// Makes sure the layout kept for `concert_id` is the stored one, `version` being the
    /// concert's `layout_version` as this transaction reads it; loads it if not.
    pub(super) fn check(
        &mut self,
        conn: &Connection,
        concert_id: i64,
        version: i64,
    ) -> Result<(), BookingError> {
        self.clock += 1;
        if let Some(layout) = self.concerts.get_mut(&concert_id)
            && layout.version == version
        {
            layout.used = self.clock;
            return Ok(());
        }
        self.concerts.remove(&concert_id);
        let seats = load(conn, concert_id)?;
        // A concert without seats yet is not kept: its seats are looked up one by one.
        if seats.is_empty() {
            return Ok(());
        }
        if self.concerts.len() >= MAX_LAYOUTS
            && let Some(oldest) = self.concerts.iter().min_by_key(|(_, l)| l.used).map(|(id, _)| *id)
        {
            self.concerts.remove(&oldest);
        }
        self.concerts.insert(concert_id, Layout { version, used: self.clock, seats });
        Ok(())
    }

    /// The seat at `seat` in the kept layout of `concert_id`, if it is kept and has one
    /// there. `None` says nothing: the seat is to be looked up in the database.
    pub(super) fn seat(&self, concert_id: i64, seat: SeatRef) -> Option<PricedSeat> {
        self.concerts.get(&concert_id)?.seats.get(&seat).copied().filter(|s| s.id != 0)
    }
}

/// Every seat of the concert with the price of its grade. Standing places are not kept:
/// they are booked by quantity, found free in the database.
fn load(conn: &Connection, concert_id: i64) -> Result<SeatGrid<PricedSeat>, BookingError> {
    let mut statement = conn.prepare_cached(
        "SELECT s.section, s.horizontal, s.vertical, s.id, p.price_cents
         FROM seats s JOIN seat_prices p ON p.concert_id = s.concert_id AND p.grade = s.grade
         WHERE s.concert_id = ?1 AND s.horizontal <> ''",
    )?;
    let mut rows = statement.query([concert_id])?;
    let mut seats = SeatGrid::default();
    while let Some(row) = rows.next()? {
        let section = row.get_ref(0)?.as_str().map_err(rusqlite::Error::from)?;
        let horizontal = row.get_ref(1)?.as_str().map_err(rusqlite::Error::from)?;
        let seat = seat_ref(section, horizontal, row.get(2)?)?;
        if let Some(kept) = seats.entry(&seat) {
            *kept = PricedSeat { id: row.get(3)?, price: row.get(4)? };
        }
    }
    Ok(seats)
}

/// What the writer reads of a concert once per batch, before its first job: nothing in
/// the batch but its own bookings changes it, and only this transaction writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct BatchConcert {
    /// The seat-map version, counted on by the batch's jobs.
    pub map_version: i64,
    pub layout_version: i64,
    /// How a booking sells, `None` for a deleted concert (its bookings take the checked
    /// path, which says why they are refused).
    pub selling: Option<(Checkout, i64)>,
}

/// The concert's versions and, unless it is deleted, its checkout and hold minutes, as
/// this transaction sees them; `None` for no such concert.
pub(super) fn batch_concert(
    conn: &Connection,
    concert_id: i64,
) -> Result<Option<BatchConcert>, BookingError> {
    let row: Option<(i64, i64, String, i64, bool)> = conn
        .prepare_cached(
            "SELECT seat_version, layout_version, checkout, hold_minutes, deleted_at IS NULL
             FROM concerts WHERE id = ?1",
        )?
        .query_row([concert_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))
        .optional()?;
    let Some((map_version, layout_version, checkout, hold_minutes, live)) = row else { return Ok(None) };
    let checkout = Checkout::parse(&checkout).map_err(corrupt)?;
    Ok(Some(BatchConcert { map_version, layout_version, selling: live.then_some((checkout, hold_minutes)) }))
}
