-- A booking's INSERT without a statement journal, every rule still the database's.
--
-- SQLite gives a statement its own journal (a copy of every page it touches, so that it
-- can be undone alone) when it both writes more than one row (the booking's triggers
-- reserve the seat and bump the map version) and may stop with ABORT halfway. Copying
-- the five pages a booking touches cost about as much as the booking's own checks. So
-- nothing in a booking's INSERT may ABORT any more:
-- * the store inserts with `INSERT OR FAIL`, which also applies to the statements the
--   triggers run (SQLite hands the outer conflict clause down to them);
-- * the two triggers a booking runs that refuse, the booking check and the seat-status
--   check, refuse with FAIL. FAIL keeps what the statement changed before the refusal, but
--   both are BEFORE triggers that refuse before their row is written: the booking check
--   before the reservation, the seat-status check before the seat (and every statement
--   of this service they can refuse writes one row). A refused row is never written,
--   exactly as before;
-- * the reservations' foreign keys are checked at COMMIT instead of after each statement
--   (an immediate foreign key may abort; a deferred one fails the commit instead).
--
-- And reservation ids without AUTOINCREMENT: it keeps a table's highest id ever given in
-- `sqlite_sequence`, so that an id is never given twice even after its row is deleted;
-- every booking read and rewrote that row, and every batch wrote its page to the WAL.
-- Reservations are never deleted (trigger `reservations_no_delete`), so the next id after
-- the highest row is already never one given before: a plain INTEGER PRIMARY KEY gives the
-- same ids, and the copy below carries them over. (An id of a batch that rolled back may
-- come again; it was never confirmed.)
--
-- Neither a foreign key's timing nor AUTOINCREMENT can be altered in place: the table is
-- rebuilt (SQLite's documented procedure: new table, copy, drop, rename, then its indexes
-- and triggers). The triggers of other tables that read reservations are dropped while it
-- is missing.

DROP TRIGGER reservations_no_delete;
DROP TRIGGER concerts_keep_while_reserved;
DROP TRIGGER seats_status_matches_reservation;

CREATE TABLE reservations_rebuilt (
    id            INTEGER PRIMARY KEY,
    user_id       INTEGER NOT NULL REFERENCES users (id) DEFERRABLE INITIALLY DEFERRED,
    concert_id    INTEGER NOT NULL REFERENCES concerts (id) DEFERRABLE INITIALLY DEFERRED,
    seat_id       INTEGER NOT NULL REFERENCES seats (id) DEFERRABLE INITIALLY DEFERRED,
    status        TEXT    NOT NULL CHECK (status IN ('Y', 'N')),
    -- The seat's price when booked: later price changes do not rewrite history.
    price_cents   INTEGER NOT NULL CHECK (price_cents >= 0),
    created_at    TEXT    NOT NULL,
    cancelled_at  TEXT,
    CHECK ((status = 'Y') = (cancelled_at IS NULL))
);
INSERT INTO reservations_rebuilt (id, user_id, concert_id, seat_id, status, price_cents, created_at, cancelled_at)
SELECT id, user_id, concert_id, seat_id, status, price_cents, created_at, cancelled_at FROM reservations;
DROP TABLE reservations;
ALTER TABLE reservations_rebuilt RENAME TO reservations;

-- Invariant 1: a seat has at most one active reservation, whatever sits in front.
CREATE UNIQUE INDEX reservations_one_active_per_seat ON reservations (seat_id) WHERE status = 'Y';
CREATE INDEX reservations_concert_user ON reservations (concert_id, user_id, status);

-- As in 0005, refusing with FAIL.
CREATE TRIGGER reservations_check_insert
BEFORE INSERT ON reservations
WHEN NEW.status = 'Y' AND NOT EXISTS (
    SELECT 1 FROM seats s JOIN concerts c ON c.id = s.concert_id
    WHERE s.id = NEW.seat_id AND s.concert_id = NEW.concert_id AND s.status = 'AVAILABLE'
      AND c.deleted_at IS NULL AND c.start_time > NEW.created_at
      AND c.max_seats_per_fan > (SELECT count(*) FROM reservations r
                                 WHERE r.concert_id = NEW.concert_id AND r.user_id = NEW.user_id
                                   AND r.status = 'Y'))
BEGIN
    SELECT RAISE(FAIL, 'SEAT_MISMATCH')
    WHERE (SELECT concert_id FROM seats WHERE id = NEW.seat_id) IS NOT NEW.concert_id;
    SELECT RAISE(FAIL, 'SEAT_TAKEN')
    WHERE (SELECT status FROM seats WHERE id = NEW.seat_id) = 'RESERVED';
    SELECT RAISE(FAIL, 'SEAT_LOCKED')
    WHERE (SELECT status FROM seats WHERE id = NEW.seat_id) = 'LOCKED';
    SELECT RAISE(FAIL, 'CONCERT_NOT_FOUND')
    WHERE NOT EXISTS (SELECT 1 FROM concerts WHERE id = NEW.concert_id AND deleted_at IS NULL);
    SELECT RAISE(FAIL, 'CONCERT_STARTED')
    WHERE (SELECT start_time FROM concerts WHERE id = NEW.concert_id) <= NEW.created_at;
    -- Nothing else is left that the condition refuses.
    SELECT RAISE(FAIL, 'FAN_LIMIT');
END;

-- As in 0003, unchanged.
CREATE TRIGGER reservations_reserve_seat
AFTER INSERT ON reservations WHEN NEW.status = 'Y'
BEGIN
    UPDATE seats SET status = 'RESERVED' WHERE id = NEW.seat_id;
END;

CREATE TRIGGER reservations_check_update
BEFORE UPDATE ON reservations
WHEN NOT (OLD.status = 'Y' AND NEW.status = 'N')
     OR NEW.seat_id IS NOT OLD.seat_id OR NEW.user_id IS NOT OLD.user_id OR NEW.concert_id IS NOT OLD.concert_id
BEGIN
    SELECT RAISE(ABORT, 'RESERVATION_IMMUTABLE');
END;

CREATE TRIGGER reservations_release_seat
AFTER UPDATE OF status ON reservations WHEN OLD.status = 'Y' AND NEW.status = 'N'
BEGIN
    UPDATE seats SET status = 'AVAILABLE' WHERE id = NEW.seat_id;
END;

CREATE TRIGGER reservations_no_delete
BEFORE DELETE ON reservations
BEGIN
    SELECT RAISE(ABORT, 'RESERVATION_IMMUTABLE');
END;

-- As in 0003, refusing with FAIL.
CREATE TRIGGER seats_status_matches_reservation
BEFORE UPDATE OF status ON seats WHEN NEW.status IS NOT OLD.status
BEGIN
    SELECT RAISE(FAIL, 'SEAT_STATUS_MISMATCH')
    WHERE (NEW.status = 'RESERVED')
          IS NOT EXISTS (SELECT 1 FROM reservations WHERE seat_id = NEW.id AND status = 'Y');
END;

-- As in 0002, unchanged.
CREATE TRIGGER concerts_keep_while_reserved
BEFORE UPDATE OF deleted_at ON concerts WHEN NEW.deleted_at IS NOT NULL
BEGIN
    SELECT RAISE(ABORT, 'CONCERT_HAS_RESERVATIONS')
    WHERE EXISTS (SELECT 1 FROM reservations WHERE concert_id = NEW.id AND status = 'Y');
END;
