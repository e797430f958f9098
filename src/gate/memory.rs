//! The in-process gate: one small array of seat cells per concert.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, RwLock};

use async_trait::async_trait;

use super::SeatGate;
use crate::domain::booking::{SeatRef, StandingRef};
use crate::domain::sections::{SeatGrid, SectionName};
use crate::domain::venue::SeatStatus;
use crate::store::Store;

/// What the gate knows of one seat: its status as of a seat-map version.
#[derive(Debug, Clone, Copy, Default)]
struct Cell {
    /// `None`: available or unknown, so the database decides.
    status: Option<SeatStatus>,
    version: i64,
}

/// What the gate knows of one concert: a cell per seat it has heard of, and for each
/// standing section its places and how many of them it knows to be taken.
#[derive(Debug, Default)]
struct Board {
    cells: SeatGrid<Cell>,
    /// `(places, taken)` by standing section, from the load and the news since.
    standing: HashMap<SectionName, (i64, i64)>,
    /// Whether the board was filled from the database (else it holds only news).
    loaded: bool,
}

impl Board {
    fn empty() -> Self {
        Self::default()
    }

    /// Applies the status of a seat as of `version`, unless the cell knows newer.
    fn apply(&mut self, seat: SeatRef, status: SeatStatus, version: i64) {
        let Some(cell) = self.cells.entry(&seat) else { return };
        if cell.version >= version {
            return;
        }
        let (was, now) = (cell.status.is_some(), status != SeatStatus::Available);
        *cell = Cell { status: now.then_some(status), version };
        if seat.is_standing()
            && was != now
            && let Some((_, taken)) = self.standing.get_mut(&seat.section)
        {
            *taken += if now { 1 } else { -1 };
        }
    }

    /// The seats of `seats` this board knows to be taken or locked.
    fn refused(&self, seats: &[SeatRef]) -> Vec<(SeatRef, SeatStatus)> {
        seats.iter().filter_map(|seat| Some((*seat, self.cells.get(seat)?.status?))).collect()
    }

    /// The standing sections of `wanted` with fewer places left than wanted, as far as
    /// this board knows: `(section, places left)`.
    fn sold_out(&self, wanted: &[StandingRef]) -> Vec<(SectionName, i64)> {
        wanted
            .iter()
            .filter_map(|w| {
                let (places, taken) = self.standing.get(&w.section)?;
                let left = (places - taken).max(0);
                (left < i64::from(w.quantity)).then_some((w.section, left))
            })
            .collect()
    }
}

type SharedBoard = Arc<Mutex<Board>>;

/// The gate of one process. Boards are loaded from the store in the background, the first
/// time a concert is asked about, which is also how the gate recovers after a restart:
/// until a board is loaded, bookings go on to the database, which decides. So no booking
/// ever waits for a load (at the first touch of each concert of an on-sale, a read of its
/// 2,600 seats that took 1.7–57 ms under load and held up every booking of the concert).
pub struct MemoryGate {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn Store>,
    boards: RwLock<HashMap<i64, SharedBoard>>,
    /// Concerts whose board is being loaded (at most one load each).
    loading: Mutex<HashSet<i64>>,
    /// Runs loads one at a time: after a restart, a burst of first touches reads the
    /// database one concert after the other instead of all at once.
    one_load_at_a_time: tokio::sync::Mutex<()>,
}

/// A load under way; dropped when it ends, however it ends.
struct Loading {
    inner: Arc<Inner>,
    concert_id: i64,
}

impl Drop for Loading {
    fn drop(&mut self) {
        if let Ok(mut loading) = self.inner.loading.lock() {
            loading.remove(&self.concert_id);
        }
    }
}

fn poisoned<T>(_: T) -> anyhow::Error {
    anyhow::anyhow!("gate lock poisoned")
}

impl MemoryGate {
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self {
            inner: Arc::new(Inner {
                store,
                boards: RwLock::default(),
                loading: Mutex::default(),
                one_load_at_a_time: tokio::sync::Mutex::new(()),
            }),
        }
    }
}

impl Inner {
    fn board(&self, concert_id: i64) -> anyhow::Result<Option<SharedBoard>> {
        Ok(self.boards.read().map_err(poisoned)?.get(&concert_id).cloned())
    }

    fn board_or_empty(&self, concert_id: i64) -> anyhow::Result<SharedBoard> {
        if let Some(board) = self.board(concert_id)? {
            return Ok(board);
        }
        let mut boards = self.boards.write().map_err(poisoned)?;
        Ok(boards.entry(concert_id).or_insert_with(|| Arc::new(Mutex::new(Board::empty()))).clone())
    }

