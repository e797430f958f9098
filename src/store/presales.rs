//! Presales and their access codes in the SQL both backends run. The rules are the
//! schema's (migration `presales`): a presale closes no later than its concert's general
//! sale opens, codes are unique in their concert, a code's uses never pass its most, and
//! a used presale stays. Bookings count the uses (`presale_uses`, in their own
//! transactions: see the booking writers).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{ColumnIndex, Encode, Executor, IntoArguments, Type};

use super::StoreError;
use super::sql::{Args, Backend, Column, Conn, RowOf};
use crate::domain::presale::{AccessCode, PresaleSpec};

/// A presale with its codes.
#[derive(Debug, Clone)]
pub struct PresaleRecord {
    pub id: i64,
    pub concert_id: i64,
    pub name: String,
    pub opens_at: DateTime<Utc>,
    pub closes_at: DateTime<Utc>,
    pub max_uses_per_code: i64,
    pub created_by: Option<i64>,
    pub created_at: DateTime<Utc>,
    /// Its codes, in the order they were made.
    pub codes: Vec<CodeRecord>,
}

impl PresaleRecord {
    /// Bookings made with its codes.
    pub fn uses(&self) -> i64 {
        self.codes.iter().map(|c| c.uses).sum()
    }
}

/// An access code and the bookings made with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeRecord {
    pub code: AccessCode,
    pub uses: i64,
}

/// Presales of concerts.
#[async_trait]
pub trait PresaleStore {
    /// A new presale of a concert with its codes, in one transaction. 409
    /// `ACCESS_CODE_TAKEN` when the concert has one of the codes already (in another
    /// presale), `PRESALE_AFTER_SALES_OPEN` when it would close after the general sale opens.
    async fn create_presale(
        &self,
        concert_id: i64,
        spec: &PresaleSpec,
        created_by: i64,
    ) -> Result<PresaleRecord, StoreError>;
    /// A concert's presales, oldest first, with their codes and uses.
    async fn presales(&self, concert_id: i64) -> Result<Vec<PresaleRecord>, StoreError>;
    /// Deletes a presale of the concert none of whose codes was used (409 `PRESALE_USED`
    /// otherwise); answers it as it was.
    async fn delete_presale(&self, concert_id: i64, id: i64) -> Result<PresaleRecord, StoreError>;
}

/// A `presales` row: id, name, opens, closes, most uses per code, made by, made at.
type PresaleRow = (i64, String, DateTime<Utc>, DateTime<Utc>, i64, Option<i64>, DateTime<Utc>);

const PRESALE_COLUMNS: &str = "id, name, opens_at, closes_at, max_uses_per_code, created_by, created_at";

/// Codes named in the conflict's message, at most.
const CODES_NAMED: usize = 5;

