//! [`VenueStore`] in the SQL both backends run: the reads and plain writes here, the writes
//! that check a rule against other rows in [`super::auditoriums`] and [`super::concerts`].

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{ColumnIndex, Encode, Executor, IntoArguments, Type};

use super::{
    AUDITORIUM_SELECT, AuditoriumRecord, AuditoriumRow, ConcertRecord, ConcertRow, ConcertSummary,
    LockToggle, NewImage, SeatMapRecord, Sql, VENUE_ROWS, VenueStore,
};
use crate::domain::booking::SeatRef;
use crate::domain::venue::{AuditoriumSpec, ConcertSpec, Price};
use crate::store::sql::{Args, Backend, Column, Conn, RowOf};
use crate::store::{StoreError, letter};

#[async_trait]
impl<B> VenueStore for B
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
    async fn create_auditorium(
        &self,
        owner_id: i64,
        spec: &AuditoriumSpec,
    ) -> Result<AuditoriumRecord, StoreError> {
        let mut tx = self.begin().await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO auditoriums (name, address, max_row, max_column, owner_id, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING id",
        )
        .bind(&spec.name)
        .bind(&spec.address)
        .bind(spec.seed.map(|(row, _)| row.to_string()))
        .bind(spec.seed.map(|(_, column)| i64::from(column)))
        .bind(owner_id)
        .bind(Utc::now())
        .fetch_one(&mut *tx)
        .await?;
        Sql::<B>::write_rows(&mut tx, id, &spec.layout, None).await?;
        let record = Sql::<B>::auditorium_in(&mut tx, id).await?;
        tx.commit().await?;
        Ok(record)
    }

    // Promoters edit their venues right after reading them: these are read fresh.
    async fn auditorium(&self, id: i64) -> Result<Option<AuditoriumRecord>, StoreError> {
        let mut tx = B::snapshot(self.fresh()).await?;
        let row: Option<AuditoriumRow> =
            sqlx::query_as(&format!("{AUDITORIUM_SELECT} WHERE a.id = $1 AND a.deleted_at IS NULL"))
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
        let Some(row) = row else { return Ok(None) };
        let rows = sqlx::query_as(VENUE_ROWS).bind(id).fetch_all(&mut *tx).await?;
        tx.commit().await?;
        row.into_record(rows).map(Some)
    }

    async fn list_auditoriums(&self, owner_id: Option<i64>) -> Result<Vec<AuditoriumRecord>, StoreError> {
        let mut tx = B::snapshot(self.fresh()).await?;
        let rows: Vec<AuditoriumRow> = sqlx::query_as(&format!(
            "{AUDITORIUM_SELECT} WHERE a.deleted_at IS NULL AND ($1 IS NULL OR a.owner_id = $1) ORDER BY a.id"
        ))
        .bind(owner_id)
        .fetch_all(&mut *tx)
        .await?;
        let mut records = Vec::with_capacity(rows.len());
        for row in rows {
            let venue = sqlx::query_as(VENUE_ROWS).bind(row.id).fetch_all(&mut *tx).await?;
            records.push(row.into_record(venue)?);
        }
        tx.commit().await?;
        Ok(records)
    }

    async fn update_auditorium(
        &self,
        id: i64,
        spec: &AuditoriumSpec,
    ) -> Result<AuditoriumRecord, StoreError> {
        Sql(self).update_auditorium(id, spec).await
    }

    async fn delete_auditorium(&self, id: i64) -> Result<(), StoreError> {
        Sql(self).soft_delete_unless(
            "auditoriums",
            id,
            "SELECT count(*) FROM concerts WHERE auditorium_id = $1 AND deleted_at IS NULL AND start_time > $2",
            |n| StoreError::conflict("AUDITORIUM_IN_USE", format!("the auditorium has {n} upcoming concert(s)")),
        )
        .await
    }

    async fn toggle_seat_lock(
        &self,
        auditorium_id: i64,
        seat: SeatRef,
    ) -> Result<Vec<LockToggle>, StoreError> {
        Sql(self).toggle_seat_lock(auditorium_id, seat).await
    }

    async fn create_concert(&self, spec: &ConcertSpec) -> Result<i64, StoreError> {
        Sql(self).create_concert(spec).await
    }

    // Read fresh: the HTTP layer reads a concert back right after writing it, and checks
    // ownership with it before a change.
    async fn concert(&self, id: i64) -> Result<Option<ConcertRecord>, StoreError> {
        let mut tx = B::snapshot(self.fresh()).await?;
        let row: Option<ConcertRow> = sqlx::query_as(
            "SELECT id, name, description, start_time, owner_id, max_seats_per_fan, poster_key, auditorium_id,
                    created_at, sales_open_at, sales_close_at, checkout, hold_minutes, currency,
                    room_opens_at, room_admit_per_minute, room_pass_minutes
             FROM concerts WHERE id = $1 AND deleted_at IS NULL",
        )
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let auditorium = Sql::<B>::auditorium_in(&mut tx, row.auditorium_id).await?;
        let prices: Vec<(String, i64)> =
            sqlx::query_as("SELECT grade, price_cents FROM seat_prices WHERE concert_id = $1 ORDER BY grade")
                .bind(id)
                .fetch_all(&mut *tx)
                .await?;
        tx.commit().await?;
        let prices = prices
            .into_iter()
            .map(|(g, cents)| Ok((letter(&g)?, Price::from_cents(cents))))
            .collect::<Result<_, StoreError>>()?;
        row.into_record(auditorium, prices).map(Some)
    }

    // The catalog tolerates a replica's lag: a new concert shows up a moment later.
    async fn list_concerts(&self, offset: i64, limit: i64) -> Result<(Vec<ConcertSummary>, i64), StoreError> {
        let mut tx = B::snapshot(self.lagging()).await?;
        let total: i64 = sqlx::query_scalar("SELECT count(*) FROM concerts WHERE deleted_at IS NULL")
            .fetch_one(&mut *tx)
            .await?;
        type Line = (
            i64,
            String,
            Option<String>,
            DateTime<Utc>,
            String,
            String,
            Option<DateTime<Utc>>,
            Option<DateTime<Utc>>,
            DateTime<Utc>,
        );
        let rows: Vec<Line> = sqlx::query_as(
            "SELECT c.id, c.name, c.poster_key, c.start_time, coalesce(u.nickname, u.username), a.name,
                    c.sales_open_at, c.sales_close_at, c.created_at
             FROM concerts c JOIN auditoriums a ON a.id = c.auditorium_id JOIN users u ON u.id = c.owner_id
             WHERE c.deleted_at IS NULL ORDER BY c.id DESC LIMIT $1 OFFSET $2",
        )
        .bind(limit)
        .bind(offset)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        let summaries = rows
            .into_iter()
            .map(
                |(
                    id,
                    name,
                    poster_key,
                    start_time,
                    writer,
                    auditorium_name,
                    sales_open_at,
                    sales_close_at,
                    created_at,
                )| {
                    ConcertSummary {
                        id,
                        name,
                        poster_key,
                        start_time,
                        writer,
                        auditorium_name,
                        sales_open_at,
                        sales_close_at,
                        created_at,
                    }
                },
            )
            .collect();
        Ok((summaries, total))
    }

    async fn update_concert(&self, id: i64, spec: &ConcertSpec) -> Result<(), StoreError> {
        Sql(self).update_concert(id, spec).await
    }

    async fn delete_concert(&self, id: i64) -> Result<(), StoreError> {
        Sql(self)
            .soft_delete_unless(
                "concerts",
                id,
                // `$2` (now) is bound for the shared shape; an active reservation blocks at any time.
                "SELECT count(*) FROM reservations WHERE concert_id = $1 AND status = 'Y' AND $2 IS NOT NULL",
                |n| {
                    StoreError::conflict(
                        "CONCERT_HAS_RESERVATIONS",
                        format!("the concert has {n} active reservation(s)"),
                    )
                },
            )
            .await
    }

    async fn seat_map(&self, concert_id: i64) -> Result<Option<SeatMapRecord>, StoreError> {
        Backend::seat_map(self, concert_id).await
    }

    async fn set_poster(&self, image: &NewImage) -> Result<(), StoreError> {
        let now = Utc::now();
        let mut tx = self.begin().await?;
        let updated: Option<i64> = sqlx::query_scalar(
            "UPDATE concerts SET poster_key = $2, updated_at = $3 WHERE id = $1 AND deleted_at IS NULL
             RETURNING id",
        )
        .bind(image.concert_id)
        .bind(&image.store_key)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?;
        updated.ok_or(StoreError::NotFound)?;
        sqlx::query(
            "INSERT INTO images (concert_id, original_name, store_key, content_type, size, created_at)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(image.concert_id)
        .bind(&image.original_name)
        .bind(&image.store_key)
        .bind(&image.content_type)
        .bind(image.size)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    // Posters are served right after upload: read fresh.
    async fn poster_content_type(&self, store_key: &str) -> Result<Option<String>, StoreError> {
        Ok(sqlx::query_scalar("SELECT content_type FROM images WHERE store_key = $1")
            .bind(store_key)
            .fetch_optional(self.fresh())
            .await?)
    }
}
