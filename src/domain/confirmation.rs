//! An order's confirmation e-mail, with its tickets. It is composed when it is sent, not
//! when the order was confirmed, so each ticket is shown as it is then: its current code
//! (as a QR code the HTML shows inline, and a link to its page), or that it was cancelled,
//! or given to another fan (whose code it is now, so not shown here).

use chrono::{DateTime, Utc};

use super::ticket::TicketStatus;

/// A ticket of the order, as its confirmation shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfirmedTicket {
    pub id: i64,
    /// The seat or standing place, as shown (`A-1`, …).
    pub seat: String,
    pub state: TicketState,
}

/// What became of a ticket by the time its order's confirmation goes out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TicketState {
    /// The fan holds it: its QR code goes with the e-mail.
    Held,
    /// Cancelled: no code of it opens the door.
    Cancelled,
    /// Given to another fan: its code is theirs.
    GivenAway,
}

impl TicketState {
    /// The state of a ticket in `status` held by `holder`, in an order `buyer` made.
    pub fn of(status: TicketStatus, holder: i64, buyer: i64) -> Self {
        if holder != buyer {
            TicketState::GivenAway
        } else if status == TicketStatus::Valid {
            TicketState::Held
        } else {
            TicketState::Cancelled
        }
    }
}

impl ConfirmedTicket {
    /// The Content-ID of its QR code's image, which the HTML names with `cid:`.
    pub fn image_id(&self) -> String {
        format!("ticket-{}@tickitecking", self.id)
    }
}

/// The concert an order is for.
#[derive(Debug, Clone, Copy)]
pub struct Concert<'a> {
    pub name: &'a str,
    pub venue: &'a str,
    pub start: DateTime<Utc>,
}

/// An order's confirmation.
#[derive(Debug, Clone)]
pub struct Confirmation<'a> {
    pub order: i64,
    /// Paid: `(total, currency)`; `None`: confirmed at booking, without payment (`DIRECT`).
    pub paid: Option<(&'a str, &'a str)>,
    /// `None` when the order has no ticket left to say it.
    pub concert: Option<Concert<'a>>,
    pub tickets: &'a [ConfirmedTicket],
}

impl Confirmation<'_> {
    /// `(subject, text, html)`, with links into `public_url`. The HTML shows each held
    /// ticket's QR code as the image [`ConfirmedTicket::image_id`] names.
    pub fn compose(&self, public_url: &str) -> (String, String, String) {
        let order = self.order;
        let headline = match self.paid {
            Some((total, currency)) => format!("Thank you: order {order} is paid ({total} {currency})."),
            None => format!("Order {order} is confirmed."),
        };
        let concert = self
            .concert
            .map(|c| format!("{}, {}, {}", c.name, c.venue, c.start.format("%Y-%m-%d %H:%M UTC")));
        let ticket_link = |id: i64| format!("{public_url}/tickets/{id}");
        let order_link = format!("{public_url}/orders?order={order}");

        let mut text = format!("{headline}\n\n");
        if let Some(concert) = &concert {
            text.push_str(&format!("{concert}\n\n"));
        }
        text.push_str("Your tickets (show the QR code of each at the door; each ticket's page has it):\n");
        for ticket in self.tickets {
            let line = match ticket.state {
                TicketState::Held => format!("- {}: {}\n", ticket.seat, ticket_link(ticket.id)),
                TicketState::Cancelled => {
                    format!("- {} (cancelled): {}\n", ticket.seat, ticket_link(ticket.id))
                }
                TicketState::GivenAway => format!("- {}: given to another fan\n", ticket.seat),
            };
            text.push_str(&line);
        }
        text.push_str(&format!("\nYour order: {order_link}\n"));

        let mut html = format!("<!DOCTYPE html>\n<html><body>\n<p>{}</p>\n", escape(&headline));
        if let Some(concert) = &concert {
            html.push_str(&format!("<p>{}</p>\n", escape(concert)));
        }
        html.push_str("<p>Your tickets: show the QR code of each at the door.</p>\n");
        for ticket in self.tickets {
            let (seat, link) = (escape(&ticket.seat), escape(&ticket_link(ticket.id)));
            let part = match ticket.state {
                TicketState::Held => format!(
                    "<p><strong>{seat}</strong> &middot; <a href=\"{link}\">ticket {id}</a><br>\
                     <img src=\"cid:{image}\" alt=\"The QR code of ticket {id}, {seat}\"></p>\n",
                    id = ticket.id,
                    image = escape(&ticket.image_id()),
                ),
                TicketState::Cancelled => format!(
                    "<p><strong>{seat}</strong>: cancelled &middot; <a href=\"{link}\">ticket {}</a></p>\n",
                    ticket.id
                ),
                TicketState::GivenAway => format!("<p><strong>{seat}</strong>: given to another fan</p>\n"),
            };
            html.push_str(&part);
        }
        html.push_str(&format!(
            "<p><a href=\"{}\">Your order</a></p>\n</body></html>\n",
            escape(&order_link)
        ));
        (format!("Your tickets: order {order}"), text, html)
    }
}

