//! Booking and cancelling seats, reservation histories, seat maps and sales.

use std::sync::Arc;

use tokio::sync::broadcast;

use super::audit::{AuditLog, Change, Snapshot};
use super::completion::{committed, to_completion};
use super::views::Views;
use super::{ServiceError, ensure_owner, require};
use crate::auth::Principal;
use crate::cache::{EncodedSeatMap, Lookup};
use crate::domain::Validator;
use crate::domain::booking::{Order, OrderShape, SeatRef};
use crate::domain::presale::AccessCode;
use crate::domain::sections::Layout;
use crate::domain::user::Role;
use crate::domain::venue::Letter;
use crate::domain::venue::SeatStatus;
use crate::seat_news::SeatMapNews;
use crate::store::{
    Booked, BookingError, BookingRequest, Cancelled, ConcertRecord, ReservationHistory, SeatMapRecord, Store,
};
use crate::throttle::Throttle;

/// Encodes a seat map the way it is served (and cached).
pub type SeatMapEncoder = fn(&SeatMapRecord) -> anyhow::Result<EncodedSeatMap>;

/// The booking use cases.
pub struct Bookings {
    store: Arc<dyn Store>,
    throttle: Arc<Throttle>,
    views: Arc<Views>,
    audit: Arc<AuditLog>,
    /// The waiting rooms, whose passes a booking may need.
    queue: Arc<super::Queue>,
}

impl Bookings {
    pub(super) fn new(
        store: Arc<dyn Store>,
        throttle: Arc<Throttle>,
        views: Arc<Views>,
        audit: Arc<AuditLog>,
        queue: Arc<super::Queue>,
    ) -> Self {
        Self { store, throttle, views, audit, queue }
    }

    /// Books an order's seats and standing places, all or none. With an idempotency key a
    /// retry answers what the first request answered. A seat named without its section is
    /// in the seed's section `""`; in a venue of one named section it means that one.
    /// Before the concert's general sale, `access_code` lets the order in through a
    /// presale (counting one use of the code with the booking); after it, it is ignored.
    /// While the concert's waiting room is on, `pass` must be the caller's pass.
    pub async fn book(
        &self,
        caller: &Principal,
        concert_id: i64,
        order: Order,
        key: Option<String>,
        access_code: Option<AccessCode>,
        pass: Option<&str>,
    ) -> Result<Booked, ServiceError> {
        self.queue.check_pass(caller, concert_id, pass).await?;
        // Before the gate: a bot hammering taken seats is slowed down too, not only one
        // that reaches the database.
        self.throttle.booking(caller.user_id).await?;
        // The order as sent is what a retry with the same key sends again.
        let key = key.map(|key| (key, order.fingerprint(concert_id)));
        let code = access_code.as_ref();
        match self.book_as_named(caller, concert_id, order.clone(), key.clone(), code).await {
            // Only a seat without its section can be missing for that reason: the venue
            // says what it meant, on this path of refusals only.
            Err(ServiceError::Booking(BookingError::SeatsNotFound(missing)))
                if missing.iter().any(|seat| seat.section.is_seed()) =>
            {
                let concert =
                    self.store.concert(concert_id).await?.ok_or(ServiceError::NotFound("concert"))?;
                let layout = &concert.auditorium.layout;
                match layout.only_section() {
                    Some(only) if !only.is_seed() => {
                        let mut named = order;
                        for seat in named.seats.iter_mut().filter(|seat| seat.section.is_seed()) {
                            seat.section = only;
                        }
                        named_once(&named)?;
                        self.book_as_named(caller, concert_id, named, key, code).await
                    }
                    _ => Err(unnamed_seats(&order, layout, missing)),
                }
            }
            other => other,
        }
    }

