//! Tickets and the door in the SQL both backends run. A ticket is a confirmed reservation
//! (its id the reservation's); a transfer gives it another holder and a new version. The
//! door's scans are kept, each with its answer; the schema admits a ticket once
//! (migration `tickets`: a partial unique index over admissions, and a trigger that admits
//! only a confirmed ticket of the concert in its current version).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use sqlx::{ColumnIndex, Encode, Executor, IntoArguments, Type};

use super::StoreError;
use super::bookings::{corrupt, seat_ref};
use super::outbox::QUEUE_EMAIL_TO_USER;
use super::sql::{Args, Backend, Column, Conn, RowOf, WriteTx};
use crate::domain::booking::SeatRef;
use crate::domain::order::Notice;
use crate::domain::ticket::{CheckinResult, TicketStatus};
use crate::domain::venue::{Letter, Price};
use crate::store::letter;

/// A ticket with what its page and the door show.
#[derive(Debug, Clone)]
pub struct TicketRecord {
    pub id: i64,
    pub concert_id: i64,
    pub concert_name: String,
    pub start_time: DateTime<Utc>,
    pub venue: String,
    pub owner_id: i64,
    pub seat: SeatRef,
    pub grade: Letter,
    pub price: Price,
    pub status: TicketStatus,
    /// The fan who booked it, unless it was transferred since.
    pub holder_id: i64,
    pub holder_username: String,
    pub holder_nickname: Option<String>,
    /// 1, one more with each transfer: a code of an older version is revoked.
    pub version: i64,
    pub order_id: Option<i64>,
    /// Its admission at the door, if it was admitted.
    pub admitted: Option<CheckinRecord>,
}

/// One scan kept by the door.
#[derive(Debug, Clone)]
pub struct CheckinRecord {
    pub id: i64,
    pub ticket_id: i64,
    pub version: i64,
    pub result: CheckinResult,
    pub scanned_at: DateTime<Utc>,
    pub received_at: DateTime<Utc>,
    pub device_id: Option<String>,
    pub nonce: Option<String>,
}

/// A scan of a verified code, as the door reports it.
#[derive(Debug, Clone)]
pub struct Scan {
    pub concert_id: i64,
    pub ticket_id: i64,
    pub version: i64,
    pub scanned_at: DateTime<Utc>,
    pub received_at: DateTime<Utc>,
    /// Made offline and reported later: the door has let the holder in already, so a
    /// second admission is a conflict to record, not a refusal.
    pub offline: bool,
    pub device_id: Option<String>,
    pub nonce: Option<String>,
    /// Who scanned: a user (owner, admin) or a check-in token.
    pub by_user: Option<i64>,
    pub by_token: Option<i64>,
}

/// What the door answers a scan.
#[derive(Debug, Clone)]
pub struct Checkin {
    /// The scan as kept (for a repeated nonce, as kept the first time).
    pub scan: CheckinRecord,
    /// The ticket, and its admission when this scan was not it.
    pub ticket: TicketRecord,
}

