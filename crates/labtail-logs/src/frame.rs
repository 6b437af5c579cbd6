//! Framing: Docker's log frames in, complete lines with cursors out.
//!
//! labtail always asks Docker for timestamps, so every log *message* Docker
//! sends starts with `<RFC 3339 nanos> `. A message is normally one line
//! ending in `\n`. Docker splits lines longer than 16 KiB into several
//! messages ("partials") where only the last one ends in `\n`; the framer
//! joins them back into one line, up to `max_line_bytes` (the rest is counted
//! in [`Line::truncated`] and dropped, so one endless line cannot grow memory).
//!
//! Ordinals: the lines of one stream that carry the same timestamp get
//! ordinals 0, 1, 2, … in the order Docker delivers them (see
//! [`Cursor`](crate::line::Cursor)). Within one stream Docker's stamps never
//! go back, so those lines are adjacent in that stream; a line of the other
//! stream in between (with the very same stamp or not) changes nothing. That
//! order is the order of Docker's log file, so any read that starts at a
//! second boundary (which is what `since` gives) assigns the same ordinals
//! to the same lines. A read that starts at a `tail` may begin inside a run
//! of equal stamps: see [`Framer::first_runs`].

pub use bytes::Bytes;

use crate::line::{Cursor, Line, Stream};
use crate::timefmt::parse_rfc3339_nanos;

/// One unit of Docker output, already demultiplexed by bollard.
#[derive(Debug, Clone)]
pub struct Frame {
    pub stream: Stream,
    pub bytes: Bytes,
    /// `None`: `bytes` is Docker's API output, messages prefixed with their
    /// timestamp (`"<RFC 3339> text"`). `Some(ts)`: `bytes` is one whole
    /// message stamped `ts` (read from Docker's log file).
    pub ts: Option<i64>,
}

impl Frame {
    /// Converts bollard's item; stdin echoes are not log output and give `None`.
    pub fn from_bollard(out: bollard::container::LogOutput) -> Option<Frame> {
        use bollard::container::LogOutput;
        match out {
            LogOutput::StdOut { message } => Some(Frame {
                stream: Stream::Stdout,
                bytes: message,
                ts: None,
            }),
            LogOutput::StdErr { message } => Some(Frame {
                stream: Stream::Stderr,
                bytes: message,
                ts: None,
            }),
            LogOutput::Console { message } => Some(Frame {
                stream: Stream::Console,
                bytes: message,
                ts: None,
            }),
            LogOutput::StdIn { .. } => None,
        }
    }
}

#[derive(Debug, Default)]
struct Partial {
    ts_nanos: i64,
    text: Vec<u8>,
    truncated: usize,
}

/// Turns frames into lines. One framer per read of a container's log.
#[derive(Debug)]
pub struct Framer {
    max_line_bytes: usize,
    /// Unfinished line per stream (stdout, stderr, console).
    partial: [Option<Partial>; 3],
    /// Per stream, the timestamp and ordinal of its last complete line.
    last: [Option<(i64, u32)>; 3],
    /// Timestamp of the last message of any stream: a TTY chunk without a
    /// timestamp of its own takes it.
    last_ts: Option<i64>,
    /// Per stream, the timestamp of its first line in this read.
    first: [Option<i64>; 3],
    /// Messages (timestamp prefixes) seen.
    messages: u64,
    /// Per stream: the next bytes begin a message (its timestamp).
    boundary: [bool; 3],
    /// Per stream: bytes of a timestamp cut by the end of a frame (a TTY
    /// stream is cut anywhere), kept for the next frame.
    stash: [Vec<u8>; 3],
    /// Bytes of the console's current message: Docker starts a new one (a
    /// partial, with its own timestamp) after `PARTIAL_BYTES`.
    console_bytes: usize,
}

/// Docker's copier cuts a line into messages of this many bytes.
const PARTIAL_BYTES: usize = 16 * 1024;

