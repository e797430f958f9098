-- Real venues: sections, rows of their own lengths, standing floors.
--
-- A venue is now a list of sections, each of its rows in `auditorium_rows`: a seated
-- section has rows labelled 1–4 letters or digits of 1–200 seats each; a standing section
-- is one row labelled '' whose seats are its places (its capacity). A concert's seats
-- carry their section; a standing place is a seat of row '' numbered 1..capacity, so every
-- booking rule of 0003–0008 (one active reservation per place, the per-fan limit, the
-- seat-map version) holds for standing places unchanged, and a floor never sells more
-- places than it has.
--
-- Every existing venue becomes one seated section named '' with rows A..max_row of
-- max_column seats, and every existing seat is in that section, with its id unchanged.
-- `max_row`/`max_column` stay for venues described the seed's way; a venue of sections
-- has neither (NOT NULL dropped: a change SQLite documents as safe to make in the schema
-- table, lang_altertable.html).
--
-- Seats gain `section` inside their unique position, and their row and column checks
-- widen: a UNIQUE constraint cannot be altered, so `seats` is rebuilt by SQLite's
-- documented procedure (new table, copy, drop, rename, then its indexes and triggers).
-- Foreign keys stay on (the migration runs in sqlx's transaction, where they cannot be
-- turned off), so dropping the old seats would count every reservation pointing at them
-- as dangling: `reservations`, which nothing points at, is rebuilt with them (as in
-- 0006), pointing at the new seats, and dropped first. Ids are copied, so nothing changes
-- for anyone. Every foreign key is checked before the end.

PRAGMA writable_schema = ON;
UPDATE sqlite_schema
SET sql = replace(replace(sql,
        'max_row     TEXT    NOT NULL CHECK', 'max_row     TEXT    CHECK'),
        'max_column  INTEGER NOT NULL CHECK', 'max_column  INTEGER CHECK')
WHERE type = 'table' AND name = 'auditoriums';
PRAGMA writable_schema = RESET;

CREATE TABLE auditorium_rows (
    auditorium_id     INTEGER NOT NULL REFERENCES auditoriums (id),
    section           TEXT    NOT NULL,
    label             TEXT    NOT NULL,
    -- The section's place in the venue, and the row's in its section.
    section_position  INTEGER NOT NULL,
    position          INTEGER NOT NULL,
    kind              TEXT    NOT NULL CHECK (kind = 'SEATED' OR kind = 'STANDING'),
    -- Seats of the row; a standing section's capacity.
    seats             INTEGER NOT NULL,
    PRIMARY KEY (auditorium_id, section, label),
    CHECK ((kind = 'SEATED' AND length(label) BETWEEN 1 AND 4 AND seats BETWEEN 1 AND 200)
        OR (kind = 'STANDING' AND label = '' AND seats BETWEEN 1 AND 100000))
) WITHOUT ROWID;

WITH RECURSIVE letters(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM letters WHERE n < 25)
INSERT INTO auditorium_rows (auditorium_id, section, label, section_position, position, kind, seats)
SELECT a.id, '', char(65 + l.n), 0, l.n, 'SEATED', a.max_column
FROM auditoriums a JOIN letters l ON char(65 + l.n) <= a.max_row;

-- The triggers that read seats or reservations go with the old tables, or would fail the
-- renames.
DROP TRIGGER auditoriums_keep_upcoming_seats;
DROP TRIGGER concerts_keep_while_reserved;

