-- The version of a concert's seat layout: which seat stands where, of which grade, at
-- which price. The booking writer keeps each concert's layout in memory (a seat's id and
-- price by its position) and checks this version once per batch, so a booking no longer
-- looks its seat up in the database. Kept by triggers, whoever changes a grade or a price:
-- the writer never books at a price that has been changed. (The service never deletes or
-- moves a seat; raw SQL that does changes the version too.) A seat added later is simply
-- not in a layout loaded earlier, and is looked up.

ALTER TABLE concerts ADD COLUMN layout_version INTEGER NOT NULL DEFAULT 0;

CREATE TRIGGER seats_update_changes_layout
AFTER UPDATE OF id, grade, concert_id, horizontal, vertical ON seats
WHEN NEW.id IS NOT OLD.id OR NEW.grade IS NOT OLD.grade OR NEW.concert_id IS NOT OLD.concert_id
     OR NEW.horizontal IS NOT OLD.horizontal OR NEW.vertical IS NOT OLD.vertical
BEGIN
    UPDATE concerts SET layout_version = layout_version + 1 WHERE id IN (OLD.concert_id, NEW.concert_id);
END;

CREATE TRIGGER seats_delete_changes_layout
AFTER DELETE ON seats
BEGIN
    UPDATE concerts SET layout_version = layout_version + 1 WHERE id = OLD.concert_id;
END;

CREATE TRIGGER seat_prices_insert_changes_layout
AFTER INSERT ON seat_prices
BEGIN
    UPDATE concerts SET layout_version = layout_version + 1 WHERE id = NEW.concert_id;
END;

CREATE TRIGGER seat_prices_update_changes_layout
AFTER UPDATE ON seat_prices
BEGIN
    UPDATE concerts SET layout_version = layout_version + 1 WHERE id IN (OLD.concert_id, NEW.concert_id);
END;

CREATE TRIGGER seat_prices_delete_changes_layout
AFTER DELETE ON seat_prices
BEGIN
    UPDATE concerts SET layout_version = layout_version + 1 WHERE id = OLD.concert_id;
END;
