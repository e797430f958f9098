-- Presales (as SQLite's 0015): before a concert's general sale (`sales_open_at`) a
-- promoter sells to fans who hold an access code. A presale is a window that closes no
-- later than the general sale opens, and codes, each good for `max_uses` bookings. A
-- booking that used a code records it (`presale_uses`, one row per order, written in the
-- booking's transaction), and that row counts the use: the code's `uses` goes up with it
-- (the update locks the code's row, so concurrent uses are counted one after the other)
-- and can never pass its `max_uses`. A reservation made before the general sale is
-- allowed exactly when its order used a code of the concert whose presale was open at the
-- reservation's time.

CREATE TABLE presales (
    id                 BIGSERIAL   PRIMARY KEY,
    concert_id         BIGINT      NOT NULL REFERENCES concerts (id),
    name               TEXT        NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    opens_at           TIMESTAMPTZ NOT NULL,
    closes_at          TIMESTAMPTZ NOT NULL,
    max_uses_per_code  BIGINT      NOT NULL CHECK (max_uses_per_code >= 1),
    created_by         BIGINT      REFERENCES users (id),
    created_at         TIMESTAMPTZ NOT NULL,
    CONSTRAINT presales_open_before_close CHECK (opens_at < closes_at),
    -- What the codes repeat of their presale (their concert, their most uses) must be it.
    UNIQUE (id, concert_id, max_uses_per_code)
);
CREATE INDEX presales_concert ON presales (concert_id);

CREATE TABLE presale_codes (
    id          BIGSERIAL PRIMARY KEY,
    presale_id  BIGINT    NOT NULL,
    concert_id  BIGINT    NOT NULL,
    code        TEXT      NOT NULL CHECK (length(code) BETWEEN 4 AND 32 AND code = upper(code)),
    max_uses    BIGINT    NOT NULL,
    uses        BIGINT    NOT NULL DEFAULT 0 CHECK (uses >= 0),
    CONSTRAINT presale_codes_uses_within_max CHECK (uses <= max_uses),
    UNIQUE (concert_id, code),
    FOREIGN KEY (presale_id, concert_id, max_uses) REFERENCES presales (id, concert_id, max_uses_per_code)
);
CREATE INDEX presale_codes_presale ON presale_codes (presale_id);

CREATE TABLE presale_uses (
    order_id  BIGINT PRIMARY KEY REFERENCES orders (id),
    code_id   BIGINT NOT NULL REFERENCES presale_codes (id)
);
CREATE INDEX presale_uses_code ON presale_uses (code_id);

-- A presale of a live concert whose general sale is set, closing no later than it opens;
-- the concert's row is locked (shared) so that its sales cannot move meanwhile.
CREATE FUNCTION presales_check_insert() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    opens TIMESTAMPTZ;
BEGIN
    SELECT sales_open_at INTO opens FROM concerts WHERE id = NEW.concert_id AND deleted_at IS NULL FOR SHARE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'CONCERT_NOT_FOUND';
    END IF;
    IF opens IS NULL OR NEW.closes_at > opens THEN
        RAISE EXCEPTION 'PRESALE_AFTER_SALES_OPEN';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER presales_check_insert BEFORE INSERT ON presales
    FOR EACH ROW EXECUTE FUNCTION presales_check_insert();
-- A presale is kept as made (delete an unused one and make another).
CREATE TRIGGER presales_no_change BEFORE UPDATE ON presales
    FOR EACH ROW EXECUTE FUNCTION refuse('PRESALE_IMMUTABLE');

-- The general sale cannot open before a presale of the concert has closed.
CREATE FUNCTION concerts_keep_presales_before_sales() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM presales
               WHERE concert_id = NEW.id AND (NEW.sales_open_at IS NULL OR closes_at > NEW.sales_open_at)) THEN
        RAISE EXCEPTION 'PRESALE_AFTER_SALES_OPEN';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER concerts_keep_presales_before_sales BEFORE UPDATE OF sales_open_at ON concerts
    FOR EACH ROW WHEN (NEW.sales_open_at IS DISTINCT FROM OLD.sales_open_at)
    EXECUTE FUNCTION concerts_keep_presales_before_sales();

-- A code keeps its text, presale and most uses; its uses are the bookings that used it.
CREATE TRIGGER presale_codes_no_change BEFORE UPDATE OF presale_id, concert_id, code, max_uses ON presale_codes
    FOR EACH ROW EXECUTE FUNCTION refuse('PRESALE_IMMUTABLE');
CREATE FUNCTION presale_codes_uses_counted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.uses <> (SELECT count(*) FROM presale_uses WHERE code_id = NEW.id) THEN
        RAISE EXCEPTION 'PRESALE_USES_MISMATCH';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER presale_codes_uses_counted BEFORE UPDATE OF uses ON presale_codes
    FOR EACH ROW EXECUTE FUNCTION presale_codes_uses_counted();
-- A used code (and so its presale) stays.
CREATE TRIGGER presale_codes_keep_used BEFORE DELETE ON presale_codes
    FOR EACH ROW WHEN (OLD.uses > 0) EXECUTE FUNCTION refuse('PRESALE_USED');
CREATE TRIGGER presale_codes_no_truncate BEFORE TRUNCATE ON presale_codes
    FOR EACH STATEMENT EXECUTE FUNCTION refuse('PRESALE_USED');

-- A use is of a code of the order's concert, made while its presale was open, and within
-- the code's most uses; then it is counted (the CHECK on `uses` refuses one too many, also
-- for two uses racing: the second waits for the first's row lock and counts after it).
CREATE FUNCTION presale_uses_check_insert() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    made TIMESTAMPTZ;
    p presales%ROWTYPE;
BEGIN
    SELECT o.created_at INTO made FROM orders o JOIN presale_codes c ON c.concert_id = o.concert_id
     WHERE o.id = NEW.order_id AND c.id = NEW.code_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'ACCESS_CODE_INVALID';
    END IF;
    SELECT p2.* INTO p FROM presale_codes c JOIN presales p2 ON p2.id = c.presale_id WHERE c.id = NEW.code_id;
    IF p.opens_at > made THEN
        RAISE EXCEPTION 'PRESALE_NOT_OPEN';
    END IF;
    IF p.closes_at <= made THEN
        RAISE EXCEPTION 'PRESALE_CLOSED';
    END IF;
    IF (SELECT uses >= max_uses FROM presale_codes WHERE id = NEW.code_id) THEN
        RAISE EXCEPTION 'ACCESS_CODE_USED_UP';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER presale_uses_check_insert BEFORE INSERT ON presale_uses
    FOR EACH ROW EXECUTE FUNCTION presale_uses_check_insert();
CREATE FUNCTION presale_uses_count() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE presale_codes c SET uses = c.uses + n.uses
      FROM (SELECT code_id, count(*) AS uses FROM inserted GROUP BY code_id) n
     WHERE c.id = n.code_id;
    RETURN NULL;
END $$;
CREATE TRIGGER presale_uses_count AFTER INSERT ON presale_uses
    REFERENCING NEW TABLE AS inserted
    FOR EACH STATEMENT EXECUTE FUNCTION presale_uses_count();
-- Uses are history: cancelling a presale booking does not give its use back.
CREATE TRIGGER presale_uses_no_change BEFORE UPDATE OR DELETE ON presale_uses
    FOR EACH ROW EXECUTE FUNCTION refuse('PRESALE_USE_IMMUTABLE');
CREATE TRIGGER presale_uses_no_truncate BEFORE TRUNCATE ON presale_uses
    FOR EACH STATEMENT EXECUTE FUNCTION refuse('PRESALE_USE_IMMUTABLE');

-- As in 0008, and before the general sale a reservation whose order used a code of the
-- concert, by the reservation's fan, while its presale was open.
CREATE OR REPLACE FUNCTION reservations_book_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    refusal TEXT;
    wanted BIGINT;
    reserved BIGINT;
BEGIN
    PERFORM 1 FROM concerts WHERE id IN (SELECT concert_id FROM inserted WHERE status IN ('H', 'Y'))
        ORDER BY id FOR NO KEY UPDATE;
    SELECT CASE
             WHEN s.concert_id IS DISTINCT FROM i.concert_id THEN 'SEAT_MISMATCH'
             WHEN s.status IN ('RESERVED', 'HELD') THEN 'SEAT_TAKEN'
             WHEN s.status = 'LOCKED' THEN 'SEAT_LOCKED'
             WHEN c.id IS NULL OR c.deleted_at IS NOT NULL THEN 'CONCERT_NOT_FOUND'
             WHEN c.start_time <= i.created_at THEN 'CONCERT_STARTED'
             WHEN c.sales_open_at > i.created_at THEN 'SALES_NOT_OPEN'
             ELSE 'SALES_CLOSED'
           END
      INTO refusal
      FROM inserted i
      LEFT JOIN seats s ON s.id = i.seat_id
      LEFT JOIN concerts c ON c.id = i.concert_id
     WHERE i.status IN ('H', 'Y')
       AND (s.concert_id IS DISTINCT FROM i.concert_id OR s.status <> 'AVAILABLE'
            OR c.id IS NULL OR c.deleted_at IS NOT NULL OR c.start_time <= i.created_at
            OR (c.sales_open_at > i.created_at
                AND NOT EXISTS (SELECT 1 FROM presale_uses u
                                JOIN orders o ON o.id = u.order_id
                                JOIN presale_codes pc ON pc.id = u.code_id
                                JOIN presales p ON p.id = pc.presale_id
                                WHERE u.order_id = i.order_id AND o.user_id = i.user_id
                                  AND p.concert_id = i.concert_id
                                  AND p.opens_at <= i.created_at AND p.closes_at > i.created_at))
            OR c.sales_close_at <= i.created_at)
     ORDER BY i.id
     LIMIT 1;
    IF refusal IS NOT NULL THEN
        RAISE EXCEPTION '%', refusal;
    END IF;
    IF EXISTS (
        SELECT 1
          FROM (SELECT DISTINCT user_id, concert_id FROM inserted WHERE status IN ('H', 'Y')) f
          JOIN concerts c ON c.id = f.concert_id
          CROSS JOIN LATERAL (SELECT count(*) AS held FROM reservations r
                               WHERE r.user_id = f.user_id AND r.concert_id = f.concert_id
                                 AND r.status IN ('H', 'Y')) h
         WHERE h.held > c.max_seats_per_fan
    ) THEN
        RAISE EXCEPTION 'FAN_LIMIT';
    END IF;
    UPDATE seats s SET status = CASE i.status WHEN 'H' THEN 'HELD' ELSE 'RESERVED' END
      FROM inserted i
     WHERE s.id = i.seat_id AND i.status IN ('H', 'Y') AND s.status = 'AVAILABLE';
    GET DIAGNOSTICS reserved = ROW_COUNT;
    SELECT count(*) INTO wanted FROM inserted WHERE status IN ('H', 'Y');
    IF reserved < wanted THEN
        SELECT CASE WHEN bool_or(s.status = 'LOCKED') THEN 'SEAT_LOCKED' ELSE 'SEAT_TAKEN' END
          INTO refusal
          FROM inserted i JOIN seats s ON s.id = i.seat_id
         WHERE i.status IN ('H', 'Y') AND s.status NOT IN ('RESERVED', 'HELD');
        RAISE EXCEPTION '%', coalesce(refusal, 'SEAT_TAKEN');
    END IF;
    RETURN NULL;
END $$;
