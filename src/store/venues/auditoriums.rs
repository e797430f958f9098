//! Auditorium writes that check a rule against other rows: a venue never shrinks below, nor
//! is deleted under, the seats of its upcoming concerts. Where PostgreSQL's writers run side
//! by side, each first locks the rows its check is about, in the order every writer takes
//! them: the venue, then its concerts in id order (as bookings lock them), then seats.

use chrono::{DateTime, Utc};
use sqlx::{ColumnIndex, Encode, Executor, IntoArguments, Type};

use super::{AUDITORIUM_SELECT, AuditoriumRecord, AuditoriumRow, Sql};
use crate::domain::venue::{AuditoriumSpec, Letter, SeatStatus};
use crate::store::sql::{Args, Backend, Column, Conn, FOR_UPDATE, RowOf};
use crate::store::{LockToggle, StoreError, letter};

impl<B> Sql<'_, B>
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
    DateTime<Utc>: Column<B::DB>,
{
    /// An auditorium, live or not, with its owner's names.
    pub(super) async fn auditorium_in(conn: &mut Conn<B>, id: i64) -> Result<AuditoriumRecord, StoreError> {
        let row: Option<AuditoriumRow> = sqlx::query_as(&format!("{AUDITORIUM_SELECT} WHERE a.id = $1"))
            .bind(id)
            .fetch_optional(conn)
            .await?;
        row.ok_or(StoreError::NotFound)?.try_into()
    }

    /// `NotFound` unless row `id` of `table` is live; takes the row `lock` where writers lock.
    pub(super) async fn live(
        conn: &mut Conn<B>,
        table: &str,
        id: i64,
        lock: &'static str,
    ) -> Result<(), StoreError> {
        let found: Option<i64> = sqlx::query_scalar(&format!(
            "SELECT id FROM {table} WHERE id = $1 AND deleted_at IS NULL{}",
            B::locking(lock)
        ))
        .bind(id)
        .fetch_optional(conn)
        .await?;
        found.map(drop).ok_or(StoreError::NotFound)
    }

    /// Soft-deletes row `id` of `table` in one transaction, unless `blockers` (a count query
    /// taking the id and the current time) finds something that must outlive it. The row is
    /// locked first, so nothing that would block it can be added between the count and the
    /// update (bookings and new concerts take that lock, or a share lock on the venue).
    pub(super) async fn soft_delete_unless(
        &self,
        table: &'static str,
        id: i64,
        blockers: &'static str,
        conflict: impl FnOnce(i64) -> StoreError + Send,
    ) -> Result<(), StoreError> {
        let now = Utc::now();
        let mut tx = self.0.begin().await?;
        Self::live(&mut tx, table, id, FOR_UPDATE).await?;
        let blocking: i64 = sqlx::query_scalar(blockers).bind(id).bind(now).fetch_one(&mut *tx).await?;
        if blocking > 0 {
            return Err(conflict(blocking));
        }
        sqlx::query(&format!("UPDATE {table} SET deleted_at = $2, updated_at = $2 WHERE id = $1"))
            .bind(id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    pub(super) async fn update_auditorium(
        &self,
        id: i64,
        spec: &AuditoriumSpec,
    ) -> Result<AuditoriumRecord, StoreError> {
        let now = Utc::now();
        let mut tx = self.0.begin().await?;
        // A concert being created in the venue holds a share lock on it, so once this lock
        // is taken the seats counted below are all there are.
        Self::live(&mut tx, "auditoriums", id, FOR_UPDATE).await?;
        let current = Self::auditorium_in(&mut tx, id).await?;
        let (last_row, last_column): (Option<String>, Option<i64>) = sqlx::query_as(
            "SELECT max(s.horizontal), max(s.vertical) FROM seats s JOIN concerts c ON c.id = s.concert_id
             WHERE c.auditorium_id = $1 AND c.deleted_at IS NULL AND c.start_time > $2",
        )
        .bind(id)
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        let last_row = last_row.as_deref().map(letter).transpose()?;
        if last_row.is_some_and(|r| r > spec.max_row)
            || last_column.is_some_and(|c| c > i64::from(spec.max_column))
        {
            return Err(StoreError::conflict(
                "AUDITORIUM_IN_USE",
                format!(
                    "upcoming concerts have seats up to row {} column {}; the auditorium cannot shrink below them",
                    last_row.map(|r| r.to_string()).unwrap_or_default(),
                    last_column.unwrap_or_default()
                ),
            ));
        }
        sqlx::query(
            "UPDATE auditoriums SET name = $2, address = $3, max_row = $4, max_column = $5, updated_at = $6
             WHERE id = $1",
        )
        .bind(id)
        .bind(&spec.name)
        .bind(&spec.address)
        .bind(spec.max_row.to_string())
        .bind(i64::from(spec.max_column))
        .bind(now)
        .execute(&mut *tx)
        .await?;
        if current.max_column != spec.max_column {
            // The width of every seat map of the hall changed.
            sqlx::query(&format!(
                "UPDATE concerts SET seat_version = seat_version + 1
                 WHERE id IN (SELECT id FROM concerts WHERE auditorium_id = $1 ORDER BY id{})",
                B::locking(FOR_UPDATE)
            ))
            .bind(id)
            .execute(&mut *tx)
            .await?;
        }
        let record = Self::auditorium_in(&mut tx, id).await?;
        tx.commit().await?;
        Ok(record)
    }

    pub(super) async fn toggle_seat_lock(
        &self,
        auditorium_id: i64,
        horizontal: Letter,
        vertical: u8,
    ) -> Result<Vec<LockToggle>, StoreError> {
        const UPCOMING: &str = "c.auditorium_id = $1 AND c.deleted_at IS NULL AND c.start_time > $2";
        let now = Utc::now();
        let mut tx = self.0.begin().await?;
        if B::ROW_LOCKS {
            // Under the concerts' locks no booking changes a status read below.
            sqlx::query(&format!("SELECT c.id FROM concerts c WHERE {UPCOMING} ORDER BY c.id{FOR_UPDATE}"))
                .bind(auditorium_id)
                .bind(now)
                .execute(&mut *tx)
                .await?;
        }
        let seats: Vec<(i64, i64, String, String)> = sqlx::query_as(&format!(
            "SELECT s.id, c.id, c.name, s.status FROM seats s JOIN concerts c ON c.id = s.concert_id
             WHERE {UPCOMING} AND s.horizontal = $3 AND s.vertical = $4
             ORDER BY c.id"
        ))
        .bind(auditorium_id)
        .bind(now)
        .bind(horizontal.to_string())
        .bind(i64::from(vertical))
        .fetch_all(&mut *tx)
        .await?;
        let mut toggles = Vec::with_capacity(seats.len());
        for (seat_id, concert_id, concert_name, status) in seats {
            let status = SeatStatus::parse(&status).map_err(|e| StoreError::Other(anyhow::anyhow!(e)))?;
            let next = match status {
                SeatStatus::Available => SeatStatus::Locked,
                SeatStatus::Locked => SeatStatus::Available,
                SeatStatus::Reserved => {
                    toggles.push(LockToggle { concert_id, concert_name, status, changed: false });
                    continue;
                }
            };
            // Conditional on the status just read: a reserved seat is never locked.
            sqlx::query("UPDATE seats SET status = $3 WHERE id = $1 AND status = $2")
                .bind(seat_id)
                .bind(status.as_str())
                .bind(next.as_str())
                .execute(&mut *tx)
                .await?;
            // The map version is moved by the seat-status trigger (one per changed seat).
            toggles.push(LockToggle { concert_id, concert_name, status: next, changed: true });
        }
        tx.commit().await?;
        Ok(toggles)
    }
}
