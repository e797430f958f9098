-- Tickets and the door (as SQLite's 0012). Every confirmed reservation is a ticket, its id
-- the reservation's: a ticket needs no row of its own until it changes hands. A transfer
-- gives it a holder other than the fan who booked it and a new version (its old codes are
-- revoked); the door admits a ticket once (a partial unique index over admissions) and
-- keeps every other scan that named a ticket. The checks below lock the reservation they
-- read (FOR SHARE), so a cancellation committing at the same moment waits for them or is
-- seen by them: a cancelled ticket is never admitted or moved.

CREATE TABLE ticket_holders (
    reservation_id BIGINT      PRIMARY KEY REFERENCES reservations (id),
    concert_id     BIGINT      NOT NULL REFERENCES concerts (id),
    holder_id      BIGINT      NOT NULL REFERENCES users (id),
    version        BIGINT      NOT NULL CHECK (version >= 2),
    changed_at     TIMESTAMPTZ NOT NULL
);
CREATE INDEX ticket_holders_holder ON ticket_holders (holder_id);
CREATE INDEX ticket_holders_concert ON ticket_holders (concert_id, changed_at);

CREATE TABLE ticket_transfers (
    id             BIGSERIAL   PRIMARY KEY,
    reservation_id BIGINT      NOT NULL REFERENCES reservations (id),
    from_user_id   BIGINT      NOT NULL REFERENCES users (id),
    to_user_id     BIGINT      NOT NULL REFERENCES users (id) CHECK (to_user_id <> from_user_id),
    version        BIGINT      NOT NULL,
    at             TIMESTAMPTZ NOT NULL,
    UNIQUE (reservation_id, version)
);

-- Where tickets went is kept: a holder is replaced by the next transfer, never removed
-- (that would give a moved ticket back its old code), and a transfer is never rewritten.
CREATE TRIGGER ticket_holders_no_delete BEFORE DELETE ON ticket_holders
    FOR EACH ROW EXECUTE FUNCTION refuse('TICKET_HISTORY_IMMUTABLE');
CREATE TRIGGER ticket_holders_no_truncate BEFORE TRUNCATE ON ticket_holders
    FOR EACH STATEMENT EXECUTE FUNCTION refuse('TICKET_HISTORY_IMMUTABLE');
CREATE TRIGGER ticket_transfers_no_change BEFORE UPDATE OR DELETE ON ticket_transfers
    FOR EACH ROW EXECUTE FUNCTION refuse('TICKET_HISTORY_IMMUTABLE');
CREATE TRIGGER ticket_transfers_no_truncate BEFORE TRUNCATE ON ticket_transfers
    FOR EACH STATEMENT EXECUTE FUNCTION refuse('TICKET_HISTORY_IMMUTABLE');

-- A ticket moves only while it is confirmed, before its concert starts, one version at a
-- time, within its concert.
CREATE FUNCTION ticket_holders_check() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (TG_OP = 'INSERT' AND NEW.version <> 2)
       OR (TG_OP = 'UPDATE' AND (NEW.version <> OLD.version + 1 OR NEW.reservation_id <> OLD.reservation_id
                                 OR NEW.concert_id <> OLD.concert_id OR NEW.holder_id = OLD.holder_id))
       OR NOT EXISTS (SELECT 1 FROM reservations r JOIN concerts c ON c.id = r.concert_id
                      WHERE r.id = NEW.reservation_id AND r.status = 'Y' AND r.concert_id = NEW.concert_id
                        AND (TG_OP = 'UPDATE' OR r.user_id <> NEW.holder_id) AND c.start_time > NEW.changed_at
                      FOR SHARE OF r) THEN
        RAISE EXCEPTION 'TICKET_NOT_TRANSFERABLE';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER ticket_holders_check BEFORE INSERT OR UPDATE ON ticket_holders
    FOR EACH ROW EXECUTE FUNCTION ticket_holders_check();

CREATE TABLE checkin_tokens (
    id         BIGSERIAL   PRIMARY KEY,
    concert_id BIGINT      NOT NULL REFERENCES concerts (id),
    name       TEXT        NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    token_hash TEXT        NOT NULL UNIQUE,
    created_by BIGINT      NOT NULL REFERENCES users (id),
    created_at TIMESTAMPTZ NOT NULL,
    revoked_at TIMESTAMPTZ
);
CREATE INDEX checkin_tokens_concert ON checkin_tokens (concert_id, id);

CREATE TABLE checkins (
    id          BIGSERIAL   PRIMARY KEY,
    concert_id  BIGINT      NOT NULL REFERENCES concerts (id),
    ticket_id   BIGINT      NOT NULL REFERENCES reservations (id),
    version     BIGINT      NOT NULL,
    result      TEXT        NOT NULL CHECK (result IN ('ADMITTED', 'ALREADY_CHECKED_IN', 'CONFLICT', 'TICKET_REVOKED')),
    scanned_at  TIMESTAMPTZ NOT NULL,
    received_at TIMESTAMPTZ NOT NULL,
    device_id   TEXT        CHECK (length(device_id) <= 100),
    nonce       TEXT        CHECK (length(nonce) <= 100),
    by_user_id  BIGINT      REFERENCES users (id),
    by_token_id BIGINT      REFERENCES checkin_tokens (id)
);
CREATE UNIQUE INDEX checkins_admitted_once ON checkins (ticket_id) WHERE result = 'ADMITTED';
CREATE UNIQUE INDEX checkins_nonce ON checkins (concert_id, nonce) WHERE nonce IS NOT NULL;
CREATE INDEX checkins_concert ON checkins (concert_id, scanned_at);

-- An admission is of a confirmed ticket of the concert, in its current version.
CREATE FUNCTION checkins_check_admission() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.result = 'ADMITTED' AND NOT EXISTS (
        SELECT 1 FROM reservations r LEFT JOIN ticket_holders h ON h.reservation_id = r.id
        WHERE r.id = NEW.ticket_id AND r.concert_id = NEW.concert_id AND r.status = 'Y'
          AND coalesce(h.version, 1) = NEW.version
        FOR SHARE OF r) THEN
        RAISE EXCEPTION 'TICKET_REVOKED';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER checkins_check_admission BEFORE INSERT ON checkins
    FOR EACH ROW EXECUTE FUNCTION checkins_check_admission();
CREATE TRIGGER checkins_no_change BEFORE UPDATE OR DELETE ON checkins
    FOR EACH ROW EXECUTE FUNCTION refuse('CHECKIN_HISTORY_IMMUTABLE');
CREATE TRIGGER checkins_no_truncate BEFORE TRUNCATE ON checkins
    FOR EACH STATEMENT EXECUTE FUNCTION refuse('CHECKIN_HISTORY_IMMUTABLE');
