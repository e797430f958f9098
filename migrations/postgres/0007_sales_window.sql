-- The on-sale window (as SQLite's 0010): a concert sells from `sales_open_at` (none: since
-- it was put up) until `sales_close_at` (none: its start). Outside it the database refuses
-- a booking, by the reservation's own time, with SALES_NOT_OPEN or SALES_CLOSED.

ALTER TABLE concerts ADD COLUMN sales_open_at TIMESTAMPTZ, ADD COLUMN sales_close_at TIMESTAMPTZ,
    -- A window lies before the start and opens before it closes.
    ADD CONSTRAINT concerts_sales_close_before_start
        CHECK (sales_close_at IS NULL OR sales_close_at <= start_time),
    ADD CONSTRAINT concerts_sales_open_before_close
        CHECK (sales_open_at IS NULL OR sales_open_at < coalesce(sales_close_at, start_time));

-- As in 0005, with the window.
CREATE OR REPLACE FUNCTION reservations_book_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    refusal TEXT;
    wanted BIGINT;
    reserved BIGINT;
BEGIN
    -- The concerts' locks first, in id order as every writer takes them: the checks below
    -- then read what the previous holder committed (a fresh snapshot per statement).
    PERFORM 1 FROM concerts WHERE id IN (SELECT concert_id FROM inserted WHERE status = 'Y')
        ORDER BY id FOR NO KEY UPDATE;
    -- The refusal of the first row that has one, in 0003's order.
    SELECT CASE
             WHEN s.concert_id IS DISTINCT FROM i.concert_id THEN 'SEAT_MISMATCH'
             WHEN s.status = 'RESERVED' THEN 'SEAT_TAKEN'
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
     WHERE i.status = 'Y'
       AND (s.concert_id IS DISTINCT FROM i.concert_id OR s.status <> 'AVAILABLE'
            OR c.id IS NULL OR c.deleted_at IS NOT NULL OR c.start_time <= i.created_at
            OR c.sales_open_at > i.created_at OR c.sales_close_at <= i.created_at)
     ORDER BY i.id
     LIMIT 1;
    IF refusal IS NOT NULL THEN
        RAISE EXCEPTION '%', refusal;
    END IF;
    -- The fans' active reservations, these included, within each concert's limit (counted
    -- fan by fan through the index, LATERAL).
    IF EXISTS (
        SELECT 1
          FROM (SELECT DISTINCT user_id, concert_id FROM inserted WHERE status = 'Y') f
          JOIN concerts c ON c.id = f.concert_id
          CROSS JOIN LATERAL (SELECT count(*) AS held FROM reservations r
                               WHERE r.user_id = f.user_id AND r.concert_id = f.concert_id
                                 AND r.status = 'Y') h
         WHERE h.held > c.max_seats_per_fan
    ) THEN
        RAISE EXCEPTION 'FAN_LIMIT';
    END IF;
    -- Conditional: a seat locked or taken by a writer that bypassed the concert lock after
    -- the check above is not booked.
    UPDATE seats s SET status = 'RESERVED'
      FROM inserted i
     WHERE s.id = i.seat_id AND i.status = 'Y' AND s.status = 'AVAILABLE';
    GET DIAGNOSTICS reserved = ROW_COUNT;
    SELECT count(*) INTO wanted FROM inserted WHERE status = 'Y';
    IF reserved < wanted THEN
        SELECT CASE WHEN bool_or(s.status = 'LOCKED') THEN 'SEAT_LOCKED' ELSE 'SEAT_TAKEN' END
          INTO refusal
          FROM inserted i JOIN seats s ON s.id = i.seat_id
         WHERE i.status = 'Y' AND s.status <> 'RESERVED';
        RAISE EXCEPTION '%', coalesce(refusal, 'SEAT_TAKEN');
    END IF;
    RETURN NULL;
END $$;