/// Why a ticket was not transferred.
#[derive(Debug, thiserror::Error)]
pub enum TransferError {
    #[error("no such ticket")]
    NotFound,
    #[error("only the ticket's holder may transfer it")]
    NotHolder,
    #[error("the ticket was cancelled")]
    Revoked,
    #[error("the concert has started")]
    Started,
    #[error("the ticket was used at the door")]
    CheckedIn,
    #[error("no such fan")]
    UnknownRecipient,
    #[error("the ticket is already theirs")]
    ToSelf,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for TransferError {
    fn from(e: sqlx::Error) -> Self {
        TransferError::Store(e.into())
    }
}

/// A check-in token as listed (the secret is shown once, when made).
#[derive(Debug, Clone)]
pub struct CheckinTokenRecord {
    pub id: i64,
    pub concert_id: i64,
    pub name: String,
    pub created_by: i64,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// One ticket as an offline scanner keeps it.
#[derive(Debug, Clone)]
pub struct DoorTicket {
    pub id: i64,
    pub version: i64,
    pub status: TicketStatus,
    pub seat: SeatRef,
    pub grade: Letter,
    pub holder: String,
    pub admitted_at: Option<DateTime<Utc>>,
}

/// Admitted and sold, of one grade.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GradeCount {
    pub grade: Letter,
    pub admitted: i64,
    pub total: i64,
}

/// An attendee row of the export.
#[derive(Debug, Clone)]
pub struct Attendee {
    pub ticket_id: i64,
    pub seat: SeatRef,
    pub grade: Letter,
    pub holder_username: String,
    pub holder_nickname: Option<String>,
    pub holder_email: String,
    pub admitted_at: Option<DateTime<Utc>>,
    pub device_id: Option<String>,
}

/// Tickets, their transfers and the door.
#[async_trait]
pub trait TicketStore {
    /// A ticket (a confirmed reservation, or a cancelled one that was confirmed).
    async fn ticket(&self, id: i64) -> Result<Option<TicketRecord>, StoreError>;
    /// The valid tickets a fan holds, newest first.
    async fn tickets_of_holder(&self, user_id: i64) -> Result<Vec<TicketRecord>, StoreError>;
    /// Moves a ticket from its holder `from` to the fan named `to` before the concert
    /// starts: a new version, the old codes revoked; both fans are e-mailed.
    async fn transfer(
        &self,
        id: i64,
        from: i64,
        to: &str,
        now: DateTime<Utc>,
    ) -> Result<TicketRecord, TransferError>;
    /// Keeps scans and decides each as if alone: admitted once, else refused (or a
    /// conflict, made offline); `None`: no such ticket in the concert; a repeated nonce
    /// answers as before. Where one writer writes at a time (SQLite), all in one
    /// transaction: one commit, one sync to disk for the lot; elsewhere one transaction
    /// each.
    async fn check_in_many(
        &self,
        scans: &[Scan],
    ) -> Result<Vec<Result<Option<Checkin>, StoreError>>, StoreError>;
    /// The concert's scans, in scan order, perhaps of one result only.
    async fn checkins(
        &self,
        concert_id: i64,
        result: Option<CheckinResult>,
    ) -> Result<Vec<CheckinRecord>, StoreError>;
    /// Admitted and sold per grade, and the conflicts reported.
    async fn checkin_stats(&self, concert_id: i64) -> Result<(Vec<GradeCount>, i64), StoreError>;
    /// The concert's tickets changed at or after `since` (every one: `None`), as an
    /// offline scanner keeps them.
    async fn door_tickets(
        &self,
        concert_id: i64,
        since: Option<DateTime<Utc>>,
    ) -> Result<Vec<DoorTicket>, StoreError>;
    /// Everyone holding a valid ticket, by seat, with their admission: one query, its rows
    /// handed on as the database sends them (the stream holds a connection until it ends
    /// or is dropped).
    fn attendees(&self, concert_id: i64) -> BoxStream<'_, Result<Attendee, StoreError>>;
    /// A new check-in token of the concert, stored by its secret's hash.
    async fn create_checkin_token(
        &self,
        concert_id: i64,
        name: &str,
        token_hash: &str,
        created_by: i64,
    ) -> Result<CheckinTokenRecord, StoreError>;
    /// The concert's check-in tokens, revoked ones included.
    async fn checkin_tokens(&self, concert_id: i64) -> Result<Vec<CheckinTokenRecord>, StoreError>;
    /// Revokes a token of the concert; `false`: no such token.
    async fn revoke_checkin_token(
        &self,
        concert_id: i64,
        id: i64,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;
    /// The live token with this hash: `(token id, concert id)`.
    async fn checkin_token(&self, token_hash: &str) -> Result<Option<(i64, i64)>, StoreError>;
}

/// The columns of a ticket; `{where}` chooses the reservations.
const TICKET_SELECT: &str =
    "SELECT r.id, r.concert_id, c.name AS concert_name, c.start_time, a.name AS venue,
        c.owner_id, s.section, s.horizontal, s.vertical, s.grade, r.price_cents, r.status,
        coalesce(h.holder_id, r.user_id) AS holder_id, u.username AS holder_username,
        u.nickname AS holder_nickname, coalesce(h.version, 1) AS version, r.order_id,
        k.id AS admitted_id, k.version AS admitted_version, k.scanned_at AS admitted_at,
        k.received_at AS admitted_received, k.device_id AS admitted_device, k.nonce AS admitted_nonce
     FROM reservations r
     JOIN concerts c ON c.id = r.concert_id
     JOIN auditoriums a ON a.id = c.auditorium_id
     JOIN seats s ON s.id = r.seat_id
     LEFT JOIN ticket_holders h ON h.reservation_id = r.id
     JOIN users u ON u.id = coalesce(h.holder_id, r.user_id)
     LEFT JOIN orders o ON o.id = r.order_id
     LEFT JOIN checkins k ON k.ticket_id = r.id AND k.result = 'ADMITTED'";

/// A reservation that is or was a ticket: confirmed, or cancelled after it was (a hold
/// given up or expired never was one).
const IS_TICKET: &str = "(r.status = 'Y' OR (r.status = 'N' AND (o.id IS NULL OR o.status <> 'CANCELLED')))";

const CHECKIN_COLUMNS: &str = "id, ticket_id, version, result, scanned_at, received_at, device_id, nonce";

#[derive(sqlx::FromRow)]
struct TicketRow {
    id: i64,
    concert_id: i64,
    concert_name: String,
    start_time: DateTime<Utc>,
    venue: String,
    owner_id: i64,
    section: String,
    horizontal: String,
    vertical: i64,
    grade: String,
    price_cents: i64,
    status: String,
    holder_id: i64,
    holder_username: String,
    holder_nickname: Option<String>,
    version: i64,
    order_id: Option<i64>,
    admitted_id: Option<i64>,
    admitted_version: Option<i64>,
    admitted_at: Option<DateTime<Utc>>,
    admitted_received: Option<DateTime<Utc>>,
    admitted_device: Option<String>,
    admitted_nonce: Option<String>,
}

impl TicketRow {
    fn record(self) -> Result<TicketRecord, StoreError> {
        let admitted =
            match (self.admitted_id, self.admitted_version, self.admitted_at, self.admitted_received) {
                (Some(id), Some(version), Some(scanned_at), Some(received_at)) => Some(CheckinRecord {
                    id,
                    ticket_id: self.id,
                    version,
                    result: CheckinResult::Admitted,
                    scanned_at,
                    received_at,
                    device_id: self.admitted_device,
                    nonce: self.admitted_nonce,
                }),
                _ => None,
            };
        Ok(TicketRecord {
            id: self.id,
            concert_id: self.concert_id,
            concert_name: self.concert_name,
            start_time: self.start_time,
            venue: self.venue,
            owner_id: self.owner_id,
            seat: seat_ref(&self.section, &self.horizontal, self.vertical)?,
            grade: letter(&self.grade)?,
            price: Price::from_cents(self.price_cents),
            status: if self.status == "Y" { TicketStatus::Valid } else { TicketStatus::Revoked },
            holder_id: self.holder_id,
            holder_username: self.holder_username,
            holder_nickname: self.holder_nickname,
            version: self.version,
            order_id: self.order_id,
            admitted,
        })
    }
}

type CheckinRow = (i64, i64, i64, String, DateTime<Utc>, DateTime<Utc>, Option<String>, Option<String>);

fn checkin_record(row: CheckinRow) -> Result<CheckinRecord, StoreError> {
    let (id, ticket_id, version, result, scanned_at, received_at, device_id, nonce) = row;
    Ok(CheckinRecord {
        id,
        ticket_id,
        version,
        result: CheckinResult::parse(&result).map_err(corrupt)?,
        scanned_at,
        received_at,
        device_id,
        nonce,
    })
}

/// How often a check-in starts over when another door's scan of the same ticket (or the
/// same upload) committed first; the next attempt sees it.
const CHECKIN_ATTEMPTS: usize = 3;

#[async_trait]
impl<B> TicketStore for B
where
    B: Backend,
    for<'c> &'c mut Conn<B>: Executor<'c, Database = B::DB>,
    for<'q> Args<'q, B>: IntoArguments<'q, B::DB>,
    for<'r> &'r str: ColumnIndex<RowOf<B>>,
    usize: ColumnIndex<RowOf<B>>,
    for<'q> &'q str: Encode<'q, B::DB> + Type<B::DB>,
    i64: Column<B::DB>,
    Option<i64>: Column<B::DB>,
    Option<String>: Column<B::DB>,
    String: Column<B::DB>,
    DateTime<Utc>: Column<B::DB>,
    Option<DateTime<Utc>>: Column<B::DB>,
{
    async fn ticket(&self, id: i64) -> Result<Option<TicketRecord>, StoreError> {
        let mut tx = B::snapshot(self.fresh()).await?;
        let ticket = ticket_in::<B>(&mut tx, id, "").await?;
        tx.commit().await?;
        Ok(ticket)
    }

    async fn tickets_of_holder(&self, user_id: i64) -> Result<Vec<TicketRecord>, StoreError> {
        let mut tx = B::snapshot(self.fresh()).await?;
        // The fan's own reservations (through the concert-and-fan index, concert by
        // concert on SQLite) and the tickets transferred to them.
        let rows: Vec<TicketRow> = sqlx::query_as(&format!(
            "{TICKET_SELECT}
             WHERE r.id IN (SELECT id FROM reservations WHERE user_id = $1 AND status = 'Y'
                                                          AND concert_id IN (SELECT id FROM concerts)
                            UNION SELECT reservation_id FROM ticket_holders WHERE holder_id = $1)
               AND r.status = 'Y' AND coalesce(h.holder_id, r.user_id) = $1
             ORDER BY c.start_time, r.id"
        ))
        .bind(user_id)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        rows.into_iter().map(TicketRow::record).collect()
    }

    async fn transfer(
        &self,
        id: i64,
        from: i64,
        to: &str,
        now: DateTime<Utc>,
    ) -> Result<TicketRecord, TransferError> {
        let mut tx = self.begin().await?;
        let lock = B::locking(" FOR NO KEY UPDATE OF r");
        let ticket = ticket_in::<B>(&mut tx, id, lock).await?.ok_or(TransferError::NotFound)?;
        if ticket.holder_id != from {
            return Err(TransferError::NotHolder);
        }
        if ticket.status != TicketStatus::Valid {
            return Err(TransferError::Revoked);
        }
        if ticket.start_time <= now {
            return Err(TransferError::Started);
        }
        if ticket.admitted.is_some() {
            return Err(TransferError::CheckedIn);
        }
        let recipient: Option<i64> = sqlx::query_scalar(
            "SELECT id FROM users WHERE lower(username) = lower($1) AND deleted_at IS NULL",
        )
        .bind(to)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(to_id) = recipient else { return Err(TransferError::UnknownRecipient) };
        if to_id == from {
            return Err(TransferError::ToSelf);
        }
        let version = ticket.version + 1;
        // A ticket that moved before has its holder row replaced, one that never moved gets
        // one. Not as one upsert: its INSERT's checks (version 2, a holder other than the
        // buyer) run before the conflict is found, on both backends, and would refuse
        // every second move.
        let replaced: Option<i64> = sqlx::query_scalar(
            "UPDATE ticket_holders SET holder_id = $2, version = $3, changed_at = $4 WHERE reservation_id = $1
             RETURNING reservation_id",
        )
        .bind(id)
        .bind(to_id)
        .bind(version)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?;
        if replaced.is_none() {
            sqlx::query(
                "INSERT INTO ticket_holders (reservation_id, concert_id, holder_id, version, changed_at)
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(id)
            .bind(ticket.concert_id)
            .bind(to_id)
            .bind(version)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query(
            "INSERT INTO ticket_transfers (reservation_id, from_user_id, to_user_id, version, at)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(id)
        .bind(from)
        .bind(to_id)
        .bind(version)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        let seat = ticket.seat.to_string();
        let (concert, from_name) = (ticket.concert_name.as_str(), ticket.holder_username.as_str());
        let notices = [
            (from, Notice::TicketGiven { ticket: id, version, concert, seat: &seat, to }),
            (to_id, Notice::TicketReceived { ticket: id, version, concert, seat: &seat, from: from_name }),
        ];
        for (user, notice) in notices {
            let (key, subject, text) = notice.compose();
            sqlx::query(QUEUE_EMAIL_TO_USER)
                .bind(key)
                .bind(subject)
                .bind(text)
                .bind(now)
                .bind(user)
                .execute(&mut *tx)
                .await?;
        }
        let moved = ticket_in::<B>(&mut tx, id, "").await?.ok_or(TransferError::NotFound)?;
        tx.commit().await?;
        Ok(moved)
    }

    async fn check_in_many(
        &self,
        scans: &[Scan],
    ) -> Result<Vec<Result<Option<Checkin>, StoreError>>, StoreError> {
        let mut answers = Vec::with_capacity(scans.len());
        if B::ROW_LOCKS {
            for scan in scans {
                answers.push(check_in_alone(self, scan).await);
            }
            return Ok(answers);
        }
        // The only writer: no other door's scan can commit in between, and a statement
        // that fails (a trigger's refusal) undoes itself alone.
        let mut tx: WriteTx<B::DB> = self.begin().await?;
        for scan in scans {
            answers.push(decide_scan::<B>(&mut tx, scan).await);
        }
        tx.commit().await?;
        Ok(answers)
    }

    async fn checkins(
        &self,
        concert_id: i64,
        result: Option<CheckinResult>,
    ) -> Result<Vec<CheckinRecord>, StoreError> {
        let rows: Vec<CheckinRow> = sqlx::query_as(&format!(
            "SELECT {CHECKIN_COLUMNS} FROM checkins WHERE concert_id = $1 AND ($2 = '' OR result = $2)
             ORDER BY scanned_at, id"
        ))
        .bind(concert_id)
        .bind(result.map_or("", |r| r.as_str()))
        .fetch_all(self.fresh())
        .await?;
        rows.into_iter().map(checkin_record).collect()
    }

    async fn checkin_stats(&self, concert_id: i64) -> Result<(Vec<GradeCount>, i64), StoreError> {
        let rows: Vec<(String, i64, i64)> = sqlx::query_as(
            "SELECT s.grade, count(k.id), count(*)
             FROM reservations r JOIN seats s ON s.id = r.seat_id
             LEFT JOIN checkins k ON k.ticket_id = r.id AND k.result = 'ADMITTED'
             WHERE r.concert_id = $1 AND r.status = 'Y'
             GROUP BY s.grade ORDER BY s.grade",
        )
        .bind(concert_id)
        .fetch_all(self.fresh())
        .await?;
        let conflicts: i64 =
            sqlx::query_scalar("SELECT count(*) FROM checkins WHERE concert_id = $1 AND result = 'CONFLICT'")
                .bind(concert_id)
                .fetch_one(self.fresh())
                .await?;
        let grades = rows
            .into_iter()
            .map(|(grade, admitted, total)| Ok(GradeCount { grade: letter(&grade)?, admitted, total }))
            .collect::<Result<_, StoreError>>()?;
        Ok((grades, conflicts))
    }

    async fn door_tickets(
        &self,
        concert_id: i64,
        since: Option<DateTime<Utc>>,
    ) -> Result<Vec<DoorTicket>, StoreError> {
        // Every change of a ticket stamps one of these times: booked, cancelled, moved,
        // paid (its order's history), admitted.
        let since = since.unwrap_or(DateTime::<Utc>::UNIX_EPOCH);
        let rows: Vec<(i64, i64, String, String, String, i64, String, String, Option<DateTime<Utc>>)> =
            sqlx::query_as(&format!(
                "SELECT r.id, coalesce(h.version, 1), r.status, s.section, s.horizontal, s.vertical, s.grade,
                        coalesce(u.nickname, u.username),
                        (SELECT k.scanned_at FROM checkins k WHERE k.ticket_id = r.id AND k.result = 'ADMITTED')
                 FROM reservations r
                 JOIN seats s ON s.id = r.seat_id
                 LEFT JOIN ticket_holders h ON h.reservation_id = r.id
                 JOIN users u ON u.id = coalesce(h.holder_id, r.user_id)
                 LEFT JOIN orders o ON o.id = r.order_id
                 WHERE r.concert_id = $1 AND {IS_TICKET}
                   AND (r.created_at >= $2 OR r.cancelled_at >= $2 OR h.changed_at >= $2
                        OR r.order_id IN (SELECT order_id FROM order_events WHERE at >= $2)
                        OR r.id IN (SELECT ticket_id FROM checkins WHERE concert_id = $1 AND received_at >= $2))
                 ORDER BY r.id"
            ))
            .bind(concert_id)
            .bind(since)
            .fetch_all(self.fresh())
            .await?;
        rows.into_iter()
            .map(|(id, version, status, section, horizontal, vertical, grade, holder, admitted_at)| {
                Ok(DoorTicket {
                    id,
                    version,
                    status: if status == "Y" { TicketStatus::Valid } else { TicketStatus::Revoked },
                    seat: seat_ref(&section, &horizontal, vertical)?,
                    grade: letter(&grade)?,
                    holder,
                    admitted_at,
                })
            })
            .collect()
    }

    fn attendees(&self, concert_id: i64) -> BoxStream<'_, Result<Attendee, StoreError>> {
        type Row = (
            i64,
            String,
            String,
            i64,
            String,
            String,
            Option<String>,
            String,
            Option<DateTime<Utc>>,
            Option<String>,
        );
        sqlx::query_as::<_, Row>(
            "SELECT r.id, s.section, s.horizontal, s.vertical, s.grade, u.username, u.nickname, u.email,
                    k.scanned_at, k.device_id
             FROM reservations r
             JOIN seats s ON s.id = r.seat_id
             LEFT JOIN ticket_holders h ON h.reservation_id = r.id
             JOIN users u ON u.id = coalesce(h.holder_id, r.user_id)
             LEFT JOIN checkins k ON k.ticket_id = r.id AND k.result = 'ADMITTED'
             WHERE r.concert_id = $1 AND r.status = 'Y'
             ORDER BY s.section, s.horizontal, s.vertical",
        )
        .bind(concert_id)
        .fetch(self.lagging())
        .map(|row| {
            let (ticket_id, section, horizontal, vertical, grade, username, nickname, email, at, device) =
                row?;
            Ok(Attendee {
                ticket_id,
                seat: seat_ref(&section, &horizontal, vertical)?,
                grade: letter(&grade)?,
                holder_username: username,
                holder_nickname: nickname,
                holder_email: email,
                admitted_at: at,
                device_id: device,
            })
        })
        .boxed()
    }

    async fn create_checkin_token(
        &self,
        concert_id: i64,
        name: &str,
        token_hash: &str,
        created_by: i64,
    ) -> Result<CheckinTokenRecord, StoreError> {
        let now = Utc::now();
        let mut tx = self.begin().await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO checkin_tokens (concert_id, name, token_hash, created_by, created_at)
             VALUES ($1, $2, $3, $4, $5) RETURNING id",
        )
        .bind(concert_id)
        .bind(name)
        .bind(token_hash)
        .bind(created_by)
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(CheckinTokenRecord {
            id,
            concert_id,
            name: name.to_owned(),
            created_by,
            created_at: now,
            revoked_at: None,
        })
    }

    async fn checkin_tokens(&self, concert_id: i64) -> Result<Vec<CheckinTokenRecord>, StoreError> {
        let rows: Vec<(i64, String, i64, DateTime<Utc>, Option<DateTime<Utc>>)> = sqlx::query_as(
            "SELECT id, name, created_by, created_at, revoked_at FROM checkin_tokens WHERE concert_id = $1 ORDER BY id",
        )
        .bind(concert_id)
        .fetch_all(self.fresh())
        .await?;
        Ok(rows
            .into_iter()
            .map(|(id, name, created_by, created_at, revoked_at)| CheckinTokenRecord {
                id,
                concert_id,
                name,
                created_by,
                created_at,
                revoked_at,
            })
            .collect())
    }

    async fn revoke_checkin_token(
        &self,
        concert_id: i64,
        id: i64,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin().await?;
        let found: Option<i64> = sqlx::query_scalar(
            "UPDATE checkin_tokens SET revoked_at = coalesce(revoked_at, $3) WHERE id = $1 AND concert_id = $2
             RETURNING id",
        )
        .bind(id)
        .bind(concert_id)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(found.is_some())
    }

    async fn checkin_token(&self, token_hash: &str) -> Result<Option<(i64, i64)>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT id, concert_id FROM checkin_tokens WHERE token_hash = $1 AND revoked_at IS NULL",
        )
        .bind(token_hash)
        .fetch_optional(self.fresh())
        .await?)
    }
}

