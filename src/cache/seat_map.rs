//! An encoded seat map and how a change of its seats is patched into it in place.
//!
//! A booking changes a few characters of a map of thousands: rebuilding the whole map from
//! the database after each one (~1 ms on SQLite, more on PostgreSQL) bounded every read of
//! a busy concert's map. The writer knows each change exactly — which seats, and the map
//! versions before and after — so a cached map that is the one the change was made on is
//! patched instead: a copy of the body with those characters and the version rewritten.

use std::fmt;
use std::sync::Arc;

use axum::body::Bytes;

use crate::domain::booking::SeatRef;
use crate::domain::venue::{Letter, SeatStatus};

/// A concert's seat map, encoded once for every reader.
#[derive(Debug)]
pub struct EncodedSeatMap {
    pub version: i64,
    /// The response body.
    pub body: Bytes,
    /// Where in `body` a change is written; `None` for an instance's copy of a shared map,
    /// which is patched where it is stored (`cache/redis.rs`), never in the copy.
    pub layout: Option<Arc<MapLayout>>,
}

/// A committed change of a concert's seats: the statuses it gave them, and the map
/// versions it was made on (`from`) and made (`to`).
#[derive(Debug, Clone, Copy)]
pub struct SeatChange<'a> {
    pub from: i64,
    pub to: i64,
    pub seats: &'a [(SeatRef, SeatStatus)],
}

/// Where an encoded map holds what a change rewrites: each row's status characters, one
/// per column from the row's offset on, and the version's digits, which the encoding puts
/// last so that no other offset depends on their length. Only `tail` follows the digits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MapLayout {
    /// `(row, offset of its column 1)`, by row.
    rows: Vec<(Letter, u32)>,
    /// Columns of every row.
    width: u32,
    /// Offset of the version's first digit.
    version_at: u32,
    /// What follows the version's digits, to the end of the body.
    tail: Box<str>,
}

impl MapLayout {
    /// A layout from the encoder's offsets; `None` when an offset does not fit.
    pub fn new(rows: Vec<(Letter, usize)>, width: usize, version_at: usize, tail: &str) -> Option<Self> {
        let mut rows = rows
            .into_iter()
            .map(|(row, at)| Some((row, u32::try_from(at).ok()?)))
            .collect::<Option<Vec<_>>>()?;
        rows.sort_unstable_by_key(|(row, _)| *row);
        Some(Self {
            rows,
            width: u32::try_from(width).ok()?,
            version_at: u32::try_from(version_at).ok()?,
            tail: tail.into(),
        })
    }

    /// The offset of a seat's status character, if the map has that seat's row and column.
    pub fn offset(&self, seat: SeatRef) -> Option<usize> {
        let column = u32::from(seat.vertical);
        if column == 0 || column > self.width {
            return None;
        }
        let row = self.rows.binary_search_by_key(&seat.horizontal, |(row, _)| *row).ok()?;
        Some((self.rows[row].1 + column - 1) as usize)
    }

    /// Offset of the version's first digit.
    pub fn version_at(&self) -> usize {
        self.version_at as usize
    }

    /// What follows the version's digits.
    pub fn tail(&self) -> &str {
        &self.tail
    }

    /// `(offset, status character)` of each seat of a change; `None` when one is not on
    /// the map (the map must then be rebuilt).
    pub fn cells(&self, seats: &[(SeatRef, SeatStatus)]) -> Option<Vec<(usize, u8)>> {
        seats.iter().map(|(seat, status)| Some((self.offset(*seat)?, status.map_char()))).collect()
    }
}

/// `version_at|width|tail length|tail A45,B160,…`: how a shared cache keeps a layout beside
/// its map, for its patch script to read.
impl fmt::Display for MapLayout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}|{}|{}|", self.version_at, self.width, self.tail.len())?;
        f.write_str(&self.tail)?;
        for (i, (row, at)) in self.rows.iter().enumerate() {
            write!(f, "{}{row}{at}", if i == 0 { "" } else { "," })?;
        }
        Ok(())
    }
}

/// The text form read back: the reference for the patch script in `cache/redis.rs`, which
/// reads the same text.
#[cfg(test)]
impl std::str::FromStr for MapLayout {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || format!("not a seat-map layout: {s:?}");
        let mut parts = s.splitn(4, '|');
        let mut number = || parts.next().and_then(|p| p.parse::<u32>().ok()).ok_or_else(bad);
        let (version_at, width, tail_len) = (number()?, number()?, number()? as usize);
        let rest = parts.next().ok_or_else(bad)?;
        let (tail, rows) = (rest.get(..tail_len).ok_or_else(bad)?, rest.get(tail_len..).ok_or_else(bad)?);
        let rows = rows
            .split(',')
            .filter(|r| !r.is_empty())
            .map(|r| {
                let (row, at) = r.split_at_checked(1).ok_or_else(bad)?;
                Ok((Letter::parse(row).map_err(|_| bad())?, at.parse::<u32>().map_err(|_| bad())?))
            })
            .collect::<Result<Vec<_>, String>>()?;
        if !rows.is_sorted_by_key(|(row, _)| *row) {
            return Err(bad());
        }
        Ok(Self { rows, width, version_at, tail: tail.into() })
    }
}

