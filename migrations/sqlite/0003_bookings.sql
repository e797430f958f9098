-- Booking rules enforced by the database itself, whatever gate or code sits in front.
-- Error messages raised here are matched by the store to answer with the right code.

-- A new active reservation needs an available seat of its concert, a live concert not yet
-- started (by the reservation's own time), and room under the fan's per-concert limit.
-- A single-seat booking is one INSERT that relies on exactly these checks.
CREATE TRIGGER reservations_check_insert
BEFORE INSERT ON reservations WHEN NEW.status = 'Y'
BEGIN
    SELECT RAISE(ABORT, 'SEAT_MISMATCH')
    WHERE (SELECT concert_id FROM seats WHERE id = NEW.seat_id) IS NOT NEW.concert_id;
    SELECT RAISE(ABORT, 'SEAT_TAKEN')
    WHERE (SELECT status FROM seats WHERE id = NEW.seat_id) = 'RESERVED';
    SELECT RAISE(ABORT, 'SEAT_LOCKED')
    WHERE (SELECT status FROM seats WHERE id = NEW.seat_id) = 'LOCKED';
    SELECT RAISE(ABORT, 'CONCERT_NOT_FOUND')
    WHERE NOT EXISTS (SELECT 1 FROM concerts WHERE id = NEW.concert_id AND deleted_at IS NULL);
    SELECT RAISE(ABORT, 'CONCERT_STARTED')
    WHERE (SELECT start_time FROM concerts WHERE id = NEW.concert_id) <= NEW.created_at;
    SELECT RAISE(ABORT, 'FAN_LIMIT')
    WHERE (SELECT count(*) FROM reservations WHERE user_id = NEW.user_id AND concert_id = NEW.concert_id
                                              AND status = 'Y')
          >= (SELECT max_seats_per_fan FROM concerts WHERE id = NEW.concert_id);
END;

-- Invariant 2, first half: booking a seat makes it RESERVED in the same transaction.
CREATE TRIGGER reservations_reserve_seat
AFTER INSERT ON reservations WHEN NEW.status = 'Y'
BEGIN
    UPDATE seats SET status = 'RESERVED' WHERE id = NEW.seat_id;
END;

-- A reservation only ever moves from active to cancelled, and cancelling frees the seat.
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

-- Reservations are history: never deleted.
CREATE TRIGGER reservations_no_delete
BEFORE DELETE ON reservations
BEGIN
    SELECT RAISE(ABORT, 'RESERVATION_IMMUTABLE');
END;

-- Invariant 2, second half, and invariant 3: a seat is RESERVED exactly when it has an
-- active reservation, so a reserved seat can be neither locked nor freed directly.
CREATE TRIGGER seats_status_matches_reservation
BEFORE UPDATE OF status ON seats WHEN NEW.status IS NOT OLD.status
BEGIN
    SELECT RAISE(ABORT, 'SEAT_STATUS_MISMATCH')
    WHERE (NEW.status = 'RESERVED')
          IS NOT EXISTS (SELECT 1 FROM reservations WHERE seat_id = NEW.id AND status = 'Y');
END;

-- Every change of a seat's status changes its concert's seat-map version (the ETag).
CREATE TRIGGER seats_bump_map_version
AFTER UPDATE OF status ON seats WHEN NEW.status IS NOT OLD.status
BEGIN
    UPDATE concerts SET seat_version = seat_version + 1 WHERE id = NEW.concert_id;
END;

-- Idempotent booking: the first successful answer to a key, saved with the booking.
CREATE TABLE idempotency_keys (
    user_id          INTEGER NOT NULL REFERENCES users (id),
    key              TEXT    NOT NULL,
    -- Hash of the request the key was first used with; another request is refused.
    fingerprint      TEXT    NOT NULL,
    concert_id       INTEGER NOT NULL,
    -- The reservations the first answer reported, comma-separated, in order.
    reservation_ids  TEXT    NOT NULL,
    created_at       TEXT    NOT NULL,
    PRIMARY KEY (user_id, key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);
