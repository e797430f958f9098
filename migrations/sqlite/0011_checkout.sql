-- Checkout: a concert confirms a booking at once (`DIRECT`, the seed's behaviour) or holds
-- the seats until they are paid (`PAYMENT`). Every booking request makes one order that
-- holds its reservations. A reservation is `H` (held until `expires_at`), `Y` (confirmed),
-- `N` (cancelled) or `E` (its hold expired); `H` and `Y` both take the seat, so the rules
-- of one active reservation per seat and the per-fan limit count held seats too. A held
-- seat is `HELD`, a confirmed one `RESERVED`.

ALTER TABLE concerts ADD COLUMN checkout TEXT NOT NULL DEFAULT 'DIRECT'
    CHECK (checkout = 'DIRECT' OR checkout = 'PAYMENT');
ALTER TABLE concerts ADD COLUMN hold_minutes INTEGER NOT NULL DEFAULT 10 CHECK (hold_minutes BETWEEN 1 AND 60);
ALTER TABLE concerts ADD COLUMN currency TEXT NOT NULL DEFAULT 'KRW'
    CHECK (length(currency) = 3 AND currency = upper(currency));

CREATE TABLE orders (
    id            INTEGER PRIMARY KEY,
    concert_id    INTEGER NOT NULL REFERENCES concerts (id) DEFERRABLE INITIALLY DEFERRED,
    user_id       INTEGER NOT NULL REFERENCES users (id) DEFERRABLE INITIALLY DEFERRED,
    status        TEXT    NOT NULL CHECK (status = 'CONFIRMED' OR status = 'PENDING_PAYMENT' OR status = 'PAID'
                                          OR status = 'EXPIRED' OR status = 'CANCELLED'
                                          OR status = 'PARTIALLY_REFUNDED' OR status = 'REFUNDED'),
    -- In the currency's minor unit, as the seats were priced when booked.
    total_cents   INTEGER NOT NULL CHECK (total_cents >= 0),
    currency      TEXT    NOT NULL CHECK (length(currency) = 3),
    created_at    TEXT    NOT NULL,
    -- Until when a pending order holds its seats.
    expires_at    TEXT    CHECK (status <> 'PENDING_PAYMENT' OR expires_at IS NOT NULL),
    -- Why it ended as it did, when that needs saying (EXPIRED_BEFORE_PAYMENT).
    reason        TEXT,
    -- Money received and given back, in the minor unit: never more back than received.
    paid_cents    INTEGER NOT NULL DEFAULT 0 CHECK (paid_cents >= 0),
    refunded_cents INTEGER NOT NULL DEFAULT 0 CHECK (refunded_cents >= 0 AND refunded_cents <= paid_cents)
);
CREATE INDEX orders_user ON orders (user_id, id);
CREATE INDEX orders_concert ON orders (concert_id, status, id);
CREATE INDEX orders_pending_due ON orders (expires_at) WHERE status = 'PENDING_PAYMENT';

-- Every change of an order after its creation, with its time and cause.
CREATE TABLE order_events (
    id         INTEGER PRIMARY KEY,
    order_id   INTEGER NOT NULL REFERENCES orders (id),
    status     TEXT    NOT NULL,
    cause      TEXT    NOT NULL,
    actor_id   INTEGER REFERENCES users (id),
    at         TEXT    NOT NULL
);
CREATE INDEX order_events_order ON order_events (order_id, id);
CREATE TRIGGER order_events_no_change BEFORE UPDATE ON order_events
BEGIN
    SELECT RAISE(ABORT, 'ORDER_HISTORY_IMMUTABLE');
END;
CREATE TRIGGER order_events_no_delete BEFORE DELETE ON order_events
BEGIN
    SELECT RAISE(ABORT, 'ORDER_HISTORY_IMMUTABLE');
END;

-- How an order is (being) paid: one payment per order, so starting it twice answers the
-- same one.
CREATE TABLE payments (
    order_id      INTEGER PRIMARY KEY REFERENCES orders (id),
    provider      TEXT    NOT NULL,
    status        TEXT    NOT NULL CHECK (status = 'PENDING' OR status = 'SUCCEEDED'),
    -- The provider's reference (a Stripe Checkout Session id; a manual payment's note).
    reference     TEXT,
    redirect_url  TEXT,
    amount_cents  INTEGER NOT NULL CHECK (amount_cents >= 0),
    currency      TEXT    NOT NULL,
    created_at    TEXT    NOT NULL,
    paid_at       TEXT,
    -- Who recorded a manual payment.
    paid_by       INTEGER REFERENCES users (id),
    CHECK ((status = 'SUCCEEDED') = (paid_at IS NOT NULL))
);

