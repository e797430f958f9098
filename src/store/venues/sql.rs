//! [`VenueStore`] in the SQL both backends run. Where PostgreSQL's writers run side by side,
//! each write first locks the rows its checks are about, in the order every writer takes
//! them: the venue, then its concerts in id order (as bookings lock them), then seats.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{ColumnIndex, Database, Encode, Executor, IntoArguments, Type};

use super::{
    AUDITORIUM_SELECT, AuditoriumRecord, AuditoriumRow, ConcertRecord, ConcertRow, ConcertSummary,
    LockToggle, NewImage, SeatMapRecord, VenueStore, rows_fit,
};
use crate::domain::venue::{AuditoriumSpec, ConcertSpec, Letter, Price, SeatStatus};
use crate::store::sql::{Backend, Column, FOR_SHARE, FOR_UPDATE};
use crate::store::{StoreError, letter};

async fn auditorium_in<DB>(conn: &mut DB::Connection, id: i64) -> Result<AuditoriumRecord, StoreError>
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    for<'r> &'r str: ColumnIndex<DB::Row>,
    i64: Column<DB>,
    String: Column<DB>,
    DateTime<Utc>: Column<DB>,
{
    let row: Option<AuditoriumRow> =
        sqlx::query_as(&format!("{AUDITORIUM_SELECT} WHERE a.id = $1")).bind(id).fetch_optional(conn).await?;
    row.ok_or(StoreError::NotFound)?.try_into()
}

/// `NotFound` unless row `id` of `table` is live; takes the row `lock` where writers lock.
async fn live<B>(
    conn: &mut <B::DB as Database>::Connection,
    table: &str,
    id: i64,
    lock: &'static str,
) -> Result<(), StoreError>
where
    B: Backend,
    for<'c> &'c mut <B::DB as Database>::Connection: Executor<'c, Database = B::DB>,
    for<'q> <B::DB as Database>::Arguments<'q>: IntoArguments<'q, B::DB>,
    usize: ColumnIndex<<B::DB as Database>::Row>,
    i64: Column<B::DB>,
{
    let found: Option<i64> = sqlx::query_scalar(&format!(
        "SELECT id FROM {table} WHERE id = $1 AND deleted_at IS NULL{}",
        B::locking(lock)
    ))
    .bind(id)
    .fetch_optional(conn)
    .await?;
    found.map(drop).ok_or(StoreError::NotFound)
}

/// Inserts one seat per column `1..=max_column` of `row`, in one statement.
async fn insert_row<DB>(
    conn: &mut DB::Connection,
    concert_id: i64,
    row: Letter,
    grade: Letter,
    max_column: u8,
) -> Result<(), StoreError>
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    i64: Column<DB>,
    String: Column<DB>,
{
    sqlx::query(
        "INSERT INTO seats (concert_id, horizontal, vertical, grade)
         WITH RECURSIVE columns(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM columns WHERE n < $3)
         SELECT $1, $2, n, $4 FROM columns",
    )
    .bind(concert_id)
    .bind(row.to_string())
    .bind(i64::from(max_column))
    .bind(grade.to_string())
    .execute(conn)
    .await?;
    Ok(())
}

