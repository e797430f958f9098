//! An encoded seat map and how a change of its seats is patched into it in place.
//!
//! A booking changes a few characters of a map of thousands: rebuilding the whole map from
//! the database after each one (~1 ms on SQLite, more on PostgreSQL) bounded every read of
//! a busy concert's map. The writer knows each change exactly — which seats, and the map
//! versions before and after — so a cached map that is the one the change was made on is
//! patched instead: a copy of the body with those characters and the version rewritten.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, OnceLock};

use axum::body::Bytes;

use crate::domain::booking::SeatRef;
use crate::domain::sections::{RowLabel, SectionName};
#[cfg(test)]
use crate::domain::venue::Letter;
use crate::domain::venue::SeatStatus;

/// A concert's seat map, encoded once for every reader.
#[derive(Debug)]
pub struct EncodedSeatMap {
    pub version: i64,
    /// The response body.
    pub body: Bytes,
    /// Where in `body` a change is written; `None` for an instance's copy of a shared map,
    /// which is patched where it is stored (`cache/redis.rs`), never in the copy.
    pub layout: Option<Arc<MapLayout>>,
    /// What is served from this map besides it, made once by its first reader.
    pub derived: OnceLock<Derived>,
}

/// The smaller answers made from one version of a seat map: the availability summary and
/// each section's own map.
#[derive(Debug)]
pub struct Derived {
    pub availability: Bytes,
    pub sections: HashMap<SectionName, Bytes>,
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
/// per seat from the row's offset on; each standing section's count of places left,
/// right-aligned in the width of its capacity (JSON allows the spaces before a number);
/// and the version's digits, which the encoding puts last so that no other offset depends
/// on their length. Only `tail` follows the digits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MapLayout {
    /// `(section and row, offset of its seat 1, seats)`, by section and row.
    rows: Vec<((SectionName, RowLabel), u32, u32)>,
    /// `(section, offset of its count, width of the count)`, by section.
    counts: Vec<(SectionName, u32, u32)>,
    /// Offset of the version's first digit.
    version_at: u32,
    /// What follows the version's digits, to the end of the body.
    tail: Box<str>,
}

impl MapLayout {
    /// A layout from the encoder's offsets; `None` when an offset does not fit.
    pub fn new(
        rows: Vec<((SectionName, RowLabel), usize, usize)>,
        counts: Vec<(SectionName, usize, usize)>,
        version_at: usize,
        tail: &str,
    ) -> Option<Self> {
        let fit = |n: usize| u32::try_from(n).ok();
        let mut rows = rows
            .into_iter()
            .map(|(row, at, width)| Some((row, fit(at)?, fit(width)?)))
            .collect::<Option<Vec<_>>>()?;
        rows.sort_unstable_by_key(|(row, ..)| *row);
        let mut counts = counts
            .into_iter()
            .map(|(section, at, width)| Some((section, fit(at)?, fit(width)?)))
            .collect::<Option<Vec<_>>>()?;
        counts.sort_unstable_by_key(|(section, ..)| *section);
        Some(Self { rows, counts, version_at: fit(version_at)?, tail: tail.into() })
    }

    /// The offset of a seat's status character, if the map has that seat's row and seat.
    pub fn offset(&self, seat: SeatRef) -> Option<usize> {
        let row = self.rows.binary_search_by_key(&(seat.section, seat.horizontal), |(row, ..)| *row).ok()?;
        let (_, at, width) = self.rows[row];
        (1..=width).contains(&seat.vertical).then(|| (at + seat.vertical - 1) as usize)
    }

    /// Where a standing section's count lies: `(offset, width)`.
    fn count(&self, section: SectionName) -> Option<(usize, usize)> {
        let i = self.counts.binary_search_by_key(&section, |(s, ..)| *s).ok()?;
        Some((self.counts[i].1 as usize, self.counts[i].2 as usize))
    }

    /// Offset of the version's first digit.
    pub fn version_at(&self) -> usize {
        self.version_at as usize
    }

    /// What follows the version's digits.
    pub fn tail(&self) -> &str {
        &self.tail
    }

    /// Whether a shared cache's patch script can read this layout: rows of the seed's
    /// section only, one capital letter each, all of one length, and no standing count.
    pub fn seed_shaped(&self) -> bool {
        self.counts.is_empty()
            && self.rows.iter().all(|((section, row), _, width)| {
                section.is_seed() && row.as_str().len() == 1 && *width == self.rows[0].2
            })
    }

    /// `(offset, status character)` of each seated seat of a change; `None` when one is
    /// not on the map (the map must then be rebuilt).
    pub fn cells(&self, seats: &[(SeatRef, SeatStatus)]) -> Option<Vec<(usize, u8)>> {
        seats
            .iter()
            .filter(|(seat, _)| !seat.is_standing())
            .map(|(seat, status)| Some((self.offset(*seat)?, status.map_char())))
            .collect()
    }
}

