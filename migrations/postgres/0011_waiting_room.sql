-- The on-sale waiting room (as SQLite's 0014): a concert may put a room in front of its
-- sale; the three settings are set together or not at all, the room opening before sales.
ALTER TABLE concerts ADD COLUMN room_opens_at TIMESTAMPTZ, ADD COLUMN room_admit_per_minute BIGINT,
    ADD COLUMN room_pass_minutes BIGINT,
    ADD CONSTRAINT concerts_room_valid CHECK (
        (room_opens_at IS NULL AND room_admit_per_minute IS NULL AND room_pass_minutes IS NULL)
        OR (room_opens_at IS NOT NULL AND room_admit_per_minute >= 1 AND room_pass_minutes >= 1
            AND sales_open_at IS NOT NULL AND room_opens_at < sales_open_at));

-- A room's life: its secret seed, paused or ended (by its owner or by selling out), and
-- the ticker's pace.
CREATE TABLE queue_rooms (
    concert_id BIGINT PRIMARY KEY REFERENCES concerts (id),
    seed       TEXT    NOT NULL,
    paused     BOOLEAN NOT NULL DEFAULT false,
    ended_at   TIMESTAMPTZ,
    ended_by   TEXT    CHECK (ended_by IN ('OWNER', 'SOLD_OUT')),
    admitted   BIGINT  NOT NULL DEFAULT 0 CHECK (admitted >= 0),
    ticked_at  TIMESTAMPTZ,
    carry      DOUBLE PRECISION NOT NULL DEFAULT 0 CHECK (carry >= 0 AND carry < 1),
    CHECK ((ended_at IS NULL) = (ended_by IS NULL))
);

-- One place per fan and room.
CREATE TABLE queue_entries (
    concert_id  BIGINT NOT NULL REFERENCES queue_rooms (concert_id),
    user_id     BIGINT NOT NULL REFERENCES users (id),
    place       BIGINT NOT NULL CHECK (place >= 0),
    joined_at   TIMESTAMPTZ NOT NULL,
    admitted_at TIMESTAMPTZ,
    PRIMARY KEY (concert_id, user_id),
    UNIQUE (concert_id, place)
);

-- Exactly one instance ticks at a time.
CREATE TABLE queue_ticker (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    holder      TEXT NOT NULL,
    lease_until TIMESTAMPTZ NOT NULL
);
