//! Booking rules: seat orders and the reservation state machine.

use std::collections::HashSet;
use std::fmt;

use chrono::{DateTime, Utc};
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::presale::{Access, Admission};
use super::sections::{MAX_ROW_SEATS, RowLabel, SectionName};
use super::venue::{Checkout, SeatStatus};
use super::{Invalid, Validator};

/// Most seats one order may name, whatever a concert's per-fan limit.
pub const MAX_SEATS_PER_ORDER: usize = 100;

/// A seat position in a concert: section, row label and seat number. A standing place
/// is a seat of its section's row [`RowLabel::STANDING`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SeatRef {
    pub section: SectionName,
    pub horizontal: RowLabel,
    pub vertical: u32,
}

impl SeatRef {
    /// A seat as sent: `section` may be left out (the seed's section `""`, or the venue's
    /// only one).
    pub fn parse(
        section: Option<&str>,
        horizontal: Option<&str>,
        vertical: Option<i64>,
    ) -> Result<Self, Vec<(&'static str, String)>> {
        let mut errors = Vec::new();
        let s =
            SectionName::parse_ref(section.unwrap_or_default()).map_err(|e| errors.push(("section", e))).ok();
        let h = match horizontal {
            Some(raw) => RowLabel::parse(raw).map_err(|e| errors.push(("horizontal", e))).ok(),
            None => {
                errors.push(("horizontal", "is required".into()));
                None
            }
        };
        let v = match vertical {
            Some(n @ 1..=200) => Some(n as u32),
            Some(_) => {
                errors.push(("vertical", format!("must be 1 to {MAX_ROW_SEATS}")));
                None
            }
            None => {
                errors.push(("vertical", "is required".into()));
                None
            }
        };
        match (s, h, v) {
            (Some(section), Some(horizontal), Some(vertical)) => Ok(Self { section, horizontal, vertical }),
            _ => Err(errors),
        }
    }

    /// A seat of the seed's section.
    pub fn seed(horizontal: RowLabel, vertical: u32) -> Self {
        Self { section: SectionName::SEED, horizontal, vertical }
    }

    pub fn is_standing(&self) -> bool {
        self.horizontal.is_standing()
    }
}

/// `B-12` in the seed's section, `101:B-12` in another, `Floor:#12` for a standing place.
impl fmt::Display for SeatRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.section.is_seed() {
            write!(f, "{}:", self.section)?;
        }
        if self.is_standing() {
            write!(f, "#{}", self.vertical)
        } else {
            write!(f, "{}-{}", self.horizontal, self.vertical)
        }
    }
}

/// Standing places of one section, booked by quantity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StandingRef {
    pub section: SectionName,
    pub quantity: u32,
}

/// How a fan asked for seats: the single form answers with one reservation, the list form
/// with `{"reservations": [...]}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderShape {
    Single,
    List,
}

/// A validated order: distinct seats and standing places by section, all or none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Order {
    pub shape: OrderShape,
    pub seats: Vec<SeatRef>,
    pub standing: Vec<StandingRef>,
}

/// A seat position as sent: `(section, horizontal, vertical)`.
pub type SeatInput<'a> = (Option<&'a str>, Option<&'a str>, Option<i64>);

/// Standing places as sent: `(section, quantity)`.
pub type StandingInput<'a> = (Option<&'a str>, Option<i64>);

