//! Orders: what one booking request bought, and how it is paid for.

use chrono::{DateTime, Utc};

/// Where an order is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OrderStatus {
    /// A `DIRECT` concert's order: its seats are the fan's, no money moved.
    Confirmed,
    /// Its seats are held until `expiresAt`, waiting for the payment.
    PendingPayment,
    /// Paid: its seats are the fan's.
    Paid,
    /// Not paid in time: its seats are free again.
    Expired,
    /// Given up by the fan before paying: its seats are free again.
    Cancelled,
    /// Paid, and some of its seats cancelled and refunded.
    PartiallyRefunded,
    /// Paid, and all of it refunded.
    Refunded,
}

impl OrderStatus {
    pub const ALL: [OrderStatus; 7] = [
        OrderStatus::Confirmed,
        OrderStatus::PendingPayment,
        OrderStatus::Paid,
        OrderStatus::Expired,
        OrderStatus::Cancelled,
        OrderStatus::PartiallyRefunded,
        OrderStatus::Refunded,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            OrderStatus::Confirmed => "CONFIRMED",
            OrderStatus::PendingPayment => "PENDING_PAYMENT",
            OrderStatus::Paid => "PAID",
            OrderStatus::Expired => "EXPIRED",
            OrderStatus::Cancelled => "CANCELLED",
            OrderStatus::PartiallyRefunded => "PARTIALLY_REFUNDED",
            OrderStatus::Refunded => "REFUNDED",
        }
    }

    pub fn parse(raw: &str) -> Result<Self, String> {
        Self::ALL.into_iter().find(|s| s.as_str() == raw).ok_or_else(|| {
            format!("must be one of {}", Self::ALL.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", "))
        })
    }

    /// Whether money was taken for it (and may be given back).
    pub fn is_paid(self) -> bool {
        matches!(self, OrderStatus::Paid | OrderStatus::PartiallyRefunded)
    }
}

/// Why an order ended as it did, when that needs saying.
pub const EXPIRED_BEFORE_PAYMENT: &str = "EXPIRED_BEFORE_PAYMENT";

/// What a payment that arrives for an order does to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaymentOutcome {
    /// Its seats are confirmed (they were held, or free again and taken back).
    Paid,
    /// Paid before: nothing changes.
    AlreadyPaid,
    /// Its seats are gone: the money goes back, and the order says why.
    RefundExpired,
    /// The order is not in a state that takes money (cancelled by the fan, refunded):
    /// the money goes back.
    Refund,
}

/// What a payment arriving at `now` does to an order in `status` whose hold ends at
/// `expires_at`; `seats_free`: whether all its seats could be taken again (asked only of an
/// order whose hold is over).
pub fn on_payment(
    status: OrderStatus,
    expires_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    seats_free: impl FnOnce() -> bool,
) -> PaymentOutcome {
    match status {
        OrderStatus::Paid | OrderStatus::PartiallyRefunded | OrderStatus::Confirmed => {
            PaymentOutcome::AlreadyPaid
        }
        OrderStatus::PendingPayment if expires_at.is_some_and(|at| at > now) => PaymentOutcome::Paid,
        OrderStatus::PendingPayment | OrderStatus::Expired => {
            if seats_free() {
                PaymentOutcome::Paid
            } else {
                PaymentOutcome::RefundExpired
            }
        }
        OrderStatus::Cancelled | OrderStatus::Refunded => PaymentOutcome::Refund,
    }
}

/// Where an e-mail's links point: replaced by the service's public address when it is sent.
pub const PUBLIC_URL: &str = "{PUBLIC_URL}";

