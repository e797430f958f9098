//! Group commit on PostgreSQL: the bookings and cancellations an instance receives while a
//! batch is being written wait and form the next batch, written in one transaction with
//! set-based statements — one lock of each concert, one read and one `UPDATE` of the
//! reservations cancelled, one read of the seats, one read of the fans' holdings, one
//! `INSERT` of every accepted reservation, one `COMMIT` (one fsync). Every
//! order of a batch is decided in turn, in arrival order, by the same rule as a single
//! booking ([`decide`]), seeing the seats and holdings the orders before it took; a
//! refused order writes nothing. The schema's triggers check every inserted row again,
//! so should a writer that bypasses the service break a rule the batch's reads did not
//! see, the batch rolls back whole and its orders are booked one by one instead, each
//! then refused or booked on its own.
//!
//! Batches run in lanes, a concert always in the same lane, so that bookings of
//! different concerts commit side by side. The concerts' row locks, taken in id order,
//! keep every instance's batches of one concert one after another: the per-fan limit and
//! every count stay exact across instances.

use std::collections::{HashMap, HashSet, VecDeque};

use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;
use sqlx::{PgPool, Postgres, Transaction};
use tokio::sync::{mpsc, oneshot};

use super::bookings::{expire_due_in, insert_orders, refund_seat, terms_of, use_codes};
use crate::domain::booking::{self, ReservationStatus, SeatRef, Terms};
use crate::domain::presale::{Access, AccessCode, Admission, PresaleCode};
use crate::domain::sections::SectionName;
use crate::domain::venue::SeatStatus;
use crate::store::bookings::{
    FREE_PLACES, OwnedBooking, RESERVATION_COLUMNS, ReservationRow, SECTION_SOLD, Shortfall, cancellable,
    corrupt, place,
};
use crate::store::sql::FOR_UPDATE;
use crate::store::{Booked, BookingError, BookingRequest, Cancelled, ReservationRecord, StoreError};

/// Lanes of batches. A few: enough that one concert's fsync does not hold up another's
/// batch, few enough to stay far below the pool's connections.
const LANES: usize = 4;
/// Most orders in one batch; a larger queue is written as several batches.
const MAX_BATCH: usize = 256;

/// An order waiting for its batch.
pub(super) struct Job {
    pub booking: OwnedBooking,
    pub answer: oneshot::Sender<Result<Booked, BookingError>>,
}

impl std::ops::Deref for Job {
    type Target = OwnedBooking;
    fn deref(&self) -> &OwnedBooking {
        &self.booking
    }
}

/// A cancellation waiting for its batch.
pub(super) struct CancelJob {
    pub concert_id: i64,
    pub reservation_id: i64,
    pub actor_id: i64,
    pub actor_is_admin: bool,
    pub answer: oneshot::Sender<Result<Cancelled, BookingError>>,
}

/// What a lane writes.
enum Work {
    Book(Job),
    Cancel(CancelJob),
}

/// Hands orders and cancellations to the lanes.
#[derive(Debug, Clone)]
pub(super) struct Writer {
    lanes: Vec<mpsc::UnboundedSender<Work>>,
}

/// How a job is written on its own, in its own transaction: the fallback for a batch
/// that failed, and for an order whose idempotency key was seen before (a replay).
#[derive(Clone, Copy)]
pub(super) struct Single {
    pub book: fn(PgPool, Job) -> BoxFuture<'static, ()>,
    pub cancel: fn(PgPool, CancelJob) -> BoxFuture<'static, ()>,
}

impl Writer {
    /// Starts the lanes on `pool`; `single` writes a job alone.
    pub(super) fn start(pool: PgPool, single: Single) -> Self {
        let lanes = (0..LANES)
            .map(|_| {
                let (sender, queue) = mpsc::unbounded_channel();
                tokio::spawn(run_lane(pool.clone(), queue, single));
                sender
            })
            .collect();
        Self { lanes }
    }

    /// Queues an order for its concert's lane and waits for its answer.
    pub(super) async fn book(&self, request: &BookingRequest<'_>) -> Result<Booked, BookingError> {
        let (answer, answered) = oneshot::channel();
        self.send(request.concert_id, Work::Book(Job { booking: request.into(), answer }))?;
        answered.await.map_err(|_| stopped())?
    }

    /// Queues a cancellation for its concert's lane and waits for its answer.
    pub(super) async fn cancel(
        &self,
        concert_id: i64,
        reservation_id: i64,
        actor_id: i64,
        actor_is_admin: bool,
    ) -> Result<Cancelled, BookingError> {
        let (answer, answered) = oneshot::channel();
        let job = CancelJob { concert_id, reservation_id, actor_id, actor_is_admin, answer };
        self.send(concert_id, Work::Cancel(job))?;
        answered.await.map_err(|_| stopped())?
    }

