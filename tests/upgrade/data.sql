-- The data of the first-release fixtures (make-fixtures applies it to the first release's
-- schema; the same SQL on SQLite and PostgreSQL). An admin, a promoter and three fans;
-- one hall of rows A-C x 10; two upcoming concerts; five bookings, one of them cancelled;
-- one locked seat. Passwords: admin `Admin#Pass1`, everyone else `Secret#2026` (Argon2id
-- PHC strings, as the service writes them).

INSERT INTO users (username, password_hash, email, nickname, role, created_at, updated_at) VALUES
  ('admin', '$argon2id$v=19$m=19456,t=2,p=1$DRMnP4NRWPzBPdF9TfC1Ag$IunYOvKdDYgfvs9d3exnMFfl7z+T6cDJX2ZuB9lgozs', 'admin@localhost', NULL, 'ADMIN', '2026-11-25T09:00:00+00:00', '2026-11-25T09:00:00+00:00'),
  ('promoter', '$argon2id$v=19$m=19456,t=2,p=1$I+VBFZ5NIhxmotxeCvYo+A$2Rex6vh9q0fqsAkn0Nso2FyaqjBLF6JM5pydkmGA4gg', 'promoter@example.com', 'Promo', 'COMPANY_USER', '2026-11-25T09:01:00+00:00', '2026-11-25T09:01:00+00:00'),
  ('fan1', '$argon2id$v=19$m=19456,t=2,p=1$I+VBFZ5NIhxmotxeCvYo+A$2Rex6vh9q0fqsAkn0Nso2FyaqjBLF6JM5pydkmGA4gg', 'fan1@example.com', NULL, 'USER', '2026-11-25T09:02:00+00:00', '2026-11-25T09:02:00+00:00'),
  ('fan2', '$argon2id$v=19$m=19456,t=2,p=1$I+VBFZ5NIhxmotxeCvYo+A$2Rex6vh9q0fqsAkn0Nso2FyaqjBLF6JM5pydkmGA4gg', 'fan2@example.com', 'Second Fan', 'USER', '2026-11-25T09:03:00+00:00', '2026-11-25T09:03:00+00:00'),
  ('fan3', '$argon2id$v=19$m=19456,t=2,p=1$I+VBFZ5NIhxmotxeCvYo+A$2Rex6vh9q0fqsAkn0Nso2FyaqjBLF6JM5pydkmGA4gg', 'fan3@example.com', NULL, 'USER', '2026-11-25T09:04:00+00:00', '2026-11-25T09:04:00+00:00');

INSERT INTO auditoriums (name, address, max_row, max_column, owner_id, created_at, updated_at)
SELECT 'Old Hall', '1 First Street', 'C', 10, id, '2026-11-25T09:10:00+00:00', '2026-11-25T09:10:00+00:00'
FROM users WHERE username = 'promoter';

INSERT INTO concerts (name, description, start_time, auditorium_id, owner_id, max_seats_per_fan, created_at, updated_at)
SELECT 'First Light', 'The first concert ever sold', '2030-06-01T19:00:00+00:00', id, owner_id, 4,
       '2026-11-25T09:20:00+00:00', '2026-11-25T09:20:00+00:00'
FROM auditoriums WHERE name = 'Old Hall';
INSERT INTO concerts (name, description, start_time, auditorium_id, owner_id, max_seats_per_fan, created_at, updated_at)
SELECT 'Encore', 'Back by demand', '2030-07-01T19:00:00+00:00', id, owner_id, 2,
       '2026-11-25T09:21:00+00:00', '2026-11-25T09:21:00+00:00'
FROM auditoriums WHERE name = 'Old Hall';

INSERT INTO seat_prices (concert_id, grade, price_cents)
SELECT id, 'R', 50000 FROM concerts WHERE name = 'First Light'
UNION ALL SELECT id, 'S', 30000 FROM concerts WHERE name = 'First Light'
UNION ALL SELECT id, 'A', 20000 FROM concerts WHERE name = 'Encore';