    /// Books an order whose seats are named as they are stored; `key`: the idempotency key
    /// and the fingerprint of the order as sent.
    async fn book_as_named(
        &self,
        caller: &Principal,
        concert_id: i64,
        order: Order,
        key: Option<(String, String)>,
        access_code: Option<&AccessCode>,
    ) -> Result<Booked, ServiceError> {
        // A retry must reach the store to find its saved answer; anything else asking for
        // a seat the gate knows is gone, or for more standing places than are surely left,
        // is refused here, without the database.
        if key.is_none() {
            let refused_by_gate = |refusal: BookingError| {
                metrics::counter!("bookings_total", "outcome" => "refused_by_gate").increment(1);
                metrics::counter!("gate_hits_total").increment(1);
                Err(refusal.into())
            };
            let refused = self.views.gate.refused(concert_id, &order.seats).await?;
            if !refused.is_empty() {
                return refused_by_gate(BookingError::SeatsUnavailable(refused));
            }
            if !order.standing.is_empty() {
                let short = self.views.gate.sold_out(concert_id, &order.standing).await?;
                if !short.is_empty() {
                    return refused_by_gate(BookingError::SoldOut(short));
                }
            }
        }
        let (store, views, user_id) = (self.store.clone(), self.views.clone(), caller.user_id);
        let access_code = access_code.cloned();
        // Once handed to the store, the booking may commit even if the caller goes away:
        // the news of it reaches the gate and the seat map either way.
        to_completion(async move {
            let request = BookingRequest {
                user_id,
                concert_id,
                order: &order,
                idempotency: key.as_ref().map(|(k, fingerprint)| (k.as_str(), fingerprint.clone())),
                access_code: access_code.as_ref(),
            };
            let booked = match store.book(&request).await {
                Ok(booked) => booked,
                Err(e) => {
                    metrics::counter!("bookings_total", "outcome" => "refused").increment(1);
                    return Err(e.into());
                }
            };
            committed().await;
            if booked.replayed {
                // Another request committed it, a moment ago on PostgreSQL, and may not
                // have told the views yet: reload them, so this client finds it everywhere.
                views.concert_seats_unknown(concert_id).await;
            } else {
                // Holds that were over and expired to make room first, then the seats taken.
                let status =
                    booked.reservations.first().map_or(SeatStatus::Reserved, |r| r.status.seat_status());
                let taken: Vec<(SeatRef, SeatStatus)> = booked
                    .released
                    .iter()
                    .map(|s| (*s, SeatStatus::Available))
                    .chain(booked.seats.iter().map(|s| (*s, status)))
                    .collect();
                views.seats_changed(concert_id, booked.version, &taken).await;
                metrics::counter!("bookings_total", "outcome" => "booked").increment(1);
                metrics::counter!("seats_booked_total").increment(booked.reservations.len() as u64);
            }
            Ok(booked)
        })
        .await
    }

    /// Cancels a reservation (its owner, or an administrator): the seat is free at once.
    /// Cancelling twice answers the same.
    pub async fn cancel(
        &self,
        caller: &Principal,
        concert_id: i64,
        reservation_id: i64,
    ) -> Result<Cancelled, ServiceError> {
        let (store, views, audit, caller) =
            (self.store.clone(), self.views.clone(), self.audit.clone(), caller.clone());
        to_completion(async move {
            let is_admin = caller.has(Role::Admin);
            if !is_admin
                && let Some(ticket) = store.ticket(reservation_id).await?
                && ticket.concert_id == concert_id
                && ticket.version > 1
            {
                // The seat is someone else's now: its buyer can no longer take it back.
                return Err(ServiceError::conflict(
                    "TICKET_TRANSFERRED",
                    "this ticket was given to another fan: only an administrator can cancel it now",
                ));
            }
            let cancelled = store.cancel(concert_id, reservation_id, caller.user_id, is_admin).await?;
            committed().await;
            let Some(version) = cancelled.version else {
                // Cancelled before, perhaps a moment ago by another request: as for a replay.
                views.concert_seats_unknown(concert_id).await;
                return Ok(cancelled);
            };
            views.seats_changed(concert_id, version, &[(cancelled.seat, SeatStatus::Available)]).await;
            metrics::counter!("cancellations_total").increment(1);
            // A fan cancelling their own seat is not an operator action; an admin
            // cancelling someone else's is.
            if cancelled.reservation.user_id != caller.user_id {
                let change = Change {
                    action: "reservation.cancel",
                    target_type: "reservation",
                    target_id: Some(reservation_id),
                    before: None,
                    after: Some(cancelled.reservation.snapshot()),
                };
                audit.record(&caller, change).await;
            }
            Ok(cancelled)
        })
        .await
    }

    /// The caller's reservations, or with `everyone`, everyone's (administrators only);
    /// newest first.
    pub async fn history(
        &self,
        caller: &Principal,
        everyone: bool,
    ) -> Result<Vec<ReservationHistory>, ServiceError> {
        if everyone {
            require(caller, Role::Admin)?;
            Ok(self.store.reservation_history(None).await?)
        } else {
            Ok(self.store.reservation_history(Some(caller.user_id)).await?)
        }
    }

