//! The unit labtail moves around: one log line with its cursor.

use std::fmt;
use std::str::FromStr;

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
    pub fn as_str(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
            Stream::Console => "console",
        }
    }
}

/// Position of a line in one container's log.
///
/// Derived from Docker's own nanosecond timestamp of the line plus an ordinal
/// among consecutive lines that carry the same timestamp. Because both parts
/// come from Docker's log file and not from labtail's memory, the same line
/// gets the same cursor from any read of the log: after a labtail restart, on
/// another labtail node, or in a re-read after a reconnect.
///
/// The text form is fixed width (`"<19-digit nanos>-<6-digit ordinal>"`), so
/// cursors of one container also compare correctly as plain strings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Cursor {
    /// Docker's timestamp of the line, nanoseconds since the Unix epoch.
    pub ts_nanos: i64,
    /// Index among consecutive lines with the same timestamp.
    pub ordinal: u32,
}

impl Cursor {
    pub const fn new(ts_nanos: i64, ordinal: u32) -> Self {
        Self { ts_nanos, ordinal }
    }

    /// Whole seconds of the timestamp, rounded down: the `since` to give Docker
    /// (its API takes whole seconds) to re-read from this line's second.
    pub fn floor_secs(&self) -> i64 {
        self.ts_nanos.div_euclid(1_000_000_000)
    }

    /// The timestamp as RFC 3339 UTC with nine fractional digits: fixed width,
    /// so these strings also sort in time order.
    pub fn ts_rfc3339(&self) -> String {
        format_rfc3339_nanos(self.ts_nanos)
    }
}

impl fmt::Display for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:019}-{:06}", self.ts_nanos, self.ordinal)
    }
}

/// A cursor string that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a cursor looks like \"1732312345123456789-000000\"")]
pub struct BadCursor;

impl FromStr for Cursor {
    type Err = BadCursor;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        // Bounded before any parsing: cursors come from clients.
        if s.len() > 40 {
            return Err(BadCursor);
        }
        let (ts, ord) = s.split_once('-').ok_or(BadCursor)?;
        if ts.is_empty()
            || ord.is_empty()
            || !ts.bytes().all(|b| b.is_ascii_digit())
            || !ord.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(BadCursor);
        }
        Ok(Cursor {
            ts_nanos: ts.parse().map_err(|_| BadCursor)?,
            ordinal: ord.parse().map_err(|_| BadCursor)?,
        })
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

/// Formats nanoseconds since the epoch as `YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ`.
pub fn format_rfc3339_nanos(ts_nanos: i64) -> String {
    const FORMAT: &[time::format_description::BorrowedFormatItem<'_>] = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:9]Z"
    );
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ts_nanos))
        .ok()
        .and_then(|t| t.format(FORMAT).ok())
        .unwrap_or_else(|| "1970-01-01T00:00:00.000000000Z".to_owned())
}

/// Parses Docker's log timestamp (RFC 3339 with fractional seconds) into
/// nanoseconds since the epoch.
pub fn parse_rfc3339_nanos(s: &str) -> Option<i64> {
    let t = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()?;
    i64::try_from(t.unix_timestamp_nanos()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trips_and_sorts_as_text() {
        let a = Cursor::new(1_732_312_345_123_456_789, 0);
        let b = Cursor::new(1_732_312_345_123_456_789, 12);
        let c = Cursor::new(1_732_312_345_123_456_790, 0);
        for x in [a, b, c] {
            assert_eq!(x.to_string().parse::<Cursor>(), Ok(x));
        }
        assert!(a < b && b < c);
        assert!(a.to_string() < b.to_string() && b.to_string() < c.to_string());
        assert_eq!(a.to_string(), "1732312345123456789-000000");
    }

    #[test]
    fn bad_cursors_are_refused() {
        for s in [
            "",
            "-",
            "1-",
            "-1",
            "abc-1",
            "1-x",
            "1 -1",
            "+1-1",
            "99999999999999999999999-1",
            "1-99999999999",
            &"1".repeat(100),
        ] {
            assert_eq!(s.parse::<Cursor>(), Err(BadCursor), "{s:?}");
        }
    }

    #[test]
    fn timestamps_parse_like_docker_writes_them() {
        let t = parse_rfc3339_nanos("2026-11-22T22:46:37.958016664Z").unwrap();
        assert_eq!(format_rfc3339_nanos(t), "2026-11-22T22:46:37.958016664Z");
        assert_eq!(
            parse_rfc3339_nanos("1970-01-01T00:00:01Z"),
            Some(1_000_000_000)
        );
        assert_eq!(
            parse_rfc3339_nanos("1970-01-01T01:00:00.5+01:00"),
            Some(500_000_000)
        );
        assert_eq!(parse_rfc3339_nanos("2026-02-30X00:00:00Z"), None);
        assert_eq!(parse_rfc3339_nanos("not a time at all!!"), None);
        assert_eq!(parse_rfc3339_nanos("2026-11-22T22:46:37.Z"), None);
        assert_eq!(
            format_rfc3339_nanos(0),
            "1970-01-01T00:00:00.000000000Z".to_string()
        );
    }

    #[test]
    fn floor_secs_rounds_down() {
        assert_eq!(Cursor::new(1_999_999_999, 0).floor_secs(), 1);
        assert_eq!(Cursor::new(2_000_000_000, 3).floor_secs(), 2);
    }
}
