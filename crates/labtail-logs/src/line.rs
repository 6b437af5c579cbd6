//! The unit labtail moves around: one log line with its cursor.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use crate::timefmt::Text;

/// Where a line came from. TTY containers have one merged stream that Docker
/// cannot split, reported as `Console`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Stream {
    Stdout,
    Stderr,
    Console,
}

impl Stream {
    pub const ALL: [Stream; 3] = [Stream::Stdout, Stream::Stderr, Stream::Console];

    pub fn as_str(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
            Stream::Console => "console",
        }
    }

    /// The stream's letter in a cursor's text form.
    pub(crate) const fn letter(self) -> u8 {
        match self {
            Stream::Stdout => b'o',
            Stream::Stderr => b'e',
            Stream::Console => b'c',
        }
    }

    fn from_letter(b: u8) -> Option<Stream> {
        match b {
            b'o' => Some(Stream::Stdout),
            b'e' => Some(Stream::Stderr),
            b'c' => Some(Stream::Console),
            _ => None,
        }
    }

    /// A small index (0, 1, 2), for per-stream arrays.
    pub const fn index(self) -> usize {
        match self {
            Stream::Stdout => 0,
            Stream::Stderr => 1,
            Stream::Console => 2,
        }
    }
}

/// Position of a line in one container's log: unique within that log.
///
/// `(Docker's nanosecond timestamp, stream, ordinal)`, where the ordinal
/// counts the lines *of the same stream* that carry the same timestamp
/// (0 for the first). dockerd stamps each stream in its own copier: within
/// one stream the stamps never go back, so lines of a stream with equal
/// stamps are adjacent in that stream and the ordinal is well defined; two
/// streams can carry the very same nanosecond, which the stream part tells
/// apart. Every part comes from Docker's log file and not from labtail's
/// memory, so the same line gets the same cursor from any read of the log
/// that starts at a whole second (what Docker's `since` gives): after a
/// labtail restart, on another node, in a re-read after a reconnect.
///
/// The text form is fixed width, `"<19-digit nanos>-<o|e|c><6-digit
/// ordinal>"` (`o` stdout, `e` stderr, `c` console), and the order of
/// cursors is the order of their texts. That order is *not* Docker's log
/// order across streams (the two copiers race by microseconds); labtail
/// never relies on it for what it delivers, only as a fallback when a
/// cursor is not in the log at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cursor {
    /// Docker's timestamp of the line, nanoseconds since the Unix epoch.
    pub ts_nanos: i64,
    pub stream: Stream,
    /// Index among the lines of `stream` that carry the same timestamp.
    pub ordinal: u32,
}

impl Ord for Cursor {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.ts_nanos, self.stream.letter(), self.ordinal).cmp(&(
            other.ts_nanos,
            other.stream.letter(),
            other.ordinal,
        ))
    }
}

impl PartialOrd for Cursor {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Cursor {
    pub const fn new(ts_nanos: i64, stream: Stream, ordinal: u32) -> Self {
        Self {
            ts_nanos,
            stream,
            ordinal,
        }
    }

    /// Whole seconds of the timestamp, rounded down: the `since` to give Docker
    /// (its API takes whole seconds) to re-read from this line's second.
    pub fn floor_secs(&self) -> i64 {
        self.ts_nanos.div_euclid(1_000_000_000)
    }

    /// The timestamp as RFC 3339 UTC with nine fractional digits: fixed width,
    /// so these strings also sort in time order.
    pub fn ts_rfc3339(&self) -> String {
        self.ts_text().as_str().to_owned()
    }

    /// [`Self::ts_rfc3339`] without allocating.
    pub fn ts_text(&self) -> Text<30> {
        crate::timefmt::rfc3339(self.ts_nanos)
    }

    /// The cursor's text form (see the type) without allocating.
    pub fn text(&self) -> Text<40> {
        crate::timefmt::cursor_text(self.ts_nanos, self.stream.letter(), self.ordinal)
    }
}

impl fmt::Display for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.text().as_str())
    }
}

