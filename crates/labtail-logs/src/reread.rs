//! Reading a log again, exactly: the arithmetic of re-reads.
//!
//! Docker's `since` takes whole seconds, so every re-read (a follow stream
//! re-opened after a restart or an engine outage, a client resuming from a
//! cursor older than the ring) starts before the line it is after and
//! overlaps what was already seen. What is old and what is new is decided
//! by *position in Docker's order*, found by exact cursor, never by
//! comparing cursors: Docker's stdout and stderr copiers race, so a line
//! can follow one stamped a hair later. Cursors are unique within a log
//! (see [`Cursor`]), so membership is exact.
//!
//! - [`Seen`]: the cursors a hub published lately, to drop what a re-read
//!   delivers again.
//! - [`Seek`]: where a re-opened follow stream catches up with the last
//!   published line.
//! - [`read_resume`]: the lines after a client's mark up to where the ring
//!   begins.
//! - [`read_lines`]: a bounded finite read (backlog, download).

use std::collections::{HashSet, VecDeque};

use futures_util::StreamExt;

use crate::config::EngineConfig;
use crate::docker::{DockerApi, DockerError, DockerId, ReadFrom};
use crate::frame::Framer;
use crate::line::{Cursor, Line, Mark};

/// A re-read starts this many whole seconds before the second of the line
/// it is after, to catch a line of the other stream stamped a hair earlier.
pub(crate) const REREAD_MARGIN_SECS: i64 = 1;

/// Where a resuming subscriber starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Resume {
    /// Right after the line the mark names, in Docker's order.
    After(Mark),
    /// At the first line stamped at or after this time (nanoseconds since
    /// the epoch), in Docker's order.
    Since(i64),
}

impl Resume {
    /// The `since` of a Docker read that surely covers the resume point.
    pub(crate) fn since_secs(&self) -> i64 {
        match self {
            Resume::After(m) => m.ts_nanos().div_euclid(1_000_000_000) - REREAD_MARGIN_SECS,
            Resume::Since(t) => t.div_euclid(1_000_000_000),
        }
        .max(0)
    }
}

/// Cursors published recently, to drop what a re-read delivers again.
///
/// Keeps the lines of the last `SEEN_SECS` seconds (at most `MAX_SEEN`;
/// beyond that, older cursors fall back to comparison with the newest one
/// evicted, which can only err towards dropping a line that was new).
///
/// Every published line passes through here, so it is on the hot path. The
/// cursors are kept per stream, sorted: a stream's stamps never go back, so
/// a new line's cursor is almost always greater than every kept one of its
/// stream and is appended (no hashing, no search); anything else is looked
/// up by binary search and inserted in place, so membership stays exact even
/// if the host's clock stepped back. (A hash set here cost ~15 % of
/// labtail's CPU reading flat out: 300 000 cursors in 3 s, a cache miss per
/// lookup; `docs/benchmarks.md`.)
#[derive(Debug, Default)]
pub(crate) struct Seen {
    /// Per stream (`Stream::index`), sorted.
    streams: [VecDeque<Cursor>; 3],
    /// Newest cursor evicted for space (not for age).
    evicted_max: Option<Cursor>,
}

const MAX_SEEN: usize = 200_000;
/// Seconds of cursors `Seen` keeps: more than a re-read can reach back.
const SEEN_SECS: i64 = REREAD_MARGIN_SECS + 2;

impl Seen {
    #[cfg(test)]
    pub(crate) fn contains(&self, c: &Cursor) -> bool {
        self.evicted_max.is_some_and(|m| *c <= m)
            || self.streams[c.stream.index()].binary_search(c).is_ok()
    }