    fn send(&self, concert_id: i64, work: Work) -> Result<(), BookingError> {
        let lane = &self.lanes[concert_id.rem_euclid(LANES as i64) as usize];
        lane.send(work).map_err(|_| stopped())
    }
}

fn stopped() -> BookingError {
    BookingError::Store(StoreError::Other(anyhow::anyhow!("the booking writer has stopped")))
}

/// Writes whatever waits in `queue` as batches, until every sender is gone. A batch's
/// COMMIT (its fsync) and answers overlap the next batch's start: the next one is taken
/// from the queue as soon as the one before has written everything but its COMMIT, and
/// queues for the concerts' locks behind it in the database, so it reads what the one
/// before committed, and the lane never waits on a round trip it could have made earlier.
async fn run_lane(pool: PgPool, mut queue: mpsc::UnboundedReceiver<Work>, single: Single) {
    let mut work = Vec::with_capacity(MAX_BATCH);
    while queue.recv_many(&mut work, MAX_BATCH).await > 0 {
        metrics::histogram!("booking_batch_size").record(work.len() as f64);
        let (mut batch, mut cancels) = (Vec::new(), Vec::new());
        for job in work.drain(..) {
            match job {
                Work::Book(job) => batch.push(job),
                Work::Cancel(job) => cancels.push(job),
            }
        }
        let (committing, next) = oneshot::channel();
        let pool = pool.clone();
        tokio::spawn(async move { write_batch(&pool, batch, cancels, single, committing).await });
        // Sent when the batch starts its COMMIT, or dropped when it ends before that.
        let _ = next.await;
    }
}

/// Writes one batch (telling `committing` when everything but its COMMIT is written); if
/// it rolls back, writes its jobs one by one instead.
async fn write_batch(
    pool: &PgPool,
    batch: Vec<Job>,
    cancels: Vec<CancelJob>,
    single: Single,
    committing: oneshot::Sender<()>,
) {
    let started = std::time::Instant::now();
    let (batch, mut alone) = split_repeats(batch);
    if batch.is_empty() && cancels.is_empty() {
        for job in alone {
            tokio::spawn((single.book)(pool.clone(), job));
        }
        return;
    }
    let result = match pool.begin().await {
        Ok(tx) => write_together(tx, &batch, &cancels, committing).await,
        Err(e) => Err(Failed::RolledBack(e.into())),
    };
    let (leftovers, cancels_left) = match result {
        Ok((answers, cancelled)) => {
            for (job, answer) in batch.into_iter().zip(answers) {
                match answer {
                    Some(answer) => drop(job.answer.send(answer)),
                    // A retry of an order booked before: answered from what was saved.
                    None => alone.push(job),
                }
            }
            for (job, answer) in cancels.into_iter().zip(cancelled) {
                let _ = job.answer.send(answer);
            }
            (Vec::new(), Vec::new())
        }
        // The COMMIT itself failed: it may have reached the server, so writing the jobs
        // again could refuse a fan the seats they now hold. Each is told the error, as a
        // single booking whose commit failed is; a retry with its idempotency key settles it.
        Err(Failed::Commit(e)) => {
            let error = || {
                BookingError::Store(StoreError::Other(anyhow::anyhow!("the booking's commit failed: {e}")))
            };
            for job in batch {
                let _ = job.answer.send(Err(error()));
            }
            for job in cancels {
                let _ = job.answer.send(Err(error()));
            }
            (Vec::new(), Vec::new())
        }
        Err(Failed::RolledBack(e)) => {
            tracing::debug!(error = %e, orders = batch.len(), cancellations = cancels.len(), "booking batch rolled back; writing its jobs one by one");
            metrics::counter!("booking_batch_fallbacks_total").increment(1);
            (batch, cancels)
        }
    };
    metrics::histogram!("booking_batch_seconds").record(started.elapsed().as_secs_f64());
    // Replays need no place in the lane (the concert's lock orders them): they run beside
    // the next batch instead of holding it up.
    for job in alone {
        tokio::spawn((single.book)(pool.clone(), job));
    }
    for job in cancels_left {
        (single.cancel)(pool.clone(), job).await;
    }
    for job in leftovers {
        (single.book)(pool.clone(), job).await;
    }
}

/// Why a batch wrote nothing, or may have.
enum Failed {
    /// Rolled back: nothing was written.
    RolledBack(StoreError),
    /// The COMMIT failed: it may or may not have taken effect.
    Commit(StoreError),
}

