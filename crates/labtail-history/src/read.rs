//! Reading history back: pages of lines by line number, by cursor in both
//! directions, from a time, and the newest lines.
//!
//! Clients name lines by cursor; history numbers them (a container's lines
//! from 0, in the order of its log). A cursor is found by exact match in the
//! chunks whose stamps span it (Docker's streams race, so the log is not
//! sorted by cursor: position is what counts), then pages are line ranges.

use labtail_logs::{Cursor, Line};

use crate::chunk::{ChunkError, Decoded};
use crate::config::HistoryConfig;
use crate::store::{ChunkRow, ContainerRow, EventRow, Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Chunk(#[from] ChunkError),
    /// The cursor names no line history holds (never recorded, or pruned).
    #[error("no line with that cursor is in this container's history")]
    UnknownCursor,
}

/// A recorded line and its number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Numbered {
    pub n: i64,
    pub line: Line,
}

/// Where a page starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Anchor {
    /// The newest lines.
    Tail,
    /// The oldest lines kept.
    Head,
    /// The lines just before this one (not included).
    Before(Cursor),
    /// The lines just after this one (not included).
    After(Cursor),
    /// From the first line stamped at or after this time (ns).
    From(i64),
    /// Lines around this one (it included), for a permalink.
    Around(Cursor),
}

/// A page of a container's history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    pub lines: Vec<Numbered>,
    /// Lifecycle and gaps that fall within the page (by line number).
    pub events: Vec<EventRow>,
    /// Lines before the page are kept (a page `Before` the first would
    /// have some).
    pub more_before: bool,
    /// Lines after the page are recorded.
    pub more_after: bool,
    /// Lines dropped by retention before the first kept one.
    pub pruned: i64,
    /// Every line recorded so far.
    pub total: i64,
}

/// Reads a container's history.
#[derive(Debug, Clone)]
pub struct Reader {
    store: Store,
    max_chunk_raw: usize,
    max_page: usize,
}

impl Reader {
    pub fn new(store: Store, cfg: &HistoryConfig) -> Self {
        Reader {
            store,
            max_chunk_raw: cfg.max_chunk_raw,
            max_page: cfg.max_page_lines.max(1),
        }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    fn decode(&self, c: &ChunkRow) -> Result<Decoded, ReadError> {
        Ok(Decoded::from_stored(&c.data, self.max_chunk_raw)?)
    }

    /// The number of the line with this cursor.
    pub async fn locate(&self, c: &ContainerRow, cursor: &Cursor) -> Result<i64, ReadError> {
        for chunk in self.store.chunks_at_time(c.id, cursor.ts_nanos).await? {
            let d = self.decode(&chunk)?;
            if let Some(i) = d.position(cursor) {
                return Ok(chunk.first_line + i as i64);
            }
        }
        Err(ReadError::UnknownCursor)
    }

    /// The number of the first line stamped at or after `ts` (or the
    /// number after the last line).
    pub async fn first_from(&self, c: &ContainerRow, ts: i64) -> Result<i64, ReadError> {
        let Some(span) = self.store.first_chunk_from(c.id, ts).await? else {
            return Ok(c.lines);
        };
        let Some(chunk) = self.store.chunk(c.id, span.seq).await? else {
            return Ok(c.lines);
        };
        let d = self.decode(&chunk)?;
        let i = (0..d.len())
            .find(|&i| d.cursor(i).ts_nanos >= ts)
            .unwrap_or(d.len());
        Ok(chunk.first_line + i as i64)
    }

    /// Lines `from..to` (clamped to what is kept), in order.
    pub async fn lines(
        &self,
        c: &ContainerRow,
        from: i64,
        to: i64,
    ) -> Result<Vec<Numbered>, ReadError> {
        let from = from.max(c.first_line);
        let to = to.min(c.lines);
        if from >= to {
            return Ok(Vec::new());
        }
        let mut out = Vec::with_capacity((to - from) as usize);
        for chunk in self.store.chunks_for_lines(c.id, from, to).await? {
            let d = self.decode(&chunk)?;
            for i in 0..d.len() {
                let n = chunk.first_line + i as i64;
                if n >= from && n < to {
                    out.push(Numbered { n, line: d.line(i) });
                }
            }
        }
        Ok(out)
    }

    /// A page of at most `limit` lines (bounded by `max_page_lines`).
    pub async fn page(
        &self,
        c: &ContainerRow,
        anchor: Anchor,
        limit: usize,
    ) -> Result<Page, ReadError> {
        let limit = limit.clamp(1, self.max_page) as i64;
        let (from, to) = match anchor {
            Anchor::Tail => (c.lines - limit, c.lines),
            Anchor::Head => (c.first_line, c.first_line + limit),
            Anchor::Before(cur) => {
                let n = self.locate(c, &cur).await?;
                (n - limit, n)
            }
            Anchor::After(cur) => {
                let n = self.locate(c, &cur).await? + 1;
                (n, n + limit)
            }
            Anchor::From(ts) => {
                let n = self.first_from(c, ts).await?;
                (n, n + limit)
            }
            Anchor::Around(cur) => {
                // Centred, but shifted to stay whole near either end.
                let n = self.locate(c, &cur).await?;
                let from = (n - limit / 2).min(c.lines - limit).max(c.first_line);
                (from, from + limit)
            }
        };
        let from = from.max(c.first_line);
        let to = to.min(c.lines).max(from);
        let lines = self.lines(c, from, to).await?;
        // An event at line `to` falls after the page's last line: it is this
        // page's only when no line follows.
        let last = to < c.lines;
        let events = self
            .store
            .events(c.id)
            .await?
            .into_iter()
            .filter(|e| e.line >= from && (e.line < to || (e.line == to && !last)))
            .collect();
        Ok(Page {
            lines,
            events,
            more_before: from > c.first_line,
            more_after: to < c.lines,
            pruned: c.first_line,
            total: c.lines,
        })
    }
}
