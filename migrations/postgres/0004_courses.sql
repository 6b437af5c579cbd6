-- Courses and school sign-in: the same as migrations/sqlite/0004_courses.sql
-- (there, the comments say what each holds), in Postgres's dialect.
ALTER TABLE users DROP CONSTRAINT IF EXISTS users_role_check;
ALTER TABLE users ADD CONSTRAINT users_role_check
    CHECK (role IN ('student', 'instructor', 'admin'));
ALTER TABLE users ADD COLUMN oidc_issuer TEXT;
ALTER TABLE users ADD COLUMN oidc_subject TEXT;
CREATE UNIQUE INDEX users_oidc ON users (oidc_issuer, oidc_subject);

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
