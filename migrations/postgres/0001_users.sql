-- Users of labtail. Passwords are stored as argon2 PHC strings only.
-- The same tables as migrations/sqlite, in Postgres's dialect; timestamps
-- are RFC 3339 text in UTC, written by labtail, so both databases agree.
CREATE TABLE users (
    id            BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    username      TEXT    NOT NULL UNIQUE,
    role          TEXT    NOT NULL CHECK (role IN ('student', 'instructor')),
    password_hash TEXT    NOT NULL,
    created_at    TEXT    NOT NULL
        DEFAULT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
);
