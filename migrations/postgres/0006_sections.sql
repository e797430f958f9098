-- Real venues: sections, rows of their own lengths, standing floors (as SQLite's 0009).
--
-- A venue is a list of sections, each of its rows in `auditorium_rows`: a seated section
-- has rows labelled 1–4 letters or digits of 1–200 seats each; a standing section is one
-- row labelled '' whose seats are its places (its capacity). A concert's seats carry their
-- section; a standing place is a seat of row '' numbered 1..capacity, so every booking
-- rule (one active reservation per place, the per-fan limit, the seat-map version) holds
-- for standing places unchanged, and a floor never sells more places than it has.
--
-- Every existing venue becomes one seated section named '' with rows A..max_row of
-- max_column seats; every existing seat is in that section, its id unchanged. A venue of
-- sections has no max_row/max_column.

ALTER TABLE auditoriums ALTER COLUMN max_row DROP NOT NULL, ALTER COLUMN max_column DROP NOT NULL;

CREATE TABLE auditorium_rows (
    auditorium_id     BIGINT NOT NULL REFERENCES auditoriums (id),
    section           TEXT COLLATE "C" NOT NULL,
    label             TEXT COLLATE "C" NOT NULL,
    -- The section's place in the venue, and the row's in its section.
    section_position  BIGINT NOT NULL,
    position          BIGINT NOT NULL,
    kind              TEXT   NOT NULL CHECK (kind IN ('SEATED', 'STANDING')),
    -- Seats of the row; a standing section's capacity.
    seats             BIGINT NOT NULL,
    PRIMARY KEY (auditorium_id, section, label),
    CHECK ((kind = 'SEATED' AND length(label) BETWEEN 1 AND 4 AND seats BETWEEN 1 AND 200)
        OR (kind = 'STANDING' AND label = '' AND seats BETWEEN 1 AND 100000))
);

INSERT INTO auditorium_rows (auditorium_id, section, label, section_position, position, kind, seats)
SELECT a.id, '', chr(65 + n), 0, n, 'SEATED', a.max_column
FROM auditoriums a CROSS JOIN generate_series(0, 25) n
WHERE chr(65 + n) <= a.max_row COLLATE "C";

ALTER TABLE seats ADD COLUMN section TEXT COLLATE "C" NOT NULL DEFAULT '';
ALTER TABLE seats DROP CONSTRAINT seats_horizontal_check;
ALTER TABLE seats DROP CONSTRAINT seats_vertical_check;
ALTER TABLE seats ADD CONSTRAINT seats_horizontal_check CHECK (length(horizontal) <= 4);
ALTER TABLE seats ADD CONSTRAINT seats_vertical_check CHECK (vertical BETWEEN 1 AND 100000);
ALTER TABLE seats ADD CONSTRAINT seats_concert_id_section_horizontal_vertical_key
    UNIQUE (concert_id, section, horizontal, vertical);
ALTER TABLE seats DROP CONSTRAINT seats_concert_id_horizontal_vertical_key;

-- Seats lie within their venue: a row of their section, within its length. Checked once
-- per statement over all its rows, one look-up per row of seats (a concert of 100,000
-- places is checked in tens of milliseconds).
DROP TRIGGER seats_within_auditorium ON seats;
DROP FUNCTION seats_within_auditorium();
CREATE FUNCTION seats_within_auditorium() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- The venues cannot change under the seats being checked.
    PERFORM 1 FROM auditoriums
     WHERE id IN (SELECT c.auditorium_id FROM concerts c WHERE c.id IN (SELECT concert_id FROM new_seats))
     ORDER BY id FOR SHARE;
    IF EXISTS (
        SELECT 1
          FROM (SELECT concert_id, section, horizontal, max(vertical) AS last
                  FROM new_seats GROUP BY concert_id, section, horizontal) n
          JOIN concerts c ON c.id = n.concert_id
          LEFT JOIN auditorium_rows r
                 ON r.auditorium_id = c.auditorium_id AND r.section = n.section AND r.label = n.horizontal
         WHERE r.seats IS NULL OR n.last > r.seats
    ) THEN
        RAISE EXCEPTION 'SEAT_OUTSIDE_AUDITORIUM';
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER seats_within_auditorium AFTER INSERT ON seats
    REFERENCING NEW TABLE AS new_seats
    FOR EACH STATEMENT EXECUTE FUNCTION seats_within_auditorium();

-- A seat's concert exists because its (concert, grade) has a price (the foreign key to
-- seat_prices, whose rows belong to a concert): the seat's own key to concerts checked the
-- same thing a second time for every seat, a third of the cost of creating a concert.
ALTER TABLE seats DROP CONSTRAINT seats_concert_id_fkey;

-- As in 0002, for the seed's section (`max_row`/`max_column` describe it).
CREATE OR REPLACE FUNCTION auditoriums_keep_upcoming_seats() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM seats s JOIN concerts c ON c.id = s.concert_id
               WHERE c.auditorium_id = NEW.id AND c.deleted_at IS NULL AND c.start_time > NEW.updated_at
                 AND s.section = ''
                 AND (s.horizontal > NEW.max_row OR s.vertical > NEW.max_column)) THEN
        RAISE EXCEPTION 'AUDITORIUM_IN_USE';
    END IF;
    RETURN NEW;
END $$;

-- A venue never loses a row, nor shortens one, under the seats of its upcoming concerts
-- (the venue's `updated_at` is set first, in the same transaction: that is "now").
CREATE FUNCTION auditorium_rows_keep_upcoming_seats() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    kept BIGINT := 0;
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.auditorium_id = OLD.auditorium_id AND NEW.section = OLD.section
       AND NEW.label = OLD.label THEN
        kept := NEW.seats;
    END IF;
    IF EXISTS (SELECT 1 FROM concerts c JOIN auditoriums a ON a.id = c.auditorium_id
                 JOIN seats s ON s.concert_id = c.id AND s.section = OLD.section AND s.horizontal = OLD.label
                WHERE c.auditorium_id = OLD.auditorium_id AND c.deleted_at IS NULL
                  AND c.start_time > a.updated_at AND s.vertical > kept) THEN
        RAISE EXCEPTION 'AUDITORIUM_IN_USE';
    END IF;
    RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
END $$;
CREATE TRIGGER auditorium_rows_keep_upcoming_seats BEFORE UPDATE OR DELETE ON auditorium_rows
    FOR EACH ROW EXECUTE FUNCTION auditorium_rows_keep_upcoming_seats();
