-- As SQLite's 0013: a concert's or a fan's orders are found through their reservations
-- (every order holds some; reservations are indexed by concert and by fan), so the orders'
-- own indexes by fan and by concert, which every booking paid for, go.
DROP INDEX orders_user;
DROP INDEX orders_concert;