    /// Starts loading the concert's board in the background, unless a load is under way.
    fn load_in_background(self: &Arc<Self>, concert_id: i64) -> anyhow::Result<()> {
        if !self.loading.lock().map_err(poisoned)?.insert(concert_id) {
            return Ok(());
        }
        let done = Loading { inner: Arc::clone(self), concert_id };
        tokio::spawn(async move {
            if let Err(e) = done.inner.load(concert_id).await {
                tracing::warn!(concert_id, error = %format!("{e:#}"), "loading the seat gate failed");
            }
            // `done` goes here, or wherever the task ends: the next question loads again.
        });
        Ok(())
    }

    /// Fills the concert's board from the database. The board is taken before the read, so
    /// news of changes committed meanwhile lands on it too (the newer version wins per
    /// seat); should the board be forgotten meanwhile, the fill goes to the forgotten one.
    async fn load(&self, concert_id: i64) -> anyhow::Result<()> {
        let _one = self.one_load_at_a_time.lock().await;
        let board = self.board_or_empty(concert_id)?;
        let Some(map) = self.store.seat_map(concert_id).await? else {
            // No such concert: keep nothing for it (an unknown id must not cost a board).
            let mut boards = self.boards.write().map_err(poisoned)?;
            if boards.get(&concert_id).is_some_and(|kept| Arc::ptr_eq(kept, &board)) {
                boards.remove(&concert_id);
            }
            return Ok(());
        };
        let mut board = board.lock().map_err(poisoned)?;
        for section in &map.sections {
            for row in &section.rows {
                if section.standing {
                    board.standing.insert(section.name, (row.seats.len() as i64, 0));
                }
                for &(column, status) in &row.seats {
                    let vertical = column;
                    let seat = SeatRef { section: section.name, horizontal: row.horizontal, vertical };
                    board.apply(seat, status, map.version);
                }
            }
        }
        // News that came before the load counted against no section: count again.
        let mut taken: HashMap<SectionName, i64> = HashMap::new();
        for (seat, cell) in board.cells.iter() {
            if seat.is_standing() && cell.status.is_some() {
                *taken.entry(seat.section).or_default() += 1;
            }
        }
        for (section, (_, count)) in board.standing.iter_mut() {
            *count = taken.get(section).copied().unwrap_or(0);
        }
        board.loaded = true;
        Ok(())
    }
}

#[async_trait]
impl SeatGate for MemoryGate {
    async fn refused(
        &self,
        concert_id: i64,
        seats: &[SeatRef],
    ) -> anyhow::Result<Vec<(SeatRef, SeatStatus)>> {
        if let Some(board) = self.inner.board(concert_id)? {
            let board = board.lock().map_err(poisoned)?;
            if board.loaded {
                return Ok(board.refused(seats));
            }
        }
        // Not loaded: news alone is not trusted (news of a booking that arrives after the
        // seat was freed and the board forgotten would say "taken" until the load). The
        // database decides meanwhile.
        self.inner.load_in_background(concert_id)?;
        Ok(Vec::new())
    }

    async fn sold_out(
        &self,
        concert_id: i64,
        wanted: &[StandingRef],
    ) -> anyhow::Result<Vec<(SectionName, i64)>> {
        if let Some(board) = self.inner.board(concert_id)? {
            let board = board.lock().map_err(poisoned)?;
            if board.loaded {
                return Ok(board.sold_out(wanted));
            }
        }
        self.inner.load_in_background(concert_id)?;
        Ok(Vec::new())
    }

    async fn record(
        &self,
        concert_id: i64,
        version: i64,
        seats: &[(SeatRef, SeatStatus)],
    ) -> anyhow::Result<()> {
        let board = self.inner.board_or_empty(concert_id)?;
        let mut board = board.lock().map_err(poisoned)?;
        for &(seat, status) in seats {
            board.apply(seat, status, version);
        }
        Ok(())
    }