/// Splits off the orders that go alone, after the batch: an idempotency key used twice in
/// the batch (the second must replay the first's answer, which only exists once the
/// batch has committed).
fn split_repeats(batch: Vec<Job>) -> (Vec<Job>, Vec<Job>) {
    let mut keys = HashSet::new();
    batch.into_iter().partition(|job| match &job.idempotency {
        Some((key, _)) => keys.insert((job.user_id, key.clone())),
        None => true,
    })
}

/// A requested seat as the batch found it.
#[derive(Clone, Copy)]
struct SeatRow {
    id: i64,
    status: SeatStatus,
    price_cents: i64,
}

/// A batch's answers: each order's (`None`: answered alone from what was saved), each
/// cancellation's.
type Answers = (Vec<Option<Result<Booked, BookingError>>>, Vec<Result<Cancelled, BookingError>>);

/// Writes every cancellation and books every order of the batch it can in one
/// transaction, and answers each. An error means nothing was written (the transaction
/// rolled back), or, for a failed COMMIT, that it may have been.
async fn write_together(
    mut tx: Transaction<'static, Postgres>,
    batch: &[Job],
    cancels: &[CancelJob],
    committing: oneshot::Sender<()>,
) -> Result<Answers, Failed> {
    let answers = write_in(&mut tx, batch, cancels).await.map_err(Failed::RolledBack)?;
    let _ = committing.send(());
    tx.commit().await.map_err(|e| Failed::Commit(e.into()))?;
    Ok(answers)
}

/// Everything of [`write_together`] but its COMMIT. The cancellations go first (in
/// arrival order), so the batch's orders may take the seats they free.
async fn write_in(
    tx: &mut Transaction<'static, Postgres>,
    batch: &[Job],
    cancels: &[CancelJob],
) -> Result<Answers, StoreError> {
    let now = Utc::now();
    let mut concert_ids: Vec<i64> =
        batch.iter().map(|j| j.concert_id).chain(cancels.iter().map(|c| c.concert_id)).collect();
    concert_ids.sort_unstable();
    concert_ids.dedup();
    // In id order, as every writer takes them: no deadlock between batches. Under these
    // locks no one else changes the concerts' seats, and each seat this batch books bumps
    // its concert's map version by one (trigger `seats_status_changed`): counting from
    // the version read here gives each order the exact version it made.
    let mut concerts: HashMap<i64, Terms> = HashMap::with_capacity(concert_ids.len());
    let mut versions: HashMap<i64, i64> = HashMap::with_capacity(concert_ids.len());
    // With each concert, whether a hold of it is over and not yet expired (rarely: the
    // sweeper runs every second), so that the expiry below costs a round trip only then;
    // the due holds are found through the index of pending orders by due time, whichever
    // concert they are of.
    type Locked =
        (i64, i64, DateTime<Utc>, i64, Option<DateTime<Utc>>, Option<DateTime<Utc>>, String, i64, bool);
    let locked = sqlx::query_as::<_, Locked>(&format!(
        "SELECT id, seat_version, start_time, max_seats_per_fan, sales_open_at, sales_close_at, checkout, hold_minutes,
                id IN (SELECT concert_id FROM orders WHERE status = 'PENDING_PAYMENT' AND expires_at <= $2)
         FROM concerts WHERE id = ANY($1) AND deleted_at IS NULL ORDER BY id{FOR_UPDATE}"
    ))
    .bind(&concert_ids)
    .bind(now)
    .fetch_all(&mut **tx)
    .await?;
    let mut overdue = Vec::new();
    for (id, version, start, limit, opens, closes, checkout, hold_minutes, due) in locked {
        concerts.insert(id, terms_of((start, limit, opens, closes, checkout, hold_minutes))?);
        versions.insert(id, version);
        if due {
            overdue.push(id);
        }
    }
    let cancelled = cancel_in(tx, cancels, &concerts, &mut versions, now).await?;
    if batch.is_empty() {
        return Ok((Vec::new(), cancelled));
    }
    // Holds that are over free their seats for this batch (each freed seat one step of its
    // concert's map version, after the cancellations'), told with the concert's first
    // booking below.
    let mut released: HashMap<i64, Vec<SeatRef>> = HashMap::new();
    if !overdue.is_empty() {
        for (concert, seat) in expire_due_in(tx, &overdue, now).await? {
            released.entry(concert).or_default().push(seat);
        }
    }
    let saved = saved_keys(tx, batch).await?;
    let retried =
        |job: &Job| job.idempotency.as_ref().is_some_and(|(k, _)| saved.contains(&(job.user_id, k.clone())));
    let mut seats = seats_of(tx, batch).await?;
    let mut held = holdings(tx, batch).await?;
    let mut floors = free_places(tx, batch).await?;
    let mut codes = presale_codes(tx, batch, &concerts, now).await?;

    // Each order in turn, seeing what the orders before it took (seats, places, the
    // uses of presale codes).
    let mut decisions = Vec::with_capacity(batch.len());
    for job in batch {
        if retried(job) {
            // Not decided here (a stand-in refusal takes no seat and writes nothing).
            decisions.push(Err(BookingError::KeyReused));
            continue;
        }
        let terms = concerts.get(&job.concert_id).copied();
        let access = match (&job.access_code, terms) {
            (Some(code), Some(terms)) if terms.before_general_sale(now) => {
                Access::Code(codes.get(&(job.concert_id, code.clone())).copied())
            }
            _ => Access::None,
        };
        let decision = decide(job, terms, access, &seats, &held, &mut floors, now);
        if let Ok((taken, admission)) = &decision {
            for (seat, _) in taken {
                if let Some(Some(row)) = seats.get_mut(&(job.concert_id, *seat)) {
                    row.status = SeatStatus::Reserved;
                }
            }
            *held.entry((job.user_id, job.concert_id)).or_default() += taken.len() as i64;
            if let (Admission::Presale { .. }, Some(code)) = (admission, &job.access_code)
                && let Some(found) = codes.get_mut(&(job.concert_id, code.clone()))
            {
                found.uses += 1;
            }
        }
        decisions.push(decision);
    }

    let booked = insert(tx, batch, &decisions, &concerts, now).await?;
    let accepted = batch.iter().zip(&decisions).filter(|(_, d)| d.is_ok()).map(|(job, _)| job);
    claim_keys(tx, accepted, &booked, now).await?;
    let mut booked = booked.into_iter();
    let answers = batch
        .iter()
        .zip(decisions)
        .map(|(job, decision)| {
            if retried(job) {
                return None;
            }
            Some(decision.map(|(taken, _)| {
                let released = released.remove(&job.concert_id).unwrap_or_default();
                Booked {
                    reservations: booked.next().unwrap_or_default(),
                    version: versions.get_mut(&job.concert_id).map_or(0, |v| {
                        *v += (taken.len() + released.len()) as i64;
                        *v
                    }),
                    replayed: false,
                    seats: taken.into_iter().map(|(seat, _)| seat).collect(),
                    released,
                }
            }))
        })
        .collect();
    Ok((answers, cancelled))
}

