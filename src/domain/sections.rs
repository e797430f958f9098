//! Real venues: sections of labelled rows of their own lengths, and standing floors.
//!
//! A venue is a list of sections. A seated section has rows labelled `A`, `AA` or `12`,
//! each with its own number of seats; a standing section has a capacity. A venue described
//! the seed's way (`maxRow`, `maxColumn`) is one seated section named `""`. In storage a
//! standing section is one row labelled `""` whose seats are its places, so a standing
//! place is a seat like any other (one active reservation each) and needs no rule of its
//! own: a floor can never sell more places than it has.

use std::collections::HashSet;
use std::fmt;

use serde::{Serialize, Serializer};

use super::Validator;
use super::venue::Letter;

/// Most seats in one row.
pub const MAX_ROW_SEATS: u32 = 200;
/// Most sections in one venue.
pub const MAX_SECTIONS: usize = 200;
/// Most places (seats and standing places) in one venue.
pub const MAX_PLACES: u64 = 100_000;
/// Longest section name, in bytes of UTF-8 (40 Latin letters, 13 Hangul syllables).
pub const MAX_SECTION_NAME: usize = 40;

/// A row's label: 1–4 capital letters or digits (`A`, `AA`, `12`), or empty for the one
/// row of a standing section. Kept inline (zero-padded), so a seat position is `Copy`;
/// labels order as their text does.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct RowLabel([u8; 4]);

impl RowLabel {
    /// The row of a standing section.
    pub const STANDING: RowLabel = RowLabel([0; 4]);

    pub fn parse(raw: &str) -> Result<Self, String> {
        let bytes = raw.as_bytes();
        if bytes.is_empty()
            || bytes.len() > 4
            || !bytes.iter().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
        {
            return Err("must be 1 to 4 capital letters or digits".into());
        }
        let mut label = [0; 4];
        label[..bytes.len()].copy_from_slice(bytes);
        Ok(Self(label))
    }

    /// A stored label: a row's, or `""` for a standing section's.
    pub fn stored(raw: &str) -> Result<Self, String> {
        if raw.is_empty() { Ok(Self::STANDING) } else { Self::parse(raw) }
    }

    pub fn as_str(&self) -> &str {
        let len = self.0.iter().position(|b| *b == 0).unwrap_or(4);
        // Only ASCII is ever stored.
        std::str::from_utf8(&self.0[..len]).unwrap_or_default()
    }

    pub fn is_standing(&self) -> bool {
        *self == Self::STANDING
    }
}

impl From<Letter> for RowLabel {
    fn from(letter: Letter) -> Self {
        Self([letter.as_char() as u8, 0, 0, 0])
    }
}

impl fmt::Display for RowLabel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for RowLabel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.as_str())
    }
}

impl Serialize for RowLabel {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// A section's name: trimmed text of at most [`MAX_SECTION_NAME`] bytes, kept inline
/// (zero-padded) so that a seat position stays `Copy`. The seed's one section is `""`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SectionName([u8; MAX_SECTION_NAME]);

impl Default for SectionName {
    fn default() -> Self {
        Self::SEED
    }
}

impl SectionName {
    /// The one section of a venue described the seed's way.
    pub const SEED: SectionName = SectionName([0; MAX_SECTION_NAME]);

    /// A name as sent: trimmed, 1 to 40 bytes, no control characters.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let name = raw.trim();
        if name.is_empty() {
            return Err("must not be empty".into());
        }
        if name.len() > MAX_SECTION_NAME {
            return Err(format!("must be at most {MAX_SECTION_NAME} bytes of UTF-8"));
        }
        if name.chars().any(char::is_control) {
            return Err("must not contain control characters".into());
        }
        Ok(Self::stored(name))
    }

    /// A name as a reference sends it: blank means the seed's section `""`.
    pub fn parse_ref(raw: &str) -> Result<Self, String> {
        if raw.trim().is_empty() { Ok(Self::SEED) } else { Self::parse(raw) }
    }

    /// A stored name (`""` is the seed's section); longer names are cut (never stored).
    pub fn stored(raw: &str) -> Self {
        let mut name = [0; MAX_SECTION_NAME];
        let mut len = raw.len().min(MAX_SECTION_NAME);
        while !raw.is_char_boundary(len) {
            len -= 1;
        }
        name[..len].copy_from_slice(&raw.as_bytes()[..len]);
        Self(name)
    }

    pub fn as_str(&self) -> &str {
        let len = self.0.iter().position(|b| *b == 0).unwrap_or(MAX_SECTION_NAME);
        std::str::from_utf8(&self.0[..len]).unwrap_or_default()
    }

