//! The in-process gate: one small array of seat cells per concert.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use async_trait::async_trait;

use super::SeatGate;
use crate::domain::booking::SeatRef;
use crate::domain::venue::SeatStatus;
use crate::store::Store;

const ROWS: usize = 26;
const COLUMNS: usize = 100;

/// What the gate knows of one seat: its status as of a seat-map version.
#[derive(Debug, Clone, Copy, Default)]
struct Cell {
    /// `None`: available or unknown, so the database decides.
    status: Option<SeatStatus>,
    version: i64,
}

/// Every seat position of one concert (26 rows × 100 columns).
#[derive(Debug)]
struct Board {
    cells: Vec<Cell>,
    /// Whether the board was filled from the database (else it holds only news).
    loaded: bool,
}

impl Board {
    fn empty() -> Self {
        Self { cells: vec![Cell::default(); ROWS * COLUMNS], loaded: false }
    }

    fn index(seat: SeatRef) -> Option<usize> {
        let column = usize::from(seat.vertical).checked_sub(1).filter(|c| *c < COLUMNS)?;
        Some(seat.horizontal.index() * COLUMNS + column)
    }

    /// Applies the status of a seat as of `version`, unless the cell knows newer.
    fn apply(&mut self, seat: SeatRef, status: SeatStatus, version: i64) {
        if let Some(cell) = Self::index(seat).and_then(|i| self.cells.get_mut(i))
            && cell.version < version
        {
            *cell = Cell { status: (status != SeatStatus::Available).then_some(status), version };
        }
    }
}

/// The gate of one process. Boards are loaded lazily from the store, which is also how
/// it recovers after a restart.
pub struct MemoryGate {
    store: Arc<dyn Store>,
    boards: RwLock<HashMap<i64, Arc<Mutex<Board>>>>,
    /// Serialises loads so a rush on a cold concert reads its seats once.
    loading: tokio::sync::Mutex<()>,
}

impl MemoryGate {
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self { store, boards: RwLock::default(), loading: tokio::sync::Mutex::new(()) }
    }

    fn board(&self, concert_id: i64) -> anyhow::Result<Option<Arc<Mutex<Board>>>> {
        let boards = self.boards.read().map_err(|_| anyhow::anyhow!("gate lock poisoned"))?;
        Ok(boards.get(&concert_id).cloned())
    }

    fn board_or_empty(&self, concert_id: i64) -> anyhow::Result<Arc<Mutex<Board>>> {
        if let Some(board) = self.board(concert_id)? {
            return Ok(board);
        }
        let mut boards = self.boards.write().map_err(|_| anyhow::anyhow!("gate lock poisoned"))?;
        Ok(boards.entry(concert_id).or_insert_with(|| Arc::new(Mutex::new(Board::empty()))).clone())
    }

    /// A loaded board of the concert, reading the database once if needed; `None` when
    /// the concert does not exist (the database will answer that).
    async fn loaded_board(&self, concert_id: i64) -> anyhow::Result<Option<Arc<Mutex<Board>>>> {
        if let Some(board) = self.board(concert_id)?
            && board.lock().map_err(|_| anyhow::anyhow!("gate lock poisoned"))?.loaded
        {
            return Ok(Some(board));
        }
        let _loading = self.loading.lock().await;
        let board = self.board_or_empty(concert_id)?;
        if board.lock().map_err(|_| anyhow::anyhow!("gate lock poisoned"))?.loaded {
            return Ok(Some(board));
        }
        let Some(map) = self.store.seat_map(concert_id).await? else { return Ok(None) };
        let mut guard = board.lock().map_err(|_| anyhow::anyhow!("gate lock poisoned"))?;
        for row in &map.rows {
            for &(column, status) in &row.seats {
                let vertical = u8::try_from(column).unwrap_or(u8::MAX);
                guard.apply(SeatRef { horizontal: row.horizontal, vertical }, status, map.version);
            }
        }
        guard.loaded = true;
        drop(guard);
        Ok(Some(board))
    }
}

#[async_trait]
impl SeatGate for MemoryGate {
    async fn refused(
        &self,
        concert_id: i64,
        seats: &[SeatRef],
    ) -> anyhow::Result<Vec<(SeatRef, SeatStatus)>> {
        let Some(board) = self.loaded_board(concert_id).await? else { return Ok(Vec::new()) };
        let board = board.lock().map_err(|_| anyhow::anyhow!("gate lock poisoned"))?;
        Ok(seats
            .iter()
            .filter_map(|seat| {
                let cell = Board::index(*seat).and_then(|i| board.cells.get(i))?;
                cell.status.map(|status| (*seat, status))
            })
            .collect())
    }

    async fn record(
        &self,
        concert_id: i64,
        version: i64,
        seats: &[(SeatRef, SeatStatus)],
    ) -> anyhow::Result<()> {
        let board = self.board_or_empty(concert_id)?;
        let mut board = board.lock().map_err(|_| anyhow::anyhow!("gate lock poisoned"))?;
        for &(seat, status) in seats {
            board.apply(seat, status, version);
        }
        Ok(())
    }

    async fn forget(&self, concert_id: Option<i64>) -> anyhow::Result<()> {
        let mut boards = self.boards.write().map_err(|_| anyhow::anyhow!("gate lock poisoned"))?;
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
    use super::*;
    use crate::domain::venue::Letter;

    fn seat(row: &str, column: u8) -> SeatRef {
        SeatRef { horizontal: Letter::parse(row).unwrap(), vertical: column }
    }

    #[test]
    fn older_news_never_overrides_newer() {
        let mut board = Board::empty();
        board.apply(seat("A", 1), SeatStatus::Available, 7);
        board.apply(seat("A", 1), SeatStatus::Reserved, 6);
        let cell = board.cells[Board::index(seat("A", 1)).unwrap()];
        assert_eq!((cell.status, cell.version), (None, 7));
        board.apply(seat("A", 1), SeatStatus::Locked, 8);
        assert_eq!(board.cells[0].status, Some(SeatStatus::Locked));
    }

    #[test]
    fn every_position_of_a_full_hall_has_its_own_cell() {
        assert_eq!(Board::index(seat("A", 1)), Some(0));
        assert_eq!(Board::index(seat("Z", 100)), Some(ROWS * COLUMNS - 1));
        assert_eq!(Board::index(seat("B", 0)), None);
    }
}