-- Money given back, each refund its own row.
CREATE TABLE refunds (
    id              INTEGER PRIMARY KEY,
    order_id        INTEGER NOT NULL REFERENCES orders (id),
    -- The cancelled seat it pays back; none for a whole order.
    reservation_id  INTEGER UNIQUE REFERENCES reservations (id),
    amount_cents    INTEGER NOT NULL CHECK (amount_cents > 0),
    reason          TEXT    NOT NULL,
    provider        TEXT    NOT NULL,
    reference       TEXT,
    created_at      TEXT    NOT NULL
);
CREATE INDEX refunds_order ON refunds (order_id);

-- Each provider event is processed at most once.
CREATE TABLE payment_events (
    provider     TEXT NOT NULL,
    event_id     TEXT NOT NULL,
    kind         TEXT NOT NULL,
    order_id     INTEGER,
    outcome      TEXT NOT NULL,
    received_at  TEXT NOT NULL,
    PRIMARY KEY (provider, event_id)
);

-- E-mails, written in the transaction of the change they report and sent afterwards,
-- once per (event, recipient).
CREATE TABLE outbox (
    id               INTEGER PRIMARY KEY,
    event_key        TEXT    NOT NULL,
    recipient        TEXT    NOT NULL,
    subject          TEXT    NOT NULL,
    body_text        TEXT    NOT NULL,
    body_html        TEXT,
    created_at       TEXT    NOT NULL,
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  TEXT    NOT NULL,
    claimed_until    TEXT,
    sent_at          TEXT,
    failed_at        TEXT,
    last_error       TEXT,
    UNIQUE (event_key, recipient)
);
CREATE INDEX outbox_due ON outbox (next_attempt_at) WHERE sent_at IS NULL AND failed_at IS NULL;

ALTER TABLE reservations ADD COLUMN order_id INTEGER REFERENCES orders (id) DEFERRABLE INITIALLY DEFERRED;
ALTER TABLE reservations ADD COLUMN expires_at TEXT CHECK (status <> 'H' OR expires_at IS NOT NULL);
CREATE INDEX reservations_order ON reservations (order_id);

-- The statuses, by SQLite's documented procedure for changing a CHECK (as in 0008): no
-- stored row changes, the definitions in the schema table do. `cancelled_at` is when a
-- reservation stopped taking its seat (cancelled, or expired).
PRAGMA writable_schema = ON;
UPDATE sqlite_schema
SET sql = replace(replace(sql,
        'CHECK (status IN (''Y'', ''N''))',
        'CHECK (status = ''H'' OR status = ''Y'' OR status = ''N'' OR status = ''E'')'),
        'CHECK ((status = ''Y'') = (cancelled_at IS NULL))',
        'CHECK ((status = ''H'' OR status = ''Y'') = (cancelled_at IS NULL))')
WHERE type = 'table' AND name = 'reservations';
UPDATE sqlite_schema
SET sql = replace(sql,
        'CHECK (status = ''AVAILABLE'' OR status = ''RESERVED'' OR status = ''LOCKED'')',
        'CHECK (status = ''AVAILABLE'' OR status = ''RESERVED'' OR status = ''LOCKED'' OR status = ''HELD'')')
WHERE type = 'table' AND name = 'seats';
PRAGMA writable_schema = RESET;

-- One reservation taking a seat, held or confirmed.
DROP INDEX reservations_one_active_per_seat;
CREATE UNIQUE INDEX reservations_one_active_per_seat ON reservations (seat_id)
    WHERE status = 'H' OR status = 'Y';

-- As in 0010, with held seats taken and held reservations counted.
DROP TRIGGER reservations_check_insert;
CREATE TRIGGER reservations_check_insert
BEFORE INSERT ON reservations
WHEN (NEW.status = 'Y' OR NEW.status = 'H') AND NOT EXISTS (
    SELECT 1 FROM seats s JOIN concerts c ON c.id = s.concert_id
    WHERE s.id = NEW.seat_id AND s.concert_id = NEW.concert_id AND s.status = 'AVAILABLE'
      AND c.deleted_at IS NULL AND c.start_time > NEW.created_at
      AND (c.sales_open_at IS NULL OR c.sales_open_at <= NEW.created_at)
      AND (c.sales_close_at IS NULL OR c.sales_close_at > NEW.created_at)
      AND c.max_seats_per_fan > (SELECT count(*) FROM reservations r
                                 WHERE r.concert_id = NEW.concert_id AND r.user_id = NEW.user_id
                                   AND (r.status = 'Y' OR r.status = 'H')))
