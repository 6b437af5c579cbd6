-- Lab history: every line of every lab container, kept after the container
-- is gone (crates/labtail-history). Times are nanoseconds since the epoch,
-- as Docker stamps lines; line numbers count a container's recorded lines
-- from 0 in the order of its log.

-- One row per recorded container, keyed by Docker's ID (a rename keeps its
-- history; a new container of the same name is a new row).
CREATE TABLE history_containers (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    host         TEXT    NOT NULL,
    docker_id    TEXT    NOT NULL UNIQUE,
    name         TEXT    NOT NULL,
    owner        TEXT    NOT NULL,
    course       TEXT,
    lab          TEXT,
    image        TEXT    NOT NULL,
    tty          INTEGER NOT NULL DEFAULT 0,
    created_at   INTEGER NOT NULL,
    started_at   INTEGER,
    ended_at     INTEGER,
    exit_code    INTEGER,
    removed_at   INTEGER,
    -- Lines recorded (the next line number), and the first one still kept
    -- (retention drops the oldest chunks first).
    lines        INTEGER NOT NULL DEFAULT 0,
    first_line   INTEGER NOT NULL DEFAULT 0,
    raw_bytes    INTEGER NOT NULL DEFAULT 0,
    stored_bytes INTEGER NOT NULL DEFAULT 0,
    last_cursor  TEXT
);
CREATE INDEX history_containers_owner ON history_containers (owner);
CREATE INDEX history_containers_name ON history_containers (name);

-- Consecutive lines, zstd-compressed (crates/labtail-history/src/chunk.rs).
-- A container's newest chunk is rewritten as it grows until it is sealed.
CREATE TABLE history_chunks (
    container    INTEGER NOT NULL REFERENCES history_containers (id) ON DELETE CASCADE,
    seq          INTEGER NOT NULL,
    first_line   INTEGER NOT NULL,
    lines        INTEGER NOT NULL,
    min_ts       INTEGER NOT NULL,
    max_ts       INTEGER NOT NULL,
    first_cursor TEXT    NOT NULL,
    last_cursor  TEXT    NOT NULL,
    raw_bytes    INTEGER NOT NULL,
    sealed       INTEGER NOT NULL,
    data         BLOB    NOT NULL,
    PRIMARY KEY (container, seq)
);
CREATE INDEX history_chunks_line ON history_chunks (container, first_line);
CREATE INDEX history_chunks_time ON history_chunks (container, min_ts);
CREATE INDEX history_chunks_age ON history_chunks (max_ts);

-- The lifecycle (created, started, exited, removed, renamed, oom) and the
-- gaps, each at the line number where it falls.
CREATE TABLE history_events (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    container    INTEGER NOT NULL REFERENCES history_containers (id) ON DELETE CASCADE,
    at           INTEGER NOT NULL,
    kind         TEXT    NOT NULL,
    line         INTEGER NOT NULL,
    exit_code    INTEGER,
    count        INTEGER,
    detail       TEXT
);
CREATE INDEX history_events_container ON history_events (container, line);

-- Which node records each Docker engine: one at a time, for a lease that
-- its holder renews (another node takes over when it stops renewing). Each
-- taking bumps `epoch`; a write carries the epoch it was made under, so a
-- node that lost the lease without noticing cannot write any more.
CREATE TABLE history_leases (
    engine       TEXT    PRIMARY KEY,
    holder       TEXT    NOT NULL,
    expires_ms   INTEGER NOT NULL,
    epoch        INTEGER NOT NULL
);

-- Audit kinds grow with the features (reads of another user's history
-- now, sign-ins and courses later): labtail checks the kind it writes, the
-- table no longer does. SQLite cannot drop a CHECK, so the table is copied.
CREATE TABLE audit_new (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    at         TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    kind       TEXT    NOT NULL,
    username   TEXT    NOT NULL,
    ip         TEXT,
    container  TEXT,
    ended_at   TEXT,
    detail     TEXT
);
INSERT INTO audit_new (id, at, kind, username, ip, container, ended_at, detail)
    SELECT id, at, kind, username, ip, container, ended_at, detail FROM audit;
DROP TABLE audit;
ALTER TABLE audit_new RENAME TO audit;
CREATE INDEX audit_at ON audit (at);
CREATE INDEX audit_username ON audit (username, at);
