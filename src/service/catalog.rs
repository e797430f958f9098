//! The catalog: venues, concerts, posters and seat locks, and the cached concert pages
//! every fan reads.

use std::sync::Arc;

use crate::config::{PaymentProvider, PaymentSettings};
use crate::domain::venue::Checkout;

use axum::body::Bytes;
use chrono::Utc;

use super::audit::{AuditLog, Change};
use super::completion::{committed, to_completion};
use super::views::Views;
use super::{ServiceError, ensure_owner, not_found, require};
use crate::auth::Principal;
use crate::domain::Invalid;
use crate::domain::booking::SeatRef;
use crate::domain::poster::ImageKind;
use crate::domain::sections::Layout;
use crate::domain::user::Role;
use crate::domain::venue::{AuditoriumSpec, ConcertSpec};
use crate::posters::{self, PosterStore};
use crate::store::{AuditoriumRecord, ConcertRecord, ConcertSummary, LockToggle, NewImage, Store};

/// A poster as uploaded, its type read from its content.
pub struct Poster {
    pub original_name: String,
    pub kind: ImageKind,
    pub content: Bytes,
}

/// A stored poster.
pub struct StoredPoster {
    pub key: String,
    pub kind: ImageKind,
    pub size: usize,
    pub original_name: String,
}

/// The catalog use cases.
pub struct Catalog {
    store: Arc<dyn Store>,
    posters: Arc<PosterStore>,
    views: Arc<Views>,
    audit: Arc<AuditLog>,
    payments: PaymentSettings,
}

impl Catalog {
    pub(super) fn new(
        store: Arc<dyn Store>,
        posters: PosterStore,
        views: Arc<Views>,
        audit: Arc<AuditLog>,
        payments: PaymentSettings,
    ) -> Self {
        Self { store, posters: Arc::new(posters), views, audit, payments }
    }

    /// A `PAYMENT` concert needs a payment provider.
    fn payable(&self, spec: &ConcertSpec) -> Result<(), ServiceError> {
        if spec.checkout == Checkout::Payment && self.payments.provider == PaymentProvider::None {
            return Err(Invalid::field(
                "checkout",
                "PAYMENT needs a payment provider, and this service has none (PAYMENT_PROVIDER)",
            )
            .into());
        }
        Ok(())
    }

    /// What a use case's `to_completion` block owns.
    fn for_completion(&self, caller: &Principal) -> (Arc<dyn Store>, Arc<Views>, Arc<AuditLog>, Principal) {
        (self.store.clone(), self.views.clone(), self.audit.clone(), caller.clone())
    }

    /// One venue.
    pub async fn auditorium(&self, id: i64) -> Result<AuditoriumRecord, ServiceError> {
        self.store.auditorium(id).await?.ok_or(ServiceError::NotFound("auditorium"))
    }

    /// The caller's own venues, or with `every`, every venue (administrators only).
    pub async fn auditoriums(
        &self,
        caller: &Principal,
        every: bool,
    ) -> Result<Vec<AuditoriumRecord>, ServiceError> {
        if every {
            require(caller, Role::Admin)?;
            Ok(self.store.list_auditoriums(None).await?)
        } else {
            require(caller, Role::CompanyUser)?;
            Ok(self.store.list_auditoriums(Some(caller.user_id)).await?)
        }
    }

    /// Creates a venue owned by the caller.
    pub async fn create_auditorium(
        &self,
        caller: &Principal,
        spec: AuditoriumSpec,
    ) -> Result<AuditoriumRecord, ServiceError> {
        require(caller, Role::CompanyUser)?;
        let (store, audit, caller) = (self.store.clone(), self.audit.clone(), caller.clone());
        to_completion(async move {
            let record = store.create_auditorium(caller.user_id, &spec).await?;
            committed().await;
            let change = Change::created("auditorium.create", "auditorium", record.id, &record);
            audit.record(&caller, change).await;
            Ok(record)
        })
        .await
    }

    /// Changes a venue; it cannot shrink below the seats of its upcoming concerts.
    pub async fn update_auditorium(
        &self,
        caller: &Principal,
        id: i64,
        spec: AuditoriumSpec,
    ) -> Result<AuditoriumRecord, ServiceError> {
        let current = self.auditorium(id).await?;
        ensure_owner(caller, current.owner_id)?;
        let (store, views, audit, caller) = self.for_completion(caller);
        to_completion(async move {
            let record = store.update_auditorium(id, &spec).await.map_err(not_found("auditorium"))?;
            committed().await;
            views.catalog_changed().await;
            // Rows of the venue's concerts' maps may have changed length (the store moved
            // their versions on).
            if record.layout != current.layout {
                views.seat_maps_stale().await;
            }
            let change = Change::updated("auditorium.update", "auditorium", id, &current, &record);
            audit.record(&caller, change).await;
            Ok(record)
        })
        .await
    }

