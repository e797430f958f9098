//! Venues and concerts: row letters, grades, prices, seat plans and seat states.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Serialize, Serializer};

use super::sections::{Layout, RowLabel, Section, SectionInput, SectionKind, SectionName};
use super::{Invalid, Validator};

/// One capital letter `A`..`Z`: a row of seats or a seat grade.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Letter(u8);

impl Letter {
    pub fn parse(raw: &str) -> Result<Self, String> {
        match raw.as_bytes() {
            [b @ b'A'..=b'Z'] => Ok(Self(*b)),
            _ => Err("must be one capital letter A-Z".into()),
        }
    }

    /// The letter at `index` (0 is `A`), if any.
    pub fn from_index(index: usize) -> Option<Self> {
        u8::try_from(index).ok().filter(|i| *i < 26).map(|i| Self(b'A' + i))
    }

    /// 0 for `A`, 25 for `Z`.
    pub fn index(self) -> usize {
        usize::from(self.0 - b'A')
    }

    pub fn as_char(self) -> char {
        char::from(self.0)
    }

    /// `A` up to and including `self`.
    pub fn up_to(self) -> impl Iterator<Item = Letter> {
        (b'A'..=self.0).map(Letter)
    }
}

impl fmt::Display for Letter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.as_char())
    }
}

impl Serialize for Letter {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_char(self.as_char())
    }
}

/// A non-negative amount with at most two decimals, kept exactly in hundredths.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Price(i64);

impl Price {
    /// Largest accepted amount (one billion).
    pub const MAX_CENTS: i64 = 100_000_000_000;

    pub fn parse(amount: f64) -> Result<Self, String> {
        if !amount.is_finite() || amount < 0.0 {
            return Err("must be a non-negative amount".into());
        }
        let cents = (amount * 100.0).round();
        if (amount * 100.0 - cents).abs() > 1e-6 {
            return Err("must have at most two decimals".into());
        }
        if cents > Self::MAX_CENTS as f64 {
            return Err("must be at most 1000000000".into());
        }
        Ok(Self(cents as i64))
    }

    pub fn from_cents(cents: i64) -> Self {
        Self(cents)
    }

    pub fn cents(self) -> i64 {
        self.0
    }
}

/// As it is sent: `90000`, `12.5`.
impl fmt::Display for Price {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 % 100 == 0 { write!(f, "{}", self.0 / 100) } else { write!(f, "{}", self.0 as f64 / 100.0) }
    }
}

impl Serialize for Price {
    /// Whole amounts as JSON integers (`90000`), others with their decimals (`12.5`).
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.0 % 100 == 0 { s.serialize_i64(self.0 / 100) } else { s.serialize_f64(self.0 as f64 / 100.0) }
    }
}

/// The state of one seat.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum SeatStatus {
    Available,
    Reserved,
    Locked,
    /// Held for a fan until paid (or until the hold expires).
    Held,
}

impl SeatStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            SeatStatus::Available => "AVAILABLE",
            SeatStatus::Reserved => "RESERVED",
            SeatStatus::Locked => "LOCKED",
            SeatStatus::Held => "HELD",
        }
    }

    /// The character of the compact seat map: `A`, `R`, `L` or `H`.
    pub fn map_char(self) -> u8 {
        match self {
            SeatStatus::Available => b'A',
            SeatStatus::Reserved => b'R',
            SeatStatus::Locked => b'L',
            SeatStatus::Held => b'H',
        }
    }

    pub fn parse(raw: &str) -> Result<Self, String> {
        match raw {
            "AVAILABLE" => Ok(SeatStatus::Available),
            "RESERVED" => Ok(SeatStatus::Reserved),
            "LOCKED" => Ok(SeatStatus::Locked),
            "HELD" => Ok(SeatStatus::Held),
            _ => Err(format!("unknown seat status {raw:?}")),
        }
    }
}

/// How a concert's bookings are settled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Checkout {
    /// Confirmed at once; no money moves (the seed's behaviour).
    Direct,
    /// Held until paid through the payment provider.
    Payment,
}

