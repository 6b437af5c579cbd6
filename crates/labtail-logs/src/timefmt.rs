//! Timestamps as Docker writes them and as the wire carries them
//! (`2026-12-02T07:07:07.123456789Z`), and cursor texts, written into stack
//! buffers and read without allocating: every line carries both, so this is
//! on the hot path (the `time` crate's format machinery and two `String`s per
//! line were ~4 % of labtail's CPU reading flat out). The `time` crate still
//! does the calendar; this file only moves digits, and hands any timestamp
//! that is not in Docker's fixed shape to `time`'s general RFC 3339 parser.

use std::fmt;

/// A short ASCII text kept on the stack.
#[derive(Clone, Copy)]
pub struct Text<const N: usize> {
    buf: [u8; N],
    len: usize,
}

impl<const N: usize> Text<N> {
    fn new() -> Self {
        Text {
            buf: [0; N],
            len: 0,
        }
    }

    pub fn as_str(&self) -> &str {
        // Only ASCII is ever written (digits, letters, punctuation).
        std::str::from_utf8(&self.buf[..self.len]).unwrap_or_default()
    }

    fn push(&mut self, b: u8) {
        if self.len < N {
            self.buf[self.len] = b;
            self.len += 1;
        }
    }

    /// `v` in exactly `width` digits (zero-padded; the high digits of a
    /// larger value are cut, so callers check ranges first).
    fn digits(&mut self, mut v: u64, width: usize) {
        let start = self.len;
        for _ in 0..width {
            self.push(b'0');
        }
        for i in (start..self.len).rev() {
            self.buf[i] = b'0' + (v % 10) as u8;
            v /= 10;
        }
    }
}

impl<const N: usize> fmt::Write for Text<N> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        if self.len + s.len() > N {
            return Err(fmt::Error);
        }
        self.buf[self.len..self.len + s.len()].copy_from_slice(s.as_bytes());
        self.len += s.len();
        Ok(())
    }
}

impl<const N: usize> fmt::Debug for Text<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl<const N: usize> fmt::Display for Text<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The Julian day of 1970-01-01.
const UNIX_EPOCH_JULIAN_DAY: i64 = 2_440_588;
const NANOS: i64 = 1_000_000_000;

/// `YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ`, UTC, nine fractional digits; the Unix
/// epoch for a time outside the years 0 to 9999.
pub fn rfc3339(ts_nanos: i64) -> Text<30> {
    let mut t = Text::new();
    let secs = ts_nanos.div_euclid(NANOS);
    let days = secs.div_euclid(86_400);
    let date = i32::try_from(UNIX_EPOCH_JULIAN_DAY + days)
        .ok()
        .and_then(|jd| time::Date::from_julian_day(jd).ok())
        .filter(|d| (0..=9999).contains(&d.year()));
    let Some(date) = date else {
        return rfc3339(0);
    };
    let sod = secs.rem_euclid(86_400) as u64;
    t.digits(date.year() as u64, 4);
    t.push(b'-');
    t.digits(u64::from(u8::from(date.month())), 2);
    t.push(b'-');
    t.digits(u64::from(date.day()), 2);
    t.push(b'T');
    t.digits(sod / 3600, 2);
    t.push(b':');
    t.digits(sod / 60 % 60, 2);
    t.push(b':');
    t.digits(sod % 60, 2);
    t.push(b'.');
    t.digits(ts_nanos.rem_euclid(NANOS) as u64, 9);
    t.push(b'Z');
    t
}

/// A cursor's text, `"<19-digit nanos>-<letter><6-digit ordinal>"` (see
/// `line::Cursor`); wider for values that do not fit those widths.
pub(crate) fn cursor_text(ts_nanos: i64, letter: u8, ordinal: u32) -> Text<40> {
    let mut t = Text::new();
    if ts_nanos >= 0 && ordinal < 1_000_000 {
        t.digits(ts_nanos as u64, 19);
        t.push(b'-');
        t.push(letter);
        t.digits(u64::from(ordinal), 6);
    } else {
        // 40 bytes hold any i64 and u32 in this shape.
        let _ = fmt::write(
            &mut t,
            format_args!("{ts_nanos:019}-{}{ordinal:06}", letter as char),
        );
    }
    t
}

/// `YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ` as a `String` (see [`rfc3339`]).
pub fn format_rfc3339_nanos(ts_nanos: i64) -> String {
    rfc3339(ts_nanos).as_str().to_owned()
}

