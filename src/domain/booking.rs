//! Booking rules: seat orders and the reservation state machine.

use std::collections::HashSet;
use std::fmt;

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::venue::Letter;
use super::{Invalid, Validator};

/// Most seats one order may name, whatever a concert's per-fan limit.
pub const MAX_SEATS_PER_ORDER: usize = 100;

/// A seat position in a concert: row letter and column number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SeatRef {
    pub horizontal: Letter,
    pub vertical: u8,
}

impl SeatRef {
    pub fn parse(
        horizontal: Option<&str>,
        vertical: Option<i64>,
    ) -> Result<Self, Vec<(&'static str, String)>> {
        let mut errors = Vec::new();
        let h = match horizontal {
            Some(raw) => Letter::parse(raw).map_err(|e| errors.push(("horizontal", e))).ok(),
            None => {
                errors.push(("horizontal", "is required".into()));
                None
            }
        };
        let v = match vertical {
            Some(n @ 1..=100) => Some(n as u8),
            Some(_) => {
                errors.push(("vertical", "must be 1 to 100".into()));
                None
            }
            None => {
                errors.push(("vertical", "is required".into()));
                None
            }
        };
        match (h, v) {
            (Some(horizontal), Some(vertical)) => Ok(Self { horizontal, vertical }),
            _ => Err(errors),
        }
    }
}

impl fmt::Display for SeatRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.horizontal, self.vertical)
    }
}

/// How a fan asked for seats: the single form answers with one reservation, the list form
/// with `{"reservations": [...]}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderShape {
    Single,
    List,
}

/// A validated order: distinct seats, all or none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Order {
    pub shape: OrderShape,
    pub seats: Vec<SeatRef>,
}

/// A seat position as sent: `(horizontal, vertical)`.
pub type SeatInput<'a> = (Option<&'a str>, Option<i64>);

impl Order {
    /// Validates either a single seat or a list of seats (exactly one of the two).
    pub fn parse(single: Option<SeatInput<'_>>, list: Option<Vec<SeatInput<'_>>>) -> Result<Self, Invalid> {
        let mut v = Validator::default();
        let (shape, inputs) = match (single, list) {
            (Some(_), Some(_)) => {
                return Err(Invalid::field("seats", "send either horizontal/vertical or seats, not both"));
            }
            (Some(seat), None) => (OrderShape::Single, vec![seat]),
            (None, Some(list)) => (OrderShape::List, list),
            (None, None) => return Err(Invalid::field("seats", "is required (or horizontal and vertical)")),
        };
        if inputs.is_empty() {
            return Err(Invalid::field("seats", "must name at least one seat"));
        }
        if inputs.len() > MAX_SEATS_PER_ORDER {
            return Err(Invalid::field("seats", format!("must name at most {MAX_SEATS_PER_ORDER} seats")));
        }
        let mut seen = HashSet::new();
        let mut seats = Vec::with_capacity(inputs.len());
        for (i, (h, n)) in inputs.into_iter().enumerate() {
            let prefix = match shape {
                OrderShape::Single => String::new(),
                OrderShape::List => format!("seats[{i}]."),
            };
            match SeatRef::parse(h, n) {
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
        v.finish()?;
        Ok(Self { shape, seats })
    }

    /// A stable hash of what was asked, to tell a retry from a different request that
    /// reuses an idempotency key.
    pub fn fingerprint(&self, concert_id: i64) -> String {
        let mut hasher = Sha256::new();
        hasher.update(format!("{concert_id}:{:?}:", self.shape));
        for seat in &self.seats {
            hasher.update(format!("{seat},"));
        }
        hasher.finalize().iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// Where a reservation is in its life. Today: active, then maybe cancelled. A timed hold
/// before payment would add `Held` (→ `Active` on payment, → `Expired` on timeout).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum ReservationStatus {
    /// `Y`: the seat is the fan's.
    #[serde(rename = "Y")]
    Active,
    /// `N`: given back; kept as history.
    #[serde(rename = "N")]
    Cancelled,
}

impl ReservationStatus {
    /// The code stored and sent: `Y` or `N`.
    pub fn code(self) -> &'static str {
        match self {
            ReservationStatus::Active => "Y",
            ReservationStatus::Cancelled => "N",
        }
    }

    pub fn parse(code: &str) -> Result<Self, String> {
        match code {
            "Y" => Ok(ReservationStatus::Active),
            "N" => Ok(ReservationStatus::Cancelled),
            other => Err(format!("unknown reservation status {other:?}")),
        }
    }

    /// Whether a reservation may move from `self` to `next` (the database trigger
    /// `reservations_check_update` enforces the same).
    pub fn can_become(self, next: ReservationStatus) -> bool {
        matches!((self, next), (ReservationStatus::Active, ReservationStatus::Cancelled))
    }

    /// Whether the reservation holds its seat.
    pub fn holds_seat(self) -> bool {
        self == ReservationStatus::Active
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(err: Invalid) -> Vec<String> {
        err.0.into_iter().map(|e| e.field).collect()
    }

    #[test]
    fn a_single_seat_order_parses() {
        let order = Order::parse(Some((Some("B"), Some(12))), None).unwrap();
        assert_eq!(order.shape, OrderShape::Single);
        assert_eq!(order.seats[0].to_string(), "B-12");
    }

    #[test]
    fn a_list_order_rejects_duplicates_and_bad_fields() {
        let err = Order::parse(
            None,
            Some(vec![(Some("A"), Some(1)), (Some("A"), Some(1)), (Some("a"), Some(0)), (None, Some(3))]),
        )
        .unwrap_err();
        assert_eq!(
            fields(err),
            ["seats[1]", "seats[2].horizontal", "seats[2].vertical", "seats[3].horizontal"]
        );
    }

    #[test]
    fn empty_oversized_or_ambiguous_orders_are_rejected() {
        assert!(Order::parse(None, Some(vec![])).is_err());
        assert!(Order::parse(None, None).is_err());
        assert!(Order::parse(Some((Some("A"), Some(1))), Some(vec![(Some("A"), Some(2))])).is_err());
        let many: Vec<SeatInput<'_>> =
            (0..=MAX_SEATS_PER_ORDER as i64).map(|i| (Some("A"), Some(i % 100 + 1))).collect();
        assert!(Order::parse(None, Some(many)).is_err());
    }

    #[test]
    fn fingerprints_tell_orders_apart() {
        let a = Order::parse(None, Some(vec![(Some("A"), Some(1)), (Some("A"), Some(2))])).unwrap();
        let b = Order::parse(None, Some(vec![(Some("A"), Some(1)), (Some("A"), Some(3))])).unwrap();
        assert_eq!(a.fingerprint(1), a.fingerprint(1));
        assert_ne!(a.fingerprint(1), b.fingerprint(1));
        assert_ne!(a.fingerprint(1), a.fingerprint(2));
    }

    #[test]
    fn a_reservation_only_moves_from_active_to_cancelled() {
        use ReservationStatus::*;
        assert!(Active.can_become(Cancelled));
        assert!(!Cancelled.can_become(Active));
        assert!(!Cancelled.can_become(Cancelled));
        assert!(Active.holds_seat() && !Cancelled.holds_seat());
    }
}