    pub fn is_seed(&self) -> bool {
        *self == Self::SEED
    }
}

impl fmt::Display for SectionName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for SectionName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.as_str())
    }
}

impl Serialize for SectionName {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// What a section holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SectionKind {
    /// Rows in order: `(label, seats)`; seats are numbered `1..=seats`.
    Seated(Vec<(RowLabel, u32)>),
    /// Places sold by quantity.
    Standing(u32),
}

impl SectionKind {
    /// `SEATED` or `STANDING`, as sent and stored.
    pub fn name(&self) -> &'static str {
        match self {
            SectionKind::Seated(_) => "SEATED",
            SectionKind::Standing(_) => "STANDING",
        }
    }
}

/// One section of a venue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    pub name: SectionName,
    pub kind: SectionKind,
}

impl Section {
    /// Its rows as stored: a standing section is one row labelled `""`.
    pub fn rows(&self) -> Vec<(RowLabel, u32)> {
        match &self.kind {
            SectionKind::Seated(rows) => rows.clone(),
            SectionKind::Standing(capacity) => vec![(RowLabel::STANDING, *capacity)],
        }
    }

    /// Seats of a row of this section (`""` for the standing places).
    pub fn row_seats(&self, label: RowLabel) -> Option<u32> {
        match &self.kind {
            SectionKind::Seated(rows) => rows.iter().find(|(l, _)| *l == label).map(|(_, n)| *n),
            SectionKind::Standing(capacity) => label.is_standing().then_some(*capacity),
        }
    }

    pub fn places(&self) -> u64 {
        match &self.kind {
            SectionKind::Seated(rows) => rows.iter().map(|(_, n)| u64::from(*n)).sum(),
            SectionKind::Standing(capacity) => u64::from(*capacity),
        }
    }
}

/// A venue's sections, in order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Layout {
    pub sections: Vec<Section>,
}

impl Layout {
    /// The seed's venue: one seated section `""`, rows `A..=max_row` of `max_column` seats.
    pub fn seed(max_row: Letter, max_column: u8) -> Self {
        let rows = max_row.up_to().map(|row| (RowLabel::from(row), u32::from(max_column))).collect();
        Self { sections: vec![Section { name: SectionName::SEED, kind: SectionKind::Seated(rows) }] }
    }

    pub fn section(&self, name: SectionName) -> Option<&Section> {
        self.sections.iter().find(|s| s.name == name)
    }

    pub fn places(&self) -> u64 {
        self.sections.iter().map(Section::places).sum()
    }

    /// One seated section: seat maps keep the seed's shape (`rows` at the top level).
    pub fn is_one_seated_section(&self) -> bool {
        matches!(&self.sections[..], [Section { kind: SectionKind::Seated(_), .. }])
    }

    /// The section a seat reference means when it names none: the only one, if the venue
    /// has one section.
    pub fn only_section(&self) -> Option<SectionName> {
        match &self.sections[..] {
            [only] => Some(only.name),
            _ => None,
        }
    }