/// Whether `b` may be the start of a timestamp prefix cut short.
fn maybe_timestamp_start(b: &[u8]) -> bool {
    b.len() < MAX_TS_PREFIX
        && b.iter()
            .all(|&c| c.is_ascii_digit() || matches!(c, b'-' | b'T' | b':' | b'.' | b'Z' | b'+'))
}

fn slot(stream: Stream) -> usize {
    stream.index()
}

/// Longest timestamp prefix labtail accepts (`2026-11-22T22:46:37.958016664Z`
/// is 30 bytes; offsets and extra digits make it longer).
const MAX_TS_PREFIX: usize = 40;

impl Framer {
    pub fn new(max_line_bytes: usize) -> Self {
        Framer {
            max_line_bytes: max_line_bytes.max(1),
            partial: Default::default(),
            last: [None; 3],
            last_ts: None,
            first: [None; 3],
            messages: 0,
            boundary: [true; 3],
            stash: Default::default(),
            console_bytes: 0,
        }
    }

    /// Docker log messages seen so far (a line longer than 16 KiB is
    /// several): what Docker's `tail` counts.
    pub fn messages(&self) -> u64 {
        self.messages
    }

    /// Whether `line` is in the first run of equal timestamps of its
    /// stream in this read. When a read starts at a `tail` rather than at a
    /// whole second, such a line may have lost its first part (a long line)
    /// or the lines before it with the same timestamp, and so its ordinal:
    /// its cursor may differ from the one any other read gives it.
    pub fn in_first_run(&self, line: &Line) -> bool {
        self.first[slot(line.stream)] == Some(line.cursor.ts_nanos)
    }

    /// Feeds one frame, appending every line it completes to `out`.
    ///
    /// Docker's API puts its timestamp before every message: a line, or a
    /// part of a line longer than 16 KiB. A multiplexed frame (stdout,
    /// stderr) is one whole message; a TTY's raw stream is cut anywhere,
    /// even inside a timestamp, so the framer knows where messages begin
    /// (after a line's end, or `PARTIAL_BYTES` into a message) and keeps a
    /// timestamp cut short until the rest comes. The cursor and text of a
    /// line are the same however the bytes were split.
    pub fn push(&mut self, frame: &Frame, out: &mut Vec<Line>) {
        let i = slot(frame.stream);
        if let Some(ts) = frame.ts {
            self.messages += 1;
            let mut rest: &[u8] = &frame.bytes;
            let mut ts = Some(ts);
            // One message; a TTY's may hold line ends of its own.
            loop {
                let (body, complete, next) = split_line(rest);
                self.append(frame.stream, ts.take(), body);
                if complete {
                    self.finish(frame.stream, out);
                }
                rest = next;
                if rest.is_empty() {
                    break;
                }
            }
            return;
        }
        let joined;
        let mut rest: &[u8] = &frame.bytes;
        if !self.stash[i].is_empty() {
            let mut j = std::mem::take(&mut self.stash[i]);
            j.extend_from_slice(&frame.bytes);
            joined = j;
            rest = &joined;
        }
        let console = frame.stream == Stream::Console;
        if !console {
            // A multiplexed frame is a whole message.
            self.boundary[i] = true;
        }
        while !rest.is_empty() {
            let mut ts = None;
            if self.boundary[i] {
                match split_timestamp(rest) {
                    Some((t, after)) => {
                        rest = after;
                        self.messages += 1;
                        ts = Some(t);
                        if console {
                            self.console_bytes = 0;
                        }
                    }
                    None if maybe_timestamp_start(rest) => {
                        self.stash[i] = rest.to_vec();
                        return;
                    }
                    // Not a timestamp after all: the text goes on.
                    None => {}
                }
                self.boundary[i] = false;
            }
            let (mut body, mut complete, mut next) = split_line(rest);
            if console {
                // Docker cut this line into messages of `PARTIAL_BYTES`
                // (the line's end then starts a message of its own).
                let room = PARTIAL_BYTES.saturating_sub(self.console_bytes).max(1);
                if body.len() >= room {
                    body = &rest[..room];
                    complete = false;
                    next = &rest[room..];
                    self.boundary[i] = true;
                }
                self.console_bytes += body.len();
            }
            rest = next;
            self.append(frame.stream, ts, body);
            if complete {
                self.finish(frame.stream, out);
                self.boundary[i] = true;
            }
        }
    }