    /// Records `c`; true if it was not seen before (so the line is new).
    pub(crate) fn insert_new(&mut self, c: Cursor) -> bool {
        if self.evicted_max.is_some_and(|m| c <= m) {
            return false;
        }
        let kept = &mut self.streams[c.stream.index()];
        match kept.back() {
            Some(last) if c <= *last => match kept.binary_search(&c) {
                Ok(_) => return false,
                Err(at) => kept.insert(at, c),
            },
            _ => kept.push_back(c),
        }
        // Too old to come back in a re-read: simply forgotten.
        let horizon = c.floor_secs() - SEEN_SECS;
        for kept in &mut self.streams {
            while kept.front().is_some_and(|f| f.floor_secs() < horizon) {
                kept.pop_front();
            }
        }
        // Over the bound: the oldest go, and since they could come back,
        // the bound is remembered.
        while self.streams.iter().map(VecDeque::len).sum::<usize>() > MAX_SEEN {
            let Some(oldest) = self
                .streams
                .iter_mut()
                .filter(|k| !k.is_empty())
                .min_by_key(|k| k.front().map(|f| f.ts_nanos))
                .and_then(VecDeque::pop_front)
            else {
                break;
            };
            self.evicted_max = Some(self.evicted_max.map_or(oldest, |m| m.max(oldest)));
        }
        true
    }
}

/// Finds where a re-opened follow stream catches up with what was already
/// published: everything up to and including the target line, in Docker's
/// order, is old; everything after it is new. Should the target never show
/// up (the log was rotated away), lines after it by cursor are kept aside
/// and released once the stream is clearly past it.
pub(crate) struct Seek {
    target: Option<Cursor>,
    pub(crate) aside: Vec<Line>,
    /// The target was given up: the log no longer holds it.
    pub(crate) missed: bool,
}

/// How far past the target (by timestamp) a re-read may go before the
/// target is given up as missing.
const SEEK_GIVE_UP_NANOS: i64 = (REREAD_MARGIN_SECS + 2) * 1_000_000_000;

impl Seek {
    pub(crate) fn new(target: Option<Cursor>) -> Self {
        Seek {
            target,
            aside: Vec::new(),
            missed: false,
        }
    }

    /// The target has not been found (nor given up) yet.
    pub(crate) fn target_pending(&self) -> bool {
        self.target.is_some()
    }

    pub(crate) fn filter(&mut self, lines: Vec<Line>) -> Vec<Line> {
        let Some(target) = self.target else {
            return lines;
        };
        let mut out = Vec::new();
        let mut iter = lines.into_iter();
        for l in iter.by_ref() {
            if l.cursor == target {
                // Found: what was set aside came before it, so it is old too.
                self.aside.clear();
                self.target = None;
                break;
            }
            if l.cursor.ts_nanos > target.ts_nanos.saturating_add(SEEK_GIVE_UP_NANOS) {
                tracing::debug!(
                    ?target,
                    "resume line not found in the re-read; comparing instead"
                );
                out.append(&mut self.aside);
                out.push(l);
                self.target = None;
                self.missed = true;
                break;
            }
            if l.cursor > target {
                self.aside.push(l);
            }
        }
        out.extend(iter);
        out
    }
}

/// What [`read_after`] yields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum After {
    /// The next lines after the mark, in Docker's order.
    Lines(Vec<Line>),
    /// The mark's line is not in the log (rotated away): the lines that
    /// follow come after a gap of unknown size.
    Missed,
}

