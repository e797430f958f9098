-- As SQLite's 0016: an order's confirmation e-mail is noted by the booking (or the
-- payment) in `confirmations_pending`, a table of nothing but its key, and moved by the
-- sender into the outbox, a batch at a time, as a row of kind ORDER_CONFIRMED (its order,
-- the fan's address, an empty subject and text) that it composes when it sends it, from
-- the order and its tickets as they are then.
CREATE TABLE confirmations_pending (
    order_id  BIGINT      PRIMARY KEY,
    queued_at TIMESTAMPTZ NOT NULL
);

ALTER TABLE outbox
    ADD COLUMN kind TEXT CHECK (kind IS NULL OR kind = 'ORDER_CONFIRMED'),
    ADD COLUMN order_id BIGINT,
    ADD CONSTRAINT outbox_order_of_kind CHECK (kind IS NULL OR order_id IS NOT NULL);
