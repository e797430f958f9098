//! Booking and cancelling on PostgreSQL. Bookings and cancellations go through the group
//! commit (`writer.rs`); an order booked alone — a retry of a saved order, an order of a
//! batch that rolled back — and a cancellation of such a batch run in a transaction of
//! their own, which first takes the concert's row lock. Bookings of one concert therefore run one after the other,
//! each batch or order reading what the previous one committed, while bookings of different
//! concerts run in parallel. The schema's triggers check every rule again.
//!
//! The steps are SQLite's checked path (`sqlite::booking_sql`): replay, decide with
//! [`decide`], insert, save the key. They stay two because the drivers differ: here async
//! sqlx under row locks, a whole order in one statement (`unnest`) and retried after a
//! deadlock; there synchronous calls inside a group-commit batch, one prepared statement
//! per seat. The decision, the statements and the refusals are shared.

use std::collections::HashMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;
use sqlx::{PgConnection, PgPool};

use super::writer::{CancelJob, Job};
use super::{ATTEMPTS, PostgresStore, lost_race};
use crate::domain::booking::{ReservationStatus, SeatRef, Terms, decide, order_status_of};
use crate::domain::order::Notice;
use crate::domain::presale::{Access, PresaleCode};
use crate::domain::venue::Price;
use crate::domain::venue::{Checkout, SeatStatus};
use crate::store::bookings::{
    CONCERT_START, CONCERT_TERMS, COUNT_REFUND, FREE_PLACES, HELD_SEATS, ORDER_EVENT, ORDER_STATUS,
    PRESALE_CODE, REFUND_FACTS, REFUND_SEAT, RESERVATION_COLUMNS, RESERVATION_IN_CONCERT, ReservationRow,
    SAVED_ANSWER, SEAT_CANCELLED, SEAT_REFUND_REASON, SECTION_SOLD, SchemaRefusal, Shortfall,
    as_first_answered, cancellable, code_refusal, corrupt, history, place, saved_ids, seat_ref,
};
use crate::store::orders::{expire_many, queue_many};
use crate::store::sql::FOR_UPDATE;
use crate::store::{
    Booked, BookingError, BookingRequest, BookingStore, Cancelled, ReservationHistory, ReservationRecord,
    StoreError,
};

/// The concert's seat-map version as this transaction leaves it. Read under the concert's
/// row lock, after this transaction's own seat changes (each moved it by one through the
/// `seats_status_changed` trigger), it is exactly the version the map has once this
/// transaction commits — the contract SQLite's writer keeps by counting.
async fn version(conn: &mut PgConnection, concert_id: i64) -> Result<i64, BookingError> {
    Ok(sqlx::query_scalar("SELECT seat_version FROM concerts WHERE id = $1")
        .bind(concert_id)
        .fetch_one(conn)
        .await?)
}

/// Expires every order of `concerts` whose hold ended by `now`, under the concerts' locks:
/// a seat whose hold is over is free for the booking that follows, before the sweeper
/// came by. Returns the seats freed, by concert.
pub(super) async fn expire_due_in(
    conn: &mut PgConnection,
    concerts: &[i64],
    now: DateTime<Utc>,
) -> Result<Vec<(i64, SeatRef)>, StoreError> {
    let due: Vec<(i64, i64)> = sqlx::query_as(
        "SELECT id, concert_id FROM orders
         WHERE status = 'PENDING_PAYMENT' AND expires_at <= $2 AND concert_id = ANY($1) ORDER BY id",
    )
    .bind(concerts)
    .bind(now)
    .fetch_all(&mut *conn)
    .await?;
    let concert_of: HashMap<i64, i64> = due.iter().copied().collect();
    let orders: Vec<i64> = due.into_iter().map(|(order, _)| order).collect();
    let expired = expire_many::<PostgresStore>(conn, &orders, now).await?;
    Ok(expired
        .into_iter()
        .flat_map(|(order, seats)| {
            let concert = concert_of.get(&order).copied().unwrap_or_default();
            seats.into_iter().map(move |seat| (concert, seat))
        })
        .collect())
}