CREATE TABLE seats_rebuilt (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    concert_id  INTEGER NOT NULL REFERENCES concerts (id),
    section     TEXT    NOT NULL DEFAULT '',
    -- '' for a standing place.
    horizontal  TEXT    NOT NULL CHECK (length(horizontal) <= 4),
    vertical    INTEGER NOT NULL CHECK (vertical BETWEEN 1 AND 100000),
    grade       TEXT    NOT NULL,
    status      TEXT    NOT NULL DEFAULT 'AVAILABLE'
                CHECK (status = 'AVAILABLE' OR status = 'RESERVED' OR status = 'LOCKED'),
    UNIQUE (concert_id, section, horizontal, vertical),
    -- Every grade on sale has a price: the database refuses a seat of an unpriced grade.
    FOREIGN KEY (concert_id, grade) REFERENCES seat_prices (concert_id, grade)
);
INSERT INTO seats_rebuilt (id, concert_id, section, horizontal, vertical, grade, status)
SELECT id, concert_id, '', horizontal, vertical, grade, status FROM seats ORDER BY id;

-- As in 0006, pointing at the new seats.
CREATE TABLE reservations_rebuilt (
    id            INTEGER PRIMARY KEY,
    user_id       INTEGER NOT NULL REFERENCES users (id) DEFERRABLE INITIALLY DEFERRED,
    concert_id    INTEGER NOT NULL REFERENCES concerts (id) DEFERRABLE INITIALLY DEFERRED,
    seat_id       INTEGER NOT NULL REFERENCES seats_rebuilt (id) DEFERRABLE INITIALLY DEFERRED,
    status        TEXT    NOT NULL CHECK (status IN ('Y', 'N')),
    -- The seat's price when booked: later price changes do not rewrite history.
    price_cents   INTEGER NOT NULL CHECK (price_cents >= 0),
    created_at    TEXT    NOT NULL,
    cancelled_at  TEXT,
    CHECK ((status = 'Y') = (cancelled_at IS NULL))
);
INSERT INTO reservations_rebuilt (id, user_id, concert_id, seat_id, status, price_cents, created_at, cancelled_at)
SELECT id, user_id, concert_id, seat_id, status, price_cents, created_at, cancelled_at FROM reservations ORDER BY id;

