-- Attention: who needs help now, and how far each student got.
--
-- One entry per (container, signal, rule), or per raised hand: its first
-- and last occurrence (Docker's time, ns), how many, the evidence lines
-- (JSON), and its state. A dismissed entry stays dismissed; the signal
-- coming back opens a new one. `rank` orders by severity (error 2,
-- warning 1, info 0).
CREATE TABLE attention_entries (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    key            TEXT    NOT NULL,
    container_id   TEXT    NOT NULL,
    container_name TEXT    NOT NULL,
    owner          TEXT    NOT NULL,
    course         TEXT,
    lab            TEXT,
    signal         TEXT    NOT NULL,
    severity       TEXT    NOT NULL,
    rank           INTEGER NOT NULL,
    title          TEXT    NOT NULL,
    first_at       INTEGER NOT NULL,
    last_at        INTEGER NOT NULL,
    count          INTEGER NOT NULL,
    evidence       TEXT    NOT NULL,
    state          TEXT    NOT NULL,
    state_by       TEXT,
    message        TEXT,
    answer         TEXT,
    updated_ms     INTEGER NOT NULL
);
CREATE INDEX attention_entries_key ON attention_entries (key, id);
CREATE INDEX attention_entries_last ON attention_entries (last_at);

-- The first time each checkpoint of a lab was reached in a container,
-- with the line that showed it.
CREATE TABLE attention_checkpoints (
    container_id   TEXT    NOT NULL,
    lab            TEXT    NOT NULL,
    checkpoint     TEXT    NOT NULL,
    container_name TEXT    NOT NULL,
    owner          TEXT    NOT NULL,
    course         TEXT,
    reached_at     INTEGER NOT NULL,
    cursor         TEXT    NOT NULL,
    text           TEXT    NOT NULL,
    PRIMARY KEY (container_id, lab, checkpoint)
);
CREATE INDEX attention_checkpoints_lab ON attention_checkpoints (lab, owner);

-- Labs defined in the web app (a labs file's are not stored): the
-- definition as JSON (name, rules, checkpoints).
CREATE TABLE attention_labs (
    name       TEXT    PRIMARY KEY,
    definition TEXT    NOT NULL,
    updated_by TEXT    NOT NULL,
    updated_ms INTEGER NOT NULL
);
