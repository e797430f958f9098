-- Tickets and the door. Every confirmed reservation is a ticket, its id the reservation's:
-- a ticket needs no row of its own until it changes hands. A transfer gives it a holder
-- other than the fan who booked it and a new version (its old codes are revoked); the
-- door admits a ticket once (a partial unique index over admissions) and keeps every other
-- scan that named a ticket, so that a second admission made offline is recorded, not lost.

-- The holder and code version of a ticket that was transferred (never transferred: its
-- fan, version 1), and every transfer.
CREATE TABLE ticket_holders (
    reservation_id INTEGER PRIMARY KEY REFERENCES reservations (id),
    concert_id     INTEGER NOT NULL REFERENCES concerts (id),
    holder_id      INTEGER NOT NULL REFERENCES users (id),
    version        INTEGER NOT NULL CHECK (version >= 2),
    changed_at     TEXT    NOT NULL
);
CREATE INDEX ticket_holders_holder ON ticket_holders (holder_id);
CREATE INDEX ticket_holders_concert ON ticket_holders (concert_id, changed_at);

CREATE TABLE ticket_transfers (
    id             INTEGER PRIMARY KEY,
    reservation_id INTEGER NOT NULL REFERENCES reservations (id),
    from_user_id   INTEGER NOT NULL REFERENCES users (id),
    to_user_id     INTEGER NOT NULL REFERENCES users (id) CHECK (to_user_id <> from_user_id),
    version        INTEGER NOT NULL,
    at             TEXT    NOT NULL,
    UNIQUE (reservation_id, version)
);

-- Where tickets went is kept: a holder is replaced by the next transfer, never removed
-- (that would give a moved ticket back its old code), and a transfer is never rewritten.
CREATE TRIGGER ticket_holders_no_delete BEFORE DELETE ON ticket_holders
BEGIN
    SELECT RAISE(ABORT, 'TICKET_HISTORY_IMMUTABLE');
END;
CREATE TRIGGER ticket_transfers_no_change BEFORE UPDATE ON ticket_transfers
BEGIN
    SELECT RAISE(ABORT, 'TICKET_HISTORY_IMMUTABLE');
END;
CREATE TRIGGER ticket_transfers_no_delete BEFORE DELETE ON ticket_transfers
BEGIN
    SELECT RAISE(ABORT, 'TICKET_HISTORY_IMMUTABLE');
END;

-- A ticket moves only while it is confirmed, before its concert starts, one version at a
-- time, within its concert.
CREATE TRIGGER ticket_holders_check_insert
BEFORE INSERT ON ticket_holders
WHEN NEW.version <> 2 OR NOT EXISTS (
    SELECT 1 FROM reservations r JOIN concerts c ON c.id = r.concert_id
    WHERE r.id = NEW.reservation_id AND r.status = 'Y' AND r.concert_id = NEW.concert_id
      AND r.user_id <> NEW.holder_id AND c.start_time > NEW.changed_at)
BEGIN
    SELECT RAISE(ABORT, 'TICKET_NOT_TRANSFERABLE');
END;
CREATE TRIGGER ticket_holders_check_update
BEFORE UPDATE ON ticket_holders
WHEN NEW.version <> OLD.version + 1 OR NEW.reservation_id IS NOT OLD.reservation_id
     OR NEW.concert_id IS NOT OLD.concert_id OR NEW.holder_id = OLD.holder_id
     OR NOT EXISTS (SELECT 1 FROM reservations r JOIN concerts c ON c.id = r.concert_id
                    WHERE r.id = NEW.reservation_id AND r.status = 'Y' AND c.start_time > NEW.changed_at)
BEGIN
    SELECT RAISE(ABORT, 'TICKET_NOT_TRANSFERABLE');
END;

-- Door staff's tokens: each checks in for one concert only, until revoked. Only a hash of
-- the secret is kept.
CREATE TABLE checkin_tokens (
    id         INTEGER PRIMARY KEY,
    concert_id INTEGER NOT NULL REFERENCES concerts (id),
    name       TEXT    NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    token_hash TEXT    NOT NULL UNIQUE,
    created_by INTEGER NOT NULL REFERENCES users (id),
    created_at TEXT    NOT NULL,
    revoked_at TEXT
);
CREATE INDEX checkin_tokens_concert ON checkin_tokens (concert_id, id);

-- Every scan that named a ticket of the concert, with its answer: `ADMITTED` (once per
-- ticket), `ALREADY_CHECKED_IN` (refused at the door), `CONFLICT` (a second admission
-- made offline and reported later), `TICKET_REVOKED`. A `nonce` names an upload: the same
-- nonce is the same scan.
CREATE TABLE checkins (
    id          INTEGER PRIMARY KEY,
    concert_id  INTEGER NOT NULL REFERENCES concerts (id),
    ticket_id   INTEGER NOT NULL REFERENCES reservations (id),
    version     INTEGER NOT NULL,
    result      TEXT    NOT NULL CHECK (result = 'ADMITTED' OR result = 'ALREADY_CHECKED_IN'
                                        OR result = 'CONFLICT' OR result = 'TICKET_REVOKED'),
    scanned_at  TEXT    NOT NULL,
    received_at TEXT    NOT NULL,
    device_id   TEXT    CHECK (length(device_id) <= 100),
    nonce       TEXT    CHECK (length(nonce) <= 100),
    by_user_id  INTEGER REFERENCES users (id),
    by_token_id INTEGER REFERENCES checkin_tokens (id)
);
CREATE UNIQUE INDEX checkins_admitted_once ON checkins (ticket_id) WHERE result = 'ADMITTED';
CREATE UNIQUE INDEX checkins_nonce ON checkins (concert_id, nonce) WHERE nonce IS NOT NULL;
CREATE INDEX checkins_concert ON checkins (concert_id, scanned_at);

-- An admission is of a confirmed ticket of the concert, in its current version; the
-- history of scans is never rewritten.
CREATE TRIGGER checkins_check_admission
BEFORE INSERT ON checkins
WHEN NEW.result = 'ADMITTED' AND NOT EXISTS (
    SELECT 1 FROM reservations r LEFT JOIN ticket_holders h ON h.reservation_id = r.id
    WHERE r.id = NEW.ticket_id AND r.concert_id = NEW.concert_id AND r.status = 'Y'
      AND coalesce(h.version, 1) = NEW.version)
BEGIN
    SELECT RAISE(ABORT, 'TICKET_REVOKED');
END;
CREATE TRIGGER checkins_no_change BEFORE UPDATE ON checkins
BEGIN
    SELECT RAISE(ABORT, 'CHECKIN_HISTORY_IMMUTABLE');
END;
CREATE TRIGGER checkins_no_delete BEFORE DELETE ON checkins
BEGIN
    SELECT RAISE(ABORT, 'CHECKIN_HISTORY_IMMUTABLE');
END;