impl Checkout {
    pub fn as_str(self) -> &'static str {
        match self {
            Checkout::Direct => "DIRECT",
            Checkout::Payment => "PAYMENT",
        }
    }

    pub fn parse(raw: &str) -> Result<Self, String> {
        match raw {
            "DIRECT" => Ok(Checkout::Direct),
            "PAYMENT" => Ok(Checkout::Payment),
            _ => Err("must be DIRECT or PAYMENT".into()),
        }
    }
}

/// The currency of prices when neither the concert nor the service's configuration says.
pub const DEFAULT_CURRENCY: &str = "KRW";

/// `holdMinutes` when a concert does not say, and its largest value.
pub const DEFAULT_HOLD_MINUTES: i64 = 10;
pub const MAX_HOLD_MINUTES: i64 = 60;
/// Most fans a waiting room admits a minute.
pub const MAX_ADMIT_PER_MINUTE: i64 = 1_000_000;
/// Longest an admitted fan's pass is valid, in minutes.
pub const MAX_PASS_MINUTES: i64 = 240;

/// A waiting room in front of a concert's sale: fans join from `opens_at` (before sales
/// open), are admitted `admit_per_minute` a minute, and book with a pass valid
/// `pass_minutes`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WaitingRoom {
    pub opens_at: DateTime<Utc>,
    pub admit_per_minute: i64,
    pub pass_minutes: i64,
}

/// A concert's `waitingRoom` as sent.
#[derive(Debug, Default, Clone, Copy)]
pub struct WaitingRoomInput<'a> {
    pub opens_at: Option<&'a str>,
    pub admit_per_minute: Option<i64>,
    pub pass_minutes: Option<i64>,
}

/// An ISO 4217 currency code: three capital letters (`KRW`, `EUR`).
pub fn currency(raw: &str) -> Result<String, String> {
    let code = raw.trim();
    if code.len() == 3 && code.bytes().all(|b| b.is_ascii_uppercase()) {
        Ok(code.to_owned())
    } else {
        Err("must be an ISO 4217 code of three capital letters, e.g. KRW".into())
    }
}

/// Largest `maxSeatsPerFan` a concert may set.
pub const MAX_SEATS_PER_FAN: i64 = 100;
/// `maxSeatsPerFan` when a concert does not say.
pub const DEFAULT_SEATS_PER_FAN: i64 = 4;

/// A venue's validated fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditoriumSpec {
    pub name: String,
    pub address: String,
    /// Its sections (the seed's form is one section `""`).
    pub layout: Layout,
    /// `(maxRow, maxColumn)` when it was described the seed's way.
    pub seed: Option<(Letter, u8)>,
}

/// A venue's fields as sent: `maxRow` and `maxColumn`, or `sections`.
#[derive(Debug, Default)]
pub struct AuditoriumInput<'a> {
    pub name: Option<&'a str>,
    pub address: Option<&'a str>,
    pub max_row: Option<&'a str>,
    pub max_column: Option<i64>,
    pub sections: Option<Vec<SectionInput<'a>>>,
}

impl AuditoriumSpec {
    pub fn parse(input: AuditoriumInput<'_>) -> Result<Self, Invalid> {
        let mut v = Validator::default();
        let name = v.require("name", input.name, |s| text(s, 100));
        let address = v.require("address", input.address, |s| text(s, 300));
        let (layout, seed) = match input.sections {
            Some(_) if input.max_row.is_some() || input.max_column.is_some() => {
                v.reject("sections", "send either maxRow and maxColumn, or sections, not both");
                (None, None)
            }
            Some(sections) => (Layout::parse(sections, &mut v), None),
            None => {
                let max_row = v.require("maxRow", input.max_row, Letter::parse);
                let max_column = v.check(
                    "maxColumn",
                    match input.max_column {
                        Some(n @ 1..=100) => Ok(n as u8),
                        Some(_) => Err("must be 1 to 100".into()),
                        None => Err("is required".into()),
                    },
                );
                let seed = max_row.zip(max_column);
                (seed.map(|(row, column)| Layout::seed(row, column)), seed)
            }
        };
        let ((name, address), layout) = v.finish_with(name.zip(address).zip(layout))?;
        Ok(Self { name, address, layout, seed })
    }
}