/// A cursor string that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a cursor looks like \"1732312345123456789-o000000\"")]
pub struct BadCursor;

/// Longest cursor text accepted, checked before any parsing (cursors come
/// from clients).
const MAX_CURSOR_LEN: usize = 40;

fn digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

impl FromStr for Cursor {
    type Err = BadCursor;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() > MAX_CURSOR_LEN {
            return Err(BadCursor);
        }
        let (ts, rest) = s.split_once('-').ok_or(BadCursor)?;
        let letter = *rest.as_bytes().first().ok_or(BadCursor)?;
        let stream = Stream::from_letter(letter).ok_or(BadCursor)?;
        // The letter is ASCII, so byte 1 starts a character.
        let ord = &rest[1..];
        if !digits(ts) || !digits(ord) {
            return Err(BadCursor);
        }
        Ok(Cursor {
            ts_nanos: ts.parse().map_err(|_| BadCursor)?,
            stream,
            ordinal: ord.parse().map_err(|_| BadCursor)?,
        })
    }
}

/// Where a client resumes: right after a line it was given.
///
/// Besides the cursors labtail gives out now, the form of labtail 0.1
/// (`"<nanos>-<ordinal>"`, without a stream) is still accepted, since a
/// browser tab open across an upgrade holds one. Those ordinals counted the
/// lines with one timestamp across both streams, in Docker's order; such a
/// mark names the line that was the `nth` (from 0) stamped `ts_nanos`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mark {
    Cursor(Cursor),
    Legacy { ts_nanos: i64, nth: u32 },
}

impl Mark {
    pub fn ts_nanos(&self) -> i64 {
        match self {
            Mark::Cursor(c) => c.ts_nanos,
            Mark::Legacy { ts_nanos, .. } => *ts_nanos,
        }
    }

    /// The cursor a client sent, when it is one of today's.
    pub fn cursor(&self) -> Option<Cursor> {
        match self {
            Mark::Cursor(c) => Some(*c),
            Mark::Legacy { .. } => None,
        }
    }

    /// A finder for this mark in a run of lines read in Docker's order from
    /// a whole second at or before the mark's.
    pub(crate) fn finder(&self) -> MarkFinder {
        MarkFinder {
            mark: *self,
            seen_at_ts: 0,
        }
    }

    /// Whether `c` sorts after the mark: the fallback for a mark that is not
    /// in the log (rotated away, or made up).
    pub(crate) fn is_before(&self, c: &Cursor) -> bool {
        match self {
            Mark::Cursor(m) => c > m,
            Mark::Legacy { ts_nanos, .. } => c.ts_nanos > *ts_nanos,
        }
    }
}

impl From<Cursor> for Mark {
    fn from(c: Cursor) -> Self {
        Mark::Cursor(c)
    }
}

impl FromStr for Mark {
    type Err = BadCursor;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() > MAX_CURSOR_LEN {
            return Err(BadCursor);
        }
        if let Some((ts, ord)) = s.split_once('-')
            && digits(ts)
            && digits(ord)
        {
            return Ok(Mark::Legacy {
                ts_nanos: ts.parse().map_err(|_| BadCursor)?,
                nth: ord.parse().map_err(|_| BadCursor)?,
            });
        }
        s.parse().map(Mark::Cursor)
    }
}

/// Finds a [`Mark`]'s line in lines fed in Docker's order.
#[derive(Debug, Clone)]
pub(crate) struct MarkFinder {
    mark: Mark,
    /// Lines stamped with the legacy mark's time seen so far.
    seen_at_ts: u32,
}

impl MarkFinder {
    /// True for the mark's line itself (the first time it is seen).
    pub(crate) fn is_mark(&mut self, c: &Cursor) -> bool {
        match self.mark {
            Mark::Cursor(m) => *c == m,
            Mark::Legacy { ts_nanos, nth } => {
                if c.ts_nanos != ts_nanos {
                    return false;
                }
                self.seen_at_ts += 1;
                self.seen_at_ts == nth.saturating_add(1)
            }
        }
    }
}

