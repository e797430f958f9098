-- Accounts and tokens. Times are UTC, stored as text that sorts in time order
-- (always written by the service, never by SQL's own clock functions).

CREATE TABLE users (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    username       TEXT    NOT NULL,
    password_hash  TEXT    NOT NULL,
    email          TEXT    NOT NULL,
    nickname       TEXT,
    role           TEXT    NOT NULL CHECK (role IN ('USER', 'COMPANY_USER', 'ADMIN')),
    -- Bumped when every token issued so far must stop working (role change, deletion).
    token_version  INTEGER NOT NULL DEFAULT 0,
    created_at     TEXT    NOT NULL,
    updated_at     TEXT    NOT NULL,
    deleted_at     TEXT
);

-- Uniqueness holds among live accounts and ignores case; a deleted account frees its names.
CREATE UNIQUE INDEX users_username_key ON users (lower(username)) WHERE deleted_at IS NULL;
CREATE UNIQUE INDEX users_email_key    ON users (email)           WHERE deleted_at IS NULL;
CREATE UNIQUE INDEX users_nickname_key ON users (lower(nickname)) WHERE deleted_at IS NULL AND nickname IS NOT NULL;

-- One row per refresh token ever issued. A family is one login's chain of rotations.
CREATE TABLE refresh_tokens (
    jti         TEXT    PRIMARY KEY,
    family      TEXT    NOT NULL,
    user_id     INTEGER NOT NULL REFERENCES users (id),
    expires_at  TEXT    NOT NULL,
    created_at  TEXT    NOT NULL,
    used_at     TEXT,
    revoked_at  TEXT
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family);
CREATE INDEX refresh_tokens_user   ON refresh_tokens (user_id);

-- Revoked access-token ids and token families, kept until the tokens would expire anyway.
CREATE TABLE revoked_tokens (
    token_id    TEXT PRIMARY KEY,
    expires_at  TEXT NOT NULL
);