-- First Light: row A grade R, rows B and C grade S; Encore: rows A and B grade A.
INSERT INTO seats (concert_id, horizontal, vertical, grade)
SELECT c.id, r.h, n.v, r.g
FROM concerts c,
     (SELECT 'First Light' AS concert, 'A' AS h, 'R' AS g
      UNION ALL SELECT 'First Light', 'B', 'S' UNION ALL SELECT 'First Light', 'C', 'S'
      UNION ALL SELECT 'Encore', 'A', 'A' UNION ALL SELECT 'Encore', 'B', 'A') r,
     (SELECT 1 AS v UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL SELECT 4 UNION ALL SELECT 5
      UNION ALL SELECT 6 UNION ALL SELECT 7 UNION ALL SELECT 8 UNION ALL SELECT 9 UNION ALL SELECT 10) n
WHERE c.name = r.concert
ORDER BY c.id, r.h, n.v;

-- Bookings, through the first release's triggers (which mark the seats reserved); one
-- statement each, the time a literal (PostgreSQL types it by its column).
INSERT INTO reservations (user_id, concert_id, seat_id, status, price_cents, created_at)
SELECT u.id, c.id, s.id, 'Y', p.price_cents, '2026-11-25T10:00:00+00:00'
FROM users u, concerts c
JOIN seats s ON s.concert_id = c.id AND s.horizontal = 'A' AND s.vertical = 1
JOIN seat_prices p ON p.concert_id = c.id AND p.grade = s.grade
WHERE u.username = 'fan1' AND c.name = 'First Light';
INSERT INTO reservations (user_id, concert_id, seat_id, status, price_cents, created_at)
SELECT u.id, c.id, s.id, 'Y', p.price_cents, '2026-11-25T10:00:01+00:00'
FROM users u, concerts c
JOIN seats s ON s.concert_id = c.id AND s.horizontal = 'A' AND s.vertical = 2
JOIN seat_prices p ON p.concert_id = c.id AND p.grade = s.grade
WHERE u.username = 'fan1' AND c.name = 'First Light';
INSERT INTO reservations (user_id, concert_id, seat_id, status, price_cents, created_at)
SELECT u.id, c.id, s.id, 'Y', p.price_cents, '2026-11-25T10:00:02+00:00'
FROM users u, concerts c
JOIN seats s ON s.concert_id = c.id AND s.horizontal = 'B' AND s.vertical = 5
JOIN seat_prices p ON p.concert_id = c.id AND p.grade = s.grade
WHERE u.username = 'fan2' AND c.name = 'First Light';
INSERT INTO reservations (user_id, concert_id, seat_id, status, price_cents, created_at)
SELECT u.id, c.id, s.id, 'Y', p.price_cents, '2026-11-25T10:00:03+00:00'
FROM users u, concerts c
JOIN seats s ON s.concert_id = c.id AND s.horizontal = 'B' AND s.vertical = 6
JOIN seat_prices p ON p.concert_id = c.id AND p.grade = s.grade
WHERE u.username = 'fan2' AND c.name = 'First Light';
INSERT INTO reservations (user_id, concert_id, seat_id, status, price_cents, created_at)
SELECT u.id, c.id, s.id, 'Y', p.price_cents, '2026-11-25T10:00:04+00:00'
FROM users u, concerts c
JOIN seats s ON s.concert_id = c.id AND s.horizontal = 'A' AND s.vertical = 1
JOIN seat_prices p ON p.concert_id = c.id AND p.grade = s.grade
WHERE u.username = 'fan3' AND c.name = 'Encore';

-- fan2 gave back B-6.
UPDATE reservations SET status = 'N', cancelled_at = '2026-11-25T11:00:00+00:00'
WHERE seat_id = (SELECT s.id FROM seats s JOIN concerts c ON c.id = s.concert_id
                 WHERE c.name = 'First Light' AND s.horizontal = 'B' AND s.vertical = 6);

-- The admin locked C-10 of First Light.
UPDATE seats SET status = 'LOCKED'
WHERE id = (SELECT s.id FROM seats s JOIN concerts c ON c.id = s.concert_id
            WHERE c.name = 'First Light' AND s.horizontal = 'C' AND s.vertical = 10);