/// One complete log line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub cursor: Cursor,
    pub stream: Stream,
    /// The line without its line terminator, decoded as UTF-8 (invalid bytes
    /// replaced). Control characters and ANSI escapes are kept as they are:
    /// rendering them safely is the viewer's job.
    pub text: String,
    /// Bytes cut off the end because the line was longer than the configured
    /// maximum line length.
    pub truncated: usize,
}

impl Line {
    /// Memory this line holds, for the byte bounds of backlogs and batches.
    pub fn weight(&self) -> usize {
        self.text.len() + std::mem::size_of::<Line>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: i64 = 1_732_312_345_123_456_789;

    #[test]
    fn cursor_round_trips_and_sorts_as_text() {
        let cursors = [
            Cursor::new(T, Stream::Console, 0),
            Cursor::new(T, Stream::Stderr, 0),
            Cursor::new(T, Stream::Stderr, 12),
            Cursor::new(T, Stream::Stdout, 0),
            Cursor::new(T + 1, Stream::Stderr, 0),
        ];
        for x in cursors {
            assert_eq!(x.to_string().parse::<Cursor>(), Ok(x));
            assert_eq!(x.to_string().parse::<Mark>(), Ok(Mark::Cursor(x)));
        }
        for w in cursors.windows(2) {
            assert!(w[0] < w[1]);
            assert!(w[0].to_string() < w[1].to_string());
        }
        assert_eq!(cursors[3].to_string(), "1732312345123456789-o000000");
    }

    #[test]
    fn two_streams_at_one_nanosecond_have_two_cursors() {
        let out = Cursor::new(T, Stream::Stdout, 0);
        let err = Cursor::new(T, Stream::Stderr, 0);
        assert_ne!(out, err);
        assert_ne!(out.to_string(), err.to_string());
    }

    #[test]
    fn old_cursors_are_marks() {
        assert_eq!(
            "1732312345123456789-000002".parse::<Mark>(),
            Ok(Mark::Legacy {
                ts_nanos: T,
                nth: 2
            })
        );
        // ...but never today's cursors.
        assert_eq!(
            "1732312345123456789-000002".parse::<Cursor>(),
            Err(BadCursor)
        );
    }

    #[test]
    fn a_legacy_mark_is_the_nth_line_with_its_stamp_in_log_order() {
        let mark: Mark = format!("{T}-000001").parse().unwrap();
        let mut f = mark.finder();
        let log = [
            Cursor::new(T - 1, Stream::Stdout, 0),
            Cursor::new(T, Stream::Stderr, 0),
            Cursor::new(T + 5, Stream::Stderr, 0),
            Cursor::new(T, Stream::Stdout, 0),
            Cursor::new(T, Stream::Stdout, 1),
        ];
        let hits: Vec<bool> = log.iter().map(|c| f.is_mark(c)).collect();
        assert_eq!(hits, [false, false, false, true, false]);
    }

    #[test]
    fn bad_cursors_are_refused() {
        for s in [
            "",
            "-",
            "1-",
            "-1",
            "-o1",
            "abc-o1",
            "1-x",
            "1-o",
            "1-ox",
            "1-z000001",
            "1 -o1",
            "+1-o1",
            "1-+1",
            "99999999999999999999999-o1",
            "1-o99999999999",
            "1-99999999999",
            "1-o-1",
            &"1".repeat(100),
        ] {
            assert_eq!(s.parse::<Cursor>(), Err(BadCursor), "{s:?}");
            assert_eq!(s.parse::<Mark>(), Err(BadCursor), "{s:?}");
        }
    }

    #[test]
    fn floor_secs_rounds_down() {
        assert_eq!(
            Cursor::new(1_999_999_999, Stream::Stdout, 0).floor_secs(),
            1
        );
        assert_eq!(
            Cursor::new(2_000_000_000, Stream::Stdout, 3).floor_secs(),
            2
        );
    }
}