impl Order {
    /// Validates either a single seat, or a list of seats and standing places (at least
    /// one of the two, and never with the single form).
    pub fn parse(
        single: Option<SeatInput<'_>>,
        list: Option<Vec<SeatInput<'_>>>,
        standing: Option<Vec<StandingInput<'_>>>,
    ) -> Result<Self, Invalid> {
        let mut v = Validator::default();
        let (shape, inputs) = match (single, list, &standing) {
            (Some(_), Some(_), _) | (Some(_), _, Some(_)) => {
                return Err(Invalid::field("seats", "send either horizontal/vertical or seats, not both"));
            }
            (Some(seat), None, None) => (OrderShape::Single, vec![seat]),
            (None, Some(list), _) => (OrderShape::List, list),
            (None, None, Some(_)) => (OrderShape::List, Vec::new()),
            (None, None, None) => {
                return Err(Invalid::field("seats", "is required (or horizontal and vertical)"));
            }
        };
        let standing = standing.unwrap_or_default();
        if inputs.is_empty() && standing.is_empty() {
            return Err(Invalid::field("seats", "must name at least one seat"));
        }
        if inputs.len() > MAX_SEATS_PER_ORDER {
            return Err(Invalid::field("seats", format!("must name at most {MAX_SEATS_PER_ORDER} seats")));
        }
        let mut seen = HashSet::new();
        let mut seats = Vec::with_capacity(inputs.len());
        for (i, (s, h, n)) in inputs.into_iter().enumerate() {
            let prefix = match shape {
                OrderShape::Single => String::new(),
                OrderShape::List => format!("seats[{i}]."),
            };
            match SeatRef::parse(s, h, n) {
                Ok(seat) if !seen.insert(seat) => {
                    v.reject(&format!("seats[{i}]"), format!("seat {seat} is named twice"))
                }
                Ok(seat) => seats.push(seat),
                Err(errors) => {
                    for (field, message) in errors {
                        v.reject(&format!("{prefix}{field}"), message);
                    }
                }
            }
        }
        let mut places = Vec::with_capacity(standing.len());
        let mut sections = HashSet::new();
        for (i, (section, quantity)) in standing.into_iter().enumerate() {
            let section = v.require(&format!("standing[{i}].section"), section, SectionName::parse);
            if let Some(name) = section
                && !sections.insert(name)
            {
                v.reject(&format!("standing[{i}].section"), format!("section {name} is named twice"));
            }
            let quantity = v.check(
                &format!("standing[{i}].quantity"),
                match quantity {
                    Some(n @ 1..=100) => Ok(n as u32),
                    Some(_) => Err(format!("must be 1 to {MAX_SEATS_PER_ORDER}")),
                    None => Err("is required".into()),
                },
            );
            if let (Some(section), Some(quantity)) = (section, quantity) {
                places.push(StandingRef { section, quantity });
            }
        }
        let total = seats.len() + places.iter().map(|p| p.quantity as usize).sum::<usize>();
        if total > MAX_SEATS_PER_ORDER {
            v.reject("seats", format!("must name at most {MAX_SEATS_PER_ORDER} seats and places"));
        }
        v.finish()?;
        Ok(Self { shape, seats, standing: places })
    }

    /// Seats and standing places ordered.
    pub fn places(&self) -> i64 {
        self.seats.len() as i64 + self.standing.iter().map(|p| i64::from(p.quantity)).sum::<i64>()
    }

    /// A stable hash of what was asked, to tell a retry from a different request that
    /// reuses an idempotency key.
    pub fn fingerprint(&self, concert_id: i64) -> String {
        let mut hasher = Sha256::new();
        hasher.update(format!("{concert_id}:{:?}:", self.shape));
        for seat in &self.seats {
            hasher.update(format!("{seat},"));
        }
        for place in &self.standing {
            hasher.update(format!("{}*{};", place.section, place.quantity));
        }
        hasher.finalize().iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// Where a reservation is in its life: held until paid (a `PAYMENT` concert) or confirmed
/// at once, then maybe cancelled; a hold that is not paid in time expires.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum ReservationStatus {
    /// `H`: the seat is the fan's until `expiresAt`, unless paid.
    #[serde(rename = "H")]
    Held,
    /// `Y`: the seat is the fan's.
    #[serde(rename = "Y")]
    Active,
    /// `N`: given back; kept as history.
    #[serde(rename = "N")]
    Cancelled,
    /// `E`: held, not paid in time; the seat is free again.
    #[serde(rename = "E")]
    Expired,
}

impl ReservationStatus {
    /// The code stored and sent: `H`, `Y`, `N` or `E`.
    pub fn code(self) -> &'static str {
        match self {
            ReservationStatus::Held => "H",
            ReservationStatus::Active => "Y",
            ReservationStatus::Cancelled => "N",
            ReservationStatus::Expired => "E",
        }
    }

    pub fn parse(code: &str) -> Result<Self, String> {
        match code {
            "H" => Ok(ReservationStatus::Held),
            "Y" => Ok(ReservationStatus::Active),
            "N" => Ok(ReservationStatus::Cancelled),
            "E" => Ok(ReservationStatus::Expired),
            other => Err(format!("unknown reservation status {other:?}")),
        }
    }