/// Records the refund of a cancelled seat of a paid order in the cancellation's
/// transaction; the order becomes partly or wholly refunded. Nothing for a seat no money
/// was paid for.
pub(super) async fn refund_seat(
    conn: &mut PgConnection,
    reservation_id: i64,
    actor_id: i64,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let refunded = sqlx::query(REFUND_SEAT)
        .bind(SEAT_CANCELLED)
        .bind(now)
        .bind(reservation_id)
        .execute(&mut *conn)
        .await?
        .rows_affected();
    if refunded == 0 {
        return Ok(());
    }
    sqlx::query(COUNT_REFUND).bind(reservation_id).execute(&mut *conn).await?;
    let order: i64 = sqlx::query_scalar("SELECT order_id FROM reservations WHERE id = $1")
        .bind(reservation_id)
        .fetch_one(&mut *conn)
        .await?;
    let status: String = sqlx::query_scalar(ORDER_STATUS).bind(order).fetch_one(&mut *conn).await?;
    sqlx::query(ORDER_EVENT)
        .bind(order)
        .bind(status)
        .bind(SEAT_CANCELLED)
        .bind(actor_id)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    let (order, price, currency, part): (i64, i64, String, i64) =
        sqlx::query_as(REFUND_FACTS).bind(reservation_id).fetch_one(&mut *conn).await?;
    let amount = Price::from_cents(price).to_string();
    let notice =
        Notice::Refunded { order, part, amount: &amount, currency: &currency, reason: SEAT_REFUND_REASON };
    queue_many::<PostgresStore>(conn, &[(order, notice.compose())], now).await
}

/// A new order: `(fan, concert, status of its reservations, total, held until)`.
pub(super) type NewOrder = (i64, i64, ReservationStatus, i64, Option<DateTime<Utc>>);

/// New orders, one per [`NewOrder`],
/// made at `now` in their concerts' currencies, those confirmed at once with their
/// confirmation e-mails pending; returns their ids in the same order.
pub(super) async fn insert_orders(
    conn: &mut PgConnection,
    orders: &[NewOrder],
    now: DateTime<Utc>,
) -> Result<Vec<i64>, StoreError> {
    if orders.is_empty() {
        return Ok(Vec::new());
    }
    // One statement: each new order takes its id from the sequence once (the CTE is
    // materialized), and the ids come back in the list's order, which `RETURNING` alone
    // does not promise. The orders confirmed at once (`DIRECT`) note their confirmation
    // e-mails as pending in the same statement (the outbox's `QUEUE_CONFIRMATION`, set by
    // set), for the sender to move into the outbox and compose.
    let rows: Vec<(i64, i64)> = sqlx::query_as(
        "WITH new AS MATERIALIZED (
             SELECT nextval('orders_id_seq') AS id, t.*
             FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::bigint[], $5::timestamptz[])
                  WITH ORDINALITY AS t(concert_id, user_id, status, total, expires_at, n)),
         inserted AS (
             INSERT INTO orders (id, concert_id, user_id, status, total_cents, currency, created_at, expires_at)
             SELECT new.id, new.concert_id, new.user_id, new.status, new.total, c.currency, $6, new.expires_at
             FROM new JOIN concerts c ON c.id = new.concert_id
             RETURNING id),
         confirmed AS (
             INSERT INTO confirmations_pending (order_id, queued_at)
             SELECT new.id, $6 FROM new WHERE new.status = 'CONFIRMED'
             ON CONFLICT DO NOTHING)
         SELECT new.id, (SELECT count(*) FROM inserted) FROM new ORDER BY new.n",
    )
    .bind(orders.iter().map(|o| o.1).collect::<Vec<_>>())
    .bind(orders.iter().map(|o| o.0).collect::<Vec<_>>())
    .bind(orders.iter().map(|o| order_status_of(o.2).as_str()).collect::<Vec<_>>())
    .bind(orders.iter().map(|o| o.3).collect::<Vec<_>>())
    .bind(orders.iter().map(|o| o.4).collect::<Vec<_>>())
    .bind(now)
    .fetch_all(&mut *conn)
    .await?;
    let inserted = rows.first().map_or(0, |(_, count)| *count);
    if inserted != orders.len() as i64 {
        return Err(corrupt(format!("inserted {inserted} of {} orders", orders.len())));
    }
    let ids: Vec<i64> = rows.into_iter().map(|(id, _)| id).collect();
    Ok(ids)
}

