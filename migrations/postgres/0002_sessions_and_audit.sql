-- Bumping session_epoch ends every session of the user (it is part of the
-- session's auth hash), without touching their password.
ALTER TABLE users ADD COLUMN session_epoch BIGINT NOT NULL DEFAULT 0;

-- Who did what: logins (success and failure) and log watches with their span.
CREATE TABLE audit (
    id         BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at         TEXT    NOT NULL
        DEFAULT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
    kind       TEXT    NOT NULL CHECK (kind IN ('login', 'login_failed', 'logout', 'watch')),
    username   TEXT    NOT NULL,
    ip         TEXT,
    container  TEXT,
    ended_at   TEXT,
    detail     TEXT
);
CREATE INDEX audit_at ON audit (at);
CREATE INDEX audit_username ON audit (username, at);