    /// Whether a reservation may move from `self` to `next` (the database trigger
    /// `reservations_check_update` enforces the same).
    pub fn can_become(self, next: ReservationStatus) -> bool {
        use ReservationStatus::*;
        matches!((self, next), (Active, Cancelled) | (Held, Active | Expired | Cancelled))
    }

    /// Whether the reservation takes its seat (held or confirmed).
    pub fn holds_seat(self) -> bool {
        matches!(self, ReservationStatus::Held | ReservationStatus::Active)
    }

    /// The status of the seat a reservation of this status takes.
    pub fn seat_status(self) -> SeatStatus {
        match self {
            ReservationStatus::Held => SeatStatus::Held,
            ReservationStatus::Active => SeatStatus::Reserved,
            ReservationStatus::Cancelled | ReservationStatus::Expired => SeatStatus::Available,
        }
    }
}

/// What a concert's booking rules need of it, as stored when a booking is decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Terms {
    pub start_time: DateTime<Utc>,
    pub max_seats_per_fan: i64,
    /// When sales open (`None`: on sale since the concert was put up).
    pub sales_open_at: Option<DateTime<Utc>>,
    /// When sales close (`None`: at the start).
    pub sales_close_at: Option<DateTime<Utc>>,
    /// Confirmed at once, or held for `hold_minutes` until paid.
    pub checkout: Checkout,
    pub hold_minutes: i64,
}

impl Terms {
    /// What a booking made at `now` is: confirmed, or held until the time returned.
    pub fn booked_as(&self, now: DateTime<Utc>) -> (ReservationStatus, Option<DateTime<Utc>>) {
        booked_as(self.checkout, self.hold_minutes, now)
    }
}

/// What a booking made at `now` in a concert of `checkout` is: confirmed, or held for
/// `hold_minutes`, until the time returned.
pub fn booked_as(
    checkout: Checkout,
    hold_minutes: i64,
    now: DateTime<Utc>,
) -> (ReservationStatus, Option<DateTime<Utc>>) {
    match checkout {
        Checkout::Direct => (ReservationStatus::Active, None),
        Checkout::Payment => (ReservationStatus::Held, Some(now + chrono::Duration::minutes(hold_minutes))),
    }
}

/// The status of the order that holds reservations of `status`.
pub fn order_status_of(status: ReservationStatus) -> super::order::OrderStatus {
    use super::order::OrderStatus;
    if status == ReservationStatus::Held { OrderStatus::PendingPayment } else { OrderStatus::Confirmed }
}

impl Terms {
    /// Whether the concert sells at `now` to a booking that brings `access`: at the general
    /// sale, or before it through a presale whose window is open and whose code has a use
    /// left. `Err` says why not. Once the general sale is open a code is not looked at.
    pub fn on_sale(&self, now: DateTime<Utc>, access: Access) -> Result<Admission, Refusal> {
        match (self.sales_open_at, self.sales_close_at) {
            (Some(opens), _) if now < opens => match access {
                Access::None => Err(Refusal::SalesNotOpen(opens)),
                Access::Code(None) => Err(Refusal::AccessCodeInvalid),
                Access::Code(Some(code)) if now < code.opens_at => {
                    Err(Refusal::PresaleNotOpen(code.opens_at))
                }
                Access::Code(Some(code)) if now >= code.closes_at => Err(Refusal::PresaleClosed(opens)),
                Access::Code(Some(code)) if code.uses >= code.max_uses => Err(Refusal::AccessCodeUsedUp),
                Access::Code(Some(code)) => Ok(Admission::Presale { code_id: code.id }),
            },
            (_, Some(closes)) if now >= closes => Err(Refusal::SalesClosed),
            _ => Ok(Admission::General),
        }
    }

    /// Whether a booking at `now` comes before the general sale, when an access code it
    /// brings is looked at.
    pub fn before_general_sale(&self, now: DateTime<Utc>) -> bool {
        self.sales_open_at.is_some_and(|opens| now < opens)
    }
}