async fn upsert_prices<DB>(
    conn: &mut DB::Connection,
    concert_id: i64,
    spec: &ConcertSpec,
) -> Result<(), StoreError>
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    i64: Column<DB>,
    String: Column<DB>,
{
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

/// Soft-deletes row `id` of `table` in one transaction, unless `blockers` (a count query
/// taking the id and the current time) finds something that must outlive it. The row is
/// locked first, so nothing that would block it can be added between the count and the
/// update (bookings and new concerts take that lock, or a share lock on the venue).
async fn soft_delete_unless<B>(
    backend: &B,
    table: &'static str,
    id: i64,
    blockers: &'static str,
    conflict: impl FnOnce(i64) -> StoreError + Send,
) -> Result<(), StoreError>
where
    B: Backend,
    for<'c> &'c mut <B::DB as Database>::Connection: Executor<'c, Database = B::DB>,
    for<'q> <B::DB as Database>::Arguments<'q>: IntoArguments<'q, B::DB>,
    usize: ColumnIndex<<B::DB as Database>::Row>,
    i64: Column<B::DB>,
    DateTime<Utc>: Column<B::DB>,
{
    let now = Utc::now();
    let mut tx = backend.begin().await?;
    live::<B>(&mut tx, table, id, FOR_UPDATE).await?;
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

#[async_trait]
impl<B> VenueStore for B
where
    B: Backend,
    for<'c> &'c mut <B::DB as Database>::Connection: Executor<'c, Database = B::DB>,
    for<'q> <B::DB as Database>::Arguments<'q>: IntoArguments<'q, B::DB>,
    for<'r> &'r str: ColumnIndex<<B::DB as Database>::Row>,
    usize: ColumnIndex<<B::DB as Database>::Row>,
    for<'q> &'q str: Encode<'q, B::DB> + Type<B::DB>,
    i64: Column<B::DB>,
    Option<i64>: Column<B::DB>,
    String: Column<B::DB>,
    DateTime<Utc>: Column<B::DB>,
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
        .bind(spec.max_row.to_string())
        .bind(i64::from(spec.max_column))
        .bind(owner_id)
        .bind(Utc::now())
        .fetch_one(&mut *tx)
        .await?;
        let record = auditorium_in(&mut tx, id).await?;
        tx.commit().await?;
        Ok(record)
    }

    // Promoters edit their venues right after reading them: these are read fresh.
    async fn auditorium(&self, id: i64) -> Result<Option<AuditoriumRecord>, StoreError> {
        let row: Option<AuditoriumRow> =
            sqlx::query_as(&format!("{AUDITORIUM_SELECT} WHERE a.id = $1 AND a.deleted_at IS NULL"))
                .bind(id)
                .fetch_optional(self.fresh())
                .await?;
        row.map(TryInto::try_into).transpose()
    }

    async fn list_auditoriums(&self, owner_id: Option<i64>) -> Result<Vec<AuditoriumRecord>, StoreError> {
        let rows: Vec<AuditoriumRow> = sqlx::query_as(&format!(
            "{AUDITORIUM_SELECT} WHERE a.deleted_at IS NULL AND ($1 IS NULL OR a.owner_id = $1) ORDER BY a.id"
        ))
        .bind(owner_id)
        .fetch_all(self.fresh())
        .await?;
        rows.into_iter().map(TryInto::try_into).collect()
    }

    async fn update_auditorium(
        &self,
        id: i64,
        spec: &AuditoriumSpec,
    ) -> Result<AuditoriumRecord, StoreError> {
        let now = Utc::now();
        let mut tx = self.begin().await?;
        // A concert being created in the venue holds a share lock on it, so once this lock
        // is taken the seats counted below are all there are.
        live::<B>(&mut tx, "auditoriums", id, FOR_UPDATE).await?;
        let current = auditorium_in(&mut tx, id).await?;
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
        let record = auditorium_in(&mut tx, id).await?;
        tx.commit().await?;
        Ok(record)
    }

    async fn delete_auditorium(&self, id: i64) -> Result<(), StoreError> {
        soft_delete_unless(
            self,
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
        horizontal: Letter,
        vertical: u8,
    ) -> Result<Vec<LockToggle>, StoreError> {
        const UPCOMING: &str = "c.auditorium_id = $1 AND c.deleted_at IS NULL AND c.start_time > $2";
        let now = Utc::now();
        let mut tx = self.begin().await?;
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
            // The map version is bumped by the `seats_bump_map_version` trigger.
            toggles.push(LockToggle { concert_id, concert_name, status: next, changed: true });
        }
        tx.commit().await?;
        Ok(toggles)
    }

    async fn create_concert(&self, spec: &ConcertSpec) -> Result<i64, StoreError> {
        let now = Utc::now();
        let mut tx = self.begin().await?;
        // The venue cannot shrink or be deleted under the concert being created.
        live::<B>(&mut tx, "auditoriums", spec.auditorium_id, FOR_SHARE).await?;
        let auditorium = auditorium_in(&mut tx, spec.auditorium_id).await?;
        rows_fit(spec, &auditorium)?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO concerts (name, description, start_time, auditorium_id, owner_id, max_seats_per_fan,
                                   created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $7) RETURNING id",
        )
        .bind(&spec.name)
        .bind(&spec.description)
        .bind(spec.start_time)
        .bind(auditorium.id)
        .bind(auditorium.owner_id)
        .bind(spec.max_seats_per_fan)
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        upsert_prices(&mut tx, id, spec).await?;
        for (row, grade) in &spec.rows {
            insert_row(&mut tx, id, *row, *grade, auditorium.max_column).await?;
        }
        tx.commit().await?;
        Ok(id)
    }

    // Read fresh: the HTTP layer reads a concert back right after writing it, and checks
    // ownership with it before a change.
    async fn concert(&self, id: i64) -> Result<Option<ConcertRecord>, StoreError> {
        let mut tx = B::snapshot(self.fresh()).await?;
        let row: Option<ConcertRow> = sqlx::query_as(
            "SELECT id, name, description, start_time, owner_id, max_seats_per_fan, poster_key, auditorium_id,
                    created_at
             FROM concerts WHERE id = $1 AND deleted_at IS NULL",
        )
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let auditorium = auditorium_in(&mut tx, row.auditorium_id).await?;
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
        Ok(Some(row.into_record(auditorium, prices)))
    }

    // The catalog tolerates a replica's lag: a new concert shows up a moment later.
    async fn list_concerts(&self, offset: i64, limit: i64) -> Result<(Vec<ConcertSummary>, i64), StoreError> {
        let mut tx = B::snapshot(self.lagging()).await?;
        let total: i64 = sqlx::query_scalar("SELECT count(*) FROM concerts WHERE deleted_at IS NULL")
            .fetch_one(&mut *tx)
            .await?;
        let rows: Vec<(i64, String, Option<String>, DateTime<Utc>, String, String)> = sqlx::query_as(
            "SELECT c.id, c.name, c.poster_key, c.start_time, coalesce(u.nickname, u.username), a.name
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
            .map(|(id, name, poster_key, start_time, writer, auditorium_name)| ConcertSummary {
                id,
                name,
                poster_key,
                start_time,
                writer,
                auditorium_name,
            })
            .collect();
        Ok((summaries, total))
    }

    async fn update_concert(&self, id: i64, spec: &ConcertSpec) -> Result<(), StoreError> {
        let now = Utc::now();
        let mut tx = self.begin().await?;
        if B::ROW_LOCKS {
            // The venue first, shared: new rows are checked against its size.
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
        let auditorium = auditorium_in(&mut tx, auditorium_id).await?;
        rows_fit(spec, &auditorium)?;
        let existing_rows: Vec<String> = sqlx::query_scalar(
            "SELECT DISTINCT horizontal FROM seats WHERE concert_id = $1 ORDER BY horizontal",
        )
        .bind(id)
        .fetch_all(&mut *tx)
        .await?;
        let mut kept = Vec::new();
        for raw in &existing_rows {
            let row = letter(raw)?;
            if !spec.rows.contains_key(&row) {
                return Err(StoreError::conflict(
                    "ROWS_ON_SALE",
                    format!("row {row} is on sale and cannot be removed; its grade can change"),
                ));
            }
            kept.push(row);
        }
        sqlx::query(
            "UPDATE concerts SET name = $2, description = $3, start_time = $4, max_seats_per_fan = $5,
                                 updated_at = $6, seat_version = seat_version + 1
             WHERE id = $1",
        )
        .bind(id)
        .bind(&spec.name)
        .bind(&spec.description)
        .bind(spec.start_time)
        .bind(spec.max_seats_per_fan)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        upsert_prices(&mut tx, id, spec).await?;
        for (row, grade) in &spec.rows {
            if kept.contains(row) {
                sqlx::query(
                    "UPDATE seats SET grade = $3 WHERE concert_id = $1 AND horizontal = $2 AND grade <> $3",
                )
                .bind(id)
                .bind(row.to_string())
                .bind(grade.to_string())
                .execute(&mut *tx)
                .await?;
            } else {
                insert_row(&mut tx, id, *row, *grade, auditorium.max_column).await?;
            }
        }
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

    async fn delete_concert(&self, id: i64) -> Result<(), StoreError> {
        soft_delete_unless(
            self,
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
        let updated = sqlx::query(
            "UPDATE concerts SET poster_key = $2, updated_at = $3 WHERE id = $1 AND deleted_at IS NULL",
        )
        .bind(image.concert_id)
        .bind(&image.store_key)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        if B::rows_affected(&updated) == 0 {
            return Err(StoreError::NotFound);
        }
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
