//! The views derived from the database — the seat gate, the seat-map and catalog caches
//! (which tell live pages through the seat news) — and the one place that brings them up
//! to date after a commit.

use std::sync::Arc;

use crate::cache::{CATALOG_TTL, Catalog, SeatChange, SeatMapCache};
use crate::domain::booking::SeatRef;
use crate::domain::venue::SeatStatus;
use crate::gate::SeatGate;
use crate::seat_news::SeatNews;
use crate::store::Store;

/// The fast views in front of the database.
pub struct Views {
    pub gate: Arc<dyn SeatGate>,
    pub seat_maps: Arc<dyn SeatMapCache>,
    pub catalog: Arc<dyn Catalog>,
    /// News of seat-map changes for live watchers (told by `seat_maps`).
    pub seat_news: Arc<SeatNews>,
    /// The store: whether the catalog is read from a replica, and where it stands.
    pub store: Arc<dyn Store>,
}

impl Views {
    /// Seats of a concert changed status in a commit that made the seat map `version`.
    /// Every change of a seat's status moves its concert's map version by exactly one
    /// (the schema's seat-status triggers, both backends) and the writers count them, so
    /// the change of these seats was made on version `version - seats.len()`: a cached map
    /// at that version is patched in place.
    /// The change stands whatever the gate does: should the gate fail to take it, it
    /// forgets the concert (and reloads it from the database when next asked) rather than
    /// go on refusing by what it knew before.
    pub async fn seats_changed(&self, concert_id: i64, version: i64, seats: &[(SeatRef, SeatStatus)]) {
        let from = version - i64::try_from(seats.len()).unwrap_or(i64::MAX);
        self.seat_maps.patch(concert_id, &SeatChange { from, to: version, seats }).await;
        if let Err(e) = self.gate.record(concert_id, version, seats).await {
            tracing::warn!(
                concert_id,
                error = format!("{e:#}"),
                "seat gate missed a change; forgetting the concert"
            );
            self.forget_seats(Some(concert_id)).await;
        }
    }

    /// A concert's seats changed in a way the gate cannot be told cell by cell (locks, a
    /// deletion, a repeated request answering another's commit of unknown version): its
    /// cached map and gate cells are dropped, to be reloaded from the database.
    pub async fn concert_seats_unknown(&self, concert_id: i64) {
        self.seat_maps.invalidate(concert_id).await;
        self.forget_seats(Some(concert_id)).await;
    }

    /// Seats changed in concerts not known here (an account deletion released its
    /// seats): every seat view is rebuilt from the database.
    pub async fn all_seats_unknown(&self) {
        self.seat_maps.clear().await;
        self.forget_seats(None).await;
    }

    /// A concert's details or rows changed: the catalog and its seat map are stale.
    pub async fn concert_changed(&self, concert_id: i64) {
        self.catalog_changed().await;
        self.seat_maps.invalidate(concert_id).await;
    }

    /// Something the catalog shows changed (a venue, a poster, a promoter's nickname).
    pub async fn catalog_changed(&self) {
        self.catalog.invalidate().await;
        self.catalog_changed_on_replica();
    }

    /// A replica may not have the change yet when the catalog is dropped: a reader of the
    /// concert list in between would cache the replica's older list as current, for the
    /// catalog's whole TTL, and during an on-sale such a reader is all but certain. So the
    /// catalog is dropped once more when the replica has everything committed so far. In
    /// the background: the writer's answer does not wait on the replica.
    fn catalog_changed_on_replica(&self) {
        if !self.store.has_replica() {
            return;
        }
        let store = self.store.clone();
        let catalog = self.catalog.clone();
        tokio::spawn(async move {
            // Later than the TTL, a stale entry has expired by itself.
            match store.replica_caught_up(CATALOG_TTL).await {
                Ok(true) => catalog.invalidate().await,
                Ok(false) => {
                    tracing::warn!(?CATALOG_TTL, "the replica did not catch up with a catalog change")
                }
                Err(e) => tracing::warn!(error = format!("{e:#}"), "the replica's position is unknown"),
            }
        });
    }

    /// A venue's seat columns changed: every seat map may draw them.
    pub async fn seat_maps_stale(&self) {
        self.seat_maps.clear().await;
    }

    async fn forget_seats(&self, concert_id: Option<i64>) {
        if let Err(e) = self.gate.forget(concert_id).await {
            // The commit stands: a shared gate that missed this catches up by itself
            // (see `RedisGate::catch_up`), and the database decides meanwhile.
            tracing::error!(?concert_id, error = format!("{e:#}"), "seat gate could not forget");
        }
    }
}