impl EncodedSeatMap {
    /// This map with `change` written into a copy of its body; `None` when the change was
    /// not made on this map's version or names a seat the map does not have.
    pub fn patched(&self, change: &SeatChange<'_>) -> Option<Self> {
        if change.from != self.version || change.to < change.from {
            return None;
        }
        let layout = self.layout.as_ref()?;
        let cells = layout.cells(change.seats)?;
        let at = layout.version_at();
        let digits = self.version.to_string();
        // The body must end with this version and the tail, as the layout says.
        let rest = self.body.get(at..)?;
        if !rest.starts_with(digits.as_bytes()) || &rest[digits.len()..] != layout.tail().as_bytes() {
            return None;
        }
        let to = change.to.to_string();
        let mut body = Vec::with_capacity(at + to.len() + layout.tail().len());
        body.extend_from_slice(&self.body[..at]);
        for (offset, status) in cells {
            *body.get_mut(offset)? = status;
        }
        body.extend_from_slice(to.as_bytes());
        body.extend_from_slice(layout.tail().as_bytes());
        Some(Self { version: change.to, body: Bytes::from(body), layout: Some(layout.clone()) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seat(row: &str, column: u8) -> SeatRef {
        SeatRef { horizontal: Letter::parse(row).unwrap(), vertical: column }
    }

    /// `{"rows":["AAR","A-A"],"version":7}`, its layout, as an encoder would give them.
    fn map() -> EncodedSeatMap {
        let body = r#"{"rows":["AAR","A-A"],"version":7}"#;
        let layout = MapLayout::new(
            vec![(Letter::parse("B").unwrap(), 16), (Letter::parse("A").unwrap(), 10)],
            3,
            32,
            "}",
        )
        .unwrap();
        EncodedSeatMap { version: 7, body: Bytes::from(body), layout: Some(Arc::new(layout)) }
    }

    #[test]
    fn a_change_made_on_the_map_is_written_into_it() {
        let seats = [(seat("A", 1), SeatStatus::Reserved), (seat("B", 3), SeatStatus::Locked)];
        let patched = map().patched(&SeatChange { from: 7, to: 9, seats: &seats }).unwrap();
        assert_eq!(&patched.body[..], br#"{"rows":["RAR","A-L"],"version":9}"#);
        assert_eq!(patched.version, 9);
        let freed = [(seat("A", 3), SeatStatus::Available)];
        let longer = patched.patched(&SeatChange { from: 9, to: 10, seats: &freed }).unwrap();
        assert_eq!(
            &longer.body[..],
            br#"{"rows":["RAA","A-L"],"version":10}"#,
            "the version may grow a digit"
        );
    }

    #[test]
    fn a_change_made_on_another_version_or_off_the_map_is_not_patched() {
        let seats = [(seat("A", 1), SeatStatus::Reserved)];
        assert!(map().patched(&SeatChange { from: 6, to: 7, seats: &seats }).is_none(), "a missed change");
        assert!(map().patched(&SeatChange { from: 8, to: 9, seats: &seats }).is_none(), "a gap");
        for off in [seat("C", 1), seat("A", 4), seat("A", 0)] {
            let seats = [(off, SeatStatus::Reserved)];
            assert!(map().patched(&SeatChange { from: 7, to: 8, seats: &seats }).is_none(), "{off:?}");
        }
    }

    #[test]
    fn a_layout_survives_its_text_form() {
        let layout = MapLayout::clone(map().layout.as_ref().unwrap());
        let text = layout.to_string();
        assert_eq!(text, "32|3|1|}A10,B16");
        assert_eq!(text.parse::<MapLayout>().unwrap(), layout);
        let odd = MapLayout::new(vec![(Letter::parse("A").unwrap(), 4)], 2, 9, "|}A1,").unwrap();
        assert_eq!(odd.to_string().parse::<MapLayout>().unwrap(), odd, "a tail holding the separators");
        for bad in ["", "1|2", "x|1|0|", "1|1|5|}}", "1|1|0|a4", "1|1|0|B4,A3"] {
            assert!(bad.parse::<MapLayout>().is_err(), "{bad:?}");
        }
    }
}
