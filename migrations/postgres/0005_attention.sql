-- Attention: the same as migrations/sqlite/0005_attention.sql (there, the
-- comments say what each holds), in Postgres's dialect.
CREATE TABLE attention_entries (
    id             BIGSERIAL PRIMARY KEY,
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
    first_at       BIGINT  NOT NULL,
    last_at        BIGINT  NOT NULL,
    count          BIGINT  NOT NULL,
    evidence       TEXT    NOT NULL,
    state          TEXT    NOT NULL,
    state_by       TEXT,
    message        TEXT,
    answer         TEXT,
    updated_ms     BIGINT  NOT NULL
);
CREATE INDEX attention_entries_key ON attention_entries (key, id);
CREATE INDEX attention_entries_last ON attention_entries (last_at);

CREATE TABLE attention_checkpoints (
    container_id   TEXT    NOT NULL,
    lab            TEXT    NOT NULL,
    checkpoint     TEXT    NOT NULL,
    container_name TEXT    NOT NULL,
    owner          TEXT    NOT NULL,
    course         TEXT,
    reached_at     BIGINT  NOT NULL,
    cursor         TEXT    NOT NULL,
    text           TEXT    NOT NULL,
    PRIMARY KEY (container_id, lab, checkpoint)
);
CREATE INDEX attention_checkpoints_lab ON attention_checkpoints (lab, owner);

CREATE TABLE attention_labs (
    name       TEXT    PRIMARY KEY,
    definition TEXT    NOT NULL,
    updated_by TEXT    NOT NULL,
    updated_ms BIGINT  NOT NULL
);