/// Why an order cannot be booked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    ConcertNotFound,
    ConcertStarted,
    /// Sales open at this time.
    SalesNotOpen(DateTime<Utc>),
    SalesClosed,
    /// Before the general sale, an access code the concert does not have.
    AccessCodeInvalid,
    /// The code's presale opens at this time.
    PresaleNotOpen(DateTime<Utc>),
    /// The code's presale has closed; the general sale opens at this time.
    PresaleClosed(DateTime<Utc>),
    /// The code has made all the bookings it may.
    AccessCodeUsedUp,
    /// Seats that do not exist in the concert.
    SeatsNotFound(Vec<SeatRef>),
    /// Seats that are reserved or locked, with their status.
    SeatsUnavailable(Vec<(SeatRef, SeatStatus)>),
    /// The fan, holding `held` seats, would hold more than `limit`.
    FanLimit {
        limit: i64,
        held: i64,
    },
}

/// Decides an order at `now`: the concert (`None` when there is no live one) has not
/// started and sells to a booking with `access` ([`Terms::on_sale`]), every seat exists
/// (`None` status: it does not) and is available, and the fan, holding `held` seats of
/// the concert, stays within its limit. The first rule broken is the answer, naming every
/// seat that breaks it; else how the booking was let in. Allocates only to refuse.
pub fn decide(
    concert: Option<Terms>,
    now: DateTime<Utc>,
    access: Access,
    seats: impl IntoIterator<Item = (SeatRef, Option<SeatStatus>)>,
    held: i64,
) -> Result<Admission, Refusal> {
    let terms = concert.ok_or(Refusal::ConcertNotFound)?;
    if terms.start_time <= now {
        return Err(Refusal::ConcertStarted);
    }
    let admission = terms.on_sale(now, access)?;
    let (mut ordered, mut missing, mut unavailable) = (0_i64, Vec::new(), Vec::new());
    for (seat, status) in seats {
        ordered += 1;
        match status {
            None => missing.push(seat),
            Some(SeatStatus::Available) => {}
            Some(other) => unavailable.push((seat, other)),
        }
    }
    if !missing.is_empty() {
        return Err(Refusal::SeatsNotFound(missing));
    }
    if !unavailable.is_empty() {
        return Err(Refusal::SeatsUnavailable(unavailable));
    }
    if held.saturating_add(ordered) > terms.max_seats_per_fan {
        return Err(Refusal::FanLimit { limit: terms.max_seats_per_fan, held });
    }
    Ok(admission)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(err: Invalid) -> Vec<String> {
        err.0.into_iter().map(|e| e.field).collect()
    }

    #[test]
    fn a_single_seat_order_parses() {
        let order = Order::parse(Some((None, Some("B"), Some(12))), None, None).unwrap();
        assert_eq!(order.shape, OrderShape::Single);
        assert_eq!(order.seats[0].to_string(), "B-12");
    }

    #[test]
    fn a_list_order_rejects_duplicates_and_bad_fields() {
        let err = Order::parse(
            None,
            Some(vec![
                (None, Some("A"), Some(1)),
                (Some(""), Some("A"), Some(1)),
                (None, Some("a"), Some(0)),
                (None, None, Some(3)),
            ]),
            None,
        )
        .unwrap_err();
        assert_eq!(
            fields(err),
            ["seats[1]", "seats[2].horizontal", "seats[2].vertical", "seats[3].horizontal"]
        );
    }

    #[test]
    fn empty_oversized_or_ambiguous_orders_are_rejected() {
        assert!(Order::parse(None, Some(vec![]), None).is_err());
        assert!(Order::parse(None, None, None).is_err());
        assert!(
            Order::parse(Some((None, Some("A"), Some(1))), Some(vec![(None, Some("A"), Some(2))]), None)
                .is_err()
        );
        let many: Vec<SeatInput<'_>> =
            (0..=MAX_SEATS_PER_ORDER as i64).map(|i| (None, Some("A"), Some(i % 100 + 1))).collect();
        assert!(Order::parse(None, Some(many), None).is_err());
        let too_many_places = vec![(Some("Floor"), Some(60)), (Some("Pit"), Some(41))];
        assert!(Order::parse(None, None, Some(too_many_places)).is_err());
    }

    #[test]
    fn fingerprints_tell_orders_apart() {
        let a = Order::parse(None, Some(vec![(None, Some("A"), Some(1)), (None, Some("A"), Some(2))]), None)
            .unwrap();
        let b = Order::parse(None, Some(vec![(None, Some("A"), Some(1)), (None, Some("A"), Some(3))]), None)
            .unwrap();
        let c =
            Order::parse(None, Some(vec![(None, Some("A"), Some(1))]), Some(vec![(Some("Floor"), Some(2))]))
                .unwrap();
        let d =
            Order::parse(None, Some(vec![(None, Some("A"), Some(1))]), Some(vec![(Some("Floor"), Some(3))]))
                .unwrap();
        assert_ne!(c.fingerprint(1), d.fingerprint(1));
        assert_eq!(c.places(), 3);
        assert_eq!(a.fingerprint(1), a.fingerprint(1));
        assert_ne!(a.fingerprint(1), b.fingerprint(1));
        assert_ne!(a.fingerprint(1), a.fingerprint(2));
    }

    #[test]
    fn standing_places_are_ordered_by_section_and_quantity() {
        let order = Order::parse(None, None, Some(vec![(Some(" Floor "), Some(2))])).unwrap();
        assert_eq!(order.shape, OrderShape::List);
        assert_eq!(
            order.standing,
            [StandingRef { section: SectionName::parse("Floor").unwrap(), quantity: 2 }]
        );
        let err = Order::parse(
            None,
            Some(vec![(Some("101"), Some("A"), Some(1))]),
            Some(vec![(Some("Floor"), Some(0)), (Some("Floor"), Some(1)), (None, Some(1))]),
        )
        .unwrap_err();
        assert_eq!(fields(err), ["standing[0].quantity", "standing[1].section", "standing[2].section"]);
        let seat =
            Order::parse(None, Some(vec![(Some("101"), Some("AA"), Some(150))]), None).unwrap().seats[0];
        assert_eq!(seat.to_string(), "101:AA-150");
    }

    #[test]
    fn a_reservation_moves_only_along_its_life() {
        use ReservationStatus::*;
        assert!(Active.can_become(Cancelled));
        assert!(Held.can_become(Active) && Held.can_become(Expired) && Held.can_become(Cancelled));
        assert!(!Cancelled.can_become(Active));
        assert!(!Cancelled.can_become(Cancelled));
        assert!(!Expired.can_become(Active) && !Expired.can_become(Held));
        assert!(!Active.can_become(Held) && !Active.can_become(Expired));
        assert!(Active.holds_seat() && Held.holds_seat() && !Cancelled.holds_seat() && !Expired.holds_seat());
    }

    fn seat(raw: &str) -> SeatRef {
        let (row, column) = raw.split_once('-').unwrap();
        SeatRef::parse(None, Some(row), column.parse().ok()).unwrap()
    }

    fn terms(starts_in_hours: i64, limit: i64) -> (Option<Terms>, DateTime<Utc>) {
        let now = Utc::now();
        let start_time = now + chrono::Duration::hours(starts_in_hours);
        (
            Some(Terms {
                start_time,
                max_seats_per_fan: limit,
                sales_open_at: None,
                sales_close_at: None,
                checkout: Checkout::Direct,
                hold_minutes: 10,
            }),
            now,
        )
    }

    #[test]
    fn an_order_of_free_seats_within_the_limit_is_booked() {
        let (concert, now) = terms(1, 4);
        let seats = [(seat("A-1"), Some(SeatStatus::Available)), (seat("A-2"), Some(SeatStatus::Available))];
        assert_eq!(decide(concert, now, Access::None, seats, 2), Ok(Admission::General));
    }

    #[test]
    fn the_concert_is_checked_before_its_seats() {
        let (_, now) = terms(1, 4);
        let missing = [(seat("A-1"), None)];
        assert_eq!(decide(None, now, Access::None, missing, 0), Err(Refusal::ConcertNotFound));
        let (started, now) = terms(0, 4);
        assert_eq!(decide(started, now, Access::None, missing, 0), Err(Refusal::ConcertStarted));
    }

    #[test]
    fn missing_seats_come_before_unavailable_ones_and_every_one_is_named() {
        let (concert, now) = terms(1, 4);
        let seats = [
            (seat("A-1"), Some(SeatStatus::Reserved)),
            (seat("A-2"), None),
            (seat("A-3"), Some(SeatStatus::Locked)),
            (seat("A-4"), None),
        ];
        assert_eq!(
            decide(concert, now, Access::None, seats, 0),
            Err(Refusal::SeatsNotFound(vec![seat("A-2"), seat("A-4")]))
        );
        let seats = [(seat("A-1"), Some(SeatStatus::Reserved)), (seat("A-3"), Some(SeatStatus::Locked))];
        assert_eq!(
            decide(concert, now, Access::None, seats, 0),
            Err(Refusal::SeatsUnavailable(vec![
                (seat("A-1"), SeatStatus::Reserved),
                (seat("A-3"), SeatStatus::Locked)
            ]))
        );
    }

    #[test]
    fn sales_open_and_close_in_their_window_only() {
        let (concert, now) = terms(48, 4);
        let mut terms = concert.unwrap();
        let free = [(seat("A-1"), Some(SeatStatus::Available))];
        terms.sales_open_at = Some(now + chrono::Duration::hours(1));
        assert_eq!(
            decide(Some(terms), now, Access::None, free, 0),
            Err(Refusal::SalesNotOpen(now + chrono::Duration::hours(1)))
        );
        terms.sales_open_at = Some(now);
        assert_eq!(
            decide(Some(terms), now, Access::None, free, 0),
            Ok(Admission::General),
            "open from that instant"
        );
        terms.sales_close_at = Some(now);
        assert_eq!(
            decide(Some(terms), now, Access::None, free, 0),
            Err(Refusal::SalesClosed),
            "closed from that instant"
        );
        terms.start_time = now;
        assert_eq!(
            decide(Some(terms), now, Access::None, free, 0),
            Err(Refusal::ConcertStarted),
            "a started concert says so"
        );
    }

    #[test]
    fn before_the_general_sale_only_a_code_of_an_open_presale_with_a_use_left_books() {
        use crate::domain::presale::PresaleCode;
        let (concert, now) = terms(48, 4);
        let hours = chrono::Duration::hours;
        let general = now + hours(1);
        let terms = Terms { sales_open_at: Some(general), ..concert.unwrap() };
        let free = [(seat("A-1"), Some(SeatStatus::Available))];
        let code = PresaleCode { id: 7, opens_at: now - hours(1), closes_at: general, uses: 1, max_uses: 2 };
        let with = |code| decide(Some(terms), now, Access::Code(code), free, 0);
        assert_eq!(with(Some(code)), Ok(Admission::Presale { code_id: 7 }));
        assert_eq!(decide(Some(terms), now, Access::None, free, 0), Err(Refusal::SalesNotOpen(general)));
        assert_eq!(with(None), Err(Refusal::AccessCodeInvalid));
        let later = PresaleCode { opens_at: now + hours(1) / 2, ..code };
        assert_eq!(with(Some(later)), Err(Refusal::PresaleNotOpen(later.opens_at)));
        let over = PresaleCode { closes_at: now, ..code };
        assert_eq!(with(Some(over)), Err(Refusal::PresaleClosed(general)));
        assert_eq!(with(Some(PresaleCode { uses: 2, ..code })), Err(Refusal::AccessCodeUsedUp));
        // The seats and the fan's limit still hold for a presale booking.
        let taken = [(seat("A-1"), Some(SeatStatus::Reserved))];
        assert!(matches!(
            decide(Some(terms), now, Access::Code(Some(code)), taken, 0),
            Err(Refusal::SeatsUnavailable(_))
        ));
        // Once the general sale is open, a code is not looked at: even an unknown one.
        let open = Terms { sales_open_at: Some(now), ..terms };
        assert_eq!(decide(Some(open), now, Access::Code(None), free, 0), Ok(Admission::General));
        assert!(!open.before_general_sale(now) && terms.before_general_sale(now));
    }

    #[test]
    fn the_fan_limit_counts_the_seats_held_and_ordered() {
        let (concert, now) = terms(1, 4);
        let two = [(seat("A-1"), Some(SeatStatus::Available)), (seat("A-2"), Some(SeatStatus::Available))];
        assert_eq!(decide(concert, now, Access::None, two, 2), Ok(Admission::General));
        assert_eq!(decide(concert, now, Access::None, two, 3), Err(Refusal::FanLimit { limit: 4, held: 3 }));
    }
}