BEGIN
    SELECT RAISE(FAIL, 'SEAT_MISMATCH')
    WHERE (SELECT concert_id FROM seats WHERE id = NEW.seat_id) IS NOT NEW.concert_id;
    SELECT RAISE(FAIL, 'SEAT_TAKEN')
    WHERE (SELECT status FROM seats WHERE id = NEW.seat_id) IN ('RESERVED', 'HELD');
    SELECT RAISE(FAIL, 'SEAT_LOCKED')
    WHERE (SELECT status FROM seats WHERE id = NEW.seat_id) = 'LOCKED';
    SELECT RAISE(FAIL, 'CONCERT_NOT_FOUND')
    WHERE NOT EXISTS (SELECT 1 FROM concerts WHERE id = NEW.concert_id AND deleted_at IS NULL);
    SELECT RAISE(FAIL, 'CONCERT_STARTED')
    WHERE (SELECT start_time FROM concerts WHERE id = NEW.concert_id) <= NEW.created_at;
    SELECT RAISE(FAIL, 'SALES_NOT_OPEN')
    WHERE (SELECT sales_open_at FROM concerts WHERE id = NEW.concert_id) > NEW.created_at;
    SELECT RAISE(FAIL, 'SALES_CLOSED')
    WHERE (SELECT sales_close_at FROM concerts WHERE id = NEW.concert_id) <= NEW.created_at;
    SELECT RAISE(FAIL, 'FAN_LIMIT');
END;

-- Taking a seat: held or reserved, as its reservation says.
DROP TRIGGER reservations_reserve_seat;
CREATE TRIGGER reservations_reserve_seat
AFTER INSERT ON reservations WHEN NEW.status = 'Y' OR NEW.status = 'H'
BEGIN
    UPDATE seats SET status = CASE NEW.status WHEN 'H' THEN 'HELD' ELSE 'RESERVED' END
    WHERE id = NEW.seat_id;
END;

-- A reservation moves only Y→N, H→Y (paid), H→E (expired) or H→N (given up), and never
-- changes its seat, fan, concert or order.
DROP TRIGGER reservations_check_update;
CREATE TRIGGER reservations_check_update
BEFORE UPDATE ON reservations
WHEN NOT ((OLD.status = 'Y' AND NEW.status = 'N')
          OR (OLD.status = 'H' AND (NEW.status = 'Y' OR NEW.status = 'E' OR NEW.status = 'N')))
     OR NEW.seat_id IS NOT OLD.seat_id OR NEW.user_id IS NOT OLD.user_id OR NEW.concert_id IS NOT OLD.concert_id
     OR NEW.order_id IS NOT OLD.order_id
BEGIN
    SELECT RAISE(ABORT, 'RESERVATION_IMMUTABLE');
END;

-- Ending a reservation frees its seat; paying a hold makes the seat reserved.
DROP TRIGGER reservations_release_seat;
CREATE TRIGGER reservations_release_seat
AFTER UPDATE OF status ON reservations WHEN NEW.status = 'N' OR NEW.status = 'E'
BEGIN
    UPDATE seats SET status = 'AVAILABLE' WHERE id = NEW.seat_id;
END;
CREATE TRIGGER reservations_confirm_seat
AFTER UPDATE OF status ON reservations WHEN OLD.status = 'H' AND NEW.status = 'Y'
BEGIN
    UPDATE seats SET status = 'RESERVED' WHERE id = NEW.seat_id;
END;

-- A seat is RESERVED exactly when a confirmed reservation takes it, HELD exactly when a
-- held one does.
DROP TRIGGER seats_status_matches_reservation;
CREATE TRIGGER seats_status_matches_reservation
BEFORE UPDATE OF status ON seats WHEN NEW.status IS NOT OLD.status
BEGIN
    SELECT RAISE(FAIL, 'SEAT_STATUS_MISMATCH')
    WHERE (NEW.status = 'RESERVED')
          IS NOT EXISTS (SELECT 1 FROM reservations WHERE seat_id = NEW.id AND status = 'Y')
       OR (NEW.status = 'HELD')
          IS NOT EXISTS (SELECT 1 FROM reservations WHERE seat_id = NEW.id AND status = 'H');
END;

-- A concert with seats held or sold cannot be deleted.
DROP TRIGGER concerts_keep_while_reserved;
CREATE TRIGGER concerts_keep_while_reserved
BEFORE UPDATE OF deleted_at ON concerts WHEN NEW.deleted_at IS NOT NULL
BEGIN
    SELECT RAISE(ABORT, 'CONCERT_HAS_RESERVATIONS')
    WHERE EXISTS (SELECT 1 FROM reservations WHERE concert_id = NEW.id AND (status = 'Y' OR status = 'H'));
END;