/// An e-mail to a fan about their order, composed whole when the change it reports is
/// written: `(event key, subject, text)`. The key names the event, so that it is sent
/// once per (event, recipient). (An order's confirmation is composed when it is sent
/// instead: [`super::confirmation`].)
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice<'a> {
    /// Money goes back (`part`: which refund of the order this is).
    Refunded { order: i64, part: i64, amount: &'a str, currency: &'a str, reason: &'a str },
    /// The hold ended unpaid.
    HoldEnded { order: i64, seats: &'a [String] },
    /// A fan gave a ticket (now of `version`) to another.
    TicketGiven { ticket: i64, version: i64, concert: &'a str, seat: &'a str, to: &'a str },
    /// A fan was given a ticket (now of `version`) by another.
    TicketReceived { ticket: i64, version: i64, concert: &'a str, seat: &'a str, from: &'a str },
}

impl Notice<'_> {
    pub fn compose(&self) -> (String, String, String) {
        let link = |order: i64| format!("{PUBLIC_URL}/orders?order={order}");
        let ticket_link = |ticket: i64| format!("{PUBLIC_URL}/tickets/{ticket}");
        match self {
            Notice::Refunded { order, part, amount, currency, reason } => (
                format!("order-{order}-refund-{part}"),
                format!("Refund for order {order}"),
                format!(
                    "{amount} {currency} of order {order} is being refunded: {reason}.\n\nYour order: {}\n",
                    link(*order)
                ),
            ),
            Notice::HoldEnded { order, seats } => (
                format!("order-{order}-expired"),
                format!("Your hold has ended: order {order}"),
                format!(
                    "Order {order} was not paid in time, so its seats ({}) are released for others.\n\nYour order: {}\n",
                    seats.join(", "),
                    link(*order)
                ),
            ),
            Notice::TicketGiven { ticket, version, concert, seat, to } => (
                format!("ticket-{ticket}-v{version}-given"),
                format!("You gave your ticket to {to}"),
                format!(
                    "Your ticket for {concert} ({seat}) now belongs to {to}; its old code no longer opens the door.\n"
                ),
            ),
            Notice::TicketReceived { ticket, version, concert, seat, from } => (
                format!("ticket-{ticket}-v{version}-received"),
                format!("{from} gave you a ticket for {concert}"),
                format!(
                    "{from} gave you their ticket for {concert} ({seat}).\n\nYour ticket: {}\n",
                    ticket_link(*ticket)
                ),
            ),
        }
    }
}

/// Currencies without a minor unit (ISO 4217 exponent 0), as payment providers count them.
const ZERO_DECIMAL: [&str; 16] = [
    "BIF", "CLP", "DJF", "GNF", "JPY", "KMF", "KRW", "MGA", "PYG", "RWF", "UGX", "VND", "VUV", "XAF", "XOF",
    "XPF",
];

/// An amount stored in hundredths of the currency's unit, in the currency's minor unit as
/// payment providers take it: cents for EUR (unchanged), whole won for KRW (a hundredth of
/// a won has no coin: rounded to the nearest).
pub fn minor_units(hundredths: i64, currency: &str) -> i64 {
    if ZERO_DECIMAL.contains(&currency.to_ascii_uppercase().as_str()) {
        (hundredths + 50).div_euclid(100)
    } else {
        hundredths
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn amounts_are_counted_in_each_currencys_minor_unit() {
        assert_eq!(minor_units(15_000_000, "KRW"), 150_000);
        assert_eq!(minor_units(15_000_000, "krw"), 150_000);
        assert_eq!(minor_units(1_250, "EUR"), 1_250);
        assert_eq!(minor_units(149, "JPY"), 1);
    }

    use super::*;

    #[test]
    fn statuses_read_back_what_they_write() {
        for status in OrderStatus::ALL {
            assert_eq!(OrderStatus::parse(status.as_str()), Ok(status));
        }
        assert!(OrderStatus::parse("paid").unwrap_err().contains("PENDING_PAYMENT"));
    }

    #[test]
    fn a_payment_confirms_a_live_hold_and_refunds_when_the_seats_are_gone() {
        let now = Utc::now();
        let later = Some(now + chrono::Duration::minutes(1));
        let earlier = Some(now - chrono::Duration::seconds(1));
        let never = || panic!("not asked while the hold lasts");
        assert_eq!(on_payment(OrderStatus::PendingPayment, later, now, never), PaymentOutcome::Paid);
        assert_eq!(on_payment(OrderStatus::PendingPayment, earlier, now, || true), PaymentOutcome::Paid);
        assert_eq!(on_payment(OrderStatus::Expired, earlier, now, || true), PaymentOutcome::Paid);
        assert_eq!(on_payment(OrderStatus::Expired, earlier, now, || false), PaymentOutcome::RefundExpired);
        assert_eq!(on_payment(OrderStatus::Paid, None, now, never), PaymentOutcome::AlreadyPaid);
        assert_eq!(on_payment(OrderStatus::Cancelled, None, now, never), PaymentOutcome::Refund);
    }
}
