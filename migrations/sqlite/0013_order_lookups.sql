-- A concert's or a fan's orders are found through their reservations (every order holds
-- some, and reservations are indexed by concert and fan already): the orders' own indexes
-- by fan and by concert go. Each cost every booking a write at a random place of another
-- index, about a third of the booking rate when an on-sale spreads over many concerts.
DROP INDEX orders_user;
DROP INDEX orders_concert;
