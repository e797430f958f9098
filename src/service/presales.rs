//! Presales: a concert's promoter (or an admin) opens windows before the general sale for
//! fans holding access codes, lists them with their codes' uses, and deletes an unused
//! one. Bookings use the codes (see [`super::Bookings::book`]).

use std::sync::Arc;

use chrono::Utc;
use serde_json::{Value, json};

use super::audit::{AuditLog, Change, Snapshot};
use super::completion::{committed, to_completion};
use super::{ServiceError, ensure_owner, not_found};
use crate::auth::Principal;
use crate::domain::presale::{PresaleInput, PresaleSpec};
use crate::store::{ConcertRecord, PresaleRecord, Store};

/// The presale use cases.
pub struct Presales {
    store: Arc<dyn Store>,
    audit: Arc<AuditLog>,
}

impl Presales {
    pub(super) fn new(store: Arc<dyn Store>, audit: Arc<AuditLog>) -> Self {
        Self { store, audit }
    }

    /// A new presale of a concert that has not started, with its codes (given, or
    /// generated): it closes no later than the concert's general sale opens.
    pub async fn create(
        &self,
        caller: &Principal,
        concert_id: i64,
        input: PresaleInput<'_>,
    ) -> Result<PresaleRecord, ServiceError> {
        let concert = self.owned(caller, concert_id).await?;
        let now = Utc::now();
        if concert.start_time <= now {
            return Err(ServiceError::conflict("CONCERT_STARTED", "the concert has already started"));
        }
        let spec = PresaleSpec::parse(input, concert.sales_open_at, now, &mut rand::thread_rng())?;
        let (store, audit, caller) = (self.store.clone(), self.audit.clone(), caller.clone());
        to_completion(async move {
            let record = store
                .create_presale(concert_id, &spec, caller.user_id)
                .await
                .map_err(not_found("concert"))?;
            committed().await;
            audit.record(&caller, Change::created("presale.create", "presale", record.id, &record)).await;
            Ok(record)
        })
        .await
    }

    /// The concert's presales, with their codes and how often each was used.
    pub async fn list(
        &self,
        caller: &Principal,
        concert_id: i64,
    ) -> Result<Vec<PresaleRecord>, ServiceError> {
        self.owned(caller, concert_id).await?;
        Ok(self.store.presales(concert_id).await?)
    }

    /// Deletes a presale none of whose codes was used (a used one is kept: 409
    /// `PRESALE_USED`), so that a promoter can correct a mistake.
    pub async fn delete(&self, caller: &Principal, concert_id: i64, id: i64) -> Result<(), ServiceError> {
        self.owned(caller, concert_id).await?;
        let (store, audit, caller) = (self.store.clone(), self.audit.clone(), caller.clone());
        to_completion(async move {
            let record = store.delete_presale(concert_id, id).await.map_err(not_found("presale"))?;
            committed().await;
            audit.record(&caller, Change::deleted("presale.delete", "presale", id, &record)).await;
            Ok(())
        })
        .await
    }

    /// The live concert, if the caller is its promoter or an administrator.
    async fn owned(&self, caller: &Principal, concert_id: i64) -> Result<ConcertRecord, ServiceError> {
        let concert = self.store.concert(concert_id).await?.ok_or(ServiceError::NotFound("concert"))?;
        ensure_owner(caller, concert.owner_id)?;
        Ok(concert)
    }
}

/// A presale in the audit log: its terms and how many codes it has, not the codes (they
/// let fans in; the promoter lists them at `GET /concerts/{id}/presales`).
impl Snapshot for PresaleRecord {
    fn snapshot(&self) -> Value {
        json!({
            "id": self.id,
            "concertId": self.concert_id,
            "name": self.name,
            "opensAt": self.opens_at,
            "closesAt": self.closes_at,
            "maxUsesPerCode": self.max_uses_per_code,
            "codes": self.codes.len(),
            "uses": self.uses(),
        })
    }
}