    /// The sections as sent, checked against the limits: names unique, row labels unique
    /// within their section, 1–200 seats a row, a capacity ≥ 1, at most 200 sections and
    /// 100,000 places.
    pub fn parse(input: Vec<SectionInput<'_>>, v: &mut Validator) -> Option<Self> {
        if input.is_empty() {
            v.reject("sections", "must have at least one section");
            return None;
        }
        if input.len() > MAX_SECTIONS {
            v.reject("sections", format!("must have at most {MAX_SECTIONS} sections"));
            return None;
        }
        let mut names = HashSet::new();
        let mut sections = Vec::with_capacity(input.len());
        let mut valid = true;
        for (i, s) in input.into_iter().enumerate() {
            let at = |field: &str| format!("sections[{i}].{field}");
            let name = v.require(&at("name"), s.name, SectionName::parse);
            if let Some(name) = name
                && !names.insert(name)
            {
                v.reject(&at("name"), format!("section {name} is named twice"));
            }
            let kind = match s.kind {
                Some("SEATED") => {
                    let mut labels = HashSet::new();
                    let mut rows = Vec::new();
                    match s.rows {
                        None => v.reject(&at("rows"), "is required for a seated section"),
                        Some(list) if list.is_empty() => v.reject(&at("rows"), "must have at least one row"),
                        Some(list) => {
                            for (j, (label, seats)) in list.into_iter().enumerate() {
                                let label =
                                    v.require(&at(&format!("rows[{j}].label")), label, RowLabel::parse);
                                if let Some(label) = label
                                    && !labels.insert(label)
                                {
                                    v.reject(
                                        &at(&format!("rows[{j}].label")),
                                        format!("row {label} is listed twice"),
                                    );
                                }
                                let seats = v.check(
                                    &at(&format!("rows[{j}].seats")),
                                    match seats {
                                        Some(n @ 1..=200) => Ok(n as u32),
                                        Some(_) => Err(format!("must be 1 to {MAX_ROW_SEATS}")),
                                        None => Err("is required".into()),
                                    },
                                );
                                if let (Some(label), Some(seats)) = (label, seats) {
                                    rows.push((label, seats));
                                }
                            }
                        }
                    }
                    if s.capacity.is_some() {
                        v.reject(&at("capacity"), "a seated section has rows, not a capacity");
                    }
                    Some(SectionKind::Seated(rows))
                }
                Some("STANDING") => {
                    if s.rows.is_some() {
                        v.reject(&at("rows"), "a standing section has a capacity, not rows");
                    }
                    v.check(
                        &at("capacity"),
                        match s.capacity {
                            Some(n @ 1..=100_000) => Ok(SectionKind::Standing(n as u32)),
                            Some(_) => Err(format!("must be 1 to {MAX_PLACES}")),
                            None => Err("is required for a standing section".into()),
                        },
                    )
                }
                Some(_) => {
                    v.reject(&at("kind"), "must be SEATED or STANDING");
                    None
                }
                None => {
                    v.reject(&at("kind"), "is required (SEATED or STANDING)");
                    None
                }
            };
            match (name, kind) {
                (Some(name), Some(kind)) => sections.push(Section { name, kind }),
                _ => valid = false,
            }
        }
        let layout = Self { sections };
        if layout.places() > MAX_PLACES {
            v.reject("sections", format!("must hold at most {MAX_PLACES} places, not {}", layout.places()));
            return None;
        }
        valid.then_some(layout)
    }
}

/// Something kept for each seat of a concert, compactly: one vector per row (a standing
/// section's places are its one row), found by the row's section and label, indexed by the
/// seat's number. A key per row instead of per seat: a 100,000-place concert costs a few
/// hundred keys and the values themselves.
#[derive(Debug, Clone)]
pub struct SeatGrid<T> {
    rows: std::collections::HashMap<(SectionName, RowLabel), Vec<T>>,
}

impl<T> Default for SeatGrid<T> {
    fn default() -> Self {
        Self { rows: std::collections::HashMap::new() }
    }
}

impl<T: Default + Clone> SeatGrid<T> {
    /// What is kept for `seat`, if anything was.
    pub fn get(&self, seat: &crate::domain::booking::SeatRef) -> Option<&T> {
        let index = (seat.vertical as usize).checked_sub(1)?;
        self.rows.get(&(seat.section, seat.horizontal))?.get(index)
    }

    /// What is kept for `seat`, made (with the default) when nothing was; `None` for seat 0.
    pub fn entry(&mut self, seat: &crate::domain::booking::SeatRef) -> Option<&mut T> {
        let index = (seat.vertical as usize).checked_sub(1)?;
        let row = self.rows.entry((seat.section, seat.horizontal)).or_default();
        if row.len() <= index {
            row.resize(index + 1, T::default());
        }
        row.get_mut(index)
    }

    /// Every seat kept, with its value.
    pub fn iter(&self) -> impl Iterator<Item = (crate::domain::booking::SeatRef, &T)> {
        self.rows.iter().flat_map(|((section, row), values)| {
            values.iter().enumerate().map(move |(i, value)| {
                (
                    crate::domain::booking::SeatRef {
                        section: *section,
                        horizontal: *row,
                        vertical: i as u32 + 1,
                    },
                    value,
                )
            })
        })
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }
}