/// The tickets of orders (`list`: their ids, comma-separated), cancelled ones too, by order
/// and in id order.
pub(super) async fn tickets_of_orders<B>(
    conn: &mut Conn<B>,
    list: &str,
) -> Result<std::collections::HashMap<i64, Vec<TicketRecord>>, StoreError>
where
    B: Backend,
    for<'c> &'c mut Conn<B>: Executor<'c, Database = B::DB>,
    for<'q> Args<'q, B>: IntoArguments<'q, B::DB>,
    for<'r> &'r str: ColumnIndex<RowOf<B>>,
    usize: ColumnIndex<RowOf<B>>,
    i64: Column<B::DB>,
    Option<i64>: Column<B::DB>,
    String: Column<B::DB>,
    Option<String>: Column<B::DB>,
    DateTime<Utc>: Column<B::DB>,
    Option<DateTime<Utc>>: Column<B::DB>,
{
    // Through the reservations' index by order.
    let rows: Vec<TicketRow> = sqlx::query_as(&format!(
        "{TICKET_SELECT} WHERE r.order_id IN ({list}) AND {IS_TICKET} ORDER BY r.id"
    ))
    .fetch_all(&mut *conn)
    .await?;
    let mut by_order: std::collections::HashMap<i64, Vec<TicketRecord>> = std::collections::HashMap::new();
    for row in rows {
        let ticket = row.record()?;
        by_order.entry(ticket.order_id.unwrap_or_default()).or_default().push(ticket);
    }
    Ok(by_order)
}