    /// Deletes a venue (soft delete); refused while it has upcoming concerts.
    pub async fn delete_auditorium(&self, caller: &Principal, id: i64) -> Result<(), ServiceError> {
        let current = self.auditorium(id).await?;
        ensure_owner(caller, current.owner_id)?;
        let (store, views, audit, caller) = self.for_completion(caller);
        to_completion(async move {
            store.delete_auditorium(id).await.map_err(not_found("auditorium"))?;
            committed().await;
            views.catalog_changed().await;
            let change = Change::deleted("auditorium.delete", "auditorium", id, &current);
            audit.record(&caller, change).await;
            Ok(())
        })
        .await
    }

    /// Toggles the lock of one seat position in every upcoming concert of a venue
    /// (available ↔ locked; a reserved seat stays reserved and is reported). `position`
    /// checks the requested seat against the venue.
    pub async fn toggle_seat_lock(
        &self,
        caller: &Principal,
        id: i64,
        position: impl FnOnce(&AuditoriumRecord) -> Result<SeatRef, Invalid>,
    ) -> Result<(SeatRef, Vec<LockToggle>), ServiceError> {
        require(caller, Role::Admin)?;
        let auditorium = self.auditorium(id).await?;
        let seat = position(&auditorium)?;
        let (store, views, audit, caller) = self.for_completion(caller);
        to_completion(async move {
            let toggles = store.toggle_seat_lock(id, seat).await?;
            committed().await;
            for toggle in toggles.iter().filter(|t| t.changed) {
                views.concert_seats_unknown(toggle.concert_id).await;
            }
            let concerts: Vec<serde_json::Value> = toggles
                .iter()
                .map(|t| {
                    serde_json::json!({
                        "concertId": t.concert_id,
                        "concertName": t.concert_name,
                        "status": t.status,
                        "changed": t.changed,
                    })
                })
                .collect();
            let change = Change {
                action: "seat.lock_toggle",
                target_type: "auditorium",
                target_id: Some(id),
                before: None,
                after: Some(serde_json::json!({
                    "auditoriumId": id,
                    "section": seat.section,
                    "horizontal": seat.horizontal,
                    "vertical": seat.vertical,
                    "concerts": concerts,
                })),
            };
            audit.record(&caller, change).await;
            Ok((seat, toggles))
        })
        .await
    }

    /// One concert.
    pub async fn concert(&self, id: i64) -> Result<ConcertRecord, ServiceError> {
        self.store.concert(id).await?.ok_or(ServiceError::NotFound("concert"))
    }

    /// One concert as `encode` shapes it, from the catalog cache when it is there.
    pub async fn concert_cached(
        &self,
        id: i64,
        encode: impl FnOnce(ConcertRecord) -> anyhow::Result<Bytes>,
    ) -> Result<Bytes, ServiceError> {
        let key = format!("concert:{id}");
        if let Some(body) = self.views.catalog.get(&key).await {
            return Ok(body);
        }
        let body = encode(self.concert(id).await?)?;
        self.views.catalog.put(&key, body.clone()).await;
        Ok(body)
    }

    /// A page of concerts, newest first, as `encode` shapes it with the total count. The
    /// first page is what everyone opens: it is served from the catalog cache.
    pub async fn concert_page(
        &self,
        page: i64,
        size: i64,
        encode: impl FnOnce(Vec<ConcertSummary>, i64) -> anyhow::Result<Bytes>,
    ) -> Result<Bytes, ServiceError> {
        let key = format!("concerts:p1:s{size}");
        if page == 1
            && let Some(body) = self.views.catalog.get(&key).await
        {
            return Ok(body);
        }
        let (summaries, total) = self.store.list_concerts((page - 1).saturating_mul(size), size).await?;
        let body = encode(summaries, total)?;
        if page == 1 {
            self.views.catalog.put(&key, body.clone()).await;
        }
        Ok(body)
    }

    /// Puts a concert on sale in one of the caller's venues. `parse` checks the request
    /// against the venue's sections (`None` when it names no venue).
    pub async fn create_concert(
        &self,
        caller: &Principal,
        auditorium_id: Option<i64>,
        parse: impl FnOnce(Option<&Layout>) -> Result<ConcertSpec, Invalid>,
    ) -> Result<ConcertRecord, ServiceError> {
        require(caller, Role::CompanyUser)?;
        let venue = match auditorium_id {
            Some(id) => {
                let auditorium = self.auditorium(id).await?;
                ensure_owner(caller, auditorium.owner_id)?;
                Some(auditorium.layout)
            }
            None => None,
        };
        let mut spec = parse(venue.as_ref())?;
        self.payable(&spec)?;
        spec.currency.get_or_insert_with(|| self.payments.default_currency.clone());
        let (store, views, audit, caller) = self.for_completion(caller);
        to_completion(async move {
            let id = store.create_concert(&spec).await.map_err(not_found("auditorium"))?;
            committed().await;
            views.catalog_changed().await;
            let record = store.concert(id).await?.ok_or(ServiceError::NotFound("concert"))?;
            let change = Change::created("concert.create", "concert", id, &record);
            audit.record(&caller, change).await;
            Ok(record)
        })
        .await
    }

