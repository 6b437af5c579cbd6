//! Searching history: a literal (memchr's memmem) or a regex (the regex
//! crate: linear time, size-limited), over whole decompressed chunks.
//!
//! Every search is bounded: the pattern's length and the compiled regex's
//! size, a time range, the hits it returns, and a time budget after which it
//! stops and says where to go on (`next`). Hits come in (container, line)
//! order, so a search is paged by passing `next` back as `after`.

use std::time::{Duration, Instant};

use labtail_logs::Line;
use memchr::memmem;
use regex::bytes::{Regex, RegexBuilder};

use crate::chunk::{ChunkError, Decoded};
use crate::config::HistoryConfig;
use crate::store::{ChunkRow, Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    /// The query itself is wrong: the message says how (a regex's error
    /// names the position).
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Chunk(#[from] ChunkError),
}

/// What to look for, and where.
#[derive(Debug, Clone)]
pub struct Query {
    pub pattern: String,
    /// A regex (the regex crate's syntax), else a literal.
    pub regex: bool,
    pub ignore_case: bool,
    /// The containers to search (history's row IDs): those the asker may see.
    pub containers: Vec<i64>,
    /// Lines stamped within (ns since the epoch).
    pub from_ts: i64,
    pub to_ts: i64,
    /// Hits to return at most (bounded by `max_hits`).
    pub limit: usize,
    /// Go on after this hit: `(container, line)`.
    pub after: Option<(i64, i64)>,
}

/// A line that matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit {
    pub container: i64,
    pub n: i64,
    pub line: Line,
}

/// What a search found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub hits: Vec<Hit>,
    /// Where to go on, if it stopped before the end (the hit limit or the
    /// time budget); `None` when everything in range was searched.
    pub next: Option<(i64, i64)>,
    /// It stopped because its time ran out (rather than at the hit limit).
    pub timed_out: bool,
    /// Lines searched.
    pub scanned: u64,
}

/// A compiled, bounded pattern.
#[derive(Debug, Clone)]
pub enum Matcher {
    Literal(Box<memmem::Finder<'static>>),
    Regex(Regex),
}

impl Matcher {
    pub fn new(q: &Query, cfg: &HistoryConfig) -> Result<Self, SearchError> {
        if q.pattern.is_empty() {
            return Err(SearchError::Invalid("the search text is empty".into()));
        }
        if q.pattern.len() > cfg.max_pattern {
            return Err(SearchError::Invalid(format!(
                "the search text is longer than {} bytes",
                cfg.max_pattern
            )));
        }
        if q.pattern.contains('\n') {
            return Err(SearchError::Invalid(
                "a search matches within one line; it cannot hold a line break".into(),
            ));
        }
        if !q.regex && !q.ignore_case {
            return Ok(Matcher::Literal(Box::new(
                memmem::Finder::new(q.pattern.as_bytes()).into_owned(),
            )));
        }
        let source = if q.regex {
            q.pattern.clone()
        } else {
            regex::escape(&q.pattern)
        };
        RegexBuilder::new(&source)
            .case_insensitive(q.ignore_case)
            .multi_line(true)
            .size_limit(cfg.regex_size_limit)
            .dfa_size_limit(cfg.regex_size_limit)
            .build()
            .map(Matcher::Regex)
            .map_err(|e| SearchError::Invalid(format!("the regex does not compile: {e}")))
    }

    /// The lines of `d` that match, from line `from` on, in order.
    pub fn matching_lines(&self, d: &Decoded, from: usize) -> Vec<usize> {
        let text = d.text_section().as_bytes();
        let mut out = Vec::new();
        let mut pos = if from < d.len() {
            d.span(from).0
        } else {
            return out;
        };
        while pos < text.len() {
            let hit = match self {
                Matcher::Literal(f) => f
                    .find(&text[pos..])
                    .map(|s| (pos + s, pos + s + f.needle().len())),
                Matcher::Regex(r) => r.find_at(text, pos).map(|m| (m.start(), m.end())),
            };
            let Some((s, e)) = hit else { break };
            let i = d.line_at(s);
            let (start, len) = d.span(i);
            let line_end = start + len;
            let within = e <= line_end || (s == e && s <= line_end);
            if within || self.line_matches(d.text(i)) {
                out.push(i);
            }
            // Go on at the next line: one hit per line.
            pos = line_end + 1;
        }
        out
    }

