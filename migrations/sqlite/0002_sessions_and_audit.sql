-- Bumping session_epoch ends every session of the user (it is part of the
-- session's auth hash), without touching their password.
ALTER TABLE users ADD COLUMN session_epoch INTEGER NOT NULL DEFAULT 0;

-- Who did what: logins (success and failure) and log watches with their span.
CREATE TABLE audit (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    at         TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    kind       TEXT    NOT NULL CHECK (kind IN ('login', 'login_failed', 'logout', 'watch')),
    username   TEXT    NOT NULL,
    ip         TEXT,
    container  TEXT,
    ended_at   TEXT,
    detail     TEXT
);
CREATE INDEX audit_at ON audit (at);
CREATE INDEX audit_username ON audit (username, at);