/// Cancels what the batch's cancellations may cancel (one read, one `UPDATE`; the
/// schema's triggers free the seats), each decided in arrival order by the rule of a
/// single cancellation ([`cancellable`]), and answers each with the map version it made.
async fn cancel_in(
    tx: &mut Transaction<'static, Postgres>,
    cancels: &[CancelJob],
    concerts: &HashMap<i64, Terms>,
    versions: &mut HashMap<i64, i64>,
    now: DateTime<Utc>,
) -> Result<Vec<Result<Cancelled, BookingError>>, StoreError> {
    if cancels.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<i64> = cancels.iter().map(|c| c.reservation_id).collect();
    let rows: Vec<ReservationRow> =
        sqlx::query_as(&format!("SELECT {RESERVATION_COLUMNS} FROM reservations WHERE id = ANY($1)"))
            .bind(&ids)
            .fetch_all(&mut **tx)
            .await?;
    let mut records = HashMap::with_capacity(rows.len());
    for row in rows {
        let record = ReservationRecord::try_from(row)?;
        records.insert(record.id, record);
    }
    // Each in turn, seeing what the ones before it cancelled: `(record as answered, whether
    // this one cancels it)`.
    let mut decided = Vec::with_capacity(cancels.len());
    for job in cancels {
        let Some(record) = records.get_mut(&job.reservation_id).filter(|r| r.concert_id == job.concert_id)
        else {
            decided.push(Err(BookingError::ReservationNotFound));
            continue;
        };
        let start = concerts.get(&job.concert_id).map(|terms| terms.start_time);
        decided.push(cancellable(record, job.actor_id, job.actor_is_admin, start, now).map(|cancels| {
            if cancels {
                record.status = ReservationStatus::Cancelled;
                record.cancelled_at = Some(now);
            }
            (record.clone(), cancels)
        }));
    }
    let to_cancel: Vec<i64> =
        decided.iter().filter_map(|d| d.as_ref().ok().filter(|(_, c)| *c).map(|(r, _)| r.id)).collect();
    // The cancelled reservations as the database stored them.
    let mut stored = HashMap::with_capacity(to_cancel.len());
    if !to_cancel.is_empty() {
        let rows: Vec<ReservationRow> = sqlx::query_as(&format!(
            "UPDATE reservations SET status = 'N', cancelled_at = $2 WHERE id = ANY($1) AND status = 'Y'
             RETURNING {RESERVATION_COLUMNS}"
        ))
        .bind(&to_cancel)
        .bind(now)
        .fetch_all(&mut **tx)
        .await?;
        if rows.len() != to_cancel.len() {
            return Err(corrupt(format!("cancelled {} of {} reservations", rows.len(), to_cancel.len())));
        }
        // A paid seat's price goes back, recorded with the cancellation.
        for &id in &to_cancel {
            let actor = cancels.iter().find(|job| job.reservation_id == id).map_or(0, |job| job.actor_id);
            refund_seat(tx, id, actor, now).await?;
        }
        for row in rows {
            let record = ReservationRecord::try_from(row)?;
            stored.insert(record.id, record);
        }
    }
    // Each answered as stored (its time at the database's precision), with its seat.
    let decided: Vec<_> = decided
        .into_iter()
        .map(|d| d.map(|(record, cancels)| (stored.get(&record.id).cloned().unwrap_or(record), cancels)))
        .collect();
    let answered: Vec<ReservationRecord> =
        decided.iter().filter_map(|d| d.as_ref().ok().map(|(record, _)| record.clone())).collect();
    let mut seats = super::bookings::seats_of(tx, &answered).await?.into_iter();
    Ok(decided
        .into_iter()
        .map(|decided| {
            let (reservation, cancels) = decided?;
            let seat =
                seats.next().ok_or_else(|| BookingError::Store(corrupt("a cancellation's seat".into())))?;
            let version = cancels.then(|| {
                let version = versions.entry(reservation.concert_id).or_default();
                *version += 1;
                *version
            });
            Ok(Cancelled { reservation, seat, version })
        })
        .collect())
}

