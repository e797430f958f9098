-- The booking rules of 0003, checked a statement at a time instead of a row at a time.
--
-- The group commit books a whole batch with one INSERT of many reservations. The per-row
-- triggers of 0003 then ran five statements for every booked seat (lock the concert, read
-- the seat, count the fan's seats, reserve the seat, check it and bump the map version);
-- measured with pg_stat_statements, they were most of the time of a batch. These triggers
-- run a fixed number of set-based statements per INSERT or UPDATE, over all of its rows at
-- once (transition tables). The rules, the refusals and the locks are those of 0003.
-- Cancellations (one reservation per statement) keep their row triggers from 0003.

DROP TRIGGER reservations_check_insert ON reservations;
DROP TRIGGER reservations_reserve_seat ON reservations;
DROP TRIGGER seats_status_matches_reservation ON seats;
DROP TRIGGER seats_bump_map_version ON seats;
DROP FUNCTION reservations_check_insert();
DROP FUNCTION reservations_reserve_seat();
DROP FUNCTION seats_status_matches_reservation();
DROP FUNCTION seats_bump_map_version();

-- New active reservations need available seats of their concert, a live concert not yet
-- started (by each reservation's own time), and room under each fan's per-concert limit;
-- booking them makes their seats RESERVED in the same statement (invariant 2, first half).
CREATE FUNCTION reservations_book_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
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
             ELSE 'CONCERT_STARTED'
           END
      INTO refusal
      FROM inserted i
      LEFT JOIN seats s ON s.id = i.seat_id
      LEFT JOIN concerts c ON c.id = i.concert_id
     WHERE i.status = 'Y'
       AND (s.concert_id IS DISTINCT FROM i.concert_id OR s.status <> 'AVAILABLE'
            OR c.id IS NULL OR c.deleted_at IS NOT NULL OR c.start_time <= i.created_at)
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
CREATE TRIGGER reservations_book_inserted AFTER INSERT ON reservations
    REFERENCING NEW TABLE AS inserted
    FOR EACH STATEMENT EXECUTE FUNCTION reservations_book_inserted();

-- Invariant 2, second half, and invariant 3: a seat is RESERVED exactly when it has an
-- active reservation, so a reserved seat can be neither locked nor freed directly. And
-- every change of a seat's status changes its concert's seat-map version (the ETag) by
-- one. (A trigger with transition tables cannot name columns: it fires on every UPDATE of
-- seats and looks at the rows whose status changed.)
CREATE FUNCTION seats_status_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- The active reservation of each changed seat is looked up by index, seat by seat
    -- (LATERAL … LIMIT 1): as a plain EXISTS the planner may hash every active
    -- reservation instead, whose cost grows with the table.
    IF EXISTS (
        SELECT 1
          FROM new_seats n
          JOIN old_seats o ON o.id = n.id
          LEFT JOIN LATERAL (SELECT true AS active FROM reservations r
                              WHERE r.seat_id = n.id AND r.status = 'Y' LIMIT 1) a ON true
         WHERE n.status IS DISTINCT FROM o.status
           AND (n.status = 'RESERVED') IS DISTINCT FROM (a.active IS NOT NULL)
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
CREATE TRIGGER seats_status_changed AFTER UPDATE ON seats
    REFERENCING OLD TABLE AS old_seats NEW TABLE AS new_seats
    FOR EACH STATEMENT EXECUTE FUNCTION seats_status_changed();
