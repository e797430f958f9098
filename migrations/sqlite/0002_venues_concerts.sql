-- Venues, concerts, prices, seats, posters and reservations.

CREATE TABLE auditoriums (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    name        TEXT    NOT NULL CHECK (length(trim(name)) > 0),
    address     TEXT    NOT NULL,
    max_row     TEXT    NOT NULL CHECK (length(max_row) = 1 AND max_row BETWEEN 'A' AND 'Z'),
    max_column  INTEGER NOT NULL CHECK (max_column BETWEEN 1 AND 100),
    owner_id    INTEGER NOT NULL REFERENCES users (id),
    created_at  TEXT    NOT NULL,
    updated_at  TEXT    NOT NULL,
    deleted_at  TEXT
);
CREATE INDEX auditoriums_owner ON auditoriums (owner_id);

CREATE TABLE concerts (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    name               TEXT    NOT NULL CHECK (length(trim(name)) > 0),
    description        TEXT    NOT NULL,
    start_time         TEXT    NOT NULL,
    auditorium_id      INTEGER NOT NULL REFERENCES auditoriums (id),
    owner_id           INTEGER NOT NULL REFERENCES users (id),
    max_seats_per_fan  INTEGER NOT NULL DEFAULT 4 CHECK (max_seats_per_fan >= 1),
    -- Object-store key of the current poster (a row of `images`), if any.
    poster_key         TEXT,
    -- Bumped in the same transaction as every change of the seat map: the map's ETag.
    seat_version       INTEGER NOT NULL DEFAULT 1,
    created_at         TEXT    NOT NULL,
    updated_at         TEXT    NOT NULL,
    deleted_at         TEXT
);
CREATE INDEX concerts_auditorium ON concerts (auditorium_id);
CREATE INDEX concerts_live_newest ON concerts (id DESC) WHERE deleted_at IS NULL;

-- Price of each grade; amounts in hundredths (cents) so sums are exact.
CREATE TABLE seat_prices (
    concert_id   INTEGER NOT NULL REFERENCES concerts (id),
    grade        TEXT    NOT NULL CHECK (length(grade) = 1 AND grade BETWEEN 'A' AND 'Z'),
    price_cents  INTEGER NOT NULL CHECK (price_cents >= 0),
    PRIMARY KEY (concert_id, grade)
);

CREATE TABLE seats (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    concert_id  INTEGER NOT NULL REFERENCES concerts (id),
    horizontal  TEXT    NOT NULL CHECK (length(horizontal) = 1 AND horizontal BETWEEN 'A' AND 'Z'),
    vertical    INTEGER NOT NULL CHECK (vertical BETWEEN 1 AND 100),
    grade       TEXT    NOT NULL,
    status      TEXT    NOT NULL DEFAULT 'AVAILABLE' CHECK (status IN ('AVAILABLE', 'RESERVED', 'LOCKED')),
    UNIQUE (concert_id, horizontal, vertical),
    -- Every grade on sale has a price: the database refuses a seat of an unpriced grade.
    FOREIGN KEY (concert_id, grade) REFERENCES seat_prices (concert_id, grade)
);

CREATE TABLE images (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    concert_id     INTEGER NOT NULL REFERENCES concerts (id),
    original_name  TEXT    NOT NULL,
    store_key      TEXT    NOT NULL UNIQUE,
    content_type   TEXT    NOT NULL,
    size           INTEGER NOT NULL CHECK (size > 0),
    created_at     TEXT    NOT NULL
);

CREATE TABLE reservations (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id       INTEGER NOT NULL REFERENCES users (id),
    concert_id    INTEGER NOT NULL REFERENCES concerts (id),
    seat_id       INTEGER NOT NULL REFERENCES seats (id),
    status        TEXT    NOT NULL CHECK (status IN ('Y', 'N')),
    -- The seat's price when booked: later price changes do not rewrite history.
    price_cents   INTEGER NOT NULL CHECK (price_cents >= 0),
    created_at    TEXT    NOT NULL,
    cancelled_at  TEXT,
    CHECK ((status = 'Y') = (cancelled_at IS NULL))
);
-- Invariant 1: a seat has at most one active reservation, whatever sits in front.
CREATE UNIQUE INDEX reservations_one_active_per_seat ON reservations (seat_id) WHERE status = 'Y';
CREATE INDEX reservations_user ON reservations (user_id, concert_id);
CREATE INDEX reservations_concert ON reservations (concert_id);

-- The venue rules, enforced here too (the service checks first, for clear messages).
-- Times compare as text: every time is written by the service in one sortable format.

-- Seats lie within their venue.
CREATE TRIGGER seats_within_auditorium
BEFORE INSERT ON seats
BEGIN
    SELECT RAISE(ABORT, 'SEAT_OUTSIDE_AUDITORIUM')
    WHERE EXISTS (SELECT 1 FROM concerts c JOIN auditoriums a ON a.id = c.auditorium_id
                  WHERE c.id = NEW.concert_id
                    AND (NEW.horizontal > a.max_row OR NEW.vertical > a.max_column));
END;

-- A venue never shrinks below the seats of its upcoming concerts.
CREATE TRIGGER auditoriums_keep_upcoming_seats
BEFORE UPDATE OF max_row, max_column ON auditoriums
BEGIN
    SELECT RAISE(ABORT, 'AUDITORIUM_IN_USE')
    WHERE EXISTS (SELECT 1 FROM seats s JOIN concerts c ON c.id = s.concert_id
                  WHERE c.auditorium_id = NEW.id AND c.deleted_at IS NULL AND c.start_time > NEW.updated_at
                    AND (s.horizontal > NEW.max_row OR s.vertical > NEW.max_column));
END;

-- A venue with upcoming concerts is not deleted.
CREATE TRIGGER auditoriums_keep_while_in_use
BEFORE UPDATE OF deleted_at ON auditoriums WHEN NEW.deleted_at IS NOT NULL
BEGIN
    SELECT RAISE(ABORT, 'AUDITORIUM_IN_USE')
    WHERE EXISTS (SELECT 1 FROM concerts WHERE auditorium_id = NEW.id AND deleted_at IS NULL
                                           AND start_time > NEW.deleted_at);
END;

-- A concert with active reservations is not deleted.
CREATE TRIGGER concerts_keep_while_reserved
BEFORE UPDATE OF deleted_at ON concerts WHEN NEW.deleted_at IS NOT NULL
BEGIN
    SELECT RAISE(ABORT, 'CONCERT_HAS_RESERVATIONS')
    WHERE EXISTS (SELECT 1 FROM reservations WHERE concert_id = NEW.id AND status = 'Y');
END;

-- Nothing a user may need later is hard-deleted.
CREATE TRIGGER users_no_delete BEFORE DELETE ON users
BEGIN SELECT RAISE(ABORT, 'SOFT_DELETE_ONLY'); END;
CREATE TRIGGER auditoriums_no_delete BEFORE DELETE ON auditoriums
BEGIN SELECT RAISE(ABORT, 'SOFT_DELETE_ONLY'); END;
CREATE TRIGGER concerts_no_delete BEFORE DELETE ON concerts
BEGIN SELECT RAISE(ABORT, 'SOFT_DELETE_ONLY'); END;