    async fn forget(&self, concert_id: Option<i64>) -> anyhow::Result<()> {
        let mut boards = self.inner.boards.write().map_err(poisoned)?;
        match concert_id {
            Some(id) => {
                boards.remove(&id);
            }
            None => boards.clear(),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::domain::booking::{Order, OrderShape};
    use crate::domain::sections::RowLabel;
    use crate::domain::user::Role;
    use crate::store::{BookingRequest, NewUser};

    /// A store on a fresh SQLite file with the demo concerts, and one fan who booked A1 of
    /// the first of them: `(store, concert, its data dir)`.
    async fn store_with_a_booking() -> (Arc<dyn Store>, i64, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("gate.db").display());
        let store = crate::store::open(&crate::store::DatabaseUrl::Sqlite(url)).await.unwrap();
        crate::demo::load(store.as_ref()).await.unwrap();
        let (concerts, _) = store.list_concerts(0, 10).await.unwrap();
        // A concert that confirms at once (the demo's PAYMENT concert would hold A1).
        let concert = concerts.iter().find(|c| c.name == "Spring Night Live").unwrap().id;
        let fan = store
            .create_user(&NewUser {
                username: "gate-fan".into(),
                password_hash: "not a hash: this fan never logs in".into(),
                email: "gate-fan@example.com".into(),
                nickname: None,
                role: Role::User,
            })
            .await
            .unwrap();
        let order = Order { shape: OrderShape::Single, seats: vec![seat("A", 1)], standing: Vec::new() };
        let request = BookingRequest {
            user_id: fan.id,
            concert_id: concert,
            order: &order,
            idempotency: None,
            access_code: None,
        };
        store.book(&request).await.unwrap();
        (store, concert, dir)
    }

    /// Waits (10 s at most) until no load is under way: the loads started so far are over.
    async fn loads_over(gate: &MemoryGate) {
        for _ in 0..1000 {
            if gate.inner.loading.lock().unwrap().is_empty() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("a board load did not end within 10 s");
    }

    #[tokio::test]
    async fn a_cold_concert_is_passed_to_the_database_while_its_board_loads() {
        let (store, concert, _dir) = store_with_a_booking().await;
        let gate = MemoryGate::new(store);
        // The first question finds no board: nothing is refused, nobody waits, a load starts.
        assert!(gate.refused(concert, &[seat("A", 1)]).await.unwrap().is_empty());
        loads_over(&gate).await;
        let refused = gate.refused(concert, &[seat("A", 1), seat("A", 2)]).await.unwrap();
        assert_eq!(refused, vec![(seat("A", 1), SeatStatus::Reserved)], "the taken seat, and only it");
    }

    #[tokio::test]
    async fn news_before_the_load_counts_once_loaded_unless_the_database_knows_newer() {
        let (store, concert, _dir) = store_with_a_booking().await;
        let map = store.seat_map(concert).await.unwrap().unwrap();
        let gate = MemoryGate::new(store);
        // News of A2 taken, newer than the stored map; news of A1 freed, older than it.
        gate.record(concert, map.version + 1, &[(seat("A", 2), SeatStatus::Reserved)]).await.unwrap();
        gate.record(concert, map.version - 1, &[(seat("A", 1), SeatStatus::Available)]).await.unwrap();
        // Before the board is loaded, news alone is not trusted: the database decides.
        assert!(gate.refused(concert, &[seat("A", 2)]).await.unwrap().is_empty());
        loads_over(&gate).await;
        let refused = gate.refused(concert, &[seat("A", 1)]).await.unwrap();
        assert_eq!(refused, vec![(seat("A", 1), SeatStatus::Reserved)], "the stored map is newer");
        let still = gate.refused(concert, &[seat("A", 2)]).await.unwrap();
        assert_eq!(still, vec![(seat("A", 2), SeatStatus::Reserved)], "the news is newer than the map");
    }

    #[tokio::test]
    async fn an_unknown_concert_keeps_no_board() {
        let (store, _, _dir) = store_with_a_booking().await;
        let gate = MemoryGate::new(store);
        assert!(gate.refused(987_654, &[seat("A", 1)]).await.unwrap().is_empty());
        loads_over(&gate).await;
        assert!(
            gate.inner.boards.read().unwrap().is_empty(),
            "nothing kept for a concert that does not exist"
        );
    }

    fn seat(row: &str, column: u32) -> SeatRef {
        SeatRef::seed(RowLabel::parse(row).unwrap(), column)
    }

    #[test]
    fn older_news_never_overrides_newer() {
        let mut board = Board::empty();
        board.apply(seat("A", 1), SeatStatus::Available, 7);
        board.apply(seat("A", 1), SeatStatus::Reserved, 6);
        let cell = board.cells.get(&seat("A", 1)).copied().unwrap();
        assert_eq!((cell.status, cell.version), (None, 7));
        board.apply(seat("A", 1), SeatStatus::Locked, 8);
        assert_eq!(board.cells.get(&seat("A", 1)).unwrap().status, Some(SeatStatus::Locked));
    }

    #[test]
    fn a_standing_section_counts_its_places_taken() {
        let floor = SectionName::parse("Floor").unwrap();
        let place = |n| SeatRef { section: floor, horizontal: RowLabel::STANDING, vertical: n };
        let mut board = Board::empty();
        board.standing.insert(floor, (3, 0));
        board.apply(place(1), SeatStatus::Reserved, 2);
        board.apply(place(2), SeatStatus::Reserved, 3);
        board.apply(place(2), SeatStatus::Reserved, 3);
        let two = [StandingRef { section: floor, quantity: 2 }];
        assert_eq!(board.sold_out(&two), [(floor, 1)]);
        board.apply(place(1), SeatStatus::Available, 4);
        assert!(board.sold_out(&two).is_empty());
    }
}