/// `version_at|width|tail length|tail A45,B160,…`: how a shared cache keeps a seed-shaped
/// layout beside its map, for its patch script to read. Any other layout is written as
/// `-`, which the script does not read: such a map is rebuilt after a change.
impl fmt::Display for MapLayout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.seed_shaped() {
            return f.write_str("-");
        }
        let width = self.rows.first().map_or(0, |(_, _, width)| *width);
        write!(f, "{}|{}|{}|", self.version_at, width, self.tail.len())?;
        f.write_str(&self.tail)?;
        for (i, ((_, row), at, _)) in self.rows.iter().enumerate() {
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
                let row = Letter::parse(row).map_err(|_| bad())?;
                Ok(((SectionName::SEED, RowLabel::from(row)), at.parse::<u32>().map_err(|_| bad())?, width))
            })
            .collect::<Result<Vec<_>, String>>()?;
        if !rows.is_sorted_by_key(|(row, ..)| *row) {
            return Err(bad());
        }
        Ok(Self { rows, counts: Vec::new(), version_at, tail: tail.into() })
    }
}

impl EncodedSeatMap {
    pub fn new(version: i64, body: Bytes, layout: Option<Arc<MapLayout>>) -> Self {
        Self { version, body, layout, derived: OnceLock::new() }
    }

    /// This map with `change` written into a copy of its body; `None` when the change was
    /// not made on this map's version or names a seat the map does not have.
    pub fn patched(&self, change: &SeatChange<'_>) -> Option<Self> {
        if change.from != self.version || change.to < change.from {
            return None;
        }
        let layout = self.layout.as_ref()?;
        let mut cells = layout.cells(change.seats)?;
        // Each standing place taken or freed moves its section's count by one (every seat
        // of a change is one that changed).
        let mut moved: Vec<(SectionName, i64)> = Vec::new();
        for (seat, status) in change.seats.iter().filter(|(seat, _)| seat.is_standing()) {
            let step = if *status == SeatStatus::Available { 1 } else { -1 };
            match moved.iter_mut().find(|(section, _)| *section == seat.section) {
                Some((_, by)) => *by += step,
                None => moved.push((seat.section, step)),
            }
        }
        for (section, by) in moved {
            let (offset, width) = layout.count(section)?;
            let count: i64 =
                std::str::from_utf8(self.body.get(offset..offset + width)?).ok()?.trim().parse().ok()?;
            let digits = format!("{:>width$}", count + by);
            if count + by < 0 || digits.len() != width {
                return None;
            }
            cells.extend(digits.bytes().enumerate().map(|(i, b)| (offset + i, b)));
        }
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
        Some(Self::new(change.to, Bytes::from(body), Some(layout.clone())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seat(row: &str, column: u32) -> SeatRef {
        SeatRef::seed(RowLabel::parse(row).unwrap(), column)
    }

    fn row(label: &str) -> (SectionName, RowLabel) {
        (SectionName::SEED, RowLabel::parse(label).unwrap())
    }

    /// `{"rows":["AAR","A-A"],"version":7}`, its layout, as an encoder would give them.
    fn map() -> EncodedSeatMap {
        let body = r#"{"rows":["AAR","A-A"],"version":7}"#;
        let layout = MapLayout::new(vec![(row("B"), 16, 3), (row("A"), 10, 3)], Vec::new(), 32, "}").unwrap();
        EncodedSeatMap::new(7, Bytes::from(body), Some(Arc::new(layout)))
    }

    #[test]
    fn a_standing_count_moves_with_its_places_and_rows_have_their_own_lengths() {
        let floor = SectionName::parse("Floor").unwrap();
        let body = r#"{"s":[{"available":  12},"AA","AAAA"],"version":3}"#;
        let (upper, a) = (SectionName::parse("Up").unwrap(), RowLabel::parse("A").unwrap());
        let layout = MapLayout::new(
            vec![((upper, a), 26, 2), ((upper, RowLabel::parse("AA").unwrap()), 31, 4)],
            vec![(floor, 19, 4)],
            48,
            "}",
        )
        .unwrap();
        assert!(!layout.seed_shaped());
        assert_eq!(layout.to_string(), "-");
        let map = EncodedSeatMap::new(3, Bytes::from(body), Some(Arc::new(layout)));
        let place = |n| SeatRef { section: floor, horizontal: RowLabel::STANDING, vertical: n };
        let seats = [
            (place(1), SeatStatus::Reserved),
            (place(2), SeatStatus::Reserved),
            (place(3), SeatStatus::Reserved),
            (
                SeatRef { section: upper, horizontal: RowLabel::parse("AA").unwrap(), vertical: 4 },
                SeatStatus::Reserved,
            ),
        ];
        let patched = map.patched(&SeatChange { from: 3, to: 7, seats: &seats }).unwrap();
        assert_eq!(&patched.body[..], br#"{"s":[{"available":   9},"AA","AAAR"],"version":7}"#);
        let beyond = [(SeatRef { section: upper, horizontal: a, vertical: 3 }, SeatStatus::Reserved)];
        assert!(
            patched.patched(&SeatChange { from: 7, to: 8, seats: &beyond }).is_none(),
            "row A has 2 seats"
        );
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
        let odd = MapLayout::new(vec![(row("A"), 4, 2)], Vec::new(), 9, "|}A1,").unwrap();
        assert_eq!(odd.to_string().parse::<MapLayout>().unwrap(), odd, "a tail holding the separators");
        for bad in ["", "1|2", "x|1|0|", "1|1|5|}}", "1|1|0|a4", "1|1|0|B4,A3"] {
            assert!(bad.parse::<MapLayout>().is_err(), "{bad:?}");
        }
    }
}