/// The idempotency keys of the batch that are saved already: retries of orders booked
/// before. Read under the concerts' locks, so a retry of an order another instance is
/// booking waits for it and finds its key.
async fn saved_keys(
    tx: &mut Transaction<'static, Postgres>,
    batch: &[Job],
) -> Result<HashSet<(i64, String)>, StoreError> {
    let (users, keys): (Vec<i64>, Vec<&str>) =
        batch.iter().filter_map(|j| j.idempotency.as_ref().map(|(k, _)| (j.user_id, k.as_str()))).unzip();
    if users.is_empty() {
        return Ok(HashSet::new());
    }
    let saved: Vec<(i64, String)> = sqlx::query_as(
        "SELECT k.user_id, k.key FROM idempotency_keys k
         JOIN unnest($1::bigint[], $2::text[]) AS q(user_id, key) ON k.user_id = q.user_id AND k.key = q.key",
    )
    .bind(&users)
    .bind(&keys)
    .fetch_all(&mut **tx)
    .await?;
    Ok(saved.into_iter().collect())
}

/// Every requested seat by `(concert, seat)`: `None` when the concert has no such seat or
/// its grade has no price.
async fn seats_of(
    tx: &mut Transaction<'static, Postgres>,
    batch: &[Job],
) -> Result<HashMap<(i64, SeatRef), Option<SeatRow>>, StoreError> {
    let wanted: Vec<(i64, SeatRef)> =
        batch.iter().flat_map(|j| j.order.seats.iter().map(move |s| (j.concert_id, *s))).collect();
    let rows: Vec<(Option<i64>, Option<String>, Option<i64>)> = sqlx::query_as(
        "SELECT s.id, s.status, p.price_cents
         FROM unnest($1::bigint[], $4::text[], $2::text[], $3::bigint[]) WITH ORDINALITY AS q(c, sec, h, v, n)
         LEFT JOIN seats s ON s.concert_id = q.c AND s.section = q.sec AND s.horizontal = q.h AND s.vertical = q.v
         LEFT JOIN seat_prices p ON p.concert_id = s.concert_id AND p.grade = s.grade
         ORDER BY q.n",
    )
    .bind(wanted.iter().map(|(c, _)| *c).collect::<Vec<_>>())
    .bind(wanted.iter().map(|(_, s)| s.horizontal.to_string()).collect::<Vec<_>>())
    .bind(wanted.iter().map(|(_, s)| i64::from(s.vertical)).collect::<Vec<_>>())
    .bind(wanted.iter().map(|(_, s)| s.section.to_string()).collect::<Vec<_>>())
    .fetch_all(&mut **tx)
    .await?;
    let mut seats = HashMap::with_capacity(wanted.len());
    for (key, (id, status, price)) in wanted.into_iter().zip(rows) {
        let row = match (id, status, price) {
            (Some(id), Some(status), Some(price_cents)) => {
                Some(SeatRow { id, status: SeatStatus::parse(&status).map_err(corrupt)?, price_cents })
            }
            _ => None,
        };
        seats.insert(key, row);
    }
    Ok(seats)
}