/// Counts the presale codes the new orders used, `(order, code)` each, in the booking's
/// transaction (the schema checks each use again and counts it in its code's `uses`).
pub(super) async fn use_codes(conn: &mut PgConnection, uses: &[(i64, i64)]) -> Result<(), BookingError> {
    if uses.is_empty() {
        return Ok(());
    }
    let used = sqlx::query(
        "INSERT INTO presale_uses (order_id, code_id) SELECT * FROM unnest($1::bigint[], $2::bigint[])",
    )
    .bind(uses.iter().map(|(order, _)| *order).collect::<Vec<_>>())
    .bind(uses.iter().map(|(_, code)| *code).collect::<Vec<_>>())
    .execute(conn)
    .await;
    match used {
        Ok(_) => Ok(()),
        Err(sqlx::Error::Database(db)) if code_refusal(db.message()).is_some() => {
            Err(code_refusal(db.message()).unwrap_or(BookingError::AccessCodeUsedUp))
        }
        Err(e) => Err(e.into()),
    }
}

/// What a booking brings to be let in before the general sale: its access code as the
/// concert has it, looked up only then (after it, a code is ignored).
async fn access(
    conn: &mut PgConnection,
    request: &BookingRequest<'_>,
    terms: Option<Terms>,
    now: DateTime<Utc>,
) -> Result<Access, BookingError> {
    let (Some(code), Some(terms)) = (request.access_code, terms) else { return Ok(Access::None) };
    if !terms.before_general_sale(now) {
        return Ok(Access::None);
    }
    type CodeRow = (i64, DateTime<Utc>, DateTime<Utc>, i64, i64);
    let row: Option<CodeRow> = sqlx::query_as(PRESALE_CODE)
        .bind(request.concert_id)
        .bind(code.as_str())
        .fetch_optional(conn)
        .await?;
    Ok(Access::Code(row.map(|(id, opens_at, closes_at, uses, max_uses)| PresaleCode {
        id,
        opens_at,
        closes_at,
        uses,
        max_uses,
    })))
}

/// The seats of stored reservations, in their order.
pub(super) async fn seats_of(
    conn: &mut PgConnection,
    reservations: &[ReservationRecord],
) -> Result<Vec<SeatRef>, StoreError> {
    let ids: Vec<i64> = reservations.iter().map(|r| r.seat_id).collect();
    let rows: Vec<(i64, String, String, i64)> =
        sqlx::query_as("SELECT id, section, horizontal, vertical FROM seats WHERE id = ANY($1)")
            .bind(&ids)
            .fetch_all(conn)
            .await?;
    let by_id: HashMap<i64, (String, String, i64)> =
        rows.into_iter().map(|(id, sec, h, v)| (id, (sec, h, v))).collect();
    ids.iter()
        .map(|id| {
            let (sec, h, v) =
                by_id.get(id).ok_or_else(|| corrupt(format!("seat {id} of a reservation is gone")))?;
            seat_ref(sec, h, *v)
        })
        .collect()
}

/// The first free places of each standing section the order asks for, `(place, id,
/// price)`; refused when a section is not sold or has fewer left. Run under the concert's
/// row lock, which every booking and cancellation of it takes first: what is free here is
/// free when inserted. (The group commit finds a batch's places itself: `writer.rs`.)
pub(super) async fn standing_places(
    conn: &mut PgConnection,
    request: &BookingRequest<'_>,
) -> Result<Vec<(SeatRef, i64, i64)>, BookingError> {
    let (mut places, mut shortfall) = (Vec::new(), Shortfall::default());
    for wanted in &request.order.standing {
        let free: Vec<(i64, i64, i64)> = sqlx::query_as(FREE_PLACES)
            .bind(request.concert_id)
            .bind(wanted.section.as_str())
            .bind(i64::from(wanted.quantity))
            .fetch_all(&mut *conn)
            .await?;
        if free.len() < wanted.quantity as usize {
            let sold = sqlx::query_scalar(SECTION_SOLD)
                .bind(request.concert_id)
                .bind(wanted.section.as_str())
                .fetch_one(&mut *conn)
                .await?;
            shortfall.lacks(wanted.section, sold, free.len());
            continue;
        }
        places.extend(free.into_iter().map(|(id, number, price)| (place(wanted.section, number), id, price)));
    }
    shortfall.refusal()?;
    Ok(places)
}

