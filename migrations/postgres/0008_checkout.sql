-- Checkout (as SQLite's 0011): a concert confirms a booking at once (`DIRECT`) or holds the
-- seats until they are paid (`PAYMENT`). Every booking request makes one order that holds
-- its reservations. A reservation is `H` (held until `expires_at`), `Y` (confirmed), `N`
-- (cancelled) or `E` (its hold expired); `H` and `Y` both take the seat. A held seat is
-- `HELD`, a confirmed one `RESERVED`.

ALTER TABLE concerts
    ADD COLUMN checkout TEXT NOT NULL DEFAULT 'DIRECT' CHECK (checkout IN ('DIRECT', 'PAYMENT')),
    ADD COLUMN hold_minutes BIGINT NOT NULL DEFAULT 10 CHECK (hold_minutes BETWEEN 1 AND 60),
    ADD COLUMN currency TEXT NOT NULL DEFAULT 'KRW' CHECK (currency ~ '^[A-Z]{3}$');

CREATE TABLE orders (
    id             BIGSERIAL   PRIMARY KEY,
    concert_id     BIGINT      NOT NULL REFERENCES concerts (id),
    user_id        BIGINT      NOT NULL REFERENCES users (id),
    status         TEXT        NOT NULL CHECK (status IN ('CONFIRMED', 'PENDING_PAYMENT', 'PAID', 'EXPIRED',
                                                          'CANCELLED', 'PARTIALLY_REFUNDED', 'REFUNDED')),
    total_cents    BIGINT      NOT NULL CHECK (total_cents >= 0),
    currency       TEXT        NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    created_at     TIMESTAMPTZ NOT NULL,
    expires_at     TIMESTAMPTZ CHECK (status <> 'PENDING_PAYMENT' OR expires_at IS NOT NULL),
    reason         TEXT,
    paid_cents     BIGINT      NOT NULL DEFAULT 0 CHECK (paid_cents >= 0),
    refunded_cents BIGINT      NOT NULL DEFAULT 0 CHECK (refunded_cents >= 0 AND refunded_cents <= paid_cents)
);
CREATE INDEX orders_user ON orders (user_id, id);
CREATE INDEX orders_concert ON orders (concert_id, status, id);
CREATE INDEX orders_pending_due ON orders (expires_at) WHERE status = 'PENDING_PAYMENT';

CREATE TABLE order_events (
    id        BIGSERIAL   PRIMARY KEY,
    order_id  BIGINT      NOT NULL REFERENCES orders (id),
    status    TEXT        NOT NULL,
    cause     TEXT        NOT NULL,
    actor_id  BIGINT      REFERENCES users (id),
    at        TIMESTAMPTZ NOT NULL
);
CREATE INDEX order_events_order ON order_events (order_id, id);
CREATE TRIGGER order_events_no_change BEFORE UPDATE OR DELETE ON order_events
    FOR EACH ROW EXECUTE FUNCTION refuse('ORDER_HISTORY_IMMUTABLE');

CREATE TABLE payments (
    order_id      BIGINT      PRIMARY KEY REFERENCES orders (id),
    provider      TEXT        NOT NULL,
    status        TEXT        NOT NULL CHECK (status IN ('PENDING', 'SUCCEEDED')),
    reference     TEXT,
    redirect_url  TEXT,
    amount_cents  BIGINT      NOT NULL CHECK (amount_cents >= 0),
    currency      TEXT        NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL,
    paid_at       TIMESTAMPTZ,
    paid_by       BIGINT      REFERENCES users (id),
    CHECK ((status = 'SUCCEEDED') = (paid_at IS NOT NULL))
);

CREATE TABLE refunds (
    id              BIGSERIAL   PRIMARY KEY,
    order_id        BIGINT      NOT NULL REFERENCES orders (id),
    reservation_id  BIGINT      UNIQUE REFERENCES reservations (id),
    amount_cents    BIGINT      NOT NULL CHECK (amount_cents > 0),
    reason          TEXT        NOT NULL,
    provider        TEXT        NOT NULL,
    reference       TEXT,
    created_at      TIMESTAMPTZ NOT NULL
);
CREATE INDEX refunds_order ON refunds (order_id);

CREATE TABLE payment_events (
    provider     TEXT        NOT NULL,
    event_id     TEXT        NOT NULL,
    kind         TEXT        NOT NULL,
    order_id     BIGINT,
    outcome      TEXT        NOT NULL,
    received_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (provider, event_id)
);

CREATE TABLE outbox (
    id               BIGSERIAL   PRIMARY KEY,
    event_key        TEXT        NOT NULL,
    recipient        TEXT        NOT NULL,
    subject          TEXT        NOT NULL,
    body_text        TEXT        NOT NULL,
    body_html        TEXT,
    created_at       TIMESTAMPTZ NOT NULL,
    attempts         BIGINT      NOT NULL DEFAULT 0,
    next_attempt_at  TIMESTAMPTZ NOT NULL,
    claimed_until    TIMESTAMPTZ,
    sent_at          TIMESTAMPTZ,
    failed_at        TIMESTAMPTZ,
    last_error       TEXT,
    UNIQUE (event_key, recipient)
);
CREATE INDEX outbox_due ON outbox (next_attempt_at) WHERE sent_at IS NULL AND failed_at IS NULL;

ALTER TABLE reservations
    ADD COLUMN order_id BIGINT REFERENCES orders (id),
    ADD COLUMN expires_at TIMESTAMPTZ,
    ADD CONSTRAINT reservations_held_until CHECK (status <> 'H' OR expires_at IS NOT NULL),
    DROP CONSTRAINT reservations_status_check,
    ADD CONSTRAINT reservations_status_check CHECK (status IN ('H', 'Y', 'N', 'E')),
    -- `cancelled_at`: when a reservation stopped taking its seat (cancelled, or expired).
    DROP CONSTRAINT reservations_check,
    ADD CONSTRAINT reservations_check CHECK ((status IN ('H', 'Y')) = (cancelled_at IS NULL));
CREATE INDEX reservations_order ON reservations (order_id);

ALTER TABLE seats
    DROP CONSTRAINT seats_status_check,
    ADD CONSTRAINT seats_status_check CHECK (status IN ('AVAILABLE', 'RESERVED', 'LOCKED', 'HELD'));

-- One reservation taking a seat, held or confirmed.
DROP INDEX reservations_one_active_per_seat;
CREATE UNIQUE INDEX reservations_one_active_per_seat ON reservations (seat_id) WHERE status IN ('H', 'Y');

-- As in 0007, with held seats taken and held reservations counted.
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
            OR c.sales_open_at > i.created_at OR c.sales_close_at <= i.created_at)
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

