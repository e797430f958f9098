-- As SQLite's 0016: an order's confirmation e-mail is a light row of the outbox (its kind
-- and its order, the recipient, an empty subject and text), written in the booking's or
-- the payment's transaction and composed by the sender when it sends it, from the order
-- and its tickets as they are then.
ALTER TABLE outbox
    ADD COLUMN kind TEXT CHECK (kind IS NULL OR kind = 'ORDER_CONFIRMED'),
    ADD COLUMN order_id BIGINT,
    ADD CONSTRAINT outbox_order_of_kind CHECK (kind IS NULL OR order_id IS NOT NULL);