/// A ticket as `conn` sees it, its reservation locked with `lock` (a row-lock clause, or
/// nothing).
async fn ticket_in<B>(conn: &mut Conn<B>, id: i64, lock: &str) -> Result<Option<TicketRecord>, StoreError>
where
    B: Backend,
    for<'c> &'c mut Conn<B>: Executor<'c, Database = B::DB>,
    for<'q> Args<'q, B>: IntoArguments<'q, B::DB>,
    for<'r> &'r str: ColumnIndex<RowOf<B>>,
    usize: ColumnIndex<RowOf<B>>,
    i64: Column<B::DB>,
    Option<i64>: Column<B::DB>,
    String: Column<B::DB>,
    Option<String>: Column<B::DB>,
    DateTime<Utc>: Column<B::DB>,
    Option<DateTime<Utc>>: Column<B::DB>,
{
    let row: Option<TicketRow> =
        sqlx::query_as(&format!("{TICKET_SELECT} WHERE r.id = $1 AND {IS_TICKET}{lock}"))
            .bind(id)
            .fetch_optional(&mut *conn)
            .await?;
    row.map(TicketRow::record).transpose()
}

/// One scan in a transaction of its own, started over when another door's scan of the same
/// ticket (or the same upload) committed first: the next attempt sees it.
async fn check_in_alone<B>(backend: &B, scan: &Scan) -> Result<Option<Checkin>, StoreError>
where
    B: Backend,
    for<'c> &'c mut Conn<B>: Executor<'c, Database = B::DB>,
    for<'q> Args<'q, B>: IntoArguments<'q, B::DB>,
    for<'r> &'r str: ColumnIndex<RowOf<B>>,
    usize: ColumnIndex<RowOf<B>>,
    for<'q> &'q str: Encode<'q, B::DB> + Type<B::DB>,
    i64: Column<B::DB>,
    Option<i64>: Column<B::DB>,
    String: Column<B::DB>,
    Option<String>: Column<B::DB>,
    DateTime<Utc>: Column<B::DB>,
    Option<DateTime<Utc>>: Column<B::DB>,
{
    let mut attempt = 0;
    loop {
        attempt += 1;
        let mut tx: WriteTx<B::DB> = backend.begin().await?;
        match decide_scan::<B>(&mut tx, scan).await {
            Err(StoreError::Duplicate(_)) if attempt < CHECKIN_ATTEMPTS => continue,
            Err(e) => return Err(e),
            Ok(answer) => {
                tx.commit().await?;
                return Ok(answer);
            }
        }
    }
}