    /// Changes a concert that has not started. `parse` checks the request against the
    /// venue's sections.
    pub async fn update_concert(
        &self,
        caller: &Principal,
        id: i64,
        parse: impl FnOnce(Option<&Layout>) -> Result<ConcertSpec, Invalid>,
    ) -> Result<ConcertRecord, ServiceError> {
        let current = self.concert(id).await?;
        ensure_owner(caller, current.owner_id)?;
        if current.start_time <= Utc::now() {
            return Err(ServiceError::conflict("CONCERT_STARTED", "the concert has already started"));
        }
        let spec = parse(Some(&current.auditorium.layout))?;
        self.payable(&spec)?;
        let (store, views, audit, caller) = self.for_completion(caller);
        to_completion(async move {
            store.update_concert(id, &spec).await.map_err(not_found("concert"))?;
            committed().await;
            views.concert_changed(id).await;
            let record = store.concert(id).await?.ok_or(ServiceError::NotFound("concert"))?;
            let change = Change::updated("concert.update", "concert", id, &current, &record);
            audit.record(&caller, change).await;
            Ok(record)
        })
        .await
    }

    /// Deletes a concert (soft delete); refused while it has active reservations.
    pub async fn delete_concert(&self, caller: &Principal, id: i64) -> Result<(), ServiceError> {
        let current = self.concert(id).await?;
        ensure_owner(caller, current.owner_id)?;
        let (store, views, audit, caller) = self.for_completion(caller);
        to_completion(async move {
            store.delete_concert(id).await.map_err(not_found("concert"))?;
            committed().await;
            views.catalog_changed().await;
            views.concert_seats_unknown(id).await;
            let change = Change::deleted("concert.delete", "concert", id, &current);
            audit.record(&caller, change).await;
            Ok(())
        })
        .await
    }

    /// Stores a concert's poster, replacing any earlier one.
    pub async fn set_poster(
        &self,
        caller: &Principal,
        concert_id: i64,
        poster: Poster,
    ) -> Result<StoredPoster, ServiceError> {
        let concert = self.concert(concert_id).await?;
        ensure_owner(caller, concert.owner_id)?;
        let key =
            format!("poster-{concert_id}-{}.{}", uuid::Uuid::new_v4().simple(), poster.kind.extension());
        let size = poster.content.len();
        self.posters.put(&key, poster.content).await?;
        let image = NewImage {
            concert_id,
            original_name: poster.original_name.clone(),
            store_key: key.clone(),
            content_type: poster.kind.content_type().into(),
            size: i64::try_from(size).unwrap_or(i64::MAX),
        };
        let stored = StoredPoster { key, kind: poster.kind, size, original_name: poster.original_name };
        let (store, views, audit, caller) = self.for_completion(caller);
        to_completion(async move {
            store.set_poster(&image).await.map_err(not_found("concert"))?;
            committed().await;
            views.catalog_changed().await;
            let change = Change {
                action: "concert.poster",
                target_type: "concert",
                target_id: Some(concert_id),
                before: Some(serde_json::json!({
                    "imagePath": concert.poster_key.as_deref().map(posters::public_path),
                })),
                after: Some(serde_json::json!({
                    "concertId": concert_id,
                    "imagePath": posters::public_path(&stored.key),
                    "contentType": stored.kind.content_type(),
                    "size": stored.size,
                    "originalName": stored.original_name,
                })),
            };
            audit.record(&caller, change).await;
            Ok(stored)
        })
        .await
    }

    /// A stored poster's type and bytes. Only image types are ever answered, whatever the
    /// database says.
    pub async fn poster(&self, key: &str) -> Result<(ImageKind, Bytes), ServiceError> {
        let missing = ServiceError::NotFound("poster");
        let Some(content_type) = self.store.poster_content_type(key).await? else {
            return Err(missing);
        };
        let kind = key.rsplit('.').next().and_then(ImageKind::from_extension);
        match kind {
            Some(kind) if kind.content_type() == content_type => {
                let content = self.posters.get(key).await?.ok_or(missing)?;
                Ok((kind, content))
            }
            _ => Err(missing),
        }
    }
}