/// The answer saved under an idempotency key, if the key was used before.
async fn replay(
    conn: &mut PgConnection,
    request: &BookingRequest<'_>,
) -> Result<Option<Booked>, BookingError> {
    let Some((key, fingerprint)) = &request.idempotency else { return Ok(None) };
    let saved: Option<(String, String, i64)> =
        sqlx::query_as(SAVED_ANSWER).bind(request.user_id).bind(key).fetch_optional(&mut *conn).await?;
    let Some((saved_fingerprint, ids, concert_id)) = saved else { return Ok(None) };
    if &saved_fingerprint != fingerprint {
        return Err(BookingError::KeyReused);
    }
    let ids = saved_ids(&ids)?;
    let rows: Vec<ReservationRow> =
        sqlx::query_as(&format!("SELECT {RESERVATION_COLUMNS} FROM reservations WHERE id = ANY($1)"))
            .bind(&ids)
            .fetch_all(&mut *conn)
            .await?;
    let mut by_id = HashMap::new();
    for row in rows {
        let record = as_first_answered(ReservationRecord::try_from(row)?);
        by_id.insert(record.id, record);
    }
    let reservations = ids
        .iter()
        .map(|id| by_id.remove(id).ok_or_else(|| corrupt(format!("reservation {id} of a key is gone"))))
        .collect::<Result<Vec<_>, _>>()?;
    let seats = seats_of(conn, &reservations).await?;
    let version = version(conn, concert_id).await?;
    Ok(Some(Booked { reservations, version, replayed: true, seats, released: Vec::new() }))
}

/// What a refused INSERT stands for. Every rule was checked under the concert's lock just
/// before, so this is only reached when a writer that bypasses the service (raw SQL on the
/// seats) got in between; the triggers' messages name the rule, as on SQLite.
fn refusal(err: sqlx::Error, seats: &[SeatRef], terms: Option<Terms>, held: i64) -> BookingError {
    let sqlx::Error::Database(db) = &err else { return err.into() };
    let limit = terms.map_or(0, |t| t.max_seats_per_fan);
    let opens = terms.and_then(|t| t.sales_open_at).unwrap_or_default();
    match SchemaRefusal::of(db.message(), db.is_unique_violation()) {
        Some(refused) => refused.answer(seats, || Ok((limit, held)), || Ok(opens)),
        None => err.into(),
    }
}

/// A concert's [`CONCERT_TERMS`] as read.
type TermsRow = (DateTime<Utc>, i64, Option<DateTime<Utc>>, Option<DateTime<Utc>>, String, i64);

/// A concert's terms as read.
pub(super) fn terms_of(row: TermsRow) -> Result<Terms, StoreError> {
    let (start_time, max_seats_per_fan, sales_open_at, sales_close_at, checkout, hold_minutes) = row;
    Ok(Terms {
        start_time,
        max_seats_per_fan,
        sales_open_at,
        sales_close_at,
        checkout: Checkout::parse(&checkout).map_err(corrupt)?,
        hold_minutes,
    })
}

