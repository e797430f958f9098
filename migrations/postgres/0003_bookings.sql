-- Booking rules enforced by the database itself, whatever gate or code sits in front.
-- Error messages raised here are matched by the store to answer with the right code.
--
-- Concurrency: SQLite runs one writer at a time; PostgreSQL runs them side by side. Every
-- write to a concert's reservations first takes that concert's row lock (FOR NO KEY UPDATE,
-- the lock its seat_version bump needs anyway), so the bookings and cancellations of one
-- concert are serialised: the per-fan count and the seat checks below read what the
-- previous holder committed, and every writer locks in the same order (concert, then seats),
-- so they cannot deadlock one another.

-- A new active reservation needs an available seat of its concert, a live concert not yet
-- started (by the reservation's own time), and room under the fan's per-concert limit.
-- A single-seat booking is one INSERT that relies on exactly these checks.
CREATE FUNCTION reservations_check_insert() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    concert concerts%ROWTYPE;
    seat_concert BIGINT;
    seat_status TEXT;
    held BIGINT;
BEGIN
    SELECT * INTO concert FROM concerts WHERE id = NEW.concert_id FOR NO KEY UPDATE;
    SELECT concert_id, status INTO seat_concert, seat_status FROM seats WHERE id = NEW.seat_id;
    IF seat_concert IS DISTINCT FROM NEW.concert_id THEN
        RAISE EXCEPTION 'SEAT_MISMATCH';
    ELSIF seat_status = 'RESERVED' THEN
        RAISE EXCEPTION 'SEAT_TAKEN';
    ELSIF seat_status = 'LOCKED' THEN
        RAISE EXCEPTION 'SEAT_LOCKED';
    ELSIF concert.id IS NULL OR concert.deleted_at IS NOT NULL THEN
        RAISE EXCEPTION 'CONCERT_NOT_FOUND';
    ELSIF concert.start_time <= NEW.created_at THEN
        RAISE EXCEPTION 'CONCERT_STARTED';
    END IF;
    SELECT count(*) INTO held FROM reservations
        WHERE user_id = NEW.user_id AND concert_id = NEW.concert_id AND status = 'Y';
    IF held >= concert.max_seats_per_fan THEN
        RAISE EXCEPTION 'FAN_LIMIT';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER reservations_check_insert BEFORE INSERT ON reservations
    FOR EACH ROW WHEN (NEW.status = 'Y') EXECUTE FUNCTION reservations_check_insert();

-- Invariant 2, first half: booking a seat makes it RESERVED in the same transaction. The
-- update is conditional: a seat locked by a writer that bypassed the concert lock after the
-- check above is not booked.
CREATE FUNCTION reservations_reserve_seat() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    now_status TEXT;
BEGIN
    UPDATE seats SET status = 'RESERVED' WHERE id = NEW.seat_id AND status = 'AVAILABLE';
    IF NOT FOUND THEN
        SELECT status INTO now_status FROM seats WHERE id = NEW.seat_id;
        RAISE EXCEPTION '%', CASE now_status WHEN 'LOCKED' THEN 'SEAT_LOCKED' ELSE 'SEAT_TAKEN' END;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER reservations_reserve_seat AFTER INSERT ON reservations
    FOR EACH ROW WHEN (NEW.status = 'Y') EXECUTE FUNCTION reservations_reserve_seat();

-- A reservation only ever moves from active to cancelled, and cancelling frees the seat.
CREATE TRIGGER reservations_check_update BEFORE UPDATE ON reservations
    FOR EACH ROW
    WHEN (NOT (OLD.status = 'Y' AND NEW.status = 'N')
          OR NEW.seat_id IS DISTINCT FROM OLD.seat_id OR NEW.user_id IS DISTINCT FROM OLD.user_id
          OR NEW.concert_id IS DISTINCT FROM OLD.concert_id)
    EXECUTE FUNCTION refuse('RESERVATION_IMMUTABLE');

-- A cancellation takes the concert lock before it touches the seat, like a booking does.
CREATE FUNCTION reservations_lock_concert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM concerts WHERE id = OLD.concert_id FOR NO KEY UPDATE;
    RETURN NEW;
END $$;
CREATE TRIGGER reservations_lock_concert BEFORE UPDATE OF status ON reservations
    FOR EACH ROW EXECUTE FUNCTION reservations_lock_concert();

CREATE FUNCTION reservations_release_seat() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE seats SET status = 'AVAILABLE' WHERE id = NEW.seat_id;
    RETURN NULL;
END $$;
CREATE TRIGGER reservations_release_seat AFTER UPDATE OF status ON reservations
    FOR EACH ROW WHEN (OLD.status = 'Y' AND NEW.status = 'N') EXECUTE FUNCTION reservations_release_seat();

-- Reservations are history: never deleted.
CREATE TRIGGER reservations_no_delete BEFORE DELETE ON reservations
    FOR EACH ROW EXECUTE FUNCTION refuse('RESERVATION_IMMUTABLE');
CREATE TRIGGER reservations_no_truncate BEFORE TRUNCATE ON reservations
    FOR EACH STATEMENT EXECUTE FUNCTION refuse('RESERVATION_IMMUTABLE');

-- Invariant 2, second half, and invariant 3: a seat is RESERVED exactly when it has an
-- active reservation, so a reserved seat can be neither locked nor freed directly.
CREATE FUNCTION seats_status_matches_reservation() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (NEW.status = 'RESERVED')
       IS DISTINCT FROM EXISTS (SELECT 1 FROM reservations WHERE seat_id = NEW.id AND status = 'Y') THEN
        RAISE EXCEPTION 'SEAT_STATUS_MISMATCH';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER seats_status_matches_reservation BEFORE UPDATE OF status ON seats
    FOR EACH ROW WHEN (NEW.status IS DISTINCT FROM OLD.status)
    EXECUTE FUNCTION seats_status_matches_reservation();

-- Every change of a seat's status changes its concert's seat-map version (the ETag).
CREATE FUNCTION seats_bump_map_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE concerts SET seat_version = seat_version + 1 WHERE id = NEW.concert_id;
    RETURN NULL;
END $$;
CREATE TRIGGER seats_bump_map_version AFTER UPDATE OF status ON seats
    FOR EACH ROW WHEN (NEW.status IS DISTINCT FROM OLD.status) EXECUTE FUNCTION seats_bump_map_version();

-- Idempotent booking: the first successful answer to a key, saved with the booking.
CREATE TABLE idempotency_keys (
    user_id          BIGINT      NOT NULL REFERENCES users (id),
    key              TEXT        NOT NULL,
    -- Hash of the request the key was first used with; another request is refused.
    fingerprint      TEXT        NOT NULL,
    concert_id       BIGINT      NOT NULL,
    -- The reservations the first answer reported, comma-separated, in order.
    reservation_ids  TEXT        NOT NULL,
    created_at       TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (user_id, key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);