/// Trimmed, non-empty text of at most `max` characters.
pub fn text(raw: &str, max: usize) -> Result<String, String> {
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        return Err("must not be empty".into());
    }
    if trimmed.chars().count() > max {
        return Err(format!("must be at most {max} characters"));
    }
    Ok(trimmed.to_owned())
}

/// A concert's validated fields: what goes on sale, at which prices.
#[derive(Debug, Clone, PartialEq)]
pub struct ConcertSpec {
    pub name: String,
    pub description: String,
    pub start_time: DateTime<Utc>,
    pub auditorium_id: i64,
    pub max_seats_per_fan: i64,
    /// When sales open (`None`: at once) and close (`None`: at the start).
    pub sales_open_at: Option<DateTime<Utc>>,
    pub sales_close_at: Option<DateTime<Utc>>,
    /// Confirmed at once, or held until paid.
    pub checkout: Checkout,
    /// How long a `PAYMENT` booking holds its seats, in minutes.
    pub hold_minutes: i64,
    /// ISO 4217 code of the prices (`None`: the service's default currency).
    pub currency: Option<String>,
    /// The waiting room in front of the sale, if any.
    pub waiting_room: Option<WaitingRoom>,
    /// Price of each grade, by grade.
    pub prices: BTreeMap<Letter, Price>,
    /// Grade of each row on sale, by section and row; a standing section on sale is its
    /// one row, [`RowLabel::STANDING`].
    pub rows: BTreeMap<(SectionName, RowLabel), Letter>,
}

/// One `{section?, horizontals, grade}` entry of a concert's `seatList`, as sent.
#[derive(Debug, Default)]
pub struct RowsInput<'a> {
    pub section: Option<&'a str>,
    pub horizontals: Option<Vec<&'a str>>,
    pub grade: Option<&'a str>,
}

/// A concert's fields as sent.
#[derive(Debug, Default)]
pub struct ConcertInput<'a> {
    pub name: Option<&'a str>,
    pub description: Option<&'a str>,
    pub start_time: Option<&'a str>,
    pub sales_open_at: Option<&'a str>,
    pub sales_close_at: Option<&'a str>,
    pub checkout: Option<&'a str>,
    pub hold_minutes: Option<i64>,
    pub currency: Option<&'a str>,
    pub waiting_room: Option<WaitingRoomInput<'a>>,
    pub auditorium_id: Option<i64>,
    pub max_seats_per_fan: Option<i64>,
    pub prices: Option<Vec<(Option<&'a str>, Option<f64>)>>,
    pub seat_list: Option<Vec<RowsInput<'a>>>,
    /// `(section, grade)` of each standing section on sale.
    pub standing: Option<Vec<(Option<&'a str>, Option<&'a str>)>>,
}

