-- Courses and school sign-in. Roles gain `admin` (sees everything); a user
-- made at an OpenID Connect sign-in keeps the identity the provider gave it
-- (issuer, subject), never its e-mail. SQLite cannot change a CHECK, so the
-- users table is copied.
CREATE TABLE users_new (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    username      TEXT    NOT NULL UNIQUE,
    role          TEXT    NOT NULL CHECK (role IN ('student', 'instructor', 'admin')),
    password_hash TEXT    NOT NULL,
    created_at    TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
    session_epoch INTEGER NOT NULL DEFAULT 0,
    oidc_issuer   TEXT,
    oidc_subject  TEXT
);
INSERT INTO users_new (id, username, role, password_hash, created_at, session_epoch)
    SELECT id, username, role, password_hash, created_at, session_epoch FROM users;
DROP TABLE users;
ALTER TABLE users_new RENAME TO users;
CREATE UNIQUE INDEX users_oidc ON users (oidc_issuer, oidc_subject);

-- A course, and who is in it: its students and its instructors. `source`
-- says where an enrolment came from (`cli`, `csv`, or `oidc`: replaced from
-- the provider's groups at each sign-in).
CREATE TABLE courses (
    name       TEXT PRIMARY KEY,
    created_at TEXT NOT NULL
);
CREATE TABLE enrolments (
    course   TEXT NOT NULL REFERENCES courses (name) ON DELETE CASCADE,
    username TEXT NOT NULL REFERENCES users (username) ON DELETE CASCADE,
    role     TEXT NOT NULL CHECK (role IN ('student', 'instructor')),
    source   TEXT NOT NULL,
    PRIMARY KEY (course, username)
);
CREATE INDEX enrolments_user ON enrolments (username);