/// Text made safe inside HTML, in an element or a quoted attribute.
fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            c => escaped.push(c),
        }
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ticket(id: i64, seat: &str, state: TicketState) -> ConfirmedTicket {
        ConfirmedTicket { id, seat: seat.into(), state }
    }

    #[test]
    fn held_tickets_have_a_link_and_a_qr_code_the_others_say_what_became_of_them() {
        let tickets = [
            ticket(5, "A-1", TicketState::Held),
            ticket(6, "A-2", TicketState::Cancelled),
            ticket(7, "A-3", TicketState::GivenAway),
        ];
        let start = DateTime::parse_from_rfc3339("2026-12-24T19:00:00Z").unwrap().with_timezone(&Utc);
        let confirmation = Confirmation {
            order: 12,
            paid: None,
            concert: Some(Concert { name: "Winter <Strings>", venue: "Hall 1", start }),
            tickets: &tickets,
        };
        let (subject, text, html) = confirmation.compose("https://tickets.example.com");
        assert_eq!(subject, "Your tickets: order 12");
        assert!(
            text.starts_with("Order 12 is confirmed.\n\nWinter <Strings>, Hall 1, 2026-12-24 19:00 UTC\n")
        );
        assert!(text.contains("- A-1: https://tickets.example.com/tickets/5\n"), "{text}");
        assert!(text.contains("- A-2 (cancelled): https://tickets.example.com/tickets/6\n"), "{text}");
        assert!(text.contains("- A-3: given to another fan\n") && !text.contains("/tickets/7"), "{text}");
        assert!(text.ends_with("Your order: https://tickets.example.com/orders?order=12\n"), "{text}");

        assert!(html.contains("Winter &lt;Strings&gt;"), "{html}");
        assert_eq!(html.matches("<img ").count(), 1, "{html}");
        assert!(html.contains("<img src=\"cid:ticket-5@tickitecking\""), "{html}");
        assert!(!html.contains("/tickets/7"), "{html}");
    }

    #[test]
    fn a_paid_order_says_what_was_paid() {
        let tickets = [ticket(5, "A-1", TicketState::Held)];
        let confirmation =
            Confirmation { order: 3, paid: Some(("100.00", "EUR")), concert: None, tickets: &tickets };
        let (_, text, _) = confirmation.compose("http://localhost");
        assert!(text.starts_with("Thank you: order 3 is paid (100.00 EUR).\n\nYour tickets"), "{text}");
    }

    #[test]
    fn a_ticket_given_away_is_no_longer_the_buyers_even_if_cancelled_since() {
        use TicketStatus::{Revoked, Valid};
        assert_eq!(TicketState::of(Valid, 1, 1), TicketState::Held);
        assert_eq!(TicketState::of(Revoked, 1, 1), TicketState::Cancelled);
        assert_eq!(TicketState::of(Valid, 2, 1), TicketState::GivenAway);
        assert_eq!(TicketState::of(Revoked, 2, 1), TicketState::GivenAway);
    }
}