    /// Completes any unfinished lines (the stream ended without a final `\n`).
    pub fn flush(&mut self, out: &mut Vec<Line>) {
        for stream in [Stream::Stdout, Stream::Stderr, Stream::Console] {
            if self.partial[slot(stream)].is_some() {
                self.finish(stream, out);
            }
        }
    }

    fn append(&mut self, stream: Stream, ts: Option<i64>, body: &[u8]) {
        let fallback_ts = self.last_ts.unwrap_or(0);
        if ts.is_some() {
            self.last_ts = ts;
        }
        let p = self.partial[slot(stream)].get_or_insert_with(|| Partial {
            // A line takes the timestamp of its first message.
            ts_nanos: ts.unwrap_or(fallback_ts),
            ..Partial::default()
        });
        let room = self.max_line_bytes.saturating_sub(p.text.len());
        let take = body.len().min(room);
        p.text.extend_from_slice(&body[..take]);
        p.truncated += body.len() - take;
    }

    fn finish(&mut self, stream: Stream, out: &mut Vec<Line>) {
        let Some(mut p) = self.partial[slot(stream)].take() else {
            return;
        };
        if p.text.last() == Some(&b'\r') && p.truncated == 0 {
            p.text.pop();
        }
        let i = slot(stream);
        let ordinal = match self.last[i] {
            Some((ts, ord)) if ts == p.ts_nanos => ord.saturating_add(1),
            _ => 0,
        };
        self.last[i] = Some((p.ts_nanos, ordinal));
        self.first[i].get_or_insert(p.ts_nanos);
        let text = match String::from_utf8(p.text) {
            Ok(s) => s,
            Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
        };
        out.push(Line {
            cursor: Cursor::new(p.ts_nanos, stream, ordinal),
            stream,
            text,
            truncated: p.truncated,
        });
    }
}

/// `(line, ended, rest)`: the bytes up to a line end, whether there was
/// one, and what follows it.
fn split_line(b: &[u8]) -> (&[u8], bool, &[u8]) {
    match memchr_newline(b) {
        Some(i) => (&b[..i], true, &b[i + 1..]),
        None => (b, false, &b[b.len()..]),
    }
}

fn memchr_newline(b: &[u8]) -> Option<usize> {
    b.iter().position(|&c| c == b'\n')
}