-- As in 0005, a seat is RESERVED exactly when a confirmed reservation takes it, and now
-- HELD exactly when a held one does.
CREATE OR REPLACE FUNCTION seats_status_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (
        SELECT 1
          FROM new_seats n
          JOIN old_seats o ON o.id = n.id
          LEFT JOIN LATERAL (SELECT r.status FROM reservations r
                              WHERE r.seat_id = n.id AND r.status IN ('H', 'Y') LIMIT 1) a ON true
         WHERE n.status IS DISTINCT FROM o.status
           AND ((n.status = 'RESERVED') IS DISTINCT FROM (a.status IS NOT DISTINCT FROM 'Y')
                OR (n.status = 'HELD') IS DISTINCT FROM (a.status IS NOT DISTINCT FROM 'H'))
    ) THEN
        RAISE EXCEPTION 'SEAT_STATUS_MISMATCH';
    END IF;
    UPDATE concerts c SET seat_version = c.seat_version + changed.seats
      FROM (SELECT n.concert_id, count(*) AS seats
              FROM new_seats n JOIN old_seats o ON o.id = n.id
             WHERE n.status IS DISTINCT FROM o.status
             GROUP BY n.concert_id) changed
     WHERE c.id = changed.concert_id;
    RETURN NULL;
END $$;

-- A reservation moves only Y→N, H→Y (paid), H→E (expired) or H→N (given up), and never
-- changes its seat, fan, concert or order.
DROP TRIGGER reservations_check_update ON reservations;
CREATE TRIGGER reservations_check_update BEFORE UPDATE ON reservations
    FOR EACH ROW
    WHEN (NOT ((OLD.status = 'Y' AND NEW.status = 'N')
               OR (OLD.status = 'H' AND NEW.status IN ('Y', 'E', 'N')))
          OR NEW.seat_id IS DISTINCT FROM OLD.seat_id OR NEW.user_id IS DISTINCT FROM OLD.user_id
          OR NEW.concert_id IS DISTINCT FROM OLD.concert_id OR NEW.order_id IS DISTINCT FROM OLD.order_id)
    EXECUTE FUNCTION refuse('RESERVATION_IMMUTABLE');

-- Ending a reservation frees its seat; paying a hold makes the seat reserved.
DROP TRIGGER reservations_release_seat ON reservations;
CREATE TRIGGER reservations_release_seat AFTER UPDATE OF status ON reservations
    FOR EACH ROW WHEN (NEW.status IN ('N', 'E')) EXECUTE FUNCTION reservations_release_seat();
CREATE FUNCTION reservations_confirm_seat() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE seats SET status = 'RESERVED' WHERE id = NEW.seat_id;
    RETURN NULL;
END $$;
CREATE TRIGGER reservations_confirm_seat AFTER UPDATE OF status ON reservations
    FOR EACH ROW WHEN (OLD.status = 'H' AND NEW.status = 'Y') EXECUTE FUNCTION reservations_confirm_seat();

-- A concert with seats held or sold cannot be deleted.
CREATE OR REPLACE FUNCTION concerts_keep_while_reserved() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM reservations WHERE concert_id = NEW.id AND status IN ('H', 'Y')) THEN
        RAISE EXCEPTION 'CONCERT_HAS_RESERVATIONS';
    END IF;
    RETURN NEW;
END $$;