    /// A match that ran over a line's end (a regex whose class takes
    /// `\n`) counts only if the line alone matches.
    fn line_matches(&self, line: &str) -> bool {
        match self {
            Matcher::Literal(f) => f.find(line.as_bytes()).is_some(),
            Matcher::Regex(r) => r.is_match(line.as_bytes()),
        }
    }
}

/// Chunks fetched per query while searching (each a few hundred KiB
/// uncompressed at most).
const FETCH: i64 = 32;

/// Runs a search.
pub async fn search(store: &Store, cfg: &HistoryConfig, q: &Query) -> Result<Found, SearchError> {
    let matcher = Matcher::new(q, cfg)?;
    let limit = q.limit.clamp(1, cfg.max_hits.max(1));
    let budget = cfg.search_budget;
    let started = Instant::now();
    let mut found = Found {
        hits: Vec::new(),
        next: None,
        timed_out: false,
        scanned: 0,
    };
    // Strictly after this line (of this container) on.
    let mut after = q.after.unwrap_or((i64::MIN, i64::MIN));
    let mut from_seq = i64::MIN;
    loop {
        let rows = store
            .chunks_in_range(
                &q.containers,
                q.from_ts,
                q.to_ts,
                (after.0, from_seq),
                FETCH,
            )
            .await?;
        let Some(last) = rows
            .last()
            .map(|r| (r.container, r.seq, r.first_line + r.lines - 1))
        else {
            return Ok(found);
        };
        let want = limit - found.hits.len();
        let (q2, m2, cfg2) = (q.clone(), matcher.clone(), cfg.clone());
        let left = budget.saturating_sub(started.elapsed());
        let (hits, scanned, stopped) =
            tokio::task::spawn_blocking(move || scan(&rows, &m2, &q2, &cfg2, after, want, left))
                .await
                .map_err(|e| SearchError::Invalid(format!("search failed: {e}")))??;
        found.scanned += scanned;
        found.hits.extend(hits);
        if let Some(at) = stopped {
            found.timed_out = found.hits.len() < limit;
            found.next = Some(at);
            return Ok(found);
        }
        // Everything through the last chunk fetched is searched.
        after = (last.0, last.2);
        from_seq = last.1 + 1;
        if started.elapsed() >= budget {
            found.timed_out = true;
            found.next = Some(after);
            return Ok(found);
        }
    }
}

/// What one scan of fetched chunks gives: the hits, the lines scanned, and
/// where it stopped early (the hit limit or the budget), as an `after`.
type Scanned = (Vec<Hit>, u64, Option<(i64, i64)>);

/// Searches fetched chunks.
fn scan(
    rows: &[ChunkRow],
    m: &Matcher,
    q: &Query,
    cfg: &HistoryConfig,
    after: (i64, i64),
    want: usize,
    budget: Duration,
) -> Result<Scanned, SearchError> {
    let (c0, line0) = (after.0, after.1.saturating_add(1));
    let started = Instant::now();
    let mut hits = Vec::new();
    let mut scanned = 0u64;
    for r in rows {
        if started.elapsed() >= budget {
            // Stopped before this chunk: go on right before it.
            return Ok((hits, scanned, Some((r.container, r.first_line - 1))));
        }
        if r.container == c0 && r.first_line + r.lines <= line0 {
            continue;
        }
        let d = Decoded::from_stored(&r.data, cfg.max_chunk_raw)?;
        let from = if r.container == c0 && line0 > r.first_line {
            usize::try_from(line0 - r.first_line).unwrap_or(usize::MAX)
        } else {
            0
        };
        scanned += d.len().saturating_sub(from) as u64;
        for i in m.matching_lines(&d, from) {
            let c = d.cursor(i);
            if c.ts_nanos < q.from_ts || c.ts_nanos > q.to_ts {
                continue;
            }
            let n = r.first_line + i as i64;
            hits.push(Hit {
                container: r.container,
                n,
                line: d.line(i),
            });
            if hits.len() >= want {
                return Ok((hits, scanned, Some((r.container, n))));
            }
        }
    }
    Ok((hits, scanned, None))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chunk;
    use labtail_logs::{Cursor, Stream};

    fn decoded(texts: &[&str]) -> Decoded {
        let lines: Vec<Line> = texts
            .iter()
            .enumerate()
            .map(|(i, t)| Line {
                cursor: Cursor::new(i as i64, Stream::Stdout, 0),
                stream: Stream::Stdout,
                text: (*t).into(),
                truncated: 0,
            })
            .collect();
        Decoded::decode(&chunk::encode(&lines)).unwrap()
    }

    fn q(pattern: &str, regex: bool, ignore_case: bool) -> Query {
        Query {
            pattern: pattern.into(),
            regex,
            ignore_case,
            containers: vec![],
            from_ts: i64::MIN,
            to_ts: i64::MAX,
            limit: 100,
            after: None,
        }
    }

    #[test]
    fn literals_and_regexes_match_whole_lines_once() {
        let d = decoded(&[
            "bind: address already in use",
            "ok",
            "address",
            "already in use twice already in use",
        ]);
        let cfg = HistoryConfig::default();
        let m = Matcher::new(&q("already in use", false, false), &cfg).unwrap();
        assert_eq!(m.matching_lines(&d, 0), [0, 3]);
        assert_eq!(m.matching_lines(&d, 1), [3]);
        let m = Matcher::new(&q("ADDRESS", false, true), &cfg).unwrap();
        assert_eq!(m.matching_lines(&d, 0), [0, 2]);
        let m = Matcher::new(&q(r"^ok$|twice", true, false), &cfg).unwrap();
        assert_eq!(m.matching_lines(&d, 0), [1, 3]);
        // A class that takes '\n' cannot join two lines into a match.
        let m = Matcher::new(&q(r"in use[^x]+ok", true, false), &cfg).unwrap();
        assert!(m.matching_lines(&d, 0).is_empty());
    }

    #[test]
    fn bad_and_huge_patterns_are_clear_errors() {
        let cfg = HistoryConfig::default();
        let err = Matcher::new(&q("a(b", true, false), &cfg).unwrap_err();
        assert!(err.to_string().contains("does not compile"), "{err}");
        let err = Matcher::new(&q(&"a".repeat(5000), false, false), &cfg).unwrap_err();
        assert!(err.to_string().contains("longer than"), "{err}");
        // A regex whose automaton would be huge is refused by its size.
        let err = Matcher::new(&q(r"\w{1000}\w{1000}\w{1000}", true, false), &cfg).unwrap_err();
        assert!(err.to_string().contains("does not compile"), "{err}");
        assert!(Matcher::new(&q("", false, false), &cfg).is_err());
    }
}
