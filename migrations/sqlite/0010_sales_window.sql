-- The on-sale window: a concert sells from `sales_open_at` (none: since it was put up)
-- until `sales_close_at` (none: its start). Outside it the database refuses a booking, by
-- the reservation's own time, with SALES_NOT_OPEN or SALES_CLOSED, whatever sits in front.

-- A window lies before the start and opens before it closes (times compare as text: the
-- service writes them all in one sortable format).
ALTER TABLE concerts ADD COLUMN sales_close_at TEXT
    CHECK (sales_close_at IS NULL OR sales_close_at <= start_time);
ALTER TABLE concerts ADD COLUMN sales_open_at TEXT
    CHECK (sales_open_at IS NULL OR sales_open_at < coalesce(sales_close_at, start_time));

-- As in 0009, with the window.
DROP TRIGGER reservations_check_insert;
CREATE TRIGGER reservations_check_insert
BEFORE INSERT ON reservations
WHEN NEW.status = 'Y' AND NOT EXISTS (
    SELECT 1 FROM seats s JOIN concerts c ON c.id = s.concert_id
    WHERE s.id = NEW.seat_id AND s.concert_id = NEW.concert_id AND s.status = 'AVAILABLE'
      AND c.deleted_at IS NULL AND c.start_time > NEW.created_at
      AND (c.sales_open_at IS NULL OR c.sales_open_at <= NEW.created_at)
      AND (c.sales_close_at IS NULL OR c.sales_close_at > NEW.created_at)
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
    SELECT RAISE(FAIL, 'SALES_NOT_OPEN')
    WHERE (SELECT sales_open_at FROM concerts WHERE id = NEW.concert_id) > NEW.created_at;
    SELECT RAISE(FAIL, 'SALES_CLOSED')
    WHERE (SELECT sales_close_at FROM concerts WHERE id = NEW.concert_id) <= NEW.created_at;
    SELECT RAISE(FAIL, 'FAN_LIMIT');
END;

