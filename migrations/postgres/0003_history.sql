-- Lab history: the same tables as migrations/sqlite/0003_history.sql, in
-- Postgres's dialect (there, the comments say what each holds).
CREATE TABLE history_containers (
    id           BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    host         TEXT    NOT NULL,
    docker_id    TEXT    NOT NULL UNIQUE,
    name         TEXT    NOT NULL,
    owner        TEXT    NOT NULL,
    course       TEXT,
    lab          TEXT,
    image        TEXT    NOT NULL,
    tty          BOOLEAN NOT NULL DEFAULT FALSE,
    created_at   BIGINT  NOT NULL,
    started_at   BIGINT,
    ended_at     BIGINT,
    exit_code    BIGINT,
    removed_at   BIGINT,
    lines        BIGINT  NOT NULL DEFAULT 0,
    first_line   BIGINT  NOT NULL DEFAULT 0,
    raw_bytes    BIGINT  NOT NULL DEFAULT 0,
    stored_bytes BIGINT  NOT NULL DEFAULT 0,
    last_cursor  TEXT
);
CREATE INDEX history_containers_owner ON history_containers (owner);
CREATE INDEX history_containers_name ON history_containers (name);

CREATE TABLE history_chunks (
    container    BIGINT  NOT NULL REFERENCES history_containers (id) ON DELETE CASCADE,
    seq          BIGINT  NOT NULL,
    first_line   BIGINT  NOT NULL,
    lines        BIGINT  NOT NULL,
    min_ts       BIGINT  NOT NULL,
    max_ts       BIGINT  NOT NULL,
    first_cursor TEXT    NOT NULL,
    last_cursor  TEXT    NOT NULL,
    raw_bytes    BIGINT  NOT NULL,
    sealed       BOOLEAN NOT NULL,
    data         BYTEA   NOT NULL,
    PRIMARY KEY (container, seq)
);
-- The chunks are compressed already: Postgres must not try again.
ALTER TABLE history_chunks ALTER COLUMN data SET STORAGE EXTERNAL;
CREATE INDEX history_chunks_line ON history_chunks (container, first_line);
CREATE INDEX history_chunks_time ON history_chunks (container, min_ts);
CREATE INDEX history_chunks_age ON history_chunks (max_ts);

CREATE TABLE history_events (
    id           BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    container    BIGINT  NOT NULL REFERENCES history_containers (id) ON DELETE CASCADE,
    at           BIGINT  NOT NULL,
    kind         TEXT    NOT NULL,
    line         BIGINT  NOT NULL,
    exit_code    BIGINT,
    count        BIGINT,
    detail       TEXT
);
CREATE INDEX history_events_container ON history_events (container, line);

CREATE TABLE history_leases (
    engine       TEXT    PRIMARY KEY,
    holder       TEXT    NOT NULL,
    expires_ms   BIGINT  NOT NULL,
    epoch        BIGINT  NOT NULL
);

-- Audit kinds grow with the features: labtail checks the kind it writes.
ALTER TABLE audit DROP CONSTRAINT IF EXISTS audit_kind_check;