    /// The concert's encoded seat map from the cache, rebuilt first when this reader's
    /// turn has come.
    pub async fn seat_map(
        &self,
        concert_id: i64,
        encode: SeatMapEncoder,
    ) -> Result<Arc<EncodedSeatMap>, ServiceError> {
        match self.views.seat_maps.lookup(concert_id).await {
            Lookup::Serve(map) => Ok(map),
            // Finished even if this reader leaves: others wait on the rebuild it claimed.
            Lookup::Rebuild(ticket) => {
                let (store, views) = (self.store.clone(), self.views.clone());
                to_completion(async move {
                    let map = match store.seat_map(concert_id).await {
                        Ok(Some(record)) => encode(&record).map(Arc::new).map_err(ServiceError::from),
                        Ok(None) => Err(ServiceError::NotFound("concert")),
                        Err(e) => Err(e.into()),
                    };
                    match &map {
                        Ok(map) => views.seat_maps.put(concert_id, map.clone(), ticket).await,
                        Err(_) => views.seat_maps.abandon(concert_id).await,
                    }
                    map
                })
                .await
            }
        }
    }

    /// The concert and its seats read from the database (not the cache).
    pub async fn concert_seats(
        &self,
        concert_id: i64,
    ) -> Result<(ConcertRecord, SeatMapRecord), ServiceError> {
        let concert = self.store.concert(concert_id).await?.ok_or(ServiceError::NotFound("concert"))?;
        let map = self.store.seat_map(concert_id).await?.ok_or(ServiceError::NotFound("concert"))?;
        Ok((concert, map))
    }

    /// The seat map a concert's sales are counted from, and the money its orders took and
    /// gave back (`(paid, refunded)`), for its promoter and admins.
    pub async fn sales(
        &self,
        caller: &Principal,
        concert_id: i64,
    ) -> Result<(SeatMapRecord, (i64, i64)), ServiceError> {
        let concert = self.store.concert(concert_id).await?.ok_or(ServiceError::NotFound("concert"))?;
        ensure_owner(caller, concert.owner_id)?;
        let map = self.store.seat_map(concert_id).await?.ok_or(ServiceError::NotFound("concert"))?;
        Ok((map, self.store.takings(concert_id).await?))
    }

    /// News of the concert's seat-map changes, for a live page.
    pub fn watch(&self, concert_id: i64) -> broadcast::Receiver<SeatMapNews> {
        self.views.seat_news.subscribe(concert_id)
    }

    /// Whether the news has ended (the service is shutting down).
    pub fn news_closed(&self) -> bool {
        self.views.seat_news.closed()
    }
}

/// 400 when an order named a seat twice once its seats without a section were given the
/// venue's only one (`A-1` and `Main:A-1`).
fn named_once(order: &Order) -> Result<(), ServiceError> {
    let mut seen = std::collections::HashSet::new();
    let mut v = Validator::default();
    for (i, seat) in order.seats.iter().enumerate() {
        if !seen.insert(*seat) {
            v.reject(&format!("seats[{i}]"), format!("seat {seat} is named twice"));
        }
    }
    Ok(v.finish()?)
}

/// Why seats named without their section are not in the concert: the venue has several
/// sections (each such seat must name one), or, in the seed's venue, a row that is not one
/// letter or a seat beyond the seed's 100 columns (as the seed answered); else the seats
/// are simply not there.
fn unnamed_seats(order: &Order, layout: &Layout, missing: Vec<SeatRef>) -> ServiceError {
    let field = |i: usize, name: &str| match order.shape {
        OrderShape::Single => name.to_owned(),
        OrderShape::List => format!("seats[{i}].{name}"),
    };
    let mut v = Validator::default();
    for (i, seat) in order.seats.iter().enumerate().filter(|(_, seat)| missing.contains(seat)) {
        if !seat.section.is_seed() {
            continue;
        }
        if layout.sections.len() > 1 {
            v.reject(
                &field(i, "section"),
                format!("is required: the venue has {} sections", layout.sections.len()),
            );
            continue;
        }
        if let Err(message) = Letter::parse(seat.horizontal.as_str()) {
            v.reject(&field(i, "horizontal"), message);
        }
        if seat.vertical > 100 {
            v.reject(&field(i, "vertical"), "must be 1 to 100");
        }
    }
    match v.finish() {
        Err(invalid) => invalid.into(),
        Ok(()) => BookingError::SeatsNotFound(missing).into(),
    }
}