/// Keeps and decides one scan inside `tx` (committed by the caller).
async fn decide_scan<B>(tx: &mut WriteTx<B::DB>, scan: &Scan) -> Result<Option<Checkin>, StoreError>
where
    B: Backend,
    for<'c> &'c mut Conn<B>: Executor<'c, Database = B::DB>,
    for<'q> Args<'q, B>: IntoArguments<'q, B::DB>,
    for<'r> &'r str: ColumnIndex<RowOf<B>>,
    usize: ColumnIndex<RowOf<B>>,
    for<'q> &'q str: Encode<'q, B::DB> + Type<B::DB>,
    i64: Column<B::DB>,
    Option<i64>: Column<B::DB>,
    String: Column<B::DB>,
    Option<String>: Column<B::DB>,
    DateTime<Utc>: Column<B::DB>,
    Option<DateTime<Utc>>: Column<B::DB>,
{
    if let Some(nonce) = &scan.nonce {
        let seen: Option<CheckinRow> = sqlx::query_as(&format!(
            "SELECT {CHECKIN_COLUMNS} FROM checkins WHERE concert_id = $1 AND nonce = $2"
        ))
        .bind(scan.concert_id)
        .bind(nonce.clone())
        .fetch_optional(&mut **tx)
        .await?;
        if let Some(seen) = seen {
            let seen = checkin_record(seen)?;
            let ticket = ticket_in::<B>(tx, seen.ticket_id, "").await?;
            return Ok(ticket.map(|ticket| Checkin { scan: seen, ticket }));
        }
    }
    // The reservation is locked (shared) until the scan is kept: a cancellation or a
    // transfer committing meanwhile waits, or was seen.
    let Some(ticket) = ticket_in::<B>(tx, scan.ticket_id, B::locking(" FOR SHARE OF r")).await? else {
        return Ok(None);
    };
    if ticket.concert_id != scan.concert_id {
        return Ok(None);
    }
    let result = if ticket.status != TicketStatus::Valid || ticket.version != scan.version {
        CheckinResult::TicketRevoked
    } else {
        match &ticket.admitted {
            None => CheckinResult::Admitted,
            Some(first) if scan.offline && first.device_id != scan.device_id => CheckinResult::Conflict,
            Some(_) => CheckinResult::AlreadyCheckedIn,
        }
    };
    let inserted = sqlx::query_scalar::<_, i64>(
        "INSERT INTO checkins (concert_id, ticket_id, version, result, scanned_at, received_at, device_id, nonce,
                               by_user_id, by_token_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id",
    )
    .bind(scan.concert_id)
    .bind(scan.ticket_id)
    .bind(scan.version)
    .bind(result.as_str())
    .bind(scan.scanned_at)
    .bind(scan.received_at)
    .bind(scan.device_id.clone())
    .bind(scan.nonce.clone())
    .bind(scan.by_user)
    .bind(scan.by_token)
    .fetch_one(&mut **tx)
    .await;
    let id = match inserted {
        Ok(id) => id,
        // Another door admitted it, or the same upload arrived twice, a moment ago.
        Err(sqlx::Error::Database(db)) if db.is_unique_violation() => {
            return Err(StoreError::Duplicate("checkin"));
        }
        Err(e) => return Err(e.into()),
    };
    let scan_record = CheckinRecord {
        id,
        ticket_id: scan.ticket_id,
        version: scan.version,
        result,
        scanned_at: scan.scanned_at,
        received_at: scan.received_at,
        device_id: scan.device_id.clone(),
        nonce: scan.nonce.clone(),
    };
    let ticket = match result {
        CheckinResult::Admitted => TicketRecord { admitted: Some(scan_record.clone()), ..ticket },
        _ => ticket,
    };
    Ok(Some(Checkin { scan: scan_record, ticket }))
}