/// Active reservations held by each `(fan, concert)` of the batch.
async fn holdings(
    tx: &mut Transaction<'static, Postgres>,
    batch: &[Job],
) -> Result<HashMap<(i64, i64), i64>, StoreError> {
    let pairs: HashSet<(i64, i64)> = batch.iter().map(|j| (j.user_id, j.concert_id)).collect();
    let (users, concerts): (Vec<i64>, Vec<i64>) = pairs.into_iter().unzip();
    // Counted fan by fan through the index (LATERAL): as a join, the planner may hash
    // every active reservation instead, whose cost grows with the table.
    let rows: Vec<(i64, i64, i64)> = sqlx::query_as(
        "SELECT q.user_id, q.concert_id, h.held
         FROM unnest($1::bigint[], $2::bigint[]) AS q(user_id, concert_id)
         CROSS JOIN LATERAL (SELECT count(*) AS held FROM reservations r
                             WHERE r.user_id = q.user_id AND r.concert_id = q.concert_id
                               AND r.status IN ('H', 'Y')) h",
    )
    .bind(&users)
    .bind(&concerts)
    .fetch_all(&mut **tx)
    .await?;
    Ok(rows.into_iter().map(|(user, concert, count)| ((user, concert), count)).collect())
}

/// An order's seats and places as decided, with their ids and prices, and how it was let in.
type Taken = (Vec<(SeatRef, SeatRow)>, Admission);

/// Whether one order can be booked now, by the one booking rule
/// ([`crate::domain::booking::decide`]) with what it brings to be let in before the
/// general sale: the seats it takes, or why not.
fn decide(
    job: &Job,
    concert: Option<Terms>,
    access: Access,
    seats: &HashMap<(i64, SeatRef), Option<SeatRow>>,
    held: &HashMap<(i64, i64), i64>,
    floors: &mut HashMap<(i64, SectionName), Floor>,
    now: DateTime<Utc>,
) -> Result<Taken, BookingError> {
    let stored = |seat: &SeatRef| seats.get(&(job.concert_id, *seat)).copied().flatten();
    let held = held.get(&(job.user_id, job.concert_id)).copied().unwrap_or(0);
    // The concert first (no live one, started, or not selling to this order), as a single
    // order is decided.
    booking::decide(concert, now, access, std::iter::empty(), 0)?;
    let places = take_places(job, floors)?;
    let statuses = job
        .order
        .seats
        .iter()
        .map(|seat| (*seat, stored(seat).map(|row| row.status)))
        .chain(places.iter().map(|(place, _)| (*place, Some(SeatStatus::Available))));
    let admission = match booking::decide(concert, now, access, statuses, held) {
        Ok(admission) => admission,
        Err(refused) => {
            give_back(job, floors, places);
            return Err(refused.into());
        }
    };
    let mut taken: Vec<(SeatRef, SeatRow)> =
        job.order.seats.iter().filter_map(|seat| stored(seat).map(|row| (*seat, row))).collect();
    taken.extend(places);
    Ok((taken, admission))
}

/// The presale codes the batch's orders bring before their concerts' general sales, by
/// `(concert, code)` as stored (a code the concert does not have is absent). One read,
/// and none when no order brings a code then: the rush after the general sale opens
/// pays nothing for presales.
async fn presale_codes(
    tx: &mut Transaction<'static, Postgres>,
    batch: &[Job],
    concerts: &HashMap<i64, Terms>,
    now: DateTime<Utc>,
) -> Result<HashMap<(i64, AccessCode), PresaleCode>, StoreError> {
    let wanted: Vec<(i64, &AccessCode)> = batch
        .iter()
        .filter_map(|job| {
            let code = job.access_code.as_ref()?;
            concerts.get(&job.concert_id)?.before_general_sale(now).then_some((job.concert_id, code))
        })
        .collect();
    if wanted.is_empty() {
        return Ok(HashMap::new());
    }
    type Row = (i64, String, i64, DateTime<Utc>, DateTime<Utc>, i64, i64);
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT q.concert_id, q.code, c.id, p.opens_at, p.closes_at, c.uses, c.max_uses
         FROM (SELECT DISTINCT * FROM unnest($1::bigint[], $2::text[]) AS q(concert_id, code)) q
         JOIN presale_codes c ON c.concert_id = q.concert_id AND c.code = q.code
         JOIN presales p ON p.id = c.presale_id",
    )
    .bind(wanted.iter().map(|(concert, _)| *concert).collect::<Vec<_>>())
    .bind(wanted.iter().map(|(_, code)| code.as_str()).collect::<Vec<_>>())
    .fetch_all(&mut **tx)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(concert, code, id, opens_at, closes_at, uses, max_uses)| {
            ((concert, AccessCode::stored(code)), PresaleCode { id, opens_at, closes_at, uses, max_uses })
        })
        .collect())
}

