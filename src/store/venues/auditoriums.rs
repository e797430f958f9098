//! Auditorium writes that check a rule against other rows: a venue never shrinks below, nor
//! is deleted under, the seats of its upcoming concerts. Where PostgreSQL's writers run side
//! by side, each first locks the rows its check is about, in the order every writer takes
//! them: the venue, then its concerts in id order (as bookings lock them), then seats.

use chrono::{DateTime, Utc};
use sqlx::{ColumnIndex, Encode, Executor, IntoArguments, Type};

use super::{AUDITORIUM_SELECT, AuditoriumRecord, AuditoriumRow, Sql, VENUE_ROWS};
use crate::domain::booking::SeatRef;
use crate::domain::sections::{Layout, SectionName};
use crate::domain::venue::{AuditoriumSpec, SeatStatus};
use crate::store::sql::{Args, Backend, Column, Conn, FOR_UPDATE, RowOf};
use crate::store::{LockToggle, StoreError, row_label};

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
    Option<String>: Column<B::DB>,
    String: Column<B::DB>,
    DateTime<Utc>: Column<B::DB>,
{
    /// An auditorium, live or not, with its owner's names and its sections.
    pub(super) async fn auditorium_in(conn: &mut Conn<B>, id: i64) -> Result<AuditoriumRecord, StoreError> {
        let row: Option<AuditoriumRow> = sqlx::query_as(&format!("{AUDITORIUM_SELECT} WHERE a.id = $1"))
            .bind(id)
            .fetch_optional(&mut *conn)
            .await?;
        let row = row.ok_or(StoreError::NotFound)?;
        let rows = sqlx::query_as(VENUE_ROWS).bind(id).fetch_all(conn).await?;
        row.into_record(rows)
    }

    /// Writes a venue's rows: inserts new ones, updates kept ones, deletes the rest (the
    /// schema refuses to drop or shorten a row under the seats of an upcoming concert).
    pub(super) async fn write_rows(
        conn: &mut Conn<B>,
        id: i64,
        layout: &Layout,
        current: Option<&Layout>,
    ) -> Result<(), StoreError> {
        let mut kept = std::collections::HashSet::new();
        for (section_position, section) in layout.sections.iter().enumerate() {
            for (position, (label, seats)) in section.rows().into_iter().enumerate() {
                kept.insert((section.name, label));
                sqlx::query(
                    "INSERT INTO auditorium_rows (auditorium_id, section, label, section_position, position, kind, seats)
                     VALUES ($1, $2, $3, $4, $5, $6, $7)
                     ON CONFLICT (auditorium_id, section, label) DO UPDATE
                     SET section_position = excluded.section_position, position = excluded.position,
                         kind = excluded.kind, seats = excluded.seats",
                )
                .bind(id)
                .bind(section.name.as_str())
                .bind(label.as_str())
                .bind(section_position as i64)
                .bind(position as i64)
                .bind(section.kind.name())
                .bind(i64::from(seats))
                .execute(&mut *conn)
                .await?;
            }
        }
        for section in current.map(|l| &l.sections[..]).unwrap_or_default() {
            for (label, _) in section.rows() {
                if !kept.contains(&(section.name, label)) {
                    sqlx::query("DELETE FROM auditorium_rows WHERE auditorium_id = $1 AND section = $2 AND label = $3")
                        .bind(id)
                        .bind(section.name.as_str())
                        .bind(label.as_str())
                        .execute(&mut *conn)
                        .await?;
                }
            }
        }
        Ok(())
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
        // Every row of an upcoming concert, with its last seat.
        let on_sale: Vec<(String, String, i64)> = sqlx::query_as(
            "SELECT s.section, s.horizontal, max(s.vertical) FROM seats s JOIN concerts c ON c.id = s.concert_id
             WHERE c.auditorium_id = $1 AND c.deleted_at IS NULL AND c.start_time > $2
             GROUP BY s.section, s.horizontal ORDER BY s.section, s.horizontal",
        )
        .bind(id)
        .bind(now)
        .fetch_all(&mut *tx)
        .await?;
        for (section, row, last) in on_sale {
            let name = SectionName::stored(&section);
            let label = row_label(&row)?;
            let fits = spec
                .layout
                .section(name)
                .and_then(|s| s.row_seats(label))
                .is_some_and(|n| i64::from(n) >= last);
            if !fits {
                let place = match (name.is_seed(), label.is_standing()) {
                    (true, _) => format!("row {label} up to seat {last}"),
                    (false, true) => format!("standing section {name:?} up to place {last}"),
                    (false, false) => format!("section {name:?} row {label} up to seat {last}"),
                };
                return Err(StoreError::conflict(
                    "AUDITORIUM_IN_USE",
                    format!(
                        "upcoming concerts have seats in {place}; the auditorium cannot shrink below them"
                    ),
                ));
            }
        }
        // `updated_at` first: the rows' triggers read it as "now".
        sqlx::query(
            "UPDATE auditoriums SET name = $2, address = $3, max_row = $4, max_column = $5, updated_at = $6
             WHERE id = $1",
        )
        .bind(id)
        .bind(&spec.name)
        .bind(&spec.address)
        .bind(spec.seed.map(|(row, _)| row.to_string()))
        .bind(spec.seed.map(|(_, column)| i64::from(column)))
        .bind(now)
        .execute(&mut *tx)
        .await?;
        Self::write_rows(&mut tx, id, &spec.layout, Some(&current.layout)).await?;
        if current.layout != spec.layout {
            // The rows of every seat map of the hall may have changed length.
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
        seat: SeatRef,
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
             WHERE {UPCOMING} AND s.section = $5 AND s.horizontal = $3 AND s.vertical = $4
             ORDER BY c.id"
        ))
        .bind(auditorium_id)
        .bind(now)
        .bind(seat.horizontal.as_str())
        .bind(i64::from(seat.vertical))
        .bind(seat.section.as_str())
        .fetch_all(&mut *tx)
        .await?;
        let mut toggles = Vec::with_capacity(seats.len());
        for (seat_id, concert_id, concert_name, status) in seats {
            let status = SeatStatus::parse(&status).map_err(|e| StoreError::Other(anyhow::anyhow!(e)))?;
            let next = match status {
                SeatStatus::Available => SeatStatus::Locked,
                SeatStatus::Locked => SeatStatus::Available,
                SeatStatus::Reserved | SeatStatus::Held => {
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
