//! Concert writes that check a rule against other rows: its rows fit its venue, rows on
//! sale stay, and a started concert no longer changes. Where PostgreSQL's writers run side
//! by side, each first locks the venue (shared), then the concert, as bookings take it.

use chrono::{DateTime, Utc};
use sqlx::{ColumnIndex, Encode, Executor, IntoArguments, Type};

use super::{AuditoriumRecord, Sql, rows_fit};
use crate::domain::sections::{RowLabel, SectionName};
use crate::domain::venue::{ConcertSpec, DEFAULT_CURRENCY};
use crate::store::sql::{Args, Backend, Column, Conn, FOR_SHARE, FOR_UPDATE, RowOf};
use crate::store::{StoreError, letter, row_label};

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
    Option<DateTime<Utc>>: Column<B::DB>,
{
    /// Seats of a row of the venue (checked by [`rows_fit`] first).
    fn row_seats(auditorium: &AuditoriumRecord, (section, row): (SectionName, RowLabel)) -> u32 {
        auditorium.layout.section(section).and_then(|s| s.row_seats(row)).unwrap_or(0)
    }

    async fn upsert_prices(
        conn: &mut Conn<B>,
        concert_id: i64,
        spec: &ConcertSpec,
    ) -> Result<(), StoreError> {
        for (grade, price) in &spec.prices {
            sqlx::query(
                "INSERT INTO seat_prices (concert_id, grade, price_cents) VALUES ($1, $2, $3)
                 ON CONFLICT (concert_id, grade) DO UPDATE SET price_cents = excluded.price_cents",
            )
            .bind(concert_id)
            .bind(grade.to_string())
            .bind(price.cents())
            .execute(&mut *conn)
            .await?;
        }
        Ok(())
    }

    pub(super) async fn create_concert(&self, spec: &ConcertSpec) -> Result<i64, StoreError> {
        let now = Utc::now();
        let mut tx = self.0.begin().await?;
        // The venue cannot shrink or be deleted under the concert being created.
        Self::live(&mut tx, "auditoriums", spec.auditorium_id, FOR_SHARE).await?;
        let auditorium = Self::auditorium_in(&mut tx, spec.auditorium_id).await?;
        rows_fit(spec, &auditorium)?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO concerts (name, description, start_time, auditorium_id, owner_id, max_seats_per_fan,
                                   created_at, updated_at, sales_open_at, sales_close_at,
                                   checkout, hold_minutes, currency,
                                   room_opens_at, room_admit_per_minute, room_pass_minutes)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $8, $9, $10, $11, $12, $13, $14, $15) RETURNING id",
        )
        .bind(&spec.name)
        .bind(&spec.description)
        .bind(spec.start_time)
        .bind(auditorium.id)
        .bind(auditorium.owner_id)
        .bind(spec.max_seats_per_fan)
        .bind(now)
        .bind(spec.sales_open_at)
        .bind(spec.sales_close_at)
        .bind(spec.checkout.as_str())
        .bind(spec.hold_minutes)
        .bind(spec.currency.as_deref().unwrap_or(DEFAULT_CURRENCY))
        .bind(spec.waiting_room.map(|r| r.opens_at))
        .bind(spec.waiting_room.map(|r| r.admit_per_minute))
        .bind(spec.waiting_room.map(|r| r.pass_minutes))
        .fetch_one(&mut *tx)
        .await?;
        Self::upsert_prices(&mut tx, id, spec).await?;
        let rows: Vec<_> = spec
            .rows
            .iter()
            .map(|(row, grade)| (row.0, row.1, Self::row_seats(&auditorium, *row), *grade))
            .collect();
        B::insert_seats(&mut tx, id, &rows).await?;
        tx.commit().await?;
        Ok(id)
    }

    pub(super) async fn update_concert(&self, id: i64, spec: &ConcertSpec) -> Result<(), StoreError> {
        let now = Utc::now();
        let mut tx = self.0.begin().await?;
        if B::ROW_LOCKS {
            // New rows are checked against the venue's size.
            sqlx::query(&format!(
                "SELECT 1 FROM auditoriums WHERE id = (SELECT auditorium_id FROM concerts WHERE id = $1){FOR_SHARE}"
            ))
            .bind(id)
            .execute(&mut *tx)
            .await?;
        }
        let current: Option<(DateTime<Utc>, i64)> = sqlx::query_as(&format!(
            "SELECT start_time, auditorium_id FROM concerts WHERE id = $1 AND deleted_at IS NULL{}",
            B::locking(FOR_UPDATE)
        ))
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
        let (start_time, auditorium_id) = current.ok_or(StoreError::NotFound)?;
        if start_time <= now {
            return Err(StoreError::conflict("CONCERT_STARTED", "the concert has already started"));
        }
        if auditorium_id != spec.auditorium_id {
            return Err(StoreError::conflict(
                "AUDITORIUM_FIXED",
                "a concert cannot move to another auditorium",
            ));
        }
        let auditorium = Self::auditorium_in(&mut tx, auditorium_id).await?;
        rows_fit(spec, &auditorium)?;
        let existing_rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT DISTINCT section, horizontal FROM seats WHERE concert_id = $1 ORDER BY section, horizontal",
        )
        .bind(id)
        .fetch_all(&mut *tx)
        .await?;
        let mut kept = Vec::new();
        for (section, raw) in &existing_rows {
            let row = (SectionName::stored(section), row_label(raw)?);
            if !spec.rows.contains_key(&row) {
                let what = match (row.0.is_seed(), row.1.is_standing()) {
                    (true, _) => format!("row {}", row.1),
                    (false, true) => format!("standing section {:?}", row.0.as_str()),
                    (false, false) => format!("section {:?} row {}", row.0.as_str(), row.1),
                };
                return Err(StoreError::conflict(
                    "ROWS_ON_SALE",
                    format!("{what} is on sale and cannot be removed; its grade can change"),
                ));
            }
            kept.push(row);
        }
        sqlx::query(
            "UPDATE concerts SET name = $2, description = $3, start_time = $4, max_seats_per_fan = $5,
                                 updated_at = $6, seat_version = seat_version + 1,
                                 sales_open_at = $7, sales_close_at = $8,
                                 checkout = $9, hold_minutes = $10, currency = coalesce($11, currency),
                                 room_opens_at = $12, room_admit_per_minute = $13, room_pass_minutes = $14
             WHERE id = $1",
        )
        .bind(id)
        .bind(&spec.name)
        .bind(&spec.description)
        .bind(spec.start_time)
        .bind(spec.max_seats_per_fan)
        .bind(now)
        .bind(spec.sales_open_at)
        .bind(spec.sales_close_at)
        .bind(spec.checkout.as_str())
        .bind(spec.hold_minutes)
        .bind(spec.currency.clone())
        .bind(spec.waiting_room.map(|r| r.opens_at))
        .bind(spec.waiting_room.map(|r| r.admit_per_minute))
        .bind(spec.waiting_room.map(|r| r.pass_minutes))
        .execute(&mut *tx)
        .await?;
        Self::upsert_prices(&mut tx, id, spec).await?;
        let mut added = Vec::new();
        for (row, grade) in &spec.rows {
            if kept.contains(row) {
                sqlx::query(
                    "UPDATE seats SET grade = $3
                     WHERE concert_id = $1 AND section = $4 AND horizontal = $2 AND grade <> $3",
                )
                .bind(id)
                .bind(row.1.as_str())
                .bind(grade.to_string())
                .bind(row.0.as_str())
                .execute(&mut *tx)
                .await?;
            } else {
                added.push((row.0, row.1, Self::row_seats(&auditorium, *row), *grade));
            }
        }
        B::insert_seats(&mut tx, id, &added).await?;
        let priced: Vec<String> = sqlx::query_scalar("SELECT grade FROM seat_prices WHERE concert_id = $1")
            .bind(id)
            .fetch_all(&mut *tx)
            .await?;
        for grade in priced {
            if !spec.prices.contains_key(&letter(&grade)?) {
                sqlx::query("DELETE FROM seat_prices WHERE concert_id = $1 AND grade = $2")
                    .bind(id)
                    .bind(&grade)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }
}