/// The free places of one standing section as the batch found them, first free first,
/// and whether the concert sells the section at all.
#[derive(Default)]
struct Floor {
    free: VecDeque<(SeatRef, SeatRow)>,
    sold: bool,
}

/// For every standing section the batch's orders ask for, as many of its first free places
/// as they ask for in all (read under the concerts' locks: no one else takes them).
async fn free_places(
    tx: &mut Transaction<'static, Postgres>,
    batch: &[Job],
) -> Result<HashMap<(i64, SectionName), Floor>, StoreError> {
    let mut wanted: HashMap<(i64, SectionName), i64> = HashMap::new();
    for job in batch {
        for place in &job.order.standing {
            *wanted.entry((job.concert_id, place.section)).or_default() += i64::from(place.quantity);
        }
    }
    let mut floors = HashMap::with_capacity(wanted.len());
    for ((concert, section), quantity) in wanted {
        let free: Vec<(i64, i64, i64)> = sqlx::query_as(FREE_PLACES)
            .bind(concert)
            .bind(section.as_str())
            .bind(quantity)
            .fetch_all(&mut **tx)
            .await?;
        let sold = !free.is_empty()
            || sqlx::query_scalar::<_, bool>(SECTION_SOLD)
                .bind(concert)
                .bind(section.as_str())
                .fetch_one(&mut **tx)
                .await?;
        let free = free
            .into_iter()
            .map(|(id, number, price_cents)| {
                (place(section, number), SeatRow { id, status: SeatStatus::Available, price_cents })
            })
            .collect();
        floors.insert((concert, section), Floor { free, sold });
    }
    Ok(floors)
}

/// Takes an order's standing places from what the batch found free; refused, with nothing
/// taken, when a section is not sold or has fewer left.
fn take_places(
    job: &Job,
    floors: &mut HashMap<(i64, SectionName), Floor>,
) -> Result<Vec<(SeatRef, SeatRow)>, BookingError> {
    let mut shortfall = Shortfall::default();
    for wanted in &job.order.standing {
        match floors.get(&(job.concert_id, wanted.section)) {
            Some(floor) if floor.free.len() >= wanted.quantity as usize => {}
            Some(floor) => shortfall.lacks(wanted.section, floor.sold, floor.free.len()),
            None => shortfall.lacks(wanted.section, false, 0),
        }
    }
    shortfall.refusal()?;
    let mut places = Vec::new();
    for wanted in &job.order.standing {
        if let Some(floor) = floors.get_mut(&(job.concert_id, wanted.section)) {
            places.extend(floor.free.drain(..wanted.quantity as usize));
        }
    }
    Ok(places)
}

/// Puts back the places of an order that was refused after all, first free first again.
fn give_back(job: &Job, floors: &mut HashMap<(i64, SectionName), Floor>, places: Vec<(SeatRef, SeatRow)>) {
    for (place, row) in places.into_iter().rev() {
        if let Some(floor) = floors.get_mut(&(job.concert_id, place.section)) {
            floor.free.push_front((place, row));
        }
    }
}