/// Parses an RFC 3339 timestamp into nanoseconds since the epoch. Docker's
/// own shape (nine fractional digits, `Z`) is read directly; anything else
/// by the `time` crate.
pub fn parse_rfc3339_nanos(s: &str) -> Option<i64> {
    parse_docker_shape(s.as_bytes()).or_else(|| {
        let t =
            time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()?;
        i64::try_from(t.unix_timestamp_nanos()).ok()
    })
}

/// `YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ` exactly, else `None`.
fn parse_docker_shape(b: &[u8]) -> Option<i64> {
    if b.len() != 30 {
        return None;
    }
    let sep = |i: usize, c: u8| b[i] == c;
    if !(sep(4, b'-')
        && sep(7, b'-')
        && sep(10, b'T')
        && sep(13, b':')
        && sep(16, b':')
        && sep(19, b'.')
        && sep(29, b'Z'))
    {
        return None;
    }
    let num = |from: usize, to: usize| -> Option<i64> {
        b[from..to].iter().try_fold(0i64, |acc, &d| {
            d.is_ascii_digit().then(|| acc * 10 + i64::from(d - b'0'))
        })
    };
    let (year, month, day) = (num(0, 4)?, num(5, 7)?, num(8, 10)?);
    let (hour, minute, second) = (num(11, 13)?, num(14, 16)?, num(17, 19)?);
    let nanos = num(20, 29)?;
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let month = time::Month::try_from(u8::try_from(month).ok()?).ok()?;
    let date =
        time::Date::from_calendar_date(i32::try_from(year).ok()?, month, u8::try_from(day).ok()?)
            .ok()?;
    let days = i64::from(date.to_julian_day()) - UNIX_EPOCH_JULIAN_DAY;
    let secs = days * 86_400 + hour * 3600 + minute * 60 + second;
    secs.checked_mul(NANOS)?.checked_add(nanos)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::line::{Cursor, Stream};

    /// What the `time` crate's format machinery writes (the earlier code).
    fn slow(ts: i64) -> String {
        const FORMAT: &[time::format_description::BorrowedFormatItem<'_>] = time::macros::format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:9]Z"
        );
        time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ts))
            .unwrap()
            .format(FORMAT)
            .unwrap()
    }

    #[test]
    fn timestamps_match_the_time_crate_and_read_back() {
        let mut ts: i64 = 0;
        // A walk over every year an i64 of nanoseconds can hold, with uneven
        // steps: leap days, month ends, the epoch, negative times.
        // Nanoseconds in an i64 reach from 1677 to 2262.
        let (start, end) = (i64::MIN + NANOS, i64::MAX - 100 * 86_400 * NANOS);
        let mut x = start;
        while x < end {
            assert_eq!(rfc3339(x).as_str(), slow(x), "{x}");
            assert_eq!(parse_rfc3339_nanos(rfc3339(x).as_str()), Some(x), "{x}");
            ts += 1;
            x = x.saturating_add(86_399 * NANOS + 123_456_789 + ts * 7_777_777_777);
        }
        for x in [
            0,
            1,
            NANOS - 1,
            951_782_400 * NANOS - 1,
            1_732_312_345_123_456_789,
        ] {
            assert_eq!(rfc3339(x).as_str(), slow(x));
            assert_eq!(parse_rfc3339_nanos(rfc3339(x).as_str()), Some(x));
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
    fn other_rfc3339_shapes_go_to_the_general_parser() {
        let t = 1_732_312_345_120_000_000;
        assert_eq!(parse_rfc3339_nanos("2024-11-22T21:52:25.12Z"), Some(t));
        assert_eq!(parse_rfc3339_nanos("2024-11-22T22:52:25.12+01:00"), Some(t));
        assert_eq!(
            parse_rfc3339_nanos("2024-11-22t21:52:25.120000000z"),
            Some(t)
        );
        for bad in [
            "",
            "2024-13-22T21:52:25.120000000Z",
            "2024-02-30T21:52:25.120000000Z",
            "2024-11-22T24:52:25.120000000Z",
            "2024-11-22T21:52:25.12000000xZ",
            "yesterday",
        ] {
            assert_eq!(parse_rfc3339_nanos(bad), None, "{bad}");
        }
    }

    #[test]
    fn cursor_texts_match_display() {
        for c in [
            Cursor::new(1_732_312_345_123_456_789, Stream::Stdout, 0),
            Cursor::new(5, Stream::Stderr, 999_999),
            Cursor::new(i64::MAX, Stream::Console, 1_000_000),
            Cursor::new(-1, Stream::Stdout, 7),
        ] {
            let display = format!(
                "{:019}-{}{:06}",
                c.ts_nanos,
                c.stream.letter() as char,
                c.ordinal
            );
            assert_eq!(c.text().as_str(), display);
            assert_eq!(c.to_string(), display);
        }
    }
}
