-- An order's confirmation e-mail is composed when it is sent, from the order, its seats and
-- its tickets as they are then, so the tickets' codes in it are the current ones.
--
-- The booking (or the payment) only notes the order in `confirmations_pending`, in its own
-- transaction: one short row in a table of nothing but its key, about the least a write can
-- cost (a row in the outbox itself, with the outbox's unique key and its index of due
-- e-mails to keep, was measured dearer: BENCHMARKS.md). The sender moves pending
-- confirmations into the outbox a batch at a time, in the transaction that claims e-mails
-- to send: an outbox row of kind ORDER_CONFIRMED, its order, the fan's address and an
-- empty subject and text, once per order (its event key).
CREATE TABLE confirmations_pending (
    order_id  INTEGER PRIMARY KEY,
    queued_at TEXT    NOT NULL
);

ALTER TABLE outbox ADD COLUMN kind TEXT CHECK (kind IS NULL OR kind = 'ORDER_CONFIRMED');
ALTER TABLE outbox ADD COLUMN order_id INTEGER CHECK (kind IS NULL OR order_id IS NOT NULL);