/// Inserts the reservations of every accepted order in one statement; returns them per
/// accepted order, in batch order.
async fn insert(
    tx: &mut Transaction<'static, Postgres>,
    batch: &[Job],
    decisions: &[Result<Taken, BookingError>],
    concerts: &HashMap<i64, Terms>,
    now: DateTime<Utc>,
) -> Result<Vec<Vec<ReservationRecord>>, StoreError> {
    // One order per accepted booking, held or confirmed as its concert sells.
    let accepted: Vec<(&Job, &Taken)> = batch
        .iter()
        .zip(decisions)
        .filter_map(|(job, decision)| decision.as_ref().ok().map(|taken| (job, taken)))
        .collect();
    let orders: Vec<_> = accepted
        .iter()
        .map(|(job, (taken, _))| {
            let (status, expires_at) = concerts
                .get(&job.concert_id)
                .map_or((ReservationStatus::Active, None), |terms| terms.booked_as(now));
            let total = taken.iter().map(|(_, row)| row.price_cents).sum();
            (job.user_id, job.concert_id, status, total, expires_at)
        })
        .collect();
    let order_ids = insert_orders(tx, &orders, now).await?;
    // The presale codes the orders used, counted before their reservations are checked.
    let uses: Vec<(i64, i64)> = accepted
        .iter()
        .zip(&order_ids)
        .filter_map(|((_, (_, admission)), order)| admission.code_id().map(|code| (*order, code)))
        .collect();
    use_codes(tx, &uses).await.map_err(|e| match e {
        BookingError::Store(e) => e,
        refused => StoreError::Other(anyhow::anyhow!("a presale use was refused by the schema: {refused}")),
    })?;
    // (fan, concert, seat, price, order, status, held until)
    type Row<'a> = (i64, i64, i64, i64, i64, &'a str, Option<DateTime<Utc>>);
    let rows: Vec<Row> = accepted
        .iter()
        .zip(orders.iter().zip(&order_ids))
        .flat_map(|((job, (taken, _)), (order, order_id))| {
            taken.iter().map(move |(_, row)| {
                (job.user_id, job.concert_id, row.id, row.price_cents, *order_id, order.2.code(), order.4)
            })
        })
        .collect();
    if rows.is_empty() {
        return Ok(decisions.iter().filter(|d| d.is_ok()).map(|_| Vec::new()).collect());
    }
    let inserted: Vec<ReservationRow> = sqlx::query_as(&format!(
        "INSERT INTO reservations (user_id, concert_id, seat_id, status, price_cents, created_at, order_id, expires_at)
         SELECT t.user_id, t.concert_id, t.seat_id, t.status, t.price, $5, t.order_id, t.expires_at
         FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[], $6::bigint[], $7::text[],
                     $8::timestamptz[])
              WITH ORDINALITY AS t(user_id, concert_id, seat_id, price, order_id, status, expires_at, n)
         ORDER BY t.n
         RETURNING {RESERVATION_COLUMNS}"
    ))
    .bind(rows.iter().map(|r| r.0).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.1).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.2).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.3).collect::<Vec<_>>())
    .bind(now)
    .bind(rows.iter().map(|r| r.4).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.5).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.6).collect::<Vec<_>>())
    .fetch_all(&mut **tx)
    .await?;
    let mut by_seat: HashMap<i64, ReservationRecord> = HashMap::with_capacity(inserted.len());
    for row in inserted {
        let record = ReservationRecord::try_from(row)?;
        by_seat.insert(record.seat_id, record);
    }
    decisions
        .iter()
        .filter_map(|decision| decision.as_ref().ok())
        .map(|(taken, _)| {
            taken
                .iter()
                .map(|(_, row)| {
                    by_seat.remove(&row.id).ok_or_else(|| corrupt(format!("seat {} not booked", row.id)))
                })
                .collect()
        })
        .collect()
}

/// Saves the answer of every booked order that carries an idempotency key, in the same
/// transaction. A key another instance claimed meanwhile fails the batch (its order is
/// then answered alone, as a replay).
async fn claim_keys<'b>(
    tx: &mut Transaction<'static, Postgres>,
    accepted: impl Iterator<Item = &'b Job>,
    booked: &[Vec<ReservationRecord>],
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let mut users = Vec::new();
    let mut keys = Vec::new();
    let mut fingerprints = Vec::new();
    let mut concerts = Vec::new();
    let mut ids = Vec::new();
    for (job, reservations) in accepted.zip(booked) {
        let Some((key, fingerprint)) = &job.idempotency else { continue };
        users.push(job.user_id);
        keys.push(key.as_str());
        fingerprints.push(fingerprint.as_str());
        concerts.push(job.concert_id);
        ids.push(reservations.iter().map(|r| r.id.to_string()).collect::<Vec<_>>().join(","));
    }
    if users.is_empty() {
        return Ok(());
    }
    let claimed = sqlx::query(
        "INSERT INTO idempotency_keys (user_id, key, fingerprint, concert_id, reservation_ids, created_at)
         SELECT u, k, f, c, r, $6 FROM unnest($1::bigint[], $2::text[], $3::text[], $4::bigint[], $5::text[])
              AS t(u, k, f, c, r)
         ON CONFLICT DO NOTHING",
    )
    .bind(&users)
    .bind(&keys)
    .bind(&fingerprints)
    .bind(&concerts)
    .bind(&ids)
    .bind(now)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    if claimed != users.len() as u64 {
        return Err(StoreError::Other(anyhow::anyhow!("an idempotency key was claimed meanwhile")));
    }
    Ok(())
}