#[async_trait]
impl<B> PresaleStore for B
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
    async fn create_presale(
        &self,
        concert_id: i64,
        spec: &PresaleSpec,
        created_by: i64,
    ) -> Result<PresaleRecord, StoreError> {
        let now = Utc::now();
        let mut tx = self.begin().await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO presales (concert_id, name, opens_at, closes_at, max_uses_per_code, created_by, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
        )
        .bind(concert_id)
        .bind(&spec.name)
        .bind(spec.opens_at)
        .bind(spec.closes_at)
        .bind(spec.max_uses_per_code)
        .bind(created_by)
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        // Read after the presale's insert, which (on PostgreSQL) locked the concert: codes
        // another presale of it is adding wait for this one, and meet the unique index.
        let existing: Vec<String> =
            sqlx::query_scalar("SELECT code FROM presale_codes WHERE concert_id = $1")
                .bind(concert_id)
                .fetch_all(&mut *tx)
                .await?;
        let existing: std::collections::HashSet<String> = existing.into_iter().collect();
        let taken: Vec<&str> =
            spec.codes.iter().map(AccessCode::as_str).filter(|code| existing.contains(*code)).collect();
        if !taken.is_empty() {
            return Err(codes_taken(&taken));
        }
        for code in &spec.codes {
            sqlx::query(
                "INSERT INTO presale_codes (presale_id, concert_id, code, max_uses) VALUES ($1, $2, $3, $4)",
            )
            .bind(id)
            .bind(concert_id)
            .bind(code.as_str())
            .bind(spec.max_uses_per_code)
            .execute(&mut *tx)
            .await
            .map_err(|e| match e {
                sqlx::Error::Database(db) if db.is_unique_violation() => codes_taken(&[code.as_str()]),
                other => other.into(),
            })?;
        }
        tx.commit().await?;
        Ok(PresaleRecord {
            id,
            concert_id,
            name: spec.name.clone(),
            opens_at: spec.opens_at,
            closes_at: spec.closes_at,
            max_uses_per_code: spec.max_uses_per_code,
            created_by: Some(created_by),
            created_at: now,
            codes: spec.codes.iter().map(|code| CodeRecord { code: code.clone(), uses: 0 }).collect(),
        })
    }

    async fn presales(&self, concert_id: i64) -> Result<Vec<PresaleRecord>, StoreError> {
        let mut tx = B::snapshot(self.fresh()).await?;
        let rows: Vec<PresaleRow> = sqlx::query_as(&format!(
            "SELECT {PRESALE_COLUMNS} FROM presales WHERE concert_id = $1 ORDER BY id"
        ))
        .bind(concert_id)
        .fetch_all(&mut *tx)
        .await?;
        let codes: Vec<(i64, String, i64)> = sqlx::query_as(
            "SELECT presale_id, code, uses FROM presale_codes WHERE concert_id = $1 ORDER BY presale_id, id",
        )
        .bind(concert_id)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        let mut presales: Vec<PresaleRecord> = rows.into_iter().map(|row| record(concert_id, row)).collect();
        for (presale, code, uses) in codes {
            if let Some(p) = presales.iter_mut().find(|p| p.id == presale) {
                p.codes.push(CodeRecord { code: AccessCode::stored(code), uses });
            }
        }
        Ok(presales)
    }

    async fn delete_presale(&self, concert_id: i64, id: i64) -> Result<PresaleRecord, StoreError> {
        let mut tx = self.begin().await?;
        let row: Option<PresaleRow> = sqlx::query_as(&format!(
            "SELECT {PRESALE_COLUMNS} FROM presales WHERE id = $1 AND concert_id = $2"
        ))
        .bind(id)
        .bind(concert_id)
        .fetch_optional(&mut *tx)
        .await?;
        let mut presale = record(concert_id, row.ok_or(StoreError::NotFound)?);
        // The schema keeps a used code (a booking counted a use of it after this read, on
        // PostgreSQL, makes the delete fail the same way).
        let codes: Vec<(String, i64)> =
            sqlx::query_as("DELETE FROM presale_codes WHERE presale_id = $1 RETURNING code, uses")
                .bind(id)
                .fetch_all(&mut *tx)
                .await?;
        presale.codes = codes
            .into_iter()
            .map(|(code, uses)| CodeRecord { code: AccessCode::stored(code), uses })
            .collect();
        sqlx::query("DELETE FROM presales WHERE id = $1").bind(id).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(presale)
    }
}

fn record(concert_id: i64, row: PresaleRow) -> PresaleRecord {
    let (id, name, opens_at, closes_at, max_uses_per_code, created_by, created_at) = row;
    PresaleRecord {
        id,
        concert_id,
        name,
        opens_at,
        closes_at,
        max_uses_per_code,
        created_by,
        created_at,
        codes: Vec::new(),
    }
}

/// 409 naming (some of) the codes the concert has already.
fn codes_taken(codes: &[&str]) -> StoreError {
    let mut named = codes.iter().take(CODES_NAMED).copied().collect::<Vec<_>>().join(", ");
    if codes.len() > CODES_NAMED {
        named.push_str(&format!(" and {} more", codes.len() - CODES_NAMED));
    }
    StoreError::conflict("ACCESS_CODE_TAKEN", format!("this concert has these codes already: {named}"))
}