/// One attempt at a booking, in its own transaction. `Ok(None)`: a concurrent request
/// claimed the same idempotency key first; nothing was written, and the caller tries again
/// (and then replays or refuses the key).
async fn book_once(pool: &PgPool, request: &BookingRequest<'_>) -> Result<Option<Booked>, BookingError> {
    let now = Utc::now();
    let mut seats = request.order.seats.clone();
    let mut tx = pool.begin().await?;
    let terms: Option<TermsRow> = sqlx::query_as(&format!("{CONCERT_TERMS}{FOR_UPDATE}"))
        .bind(request.concert_id)
        .fetch_optional(&mut *tx)
        .await?;
    if let Some(booked) = replay(&mut tx, request).await? {
        return Ok(Some(booked));
    }
    let terms = terms.map(terms_of).transpose()?;
    // Holds that are over free their seats first.
    let released: Vec<SeatRef> = match terms {
        Some(_) => {
            expire_due_in(&mut tx, &[request.concert_id], now).await?.into_iter().map(|(_, s)| s).collect()
        }
        None => Vec::new(),
    };
    let rows: Vec<(Option<i64>, Option<String>, Option<i64>)> = sqlx::query_as(
        "SELECT s.id, s.status, p.price_cents
         FROM unnest($4::text[], $2::text[], $3::bigint[]) WITH ORDINALITY AS q(sec, h, v, n)
         LEFT JOIN seats s ON s.concert_id = $1 AND s.section = q.sec AND s.horizontal = q.h AND s.vertical = q.v
         LEFT JOIN seat_prices p ON p.concert_id = s.concert_id AND p.grade = s.grade
         ORDER BY q.n",
    )
    .bind(request.concert_id)
    .bind(seats.iter().map(|s| s.horizontal.to_string()).collect::<Vec<_>>())
    .bind(seats.iter().map(|s| i64::from(s.vertical)).collect::<Vec<_>>())
    .bind(seats.iter().map(|s| s.section.to_string()).collect::<Vec<_>>())
    .fetch_all(&mut *tx)
    .await?;
    // Each seat of the order as stored: `(id, price, status)`.
    let mut stored = Vec::with_capacity(rows.len());
    for row in rows {
        stored.push(match row {
            (Some(id), Some(status), Some(price)) => {
                Some((id, price, SeatStatus::parse(&status).map_err(corrupt)?))
            }
            _ => None,
        });
    }
    // Standing places once the concert is known to sell (else `decide` says why not).
    if !request.order.standing.is_empty() && terms.is_some_and(|t| t.start_time > now) {
        for (seat, id, price) in standing_places(&mut tx, request).await? {
            seats.push(seat);
            stored.push(Some((id, price, SeatStatus::Available)));
        }
    }
    let held: i64 = sqlx::query_scalar(HELD_SEATS)
        .bind(request.concert_id)
        .bind(request.user_id)
        .fetch_one(&mut *tx)
        .await?;
    let access = access(&mut tx, request, terms, now).await?;
    let statuses = seats.iter().zip(&stored).map(|(seat, s)| (*seat, s.map(|(_, _, status)| status)));
    let admission = decide(terms, now, access, statuses, held)?;
    let Some(settled) = terms else { return Err(BookingError::ConcertNotFound) };
    let (status, expires_at) = settled.booked_as(now);
    let found: Vec<(i64, i64)> = stored.iter().flatten().map(|&(id, price, _)| (id, price)).collect();
    let total = found.iter().map(|(_, price)| price).sum();
    let order_id =
        insert_orders(&mut tx, &[(request.user_id, request.concert_id, status, total, expires_at)], now)
            .await?[0];
    if let Some(code_id) = admission.code_id() {
        use_codes(&mut tx, &[(order_id, code_id)]).await?;
    }
    let inserted: Result<Vec<ReservationRow>, sqlx::Error> = sqlx::query_as(&format!(
        "INSERT INTO reservations (user_id, concert_id, seat_id, status, price_cents, created_at, order_id, expires_at)
         SELECT $1, $2, t.seat_id, $6, t.price, $3, $7, $8
         FROM unnest($4::bigint[], $5::bigint[]) WITH ORDINALITY AS t(seat_id, price, n) ORDER BY t.n
         RETURNING {RESERVATION_COLUMNS}"
    ))
    .bind(request.user_id)
    .bind(request.concert_id)
    .bind(now)
    .bind(found.iter().map(|(id, _)| *id).collect::<Vec<_>>())
    .bind(found.iter().map(|(_, price)| *price).collect::<Vec<_>>())
    .bind(status.code())
    .bind(order_id)
    .bind(expires_at)
    .fetch_all(&mut *tx)
    .await;
    let mut by_seat = HashMap::new();
    for row in inserted.map_err(|e| refusal(e, &seats, terms, held))? {
        let record = ReservationRecord::try_from(row)?;
        by_seat.insert(record.seat_id, record);
    }
    let reservations = found
        .iter()
        .map(|(seat_id, _)| {
            by_seat.remove(seat_id).ok_or_else(|| corrupt(format!("seat {seat_id} not booked")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    if let Some((key, fingerprint)) = &request.idempotency {
        let ids: Vec<String> = reservations.iter().map(|r| r.id.to_string()).collect();
        let claimed = sqlx::query(
            "INSERT INTO idempotency_keys (user_id, key, fingerprint, concert_id, reservation_ids, created_at)
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
        )
        .bind(request.user_id)
        .bind(key)
        .bind(fingerprint)
        .bind(request.concert_id)
        .bind(ids.join(","))
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if claimed == 0 {
            tx.rollback().await?;
            return Ok(None);
        }
    }
    let version = version(&mut tx, request.concert_id).await?;
    tx.commit().await?;
    Ok(Some(Booked { reservations, version, replayed: false, seats: seats.clone(), released }))
}

async fn cancel_once(
    pool: &PgPool,
    concert_id: i64,
    reservation_id: i64,
    actor_id: i64,
    actor_is_admin: bool,
) -> Result<Cancelled, BookingError> {
    let now = Utc::now();
    let mut tx = pool.begin().await?;
    let start_time: Option<DateTime<Utc>> = sqlx::query_scalar(&format!("{CONCERT_START}{FOR_UPDATE}"))
        .bind(concert_id)
        .fetch_optional(&mut *tx)
        .await?;
    let row: Option<ReservationRow> = sqlx::query_as(RESERVATION_IN_CONCERT)
        .bind(reservation_id)
        .bind(concert_id)
        .fetch_optional(&mut *tx)
        .await?;
    let record = ReservationRecord::try_from(row.ok_or(BookingError::ReservationNotFound)?)?;
    let to_cancel = cancellable(&record, actor_id, actor_is_admin, start_time, now)?;
    let seat = seats_of(&mut tx, std::slice::from_ref(&record)).await?.remove(0);
    if !to_cancel {
        return Ok(Cancelled { reservation: record, seat, version: None });
    }
    let row: ReservationRow = sqlx::query_as(&format!(
        "UPDATE reservations SET status = 'N', cancelled_at = $2 WHERE id = $1 AND status = 'Y'
         RETURNING {RESERVATION_COLUMNS}"
    ))
    .bind(reservation_id)
    .bind(now)
    .fetch_one(&mut *tx)
    .await?;
    refund_seat(&mut tx, reservation_id, actor_id, now).await?;
    let version = version(&mut tx, concert_id).await?;
    tx.commit().await?;
    Ok(Cancelled { reservation: row.try_into()?, seat, version: Some(version) })
}

/// Books one order alone, in its own transaction, and answers it: the group commit's way
/// for a retry of a saved order and for the orders of a batch that rolled back.
pub(super) fn book_alone(pool: PgPool, job: Job) -> BoxFuture<'static, ()> {
    Box::pin(async move {
        let booked = {
            let request = job.request();
            retried(|| book_once(&pool, &request)).await
        };
        let _ = job.answer.send(booked);
    })
}

/// Cancels alone, in its own transaction, and answers: the group commit's way for the
/// cancellations of a batch that rolled back.
pub(super) fn cancel_alone(pool: PgPool, job: CancelJob) -> BoxFuture<'static, ()> {
    Box::pin(async move {
        let (concert, reservation, actor, admin) =
            (job.concert_id, job.reservation_id, job.actor_id, job.actor_is_admin);
        let cancelled =
            retried(|| async { cancel_once(&pool, concert, reservation, actor, admin).await.map(Some) })
                .await;
        let _ = job.answer.send(cancelled);
    })
}

/// Runs `attempt` again when PostgreSQL aborted it to break a deadlock (the lock order
/// makes that rare: only writers that bypass the service take locks in another order).
async fn retried<T, F, Fut>(mut attempt: F) -> Result<T, BookingError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Option<T>, BookingError>>,
{
    for _ in 1..ATTEMPTS {
        match attempt().await {
            Ok(Some(done)) => return Ok(done),
            Ok(None) => {}
            Err(BookingError::Store(e)) if lost_race(&e) => {}
            Err(e) => return Err(e),
        }
    }
    attempt().await?.ok_or_else(|| {
        BookingError::Store(StoreError::Other(anyhow::anyhow!("idempotency key kept changing hands")))
    })
}

#[async_trait]
impl BookingStore for PostgresStore {
    async fn book(&self, request: &BookingRequest<'_>) -> Result<Booked, BookingError> {
        self.writer.book(request).await
    }

    async fn cancel(
        &self,
        concert_id: i64,
        reservation_id: i64,
        actor_id: i64,
        actor_is_admin: bool,
    ) -> Result<Cancelled, BookingError> {
        self.writer.cancel(concert_id, reservation_id, actor_id, actor_is_admin).await
    }

    async fn reservation_history(&self, user_id: Option<i64>) -> Result<Vec<ReservationHistory>, StoreError> {
        history(self, user_id).await
    }
}
