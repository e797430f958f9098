-- Presales: before a concert's general sale (`sales_open_at`) a promoter sells to fans who
-- hold an access code. A presale is a window that closes no later than the general sale
-- opens, and codes, each good for `max_uses` bookings. A booking that used a code records
-- it (`presale_uses`, one row per order, written in the booking's transaction), and that
-- row counts the use: the code's `uses` goes up with it, and can never pass its
-- `max_uses`, whatever writes the row. A reservation made before the general sale is
-- allowed exactly when its order used a code of the concert whose presale was open at the
-- reservation's time.
--
-- The uses live beside the orders, not in them: a booking without a code (the rush after
-- the general sale opens) writes and checks nothing more than before. An `orders` row
-- with triggers would cost every booking a statement journal (see 0006).

CREATE TABLE presales (
    id                 INTEGER PRIMARY KEY,
    concert_id         INTEGER NOT NULL REFERENCES concerts (id),
    name               TEXT    NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    opens_at           TEXT    NOT NULL,
    closes_at          TEXT    NOT NULL,
    max_uses_per_code  INTEGER NOT NULL CHECK (max_uses_per_code >= 1),
    created_by         INTEGER REFERENCES users (id),
    created_at         TEXT    NOT NULL,
    CONSTRAINT presales_open_before_close CHECK (opens_at < closes_at),
    -- What the codes repeat of their presale (their concert, their most uses) must be it.
    UNIQUE (id, concert_id, max_uses_per_code)
);
CREATE INDEX presales_concert ON presales (concert_id);

-- Codes are stored upper case (they are matched regardless of case) and unique in their
-- concert, whichever of its presales they belong to.
CREATE TABLE presale_codes (
    id          INTEGER PRIMARY KEY,
    presale_id  INTEGER NOT NULL,
    concert_id  INTEGER NOT NULL,
    code        TEXT    NOT NULL CHECK (length(code) BETWEEN 4 AND 32 AND code = upper(code)),
    max_uses    INTEGER NOT NULL,
    uses        INTEGER NOT NULL DEFAULT 0 CHECK (uses >= 0),
    CONSTRAINT presale_codes_uses_within_max CHECK (uses <= max_uses),
    UNIQUE (concert_id, code),
    FOREIGN KEY (presale_id, concert_id, max_uses) REFERENCES presales (id, concert_id, max_uses_per_code)
);
CREATE INDEX presale_codes_presale ON presale_codes (presale_id);

-- One code per order, at most: the booking that used it.
CREATE TABLE presale_uses (
    order_id  INTEGER PRIMARY KEY REFERENCES orders (id),
    code_id   INTEGER NOT NULL REFERENCES presale_codes (id)
);
CREATE INDEX presale_uses_code ON presale_uses (code_id);

-- A presale of a live concert whose general sale is set, closing no later than it opens.
CREATE TRIGGER presales_check_insert
BEFORE INSERT ON presales
BEGIN
    SELECT RAISE(ABORT, 'CONCERT_NOT_FOUND')
    WHERE NOT EXISTS (SELECT 1 FROM concerts WHERE id = NEW.concert_id AND deleted_at IS NULL);
    SELECT RAISE(ABORT, 'PRESALE_AFTER_SALES_OPEN')
    WHERE NOT EXISTS (SELECT 1 FROM concerts WHERE id = NEW.concert_id
                                               AND sales_open_at IS NOT NULL AND NEW.closes_at <= sales_open_at);
END;

-- A presale is kept as made (delete an unused one and make another).
CREATE TRIGGER presales_no_change
BEFORE UPDATE ON presales
BEGIN
    SELECT RAISE(ABORT, 'PRESALE_IMMUTABLE');
END;

-- The general sale cannot open before a presale of the concert has closed.
CREATE TRIGGER concerts_keep_presales_before_sales
BEFORE UPDATE OF sales_open_at ON concerts
WHEN NEW.sales_open_at IS NOT OLD.sales_open_at
 AND EXISTS (SELECT 1 FROM presales
             WHERE concert_id = NEW.id AND (NEW.sales_open_at IS NULL OR closes_at > NEW.sales_open_at))
BEGIN
    SELECT RAISE(ABORT, 'PRESALE_AFTER_SALES_OPEN');
END;

-- A code keeps its text, presale and most uses; its uses are the bookings that used it.
CREATE TRIGGER presale_codes_no_change
BEFORE UPDATE OF presale_id, concert_id, code, max_uses ON presale_codes
BEGIN
    SELECT RAISE(ABORT, 'PRESALE_IMMUTABLE');
END;
CREATE TRIGGER presale_codes_uses_counted
BEFORE UPDATE OF uses ON presale_codes
WHEN NEW.uses IS NOT (SELECT count(*) FROM presale_uses WHERE code_id = NEW.id)
BEGIN
    SELECT RAISE(ABORT, 'PRESALE_USES_MISMATCH');
END;
-- A used code (and so its presale) stays.
CREATE TRIGGER presale_codes_keep_used
BEFORE DELETE ON presale_codes WHEN OLD.uses > 0
BEGIN
    SELECT RAISE(ABORT, 'PRESALE_USED');
END;

-- A use is of a code of the order's concert, made while its presale was open, and within
-- the code's most uses; then it is counted (the CHECK on `uses` refuses one too many).
CREATE TRIGGER presale_uses_check_insert
BEFORE INSERT ON presale_uses
BEGIN
    SELECT RAISE(ABORT, 'ACCESS_CODE_INVALID')
    WHERE NOT EXISTS (SELECT 1 FROM orders o JOIN presale_codes c ON c.concert_id = o.concert_id
                      WHERE o.id = NEW.order_id AND c.id = NEW.code_id);
    SELECT RAISE(ABORT, 'PRESALE_NOT_OPEN')
    WHERE (SELECT p.opens_at FROM presale_codes c JOIN presales p ON p.id = c.presale_id WHERE c.id = NEW.code_id)
          > (SELECT created_at FROM orders WHERE id = NEW.order_id);
    SELECT RAISE(ABORT, 'PRESALE_CLOSED')
    WHERE (SELECT p.closes_at FROM presale_codes c JOIN presales p ON p.id = c.presale_id WHERE c.id = NEW.code_id)
          <= (SELECT created_at FROM orders WHERE id = NEW.order_id);
    SELECT RAISE(ABORT, 'ACCESS_CODE_USED_UP')
    WHERE (SELECT uses >= max_uses FROM presale_codes WHERE id = NEW.code_id);
END;
CREATE TRIGGER presale_uses_count
AFTER INSERT ON presale_uses
BEGIN
    UPDATE presale_codes SET uses = uses + 1 WHERE id = NEW.code_id;
END;
-- Uses are history: cancelling a presale booking does not give its use back.
CREATE TRIGGER presale_uses_no_change
BEFORE UPDATE ON presale_uses
BEGIN
    SELECT RAISE(ABORT, 'PRESALE_USE_IMMUTABLE');
END;
CREATE TRIGGER presale_uses_no_delete
BEFORE DELETE ON presale_uses
BEGIN
    SELECT RAISE(ABORT, 'PRESALE_USE_IMMUTABLE');
END;

-- As in 0011, and before the general sale a reservation whose order used a code of the
-- concert, by the reservation's fan, while its presale was open. (Only looked at before
-- the general sale: the condition stops at the earlier terms from then on.)
DROP TRIGGER reservations_check_insert;
CREATE TRIGGER reservations_check_insert
BEFORE INSERT ON reservations
WHEN (NEW.status = 'Y' OR NEW.status = 'H') AND NOT EXISTS (
    SELECT 1 FROM seats s JOIN concerts c ON c.id = s.concert_id
    WHERE s.id = NEW.seat_id AND s.concert_id = NEW.concert_id AND s.status = 'AVAILABLE'
      AND c.deleted_at IS NULL AND c.start_time > NEW.created_at
      AND (c.sales_open_at IS NULL OR c.sales_open_at <= NEW.created_at
           OR EXISTS (SELECT 1 FROM presale_uses u
                      JOIN orders o ON o.id = u.order_id
                      JOIN presale_codes pc ON pc.id = u.code_id
                      JOIN presales p ON p.id = pc.presale_id
                      WHERE u.order_id = NEW.order_id AND o.user_id = NEW.user_id
                        AND p.concert_id = NEW.concert_id
                        AND p.opens_at <= NEW.created_at AND p.closes_at > NEW.created_at))
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
    WHERE (SELECT sales_open_at FROM concerts WHERE id = NEW.concert_id) > NEW.created_at
      AND NOT EXISTS (SELECT 1 FROM presale_uses u
                      JOIN orders o ON o.id = u.order_id
                      JOIN presale_codes pc ON pc.id = u.code_id
                      JOIN presales p ON p.id = pc.presale_id
                      WHERE u.order_id = NEW.order_id AND o.user_id = NEW.user_id
                        AND p.concert_id = NEW.concert_id
                        AND p.opens_at <= NEW.created_at AND p.closes_at > NEW.created_at);
    SELECT RAISE(FAIL, 'SALES_CLOSED')
    WHERE (SELECT sales_close_at FROM concerts WHERE id = NEW.concert_id) <= NEW.created_at;
    SELECT RAISE(FAIL, 'FAN_LIMIT');
END;