-- Children first: with the old reservations gone, nothing points at the old seats. (The
-- rename of the new seats also renames the reservations' reference to them.)
DROP TABLE reservations;
DROP TABLE seats;
ALTER TABLE seats_rebuilt RENAME TO seats;
ALTER TABLE reservations_rebuilt RENAME TO reservations;

-- Invariant 1: a seat has at most one active reservation, whatever sits in front.
CREATE UNIQUE INDEX reservations_one_active_per_seat ON reservations (seat_id) WHERE status = 'Y';
CREATE INDEX reservations_concert_user ON reservations (concert_id, user_id, status);

-- Seats lie within their venue: a row of their section, within its length.
CREATE TRIGGER seats_within_auditorium
BEFORE INSERT ON seats
BEGIN
    SELECT RAISE(ABORT, 'SEAT_OUTSIDE_AUDITORIUM')
    WHERE NOT EXISTS (SELECT 1 FROM concerts c JOIN auditorium_rows r ON r.auditorium_id = c.auditorium_id
                      WHERE c.id = NEW.concert_id AND r.section = NEW.section AND r.label = NEW.horizontal
                        AND NEW.vertical <= r.seats);
END;

-- As in 0002, for the seed's section (`max_row`/`max_column` describe it): a venue never
-- shrinks below the seats of its upcoming concerts.
CREATE TRIGGER auditoriums_keep_upcoming_seats
BEFORE UPDATE OF max_row, max_column ON auditoriums
BEGIN
    SELECT RAISE(ABORT, 'AUDITORIUM_IN_USE')
    WHERE EXISTS (SELECT 1 FROM seats s JOIN concerts c ON c.id = s.concert_id
                  WHERE c.auditorium_id = NEW.id AND c.deleted_at IS NULL AND c.start_time > NEW.updated_at
                    AND s.section = ''
                    AND (s.horizontal > NEW.max_row OR s.vertical > NEW.max_column));
END;

-- A venue never loses a row, nor shortens one, under the seats of its upcoming concerts
-- (the venue's `updated_at` is set first, in the same transaction: that is "now").
CREATE TRIGGER auditorium_rows_keep_upcoming_seats_delete
BEFORE DELETE ON auditorium_rows
BEGIN
    SELECT RAISE(ABORT, 'AUDITORIUM_IN_USE')
    WHERE EXISTS (SELECT 1 FROM concerts c JOIN auditoriums a ON a.id = c.auditorium_id
                  JOIN seats s ON s.concert_id = c.id AND s.section = OLD.section AND s.horizontal = OLD.label
                  WHERE c.auditorium_id = OLD.auditorium_id AND c.deleted_at IS NULL
                    AND c.start_time > a.updated_at);
END;

CREATE TRIGGER auditorium_rows_keep_upcoming_seats_update
BEFORE UPDATE ON auditorium_rows
BEGIN
    SELECT RAISE(ABORT, 'AUDITORIUM_IN_USE')
    WHERE EXISTS (SELECT 1 FROM concerts c JOIN auditoriums a ON a.id = c.auditorium_id
                  JOIN seats s ON s.concert_id = c.id AND s.section = OLD.section AND s.horizontal = OLD.label
                  WHERE c.auditorium_id = OLD.auditorium_id AND c.deleted_at IS NULL
                    AND c.start_time > a.updated_at
                    AND s.vertical > CASE WHEN NEW.section = OLD.section AND NEW.label = OLD.label
                                               AND NEW.auditorium_id = OLD.auditorium_id
                                          THEN NEW.seats ELSE 0 END);
END;

-- As in 0007, with the section.
CREATE TRIGGER seats_update_changes_layout
AFTER UPDATE OF id, grade, concert_id, section, horizontal, vertical ON seats
WHEN NEW.id IS NOT OLD.id OR NEW.grade IS NOT OLD.grade OR NEW.concert_id IS NOT OLD.concert_id
     OR NEW.section IS NOT OLD.section OR NEW.horizontal IS NOT OLD.horizontal
     OR NEW.vertical IS NOT OLD.vertical
BEGIN
    UPDATE concerts SET layout_version = layout_version + 1 WHERE id IN (OLD.concert_id, NEW.concert_id);
END;

CREATE TRIGGER seats_delete_changes_layout
AFTER DELETE ON seats
BEGIN
    UPDATE concerts SET layout_version = layout_version + 1 WHERE id = OLD.concert_id;
END;

-- As in 0006, unchanged.
CREATE TRIGGER seats_status_matches_reservation
BEFORE UPDATE OF status ON seats WHEN NEW.status IS NOT OLD.status
BEGIN
    SELECT RAISE(FAIL, 'SEAT_STATUS_MISMATCH')
    WHERE (NEW.status = 'RESERVED')
          IS NOT EXISTS (SELECT 1 FROM reservations WHERE seat_id = NEW.id AND status = 'Y');
END;

-- As in 0008, unchanged.
CREATE TRIGGER seats_bump_map_version
AFTER UPDATE OF status ON seats WHEN NEW.status IS NOT OLD.status
BEGIN
    UPDATE concerts SET seat_version = seat_version + 1 WHERE id = NEW.concert_id;
END;

-- As in 0006, unchanged: the reservations' triggers.
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
    SELECT RAISE(FAIL, 'FAN_LIMIT');
END;

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

-- As in 0002, unchanged.
CREATE TRIGGER concerts_keep_while_reserved
BEFORE UPDATE OF deleted_at ON concerts WHEN NEW.deleted_at IS NOT NULL
BEGIN
    SELECT RAISE(ABORT, 'CONCERT_HAS_RESERVATIONS')
    WHERE EXISTS (SELECT 1 FROM reservations WHERE concert_id = NEW.id AND status = 'Y');
END;

-- Nothing may point at a row that is not there: a broken key fails this insert, and with
-- it the migration.
CREATE TEMP TABLE foreign_keys_broken (rows INTEGER CHECK (rows = 0));
INSERT INTO foreign_keys_broken SELECT count(*) FROM pragma_foreign_key_check;
DROP TABLE foreign_keys_broken;
