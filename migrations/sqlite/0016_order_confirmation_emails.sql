-- An order's confirmation e-mail is written in the booking's (or the payment's)
-- transaction as a light row: its kind and its order, the recipient, and nothing composed
-- (an empty subject and text). The sender composes it when it sends it, from the order,
-- its seats and its tickets as they are then, so the tickets' codes in it are the current
-- ones. Writing the whole composed e-mail with every booking was measured too dear for
-- the booking path (BENCHMARKS.md, History); the light row leaves the composing off it.
ALTER TABLE outbox ADD COLUMN kind TEXT CHECK (kind IS NULL OR kind = 'ORDER_CONFIRMED');
ALTER TABLE outbox ADD COLUMN order_id INTEGER CHECK (kind IS NULL OR order_id IS NOT NULL);