impl ConcertSpec {
    /// Validates a concert against the time `now` and its venue's sections (`None`: not
    /// checked against a venue; rows are then in the seed's section).
    pub fn parse(
        input: ConcertInput<'_>,
        now: DateTime<Utc>,
        venue: Option<&Layout>,
    ) -> Result<Self, Invalid> {
        let mut v = Validator::default();
        let name = v.require("name", input.name, |s| text(s, 200));
        let description = input.description.unwrap_or_default().trim().to_owned();
        if description.chars().count() > 5000 {
            v.reject("description", "must be at most 5000 characters");
        }
        let time = |s: &str| {
            DateTime::parse_from_rfc3339(s)
                .map(|t| t.with_timezone(&Utc))
                .map_err(|_| "must be an RFC 3339 time, e.g. 2027-05-01T19:00:00Z".to_owned())
        };
        let start_time = v.require("startTime", input.start_time, |s| {
            time(s).and_then(|t| if t <= now { Err("must be in the future".into()) } else { Ok(t) })
        });
        let sales_open_at = input.sales_open_at.and_then(|s| v.check("salesOpenAt", time(s)));
        let sales_close_at = input.sales_close_at.and_then(|s| v.check("salesCloseAt", time(s)));
        if let (Some(close), Some(start)) = (sales_close_at, start_time)
            && close > start
        {
            v.reject("salesCloseAt", "must not be after startTime");
        }
        if let (Some(open), Some(close)) = (sales_open_at, sales_close_at.or(start_time))
            && open >= close
        {
            v.reject("salesOpenAt", "must be before salesCloseAt (or startTime)");
        }
        let checkout = match input.checkout {
            None => Checkout::Direct,
            Some(raw) => v.check("checkout", Checkout::parse(raw)).unwrap_or(Checkout::Direct),
        };
        let hold_minutes = input.hold_minutes.unwrap_or(DEFAULT_HOLD_MINUTES);
        if !(1..=MAX_HOLD_MINUTES).contains(&hold_minutes) {
            v.reject("holdMinutes", format!("must be 1 to {MAX_HOLD_MINUTES}"));
        }
        let currency = input.currency.and_then(|raw| v.check("currency", currency(raw)));
        let waiting_room = input.waiting_room.and_then(|room| {
            let opens_at = v.require("waitingRoom.opensAt", room.opens_at, time);
            match (opens_at, sales_open_at) {
                (Some(opens), Some(sales)) if opens >= sales => {
                    v.reject("waitingRoom.opensAt", "must be before salesOpenAt")
                }
                (Some(_), None) if input.sales_open_at.is_none() => {
                    v.reject("salesOpenAt", "is required with a waiting room: the room opens before sales do")
                }
                _ => {}
            }
            let admit_per_minute = v.check(
                "waitingRoom.admitPerMinute",
                room.admit_per_minute
                    .filter(|n| (1..=MAX_ADMIT_PER_MINUTE).contains(n))
                    .ok_or_else(|| format!("must be 1 to {MAX_ADMIT_PER_MINUTE}")),
            );
            let pass_minutes = v.check(
                "waitingRoom.passMinutes",
                room.pass_minutes
                    .filter(|n| (1..=MAX_PASS_MINUTES).contains(n))
                    .ok_or_else(|| format!("must be 1 to {MAX_PASS_MINUTES}")),
            );
            Some(WaitingRoom {
                opens_at: opens_at?,
                admit_per_minute: admit_per_minute?,
                pass_minutes: pass_minutes?,
            })
        });
        let auditorium_id = v.check("auditoriumId", input.auditorium_id.ok_or_else(|| "is required".into()));
        let max_seats_per_fan = input.max_seats_per_fan.unwrap_or(DEFAULT_SEATS_PER_FAN);
        if !(1..=MAX_SEATS_PER_FAN).contains(&max_seats_per_fan) {
            v.reject("maxSeatsPerFan", format!("must be 1 to {MAX_SEATS_PER_FAN}"));
        }

        let mut prices = BTreeMap::new();
        // Grades named in seatPrices, even with an invalid price: such a grade is reported
        // once, at its price, not again as "has no price" in seatList.
        let mut named = std::collections::BTreeSet::new();
        match input.prices {
            None => v.reject("seatPrices", "is required"),
            Some(list) if list.is_empty() => v.reject("seatPrices", "must name at least one grade"),
            Some(list) => {
                for (i, (grade, price)) in list.into_iter().enumerate() {
                    let grade = v.require(&format!("seatPrices[{i}].grade"), grade, Letter::parse);
                    named.extend(grade);
                    let price = v.check(
                        &format!("seatPrices[{i}].price"),
                        price.ok_or_else(|| "is required".to_owned()).and_then(Price::parse),
                    );
                    if let (Some(grade), Some(price)) = (grade, price)
                        && prices.insert(grade, price).is_some()
                    {
                        v.reject(&format!("seatPrices[{i}].grade"), format!("grade {grade} is priced twice"));
                    }
                }
            }
        }

        let mut rows = BTreeMap::new();
        let priced = |grade: &Letter| named.contains(grade) || named.is_empty();
        let nothing_listed = input.seat_list.as_ref().is_none_or(Vec::is_empty)
            && input.standing.as_ref().is_none_or(Vec::is_empty);
        match (input.seat_list, &input.standing) {
            (None, None) => v.reject("seatList", "is required"),
            _ if nothing_listed => v.reject("seatList", "must put at least one row on sale"),
            (list, _) => {
                for (i, entry) in list.unwrap_or_default().into_iter().enumerate() {
                    let grade = v.require(&format!("seatList[{i}].grade"), entry.grade, Letter::parse);
                    if let Some(grade) = grade
                        && !priced(&grade)
                    {
                        v.reject(&format!("seatList[{i}].grade"), format!("grade {grade} has no price"));
                    }
                    let field = format!("seatList[{i}].section");
                    let section = match (entry.section, venue) {
                        (Some(raw), _) => v.check(&field, SectionName::parse_ref(raw)),
                        (None, None) => Some(SectionName::SEED),
                        (None, Some(layout)) => v.check(
                            &field,
                            layout.only_section().ok_or_else(|| {
                                format!("is required: the venue has {} sections", layout.sections.len())
                            }),
                        ),
                    };
                    let section = match (section, venue) {
                        (Some(name), Some(layout)) => match layout.section(name) {
                            Some(found @ Section { kind: SectionKind::Seated(_), .. }) => Some(Some(found)),
                            Some(_) => {
                                v.reject(
                                    &field,
                                    format!("section {name} is standing: put it on sale in standing"),
                                );
                                None
                            }
                            None => {
                                v.reject(&field, format!("the venue has no section {name:?}"));
                                None
                            }
                        },
                        (Some(_), None) => Some(None),
                        (None, _) => None,
                    };
                    let horizontals = entry.horizontals.unwrap_or_default();
                    if horizontals.is_empty() {
                        v.reject(&format!("seatList[{i}].horizontals"), "must name at least one row");
                    }
                    for (j, raw) in horizontals.into_iter().enumerate() {
                        let field = format!("seatList[{i}].horizontals[{j}]");
                        let Some(row) = v.check(&field, RowLabel::parse(raw)) else { continue };
                        let Some(section) = section else { continue };
                        let name = section.map_or(SectionName::SEED, |s| s.name);
                        match section {
                            Some(found) if found.row_seats(row).is_none() && name.is_seed() => {
                                v.reject(&field, format!("row {row} is beyond the venue's last row"))
                            }
                            Some(found) if found.row_seats(row).is_none() => {
                                v.reject(&field, format!("section {name} has no row {row}"))
                            }
                            _ => {
                                if let Some(grade) = grade
                                    && rows.insert((name, row), grade).is_some()
                                {
                                    v.reject(&field, format!("row {row} is listed twice"));
                                }
                            }
                        }
                    }
                }
            }
        }
        for (i, (section, grade)) in input.standing.unwrap_or_default().into_iter().enumerate() {
            let grade = v.require(&format!("standing[{i}].grade"), grade, Letter::parse);
            if let Some(grade) = grade
                && !priced(&grade)
            {
                v.reject(&format!("standing[{i}].grade"), format!("grade {grade} has no price"));
            }
            let field = format!("standing[{i}].section");
            let Some(name) = v.require(&field, section, SectionName::parse) else { continue };
            if let Some(layout) = venue
                && !matches!(layout.section(name), Some(Section { kind: SectionKind::Standing(_), .. }))
            {
                v.reject(&field, format!("the venue has no standing section {name:?}"));
                continue;
            }
            if let Some(grade) = grade
                && rows.insert((name, RowLabel::STANDING), grade).is_some()
            {
                v.reject(&field, format!("section {name} is listed twice"));
            }
        }
        let ((name, start_time), auditorium_id) = v.finish_with(name.zip(start_time).zip(auditorium_id))?;
        Ok(Self {
            name,
            description,
            start_time,
            auditorium_id,
            max_seats_per_fan,
            sales_open_at,
            sales_close_at,
            checkout,
            hold_minutes,
            currency,
            waiting_room,
            prices,
            rows,
        })
    }
}