/// Every line after `mark` (or the whole log), read once (no follow) and
/// handed over as it comes, into `tx`: memory stays bounded however long
/// the log is (the channel's bound holds the reader back). Ends at the end
/// of the log, at an error (sent), or when the receiver is gone.
pub(crate) async fn read_after(
    docker: &dyn DockerApi,
    id: &DockerId,
    mark: Option<Cursor>,
    cfg: &EngineConfig,
    tx: tokio::sync::mpsc::Sender<Result<After, DockerError>>,
) {
    let from = mark.map_or(ReadFrom::SinceSecs(0), |c| {
        ReadFrom::SinceSecs((c.floor_secs() - REREAD_MARGIN_SECS).max(1))
    });
    let mut stream = docker.logs(id, from, false);
    let mut framer = Framer::new(cfg.max_line_bytes);
    let mut seek = Seek::new(mark);
    let mut told = false;
    let mut buf = Vec::new();
    loop {
        let end = match stream.next().await {
            Some(Ok(frame)) => {
                framer.push(&frame, &mut buf);
                false
            }
            Some(Err(e)) => {
                let _ = tx.send(Err(e)).await;
                return;
            }
            None => {
                framer.flush(&mut buf);
                true
            }
        };
        let mut out = seek.filter(std::mem::take(&mut buf));
        if end && seek.target_pending() {
            // The log ended without the mark: what was set aside is new.
            out.append(&mut seek.aside);
            seek.missed = true;
        }
        if seek.missed && !told {
            told = true;
            if tx.send(Ok(After::Missed)).await.is_err() {
                return;
            }
        }
        if !out.is_empty() && tx.send(Ok(After::Lines(out))).await.is_err() {
            return;
        }
        if end {
            return;
        }
    }
}

/// Reads a finite part of a log (no follow), keeping at most `keep` of the
/// newest lines. The cursors of the oldest lines of a `Tail` read may differ
/// from those of other reads (see [`read_backlog`]): fine for a download.
pub(crate) async fn read_lines(
    docker: &dyn DockerApi,
    id: &DockerId,
    from: ReadFrom,
    cfg: &EngineConfig,
    keep: usize,
) -> Result<Vec<Line>, DockerError> {
    Ok(read_raw(docker, id, from, cfg, keep).await?.0.into())
}

async fn read_raw(
    docker: &dyn DockerApi,
    id: &DockerId,
    from: ReadFrom,
    cfg: &EngineConfig,
    keep: usize,
) -> Result<(VecDeque<Line>, Framer), DockerError> {
    let mut stream = docker.logs(id, from, false);
    let mut framer = Framer::new(cfg.max_line_bytes);
    let mut lines = VecDeque::new();
    let mut buf = Vec::new();
    while let Some(item) = stream.next().await {
        framer.push(&item?, &mut buf);
        lines.extend(buf.drain(..));
        while lines.len() > keep {
            lines.pop_front();
        }
    }
    framer.flush(&mut buf);
    lines.extend(buf);
    while lines.len() > keep {
        lines.pop_front();
    }
    Ok((lines, framer))
}

/// Messages a backlog read asks for beyond the lines it keeps, so that the
/// uncertain head (below) usually falls outside what is kept.
const TAIL_SLACK: u64 = 8;
/// A backlog read reaches back at most this many times its size.
const TAIL_REACH: u64 = 16;

/// The last `n` lines of a log, with the cursors any read from a whole
/// second would give them.
///
/// A `tail` read can begin inside a run of equal stamps of one stream, or
/// inside a long line Docker split: the first lines of each stream may then
/// lack their ordinal or their first part. A stream's first run is certain
/// when the read reaches back more than [`REREAD_MARGIN_SECS`] before it
/// (the same bound on Docker's stamp-to-write delay that re-reads rely on);
/// the read asks a little more than it keeps, reaches further back while a
/// kept line is uncertain, and, past `TAIL_REACH` times its size, leaves the
/// uncertain lines out rather than give them a cursor that could be wrong.
pub(crate) async fn read_backlog(
    docker: &dyn DockerApi,
    id: &DockerId,
    n: usize,
    cfg: &EngineConfig,
) -> Result<Vec<Line>, DockerError> {
    let n64 = n as u64;
    let cap = n64.saturating_mul(TAIL_REACH).saturating_add(TAIL_SLACK);
    let mut asked = n64.saturating_add(TAIL_SLACK);
    loop {
        let keep = usize::try_from(asked).unwrap_or(usize::MAX);
        let (mut lines, framer) = read_raw(docker, id, ReadFrom::Tail(asked), cfg, keep).await?;
        // Fewer messages than asked: this is the whole log, nothing is cut.
        let whole = framer.messages() < asked;
        let first_ts = lines.front().map_or(i64::MIN, |l| l.cursor.ts_nanos);
        let margin = REREAD_MARGIN_SECS * 1_000_000_000;
        let uncertain = |l: &Line| {
            !whole && framer.in_first_run(l) && l.cursor.ts_nanos.saturating_sub(first_ts) <= margin
        };
        let kept_from = lines.len().saturating_sub(n);
        let doubtful = lines.iter().skip(kept_from).any(uncertain);
        if !doubtful || asked >= cap {
            if doubtful {
                tracing::debug!("backlog: leaving out lines whose cursor a tail read cannot fix");
            }
            lines.retain(|l| !uncertain(l));
            while lines.len() > n {
                lines.pop_front();
            }
            return Ok(lines.into());
        }
        asked = asked.saturating_mul(4).min(cap);
    }
}