/// Splits `"<timestamp> rest"` into the parsed timestamp and `rest`.
fn split_timestamp(b: &[u8]) -> Option<(i64, &[u8])> {
    // Cheap shape check first: log text that merely starts with a digit must
    // not cost a full parse on every frame.
    if b.len() < 21 || !b[0].is_ascii_digit() || b[4] != b'-' {
        return None;
    }
    let space = b.iter().take(MAX_TS_PREFIX + 1).position(|&c| c == b' ')?;
    let ts = std::str::from_utf8(&b[..space]).ok()?;
    let nanos = parse_rfc3339_nanos(ts)?;
    Some((nanos, &b[space + 1..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(stream: Stream, s: &str) -> Frame {
        Frame {
            stream,
            bytes: Bytes::copy_from_slice(s.as_bytes()),
            ts: None,
        }
    }

    fn frame_all(frames: &[Frame], max: usize) -> Vec<Line> {
        let mut fr = Framer::new(max);
        let mut out = Vec::new();
        for frame in frames {
            fr.push(frame, &mut out);
        }
        fr.flush(&mut out);
        out
    }

    const T1: &str = "2026-11-22T22:46:37.000000001Z";
    const T2: &str = "2026-11-22T22:46:37.000000002Z";
    const T3: &str = "2026-11-22T22:46:37.000000003Z";

    #[test]
    fn one_message_per_frame_gives_one_line_each() {
        let lines = frame_all(
            &[
                f(Stream::Stdout, &format!("{T1} hello\n")),
                f(Stream::Stderr, &format!("{T2} oops\n")),
            ],
            100,
        );
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].text, "hello");
        assert_eq!(lines[0].stream, Stream::Stdout);
        assert_eq!(lines[1].text, "oops");
        assert_eq!(lines[1].stream, Stream::Stderr);
        assert!(lines[0].cursor < lines[1].cursor);
    }

    #[test]
    fn several_messages_in_one_frame_are_split() {
        let lines = frame_all(
            &[f(Stream::Stdout, &format!("{T1} a\n{T2} b\n{T3} c\n"))],
            100,
        );
        let texts: Vec<_> = lines.iter().map(|l| l.text.as_str()).collect();
        assert_eq!(texts, ["a", "b", "c"]);
    }

    #[test]
    fn partial_messages_are_joined_under_the_first_timestamp() {
        let lines = frame_all(
            &[
                f(Stream::Stdout, &format!("{T1} first half ")),
                f(Stream::Stderr, &format!("{T2} other stream\n")),
                f(Stream::Stdout, &format!("{T3} second half\n")),
            ],
            100,
        );
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].text, "other stream");
        assert_eq!(lines[1].text, "first half second half");
        assert_eq!(lines[1].cursor.ts_nanos % 1000, 1);
    }

    #[test]
    fn a_tty_chunk_without_timestamp_continues_the_line() {
        let lines = frame_all(
            &[
                f(Stream::Console, &format!("{T1} progress 10%")),
                f(Stream::Console, " 20%\r\n"),
            ],
            100,
        );
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0].text, "progress 10% 20%");
        assert_eq!(lines[0].stream, Stream::Console);
    }

    /// A TTY's raw stream: Docker's messages, timestamps and all, cut into
    /// frames at every possible place; each way gives the same lines.
    #[test]
    fn a_tty_stream_cut_anywhere_gives_the_same_cursors_and_text() {
        let long = "y".repeat(PARTIAL_BYTES);
        // Docker's messages: two lines, then a line longer than a message
        // (its second part has a timestamp of its own), then one more.
        let raw = format!("{T1} one\r\n{T1} two\r\n{T2} {long}{T3} tail\n{T3} last\n");
        let whole = frame_all(&[f(Stream::Console, &raw)], 1 << 20);
        let texts: Vec<&str> = whole.iter().map(|l| l.text.as_str()).collect();
        assert_eq!(texts, ["one", "two", &format!("{long}tail"), "last"]);
        assert_eq!(whole[1].cursor.ordinal, 1);
        for cut in (0..raw.len()).step_by(7).chain(60..75) {
            let (a, b) = raw.split_at(cut);
            let lines = frame_all(&[f(Stream::Console, a), f(Stream::Console, b)], 1 << 20);
            assert_eq!(lines, whole, "cut at {cut}");
        }
    }

    #[test]
    fn a_message_from_a_log_file_is_one_stamped_message() {
        let framed = |text: &str, ts| Frame {
            stream: Stream::Stdout,
            bytes: Bytes::copy_from_slice(text.as_bytes()),
            ts: Some(ts),
        };
        let lines = frame_all(
            &[
                framed("a\n", 5),
                framed("b\n", 5),
                framed("half ", 6),
                framed("whole\n", 7),
            ],
            100,
        );
        let got: Vec<(i64, u32, &str)> = lines
            .iter()
            .map(|l| (l.cursor.ts_nanos, l.cursor.ordinal, l.text.as_str()))
            .collect();
        assert_eq!(got, [(5, 0, "a"), (5, 1, "b"), (6, 0, "half whole")]);
    }

    #[test]
    fn long_lines_are_bounded_and_count_what_was_cut() {
        let long = "x".repeat(50);
        let lines = frame_all(
            &[
                f(Stream::Stdout, &format!("{T1} {long}")),
                f(Stream::Stdout, &format!("{T2} {long}\n")),
                f(Stream::Stdout, &format!("{T3} next\n")),
            ],
            30,
        );
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].text.len(), 30);
        assert_eq!(lines[0].truncated, 70);
        assert_eq!(lines[1].text, "next");
    }

    #[test]
    fn equal_timestamps_on_two_streams_get_distinct_cursors_adjacent_or_not() {
        // dockerd's two copiers stamp apart: stderr 1 at T1, stderr 3 at a
        // later T3, stdout 2 at T1 again, and then two stdout lines at T2.
        let lines = frame_all(
            &[
                f(Stream::Stderr, &format!("{T1} 1\n")),
                f(Stream::Stderr, &format!("{T3} 3\n")),
                f(Stream::Stdout, &format!("{T1} 2\n")),
                f(Stream::Stdout, &format!("{T2} 4\n")),
                f(Stream::Stderr, &format!("{T3} 5\n")),
                f(Stream::Stdout, &format!("{T2} 6\n")),
            ],
            100,
        );
        let cursors: Vec<String> = lines.iter().map(|l| l.cursor.to_string()).collect();
        let unique: std::collections::HashSet<&String> = cursors.iter().collect();
        assert_eq!(unique.len(), 6, "{cursors:?}");
        let ords: Vec<_> = lines.iter().map(|l| l.cursor.ordinal).collect();
        assert_eq!(ords, [0, 0, 0, 0, 1, 1]);
    }

    #[test]
    fn the_first_run_of_each_stream_is_known_and_messages_are_counted() {
        let long = "x".repeat(10);
        let mut fr = Framer::new(100);
        let mut out = Vec::new();
        for frame in [
            f(Stream::Stdout, &format!("{T1} a\n{T1} b\n")),
            f(Stream::Stderr, &format!("{T1} {long}")),
            f(Stream::Stderr, &format!("{T1} {long}\n")),
            f(Stream::Stdout, &format!("{T2} c\n")),
            f(Stream::Stderr, &format!("{T2} d\n")),
        ] {
            fr.push(&frame, &mut out);
        }
        let first: Vec<bool> = out.iter().map(|l| fr.in_first_run(l)).collect();
        assert_eq!(first, [true, true, true, false, false]);
        assert_eq!(fr.messages(), 6);
    }

    #[test]
    fn equal_timestamps_get_increasing_ordinals() {
        let lines = frame_all(
            &[f(
                Stream::Stdout,
                &format!("{T1} a\n{T1} b\n{T2} c\n{T2} d\n"),
            )],
            100,
        );
        let ords: Vec<_> = lines.iter().map(|l| l.cursor.ordinal).collect();
        assert_eq!(ords, [0, 1, 0, 1]);
        let mut sorted = lines.clone();
        sorted.sort_by_key(|l| l.cursor);
        assert_eq!(sorted, lines);
    }

    #[test]
    fn invalid_utf8_is_replaced_not_fatal() {
        let mut bytes = format!("{T1} ok ").into_bytes();
        bytes.extend_from_slice(&[0xff, 0xfe, b'\n']);
        let lines = frame_all(
            &[Frame {
                stream: Stream::Stdout,
                bytes: Bytes::from(bytes),
                ts: None,
            }],
            100,
        );
        assert_eq!(lines[0].text, "ok \u{fffd}\u{fffd}");
    }

    #[test]
    fn text_that_starts_like_a_date_is_not_eaten() {
        let lines = frame_all(
            &[f(
                Stream::Stdout,
                &format!("{T1} 2024-01-01T00:00:00Z app started\n"),
            )],
            100,
        );
        assert_eq!(lines[0].text, "2024-01-01T00:00:00Z app started");
    }

    #[test]
    fn flush_completes_a_final_unterminated_line() {
        let lines = frame_all(&[f(Stream::Stdout, &format!("{T1} no newline"))], 100);
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0].text, "no newline");
    }

    #[test]
    fn empty_lines_are_lines() {
        let lines = frame_all(&[f(Stream::Stdout, &format!("{T1} \n{T2} \n"))], 100);
        assert_eq!(lines.len(), 2);
        assert!(lines.iter().all(|l| l.text.is_empty()));
    }
}
