-- The on-sale waiting room. A concert may put a room in front of its sale: fans join from
-- `room_opens_at`; those who joined before `sales_open_at` are put in a random order when
-- sales open (each fan's place is a keyed hash of the room's seed and the fan, so every
-- instance and every restart agree), later joiners after them in arrival order; a ticker
-- admits `room_admit_per_minute` a minute, and an admitted fan books with a pass valid
-- `room_pass_minutes`. The three are set together or not at all, the room opening before
-- sales do.
ALTER TABLE concerts ADD COLUMN room_opens_at TEXT;
ALTER TABLE concerts ADD COLUMN room_admit_per_minute INTEGER;
ALTER TABLE concerts ADD COLUMN room_pass_minutes INTEGER;

CREATE TRIGGER concerts_room_insert BEFORE INSERT ON concerts
WHEN NEW.room_opens_at IS NOT NULL OR NEW.room_admit_per_minute IS NOT NULL OR NEW.room_pass_minutes IS NOT NULL
BEGIN
    SELECT RAISE(ABORT, 'WAITING_ROOM_INVALID')
    WHERE NEW.room_opens_at IS NULL OR NEW.room_admit_per_minute IS NULL OR NEW.room_pass_minutes IS NULL
       OR NEW.room_admit_per_minute < 1 OR NEW.room_pass_minutes < 1
       OR NEW.sales_open_at IS NULL OR julianday(NEW.room_opens_at) >= julianday(NEW.sales_open_at);
END;
CREATE TRIGGER concerts_room_update BEFORE UPDATE OF room_opens_at, room_admit_per_minute, room_pass_minutes, sales_open_at ON concerts
WHEN NEW.room_opens_at IS NOT NULL OR NEW.room_admit_per_minute IS NOT NULL OR NEW.room_pass_minutes IS NOT NULL
BEGIN
    SELECT RAISE(ABORT, 'WAITING_ROOM_INVALID')
    WHERE NEW.room_opens_at IS NULL OR NEW.room_admit_per_minute IS NULL OR NEW.room_pass_minutes IS NULL
       OR NEW.room_admit_per_minute < 1 OR NEW.room_pass_minutes < 1
       OR NEW.sales_open_at IS NULL OR julianday(NEW.room_opens_at) >= julianday(NEW.sales_open_at);
END;

-- A room's life: its seed (secret: it orders the pre-queue), whether its owner paused or
-- ended it (or it ended because the concert sold out), and the ticker's pace: how many
-- were admitted, until when, and the fraction of a fan owed to the next tick.
CREATE TABLE queue_rooms (
    concert_id   INTEGER PRIMARY KEY REFERENCES concerts (id),
    seed         TEXT    NOT NULL,
    paused       INTEGER NOT NULL DEFAULT 0 CHECK (paused IN (0, 1)),
    ended_at     TEXT,
    ended_by     TEXT    CHECK (ended_by IN ('OWNER', 'SOLD_OUT')),
    admitted     INTEGER NOT NULL DEFAULT 0 CHECK (admitted >= 0),
    ticked_at    TEXT,
    carry        REAL    NOT NULL DEFAULT 0 CHECK (carry >= 0 AND carry < 1),
    CHECK ((ended_at IS NULL) = (ended_by IS NULL))
);

-- One place per fan and room: the place orders the queue (pre-queue places are below
-- 2^52, arrivals after sales opened 2^52 + their arrival number), `admitted_at` is when
-- the ticker let the fan in.
CREATE TABLE queue_entries (
    concert_id  INTEGER NOT NULL REFERENCES queue_rooms (concert_id),
    user_id     INTEGER NOT NULL REFERENCES users (id),
    place       INTEGER NOT NULL CHECK (place >= 0),
    joined_at   TEXT    NOT NULL,
    admitted_at TEXT,
    PRIMARY KEY (concert_id, user_id),
    UNIQUE (concert_id, place)
) WITHOUT ROWID;

-- Exactly one instance ticks at a time: the one whose lease is current.
CREATE TABLE queue_ticker (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    holder      TEXT    NOT NULL,
    lease_until TEXT    NOT NULL
);