/// The compact seat map of one row: one character per column, column 1 first.
pub fn row_statuses(max_column: usize, seats: impl IntoIterator<Item = (u32, SeatStatus)>) -> String {
    let mut line = vec![b'-'; max_column];
    for (column, status) in seats {
        if let Some(slot) = (column as usize).checked_sub(1).and_then(|i| line.get_mut(i)) {
            *slot = status.map_char();
        }
    }
    String::from_utf8(line).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn letter(s: &str) -> Letter {
        Letter::parse(s).unwrap()
    }

    #[test]
    fn letters_are_single_capitals() {
        assert_eq!(letter("A").index(), 0);
        assert_eq!(letter("Z").index(), 25);
        for bad in ["", "a", "AA", "1", "Ä"] {
            assert!(Letter::parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(letter("C").up_to().map(Letter::as_char).collect::<String>(), "ABC");
    }

    #[test]
    fn prices_are_exact_and_non_negative() {
        assert_eq!(Price::parse(90000.0).unwrap().cents(), 9_000_000);
        assert_eq!(Price::parse(12.5).unwrap().cents(), 1250);
        assert_eq!(Price::parse(0.1 + 0.2).unwrap().cents(), 30);
        assert!(Price::parse(-1.0).is_err());
        assert!(Price::parse(1.234).is_err());
        assert!(Price::parse(f64::NAN).is_err());
        assert_eq!(serde_json::to_string(&Price::from_cents(9_000_000)).unwrap(), "90000");
        assert_eq!(serde_json::to_string(&Price::from_cents(1250)).unwrap(), "12.5");
    }

    fn input<'a>() -> ConcertInput<'a> {
        ConcertInput {
            name: Some("Live"),
            description: Some("desc"),
            start_time: Some("2030-01-01T19:00:00Z"),
            sales_open_at: None,
            sales_close_at: None,
            checkout: None,
            hold_minutes: None,
            currency: None,
            waiting_room: None,
            auditorium_id: Some(1),
            max_seats_per_fan: None,
            prices: Some(vec![(Some("R"), Some(100.0)), (Some("S"), Some(50.0))]),
            seat_list: Some(vec![
                RowsInput { section: None, horizontals: Some(vec!["A", "B"]), grade: Some("R") },
                RowsInput { section: None, horizontals: Some(vec!["C"]), grade: Some("S") },
            ]),
            standing: None,
        }
    }

    fn fields(err: Invalid) -> Vec<String> {
        err.0.into_iter().map(|e| e.field).collect()
    }

    #[test]
    fn a_valid_concert_parses_with_the_default_limit() {
        let venue = Layout::seed(letter("C"), 10);
        let spec = ConcertSpec::parse(input(), Utc::now(), Some(&venue)).unwrap();
        assert_eq!(spec.max_seats_per_fan, DEFAULT_SEATS_PER_FAN);
        assert_eq!(spec.rows.len(), 3);
        assert_eq!(spec.rows[&(SectionName::SEED, RowLabel::from(letter("C")))], letter("S"));
    }

    #[test]
    fn rows_beyond_the_venue_are_rejected() {
        let venue = Layout::seed(letter("B"), 10);
        let err = ConcertSpec::parse(input(), Utc::now(), Some(&venue)).unwrap_err();
        assert_eq!(fields(err), ["seatList[1].horizontals[0]"]);
    }

    #[test]
    fn duplicate_rows_and_unpriced_grades_are_rejected() {
        let mut i = input();
        i.seat_list = Some(vec![
            RowsInput { section: None, horizontals: Some(vec!["A"]), grade: Some("R") },
            RowsInput { section: None, horizontals: Some(vec!["A"]), grade: Some("V") },
        ]);
        let err = ConcertSpec::parse(i, Utc::now(), None).unwrap_err();
        assert_eq!(fields(err), ["seatList[1].grade", "seatList[1].horizontals[0]"]);
    }

    #[test]
    fn past_start_and_empty_name_are_rejected() {
        let mut i = input();
        i.start_time = Some("2001-01-01T00:00:00Z");
        i.name = Some("   ");
        i.prices = Some(vec![(Some("R"), Some(-5.0)), (Some("S"), Some(1.0))]);
        let err = ConcertSpec::parse(i, Utc::now(), None).unwrap_err();
        assert_eq!(fields(err), ["name", "startTime", "seatPrices[0].price"]);
    }

    #[test]
    fn the_compact_row_marks_missing_seats() {
        let line =
            row_statuses(5, [(1, SeatStatus::Available), (2, SeatStatus::Reserved), (4, SeatStatus::Locked)]);
        assert_eq!(line, "AR-L-");
    }

    #[test]
    fn auditorium_bounds_are_checked() {
        let ok = AuditoriumSpec::parse(AuditoriumInput {
            name: Some(" Hall "),
            address: Some("Seoul"),
            max_row: Some("Z"),
            max_column: Some(100),
            sections: None,
        })
        .unwrap();
        assert_eq!(ok.name, "Hall");
        let err = AuditoriumSpec::parse(AuditoriumInput {
            name: Some(""),
            address: None,
            max_row: Some("z"),
            max_column: Some(101),
            sections: None,
        })
        .unwrap_err();
        assert_eq!(fields(err), ["name", "address", "maxRow", "maxColumn"]);
    }

    fn arena() -> Layout {
        use crate::domain::sections::SectionInput;
        let mut v = Validator::default();
        let sections = vec![
            SectionInput {
                name: Some("Floor"),
                kind: Some("STANDING"),
                capacity: Some(100),
                ..Default::default()
            },
            SectionInput {
                name: Some("101"),
                kind: Some("SEATED"),
                rows: Some(vec![(Some("A"), Some(10)), (Some("AA"), Some(12))]),
                ..Default::default()
            },
        ];
        Layout::parse(sections, &mut v).unwrap()
    }

    #[test]
    fn a_concert_in_sections_grades_rows_per_section_and_prices_standing() {
        let mut i = input();
        i.seat_list = Some(vec![RowsInput {
            section: Some("101"),
            horizontals: Some(vec!["A", "AA"]),
            grade: Some("R"),
        }]);
        i.standing = Some(vec![(Some("Floor"), Some("S"))]);
        let spec = ConcertSpec::parse(i, Utc::now(), Some(&arena())).unwrap();
        let floor = (SectionName::parse("Floor").unwrap(), RowLabel::STANDING);
        assert_eq!(spec.rows[&floor], letter("S"));
        assert_eq!(spec.rows.len(), 3);
    }

    #[test]
    fn a_sales_window_lies_before_the_start() {
        let mut i = input();
        i.sales_open_at = Some("2029-12-01T10:00:00Z");
        i.sales_close_at = Some("2029-12-31T23:00:00Z");
        let spec = ConcertSpec::parse(i, Utc::now(), None).unwrap();
        assert!(spec.sales_open_at < spec.sales_close_at);
        let mut i = input();
        i.sales_close_at = Some("2030-01-02T00:00:00Z");
        assert_eq!(
            fields(ConcertSpec::parse(i, Utc::now(), None).unwrap_err()),
            ["salesCloseAt"],
            "after the start"
        );
        let mut i = input();
        i.sales_open_at = Some("2030-01-01T19:00:00Z");
        assert_eq!(
            fields(ConcertSpec::parse(i, Utc::now(), None).unwrap_err()),
            ["salesOpenAt"],
            "at the start"
        );
        let mut i = input();
        i.sales_open_at = Some("soon");
        assert_eq!(fields(ConcertSpec::parse(i, Utc::now(), None).unwrap_err()), ["salesOpenAt"]);
    }

    #[test]
    fn a_concert_puts_something_on_sale() {
        let mut i = input();
        i.seat_list = None;
        i.standing = Some(Vec::new());
        assert_eq!(fields(ConcertSpec::parse(i, Utc::now(), Some(&arena())).unwrap_err()), ["seatList"]);
        let mut i = input();
        i.seat_list = Some(Vec::new());
        i.standing = Some(vec![(Some("Floor"), Some("S"))]);
        assert!(ConcertSpec::parse(i, Utc::now(), Some(&arena())).is_ok(), "a floor alone is on sale");
    }

    #[test]
    fn sections_and_rows_not_in_the_venue_are_named() {
        let mut i = input();
        i.seat_list = Some(vec![
            RowsInput { section: None, horizontals: Some(vec!["A"]), grade: Some("R") },
            RowsInput { section: Some("102"), horizontals: Some(vec!["A"]), grade: Some("R") },
            RowsInput { section: Some("101"), horizontals: Some(vec!["A", "B"]), grade: Some("R") },
            RowsInput { section: Some("Floor"), horizontals: Some(vec!["A"]), grade: Some("R") },
        ]);
        i.standing = Some(vec![(Some("101"), Some("S")), (Some("Floor"), Some("V"))]);
        let err = ConcertSpec::parse(i, Utc::now(), Some(&arena())).unwrap_err();
        assert_eq!(
            fields(err),
            [
                "seatList[0].section",
                "seatList[1].section",
                "seatList[2].horizontals[1]",
                "seatList[3].section",
                "standing[0].section",
                "standing[1].grade"
            ]
        );
    }
}