/// A section as sent.
#[derive(Debug, Default)]
pub struct SectionInput<'a> {
    pub name: Option<&'a str>,
    pub kind: Option<&'a str>,
    /// `(label, seats)` of each row.
    pub rows: Option<Vec<(Option<&'a str>, Option<i64>)>>,
    pub capacity: Option<i64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(v: Validator) -> Vec<String> {
        v.finish().unwrap_err().0.into_iter().map(|e| e.field).collect()
    }

    fn seated<'a>(name: &'a str, rows: &[(&'a str, i64)]) -> SectionInput<'a> {
        SectionInput {
            name: Some(name),
            kind: Some("SEATED"),
            rows: Some(rows.iter().map(|(l, n)| (Some(*l), Some(*n))).collect()),
            capacity: None,
        }
    }

    fn standing(name: &str, capacity: i64) -> SectionInput<'_> {
        SectionInput { name: Some(name), kind: Some("STANDING"), rows: None, capacity: Some(capacity) }
    }

    #[test]
    fn a_seat_grid_keeps_a_value_per_seat_by_row() {
        use crate::domain::booking::SeatRef;
        let seat = |section: &str, row: &str, n| SeatRef {
            section: SectionName::stored(section),
            horizontal: RowLabel::stored(row).unwrap(),
            vertical: n,
        };
        let mut grid: SeatGrid<u8> = SeatGrid::default();
        assert!(grid.is_empty() && grid.get(&seat("101", "A", 3)).is_none());
        *grid.entry(&seat("101", "A", 3)).unwrap() = 7;
        *grid.entry(&seat("Floor", "", 5000)).unwrap() = 1;
        assert_eq!(grid.get(&seat("101", "A", 3)), Some(&7));
        assert_eq!(grid.get(&seat("101", "A", 1)), Some(&0), "the row grew to seat 3");
        assert_eq!(grid.get(&seat("102", "A", 3)), None, "another section");
        assert!(grid.entry(&seat("101", "A", 0)).is_none());
        assert_eq!(grid.iter().filter(|(_, v)| **v > 0).count(), 2);
    }

    #[test]
    fn labels_are_short_capitals_or_digits_and_order_as_text() {
        assert_eq!(RowLabel::parse("AA").unwrap().as_str(), "AA");
        assert_eq!(RowLabel::parse("12").unwrap().to_string(), "12");
        for bad in ["", "a", "ABCDE", "A-1", "Ä"] {
            assert!(RowLabel::parse(bad).is_err(), "{bad:?}");
        }
        assert!(RowLabel::parse("A").unwrap() < RowLabel::parse("AA").unwrap());
        assert!(RowLabel::parse("AA").unwrap() < RowLabel::parse("B").unwrap());
        assert!(RowLabel::STANDING.is_standing() && RowLabel::STANDING.as_str().is_empty());
    }

    #[test]
    fn section_names_are_trimmed_utf8_of_at_most_40_bytes() {
        assert_eq!(SectionName::parse(" Floor ").unwrap().as_str(), "Floor");
        assert_eq!(SectionName::parse("1층 A구역").unwrap().as_str(), "1층 A구역");
        assert!(SectionName::parse("   ").is_err());
        assert!(SectionName::parse(&"x".repeat(41)).is_err());
        assert!(SectionName::parse("a\nb").is_err());
        assert!(SectionName::SEED.is_seed());
    }

    #[test]
    fn the_seed_form_is_one_seated_section() {
        let layout = Layout::seed(Letter::parse("C").unwrap(), 10);
        assert!(layout.is_one_seated_section());
        assert_eq!(layout.places(), 30);
        assert_eq!(layout.sections[0].row_seats(RowLabel::parse("C").unwrap()), Some(10));
        assert_eq!(layout.sections[0].row_seats(RowLabel::parse("D").unwrap()), None);
    }

    #[test]
    fn an_arena_parses() {
        let mut v = Validator::default();
        let layout =
            Layout::parse(vec![standing("Floor", 5000), seated("101", &[("A", 24), ("B", 26)])], &mut v)
                .unwrap();
        v.finish().unwrap();
        assert_eq!(layout.places(), 5050);
        assert!(!layout.is_one_seated_section());
        assert_eq!(layout.only_section(), None);
        let floor = layout.section(SectionName::parse("Floor").unwrap()).unwrap();
        assert_eq!(floor.rows(), [(RowLabel::STANDING, 5000)]);
    }

    #[test]
    fn every_broken_limit_is_named() {
        let mut v = Validator::default();
        let sections = vec![
            seated("101", &[("A", 0), ("A", 201)]),
            seated("101", &[("a", 10)]),
            standing("Floor", 0),
            SectionInput { name: Some("X"), kind: Some("BOX"), ..Default::default() },
        ];
        assert!(Layout::parse(sections, &mut v).is_none());
        assert_eq!(
            fields(v),
            [
                "sections[0].rows[0].seats",
                "sections[0].rows[1].label",
                "sections[0].rows[1].seats",
                "sections[1].name",
                "sections[1].rows[0].label",
                "sections[2].capacity",
                "sections[3].kind"
            ]
        );
    }

    #[test]
    fn a_venue_holds_at_most_100000_places_in_200_sections() {
        let mut v = Validator::default();
        assert!(Layout::parse(vec![standing("A", 60_000), standing("B", 40_001)], &mut v).is_none());
        assert_eq!(fields(v), ["sections"]);
        let mut v = Validator::default();
        let names: Vec<String> = (0..=200).map(|i| i.to_string()).collect();
        assert!(Layout::parse(names.iter().map(|n| standing(n, 1)).collect(), &mut v).is_none());
        assert_eq!(fields(v), ["sections"]);
    }
}