/// Keeps the newest `limit` lines pushed, counting the ones it let go.
struct Newest {
    lines: VecDeque<Line>,
    dropped: u64,
    limit: usize,
}

impl Newest {
    fn new(limit: usize) -> Self {
        Newest {
            lines: VecDeque::new(),
            dropped: 0,
            limit: limit.max(1),
        }
    }

    fn push(&mut self, l: Line) {
        self.lines.push_back(l);
        if self.lines.len() > self.limit {
            self.lines.pop_front();
            self.dropped += 1;
        }
    }
}

/// What a resume read from Docker found: the lines after the resume point
/// and before the ring (at most `limit`, the newest), how many older ones
/// did not fit, and whether the resume point was in the log at all.
#[derive(Debug)]
pub(crate) struct History {
    pub lines: Vec<Line>,
    pub dropped: u64,
    /// The resume point was found before the ring: the mark's line, or a
    /// line stamped at or after the `since` time. If not, the ring holds
    /// where the resume starts (or, for a mark, no read has it at all).
    pub found: bool,
}

/// Reads, from Docker, the lines after a resume point up to (not
/// including) the first line the ring holds (`ring`: the cursors of the
/// ring snapshot the subscriber attached with).
pub(crate) async fn read_resume(
    docker: &dyn DockerApi,
    id: &DockerId,
    r: Resume,
    ring: &HashSet<Cursor>,
    cfg: &EngineConfig,
) -> Result<History, DockerError> {
    let mut stream = docker.logs(id, ReadFrom::SinceSecs(r.since_secs()), false);
    let mut framer = Framer::new(cfg.max_line_bytes);
    // Until the mark is found, lines with a later cursor are kept aside: if
    // it never shows up, they are the answer.
    let mut by_cursor = Newest::new(cfg.max_resume_lines);
    let mut after = Newest::new(cfg.max_resume_lines);
    let mut finder = match r {
        Resume::After(m) => Some(m.finder()),
        Resume::Since(_) => None,
    };
    let mut found = false;
    let mut buf = Vec::new();
    let mut take = |l: Line, found: &mut bool| {
        if *found {
            after.push(l);
            return;
        }
        match (r, finder.as_mut()) {
            (Resume::After(m), Some(f)) => {
                if f.is_mark(&l.cursor) {
                    *found = true;
                } else if m.is_before(&l.cursor) {
                    by_cursor.push(l);
                }
            }
            (Resume::Since(t), _) if l.cursor.ts_nanos >= t => {
                *found = true;
                after.push(l);
            }
            _ => {}
        }
    };
    let mut reached_ring = false;
    'read: while let Some(frame) = stream.next().await {
        framer.push(&frame?, &mut buf);
        for l in buf.drain(..) {
            if ring.contains(&l.cursor) {
                reached_ring = true;
                break 'read;
            }
            take(l, &mut found);
        }
    }
    if !reached_ring {
        framer.flush(&mut buf);
        for l in buf.drain(..) {
            if !ring.contains(&l.cursor) {
                take(l, &mut found);
            }
        }
    }
    let keep = if found || matches!(r, Resume::Since(_)) {
        after
    } else {
        by_cursor
    };
    Ok(History {
        lines: keep.lines.into(),
        dropped: keep.dropped,
        found,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::line::Stream;

    fn line(ts: i64, stream: Stream, ordinal: u32) -> Line {
        Line {
            cursor: Cursor::new(ts, stream, ordinal),
            stream,
            text: String::new(),
            truncated: 0,
        }
    }

    #[test]
    fn seek_finds_the_target_by_position_not_by_order() {
        const T: i64 = 5_000_000_000;
        let target = Cursor::new(T, Stream::Stdout, 0);
        let mut seek = Seek::new(Some(target));
        // A re-read: an old stderr line stamped later than the target, the
        // target, then a new stderr line stamped a hair earlier.
        let reread = vec![
            line(T + 10, Stream::Stderr, 0),
            line(T, Stream::Stdout, 0),
            line(T - 10, Stream::Stderr, 0),
        ];
        let fresh = seek.filter(reread);
        assert_eq!(
            fresh.iter().map(|l| l.cursor).collect::<Vec<_>>(),
            [Cursor::new(T - 10, Stream::Stderr, 0)]
        );
    }

    #[test]
    fn seen_forgets_by_age_and_remembers_a_bound_for_space() {
        let mut seen = Seen::default();
        let c = |s: i64| Cursor::new(s * 1_000_000_000, Stream::Stdout, 0);
        assert!(seen.insert_new(c(10)));
        assert!(seen.contains(&c(10)));
        assert!(!seen.insert_new(c(10)), "a second time is not new");
        assert!(seen.insert_new(c(10 + SEEN_SECS + 1)));
        assert!(!seen.contains(&c(10)), "too old to come back in a re-read");
        assert!(seen.evicted_max.is_none());
    }

    #[test]
    fn seen_is_exact_when_a_stream_goes_back_in_time() {
        // The host's clock stepped back: stdout's stamps repeat earlier ones.
        let mut seen = Seen::default();
        let c = |ms: i64, o| Cursor::new(100_000_000_000 + ms * 1_000_000, Stream::Stdout, o);
        for ms in [10, 20, 30] {
            assert!(seen.insert_new(c(ms, 0)));
        }
        assert!(seen.insert_new(c(15, 0)), "between two kept ones, and new");
        assert!(seen.insert_new(c(20, 1)), "same stamp, next ordinal");
        for old in [c(10, 0), c(15, 0), c(20, 0), c(20, 1), c(30, 0)] {
            assert!(!seen.insert_new(old), "{old:?} was seen");
        }
        // The other stream is kept apart.
        assert!(seen.insert_new(Cursor::new(c(20, 0).ts_nanos, Stream::Stderr, 0)));
    }

    #[test]
    fn seen_over_its_bound_remembers_the_newest_evicted() {
        let mut seen = Seen::default();
        let base = 50_000_000_000;
        for i in 0..=MAX_SEEN as i64 {
            assert!(seen.insert_new(Cursor::new(base + i, Stream::Stdout, 0)));
        }
        // One over the bound: the oldest went, and counts as seen.
        assert_eq!(seen.evicted_max, Some(Cursor::new(base, Stream::Stdout, 0)));
        assert!(!seen.insert_new(Cursor::new(base, Stream::Stdout, 0)));
        assert!(seen.contains(&Cursor::new(base + 1, Stream::Stdout, 0)));
    }

    #[test]
    fn since_reads_start_early_enough() {
        let m = Mark::Cursor(Cursor::new(7_500_000_000, Stream::Stderr, 0));
        assert_eq!(Resume::After(m).since_secs(), 6);
        assert_eq!(Resume::Since(7_500_000_000).since_secs(), 7);
        assert_eq!(Resume::Since(-5).since_secs(), 0);
    }
}
