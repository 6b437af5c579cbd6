//! A chunk: consecutive lines of one container, as stored.
//!
//! Columns, not rows, so zstd sees like next to like: the timestamps as
//! deltas (mostly a few microseconds), the streams, the ordinals and cut
//! counts (mostly 0), the text lengths, then every text followed by `\n`.
//! The text section is one contiguous run of bytes in which lines are
//! `\n`-separated, so a search runs over a whole chunk at once (memchr's
//! memmem, the regex crate's prefilters) and maps a hit back to its line by
//! offset. One row per line would take more room than the text itself.
//!
//! ```text
//! "LTC1" n:varint base_ts:zigzag
//! ts deltas (n × zigzag) | streams (n bytes) | ordinals (n × varint)
//! | cut bytes (n × varint) | text lengths (n × varint) | texts, each + '\n'
//! ```
//!
//! Decoding never trusts the bytes: a chunk the database returns damaged
//! gives a [`ChunkError`], never a panic, and its size is bounded before
//! anything is allocated.

use labtail_logs::{Cursor, Line, Stream};

const MAGIC: &[u8; 4] = b"LTC1";

/// A chunk that cannot be read back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChunkError {
    #[error("chunk is damaged: {0}")]
    Damaged(&'static str),
    #[error("chunk is larger than the limit of {0} bytes")]
    TooLarge(usize),
    #[error("chunk cannot be decompressed: {0}")]
    Zstd(String),
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

fn stream_code(s: Stream) -> u8 {
    match s {
        Stream::Stdout => 0,
        Stream::Stderr => 1,
        Stream::Console => 2,
    }
}

fn stream_of(b: u8) -> Option<Stream> {
    match b {
        0 => Some(Stream::Stdout),
        1 => Some(Stream::Stderr),
        2 => Some(Stream::Console),
        _ => None,
    }
}

/// The lines in the chunk format, uncompressed.
pub fn encode(lines: &[Line]) -> Vec<u8> {
    let text: usize = lines.iter().map(|l| l.text.len() + 1).sum();
    let mut out = Vec::with_capacity(16 + lines.len() * 8 + text);
    out.extend_from_slice(MAGIC);
    put_varint(&mut out, lines.len() as u64);
    let base = lines.first().map_or(0, |l| l.cursor.ts_nanos);
    put_varint(&mut out, zigzag(base));
    let mut prev = base;
    for l in lines {
        put_varint(&mut out, zigzag(l.cursor.ts_nanos.wrapping_sub(prev)));
        prev = l.cursor.ts_nanos;
    }
    out.extend(lines.iter().map(|l| stream_code(l.cursor.stream)));
    for l in lines {
        put_varint(&mut out, u64::from(l.cursor.ordinal));
    }
    for l in lines {
        put_varint(&mut out, l.truncated as u64);
    }
    for l in lines {
        put_varint(&mut out, l.text.len() as u64);
    }
    for l in lines {
        out.extend_from_slice(l.text.as_bytes());
        out.push(b'\n');
    }
    out
}

/// zstd at `level` (1 fast … 19 small).
pub fn compress(raw: &[u8], level: i32) -> Vec<u8> {
    // Compressing a buffer in memory only fails on allocation failure.
    zstd::bulk::compress(raw, level).unwrap_or_else(|_| raw.to_vec())
}

/// What one line of a decoded chunk holds, besides its text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Meta {
    cursor: Cursor,
    truncated: u32,
    /// Offset of the text in the text section.
    start: u32,
    len: u32,
}

/// A chunk read back: its lines' cursors and the text section, searched in
/// place.
#[derive(Debug, Clone)]
pub struct Decoded {
    meta: Vec<Meta>,
    /// Every text followed by `\n`, valid UTF-8.
    text: String,
}

struct Reader<'a> {
    b: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn varint(&mut self) -> Result<u64, ChunkError> {
        let mut v: u64 = 0;
        for shift in (0..64).step_by(7) {
            let byte = *self
                .b
                .get(self.pos)
                .ok_or(ChunkError::Damaged("ends inside a number"))?;
            self.pos += 1;
            v |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(ChunkError::Damaged("number too long"))
    }

    fn bytes(&mut self, n: usize) -> Result<&[u8], ChunkError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|e| *e <= self.b.len())
            .ok_or(ChunkError::Damaged("ends early"))?;
        let s = &self.b[self.pos..end];
        self.pos = end;
        Ok(s)
    }
}

impl Decoded {
    /// Decompresses and decodes a stored chunk of at most `max_raw` bytes
    /// uncompressed.
    pub fn from_stored(data: &[u8], max_raw: usize) -> Result<Self, ChunkError> {
        let size = zstd::bulk::Decompressor::upper_bound(data)
            .ok_or(ChunkError::Damaged("no zstd frame size"))?;
        if size > max_raw {
            return Err(ChunkError::TooLarge(max_raw));
        }
        let raw =
            zstd::bulk::decompress(data, size).map_err(|e| ChunkError::Zstd(e.to_string()))?;
        Self::decode(&raw)
    }

    /// Decodes an uncompressed chunk.
    pub fn decode(raw: &[u8]) -> Result<Self, ChunkError> {
        let mut r = Reader { b: raw, pos: 0 };
        if r.bytes(4)? != MAGIC {
            return Err(ChunkError::Damaged("not a labtail chunk"));
        }
        let n = usize::try_from(r.varint()?).map_err(|_| ChunkError::Damaged("line count"))?;
        // Every line takes at least six bytes (five columns and its '\n').
        if n > raw.len() / 6 {
            return Err(ChunkError::Damaged("line count beyond its size"));
        }
        let mut ts = unzigzag(r.varint()?);
        let mut stamps = Vec::with_capacity(n);
        for _ in 0..n {
            ts = ts.wrapping_add(unzigzag(r.varint()?));
            stamps.push(ts);
        }
        let streams = r.bytes(n)?.to_vec();
        let mut ordinals = Vec::with_capacity(n);
        for _ in 0..n {
            ordinals.push(u32::try_from(r.varint()?).map_err(|_| ChunkError::Damaged("ordinal"))?);
        }
        let mut cuts = Vec::with_capacity(n);
        for _ in 0..n {
            cuts.push(u32::try_from(r.varint()?).unwrap_or(u32::MAX));
        }
        let mut meta = Vec::with_capacity(n);
        let mut start: u64 = 0;
        for i in 0..n {
            let len = r.varint()?;
            let stream = stream_of(streams[i]).ok_or(ChunkError::Damaged("stream"))?;
            let (s32, l32) = (
                u32::try_from(start).map_err(|_| ChunkError::Damaged("text offset"))?,
                u32::try_from(len).map_err(|_| ChunkError::Damaged("text length"))?,
            );
            meta.push(Meta {
                cursor: Cursor::new(stamps[i], stream, ordinals[i]),
                truncated: cuts[i],
                start: s32,
                len: l32,
            });
            start += len + 1;
        }
        let rest = &raw[r.pos..];
        if rest.len() as u64 != start {
            return Err(ChunkError::Damaged("text section size"));
        }
        let text = std::str::from_utf8(rest)
            .map_err(|_| ChunkError::Damaged("text is not UTF-8"))?
            .to_owned();
        Ok(Decoded { meta, text })
    }

    pub fn len(&self) -> usize {
        self.meta.len()
    }

    pub fn is_empty(&self) -> bool {
        self.meta.is_empty()
    }

    pub fn cursor(&self, i: usize) -> Cursor {
        self.meta[i].cursor
    }

    /// Line `i`'s text.
    pub fn text(&self, i: usize) -> &str {
        let m = &self.meta[i];
        &self.text[m.start as usize..(m.start + m.len) as usize]
    }

    /// Line `i` as the engine makes lines.
    pub fn line(&self, i: usize) -> Line {
        let m = &self.meta[i];
        Line {
            cursor: m.cursor,
            stream: m.cursor.stream,
            text: self.text(i).to_owned(),
            truncated: m.truncated as usize,
        }
    }

    /// Every line's text, each followed by `\n`: what searches run over.
    pub fn text_section(&self) -> &str {
        &self.text
    }

    /// The line whose text (or its `\n`) holds byte `offset` of the text
    /// section.
    pub fn line_at(&self, offset: usize) -> usize {
        let off = u32::try_from(offset).unwrap_or(u32::MAX);
        self.meta
            .partition_point(|m| m.start <= off)
            .saturating_sub(1)
    }

    /// Where line `i`'s text starts in the text section, and its length.
    pub fn span(&self, i: usize) -> (usize, usize) {
        let m = &self.meta[i];
        (m.start as usize, m.len as usize)
    }

    /// The position of the line with exactly this cursor.
    pub fn position(&self, c: &Cursor) -> Option<usize> {
        self.meta.iter().position(|m| m.cursor == *c)
    }

    /// All lines.
    pub fn lines(&self) -> Vec<Line> {
        (0..self.len()).map(|i| self.line(i)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn line(ts: i64, stream: Stream, ordinal: u32, text: &str, truncated: usize) -> Line {
        Line {
            cursor: Cursor::new(ts, stream, ordinal),
            stream,
            text: text.into(),
            truncated,
        }
    }

    #[test]
    fn round_trips_with_equal_stamps_and_cut_lines() {
        let lines = vec![
            line(1_700_000_000_000_000_000, Stream::Stderr, 0, "first", 0),
            line(1_700_000_000_000_000_000, Stream::Stdout, 0, "", 0),
            line(
                1_700_000_000_000_000_000,
                Stream::Stdout,
                1,
                "ünïcödé \u{1b}[31mred",
                0,
            ),
            line(
                1_699_999_999_999_999_000,
                Stream::Stdout,
                0,
                "clock went back",
                0,
            ),
            line(1_700_000_001_000_000_000, Stream::Console, 0, "cut", 70_000),
        ];
        let stored = compress(&encode(&lines), 3);
        let d = Decoded::from_stored(&stored, 1 << 20).unwrap();
        assert_eq!(d.lines(), lines);
        assert_eq!(
            d.text_section(),
            "first\n\nünïcödé \u{1b}[31mred\nclock went back\ncut\n"
        );
        let off = d.text_section().find("red").unwrap();
        assert_eq!(d.line_at(off), 2);
        assert_eq!(d.line_at(d.text_section().find("first").unwrap()), 0);
        assert_eq!(d.position(&lines[3].cursor), Some(3));
    }

    #[test]
    fn damaged_chunks_are_errors_not_panics() {
        let lines = vec![line(5, Stream::Stdout, 0, "hello", 0)];
        let raw = encode(&lines);
        for cut in 0..raw.len() {
            assert!(Decoded::decode(&raw[..cut]).is_err(), "cut at {cut}");
        }
        let mut bad = raw.clone();
        bad[0] = b'X';
        assert!(Decoded::decode(&bad).is_err());
        assert!(Decoded::from_stored(b"not zstd at all", 1 << 20).is_err());
        let big = compress(&vec![b'a'; 100_000], 3);
        assert_eq!(
            Decoded::from_stored(&big, 1000).unwrap_err(),
            ChunkError::TooLarge(1000)
        );
    }

    proptest! {
        #[test]
        fn any_lines_round_trip(
            spec in proptest::collection::vec(
                (any::<i64>(), 0u8..3, 0u32..4, "[^\n]{0,40}", 0usize..3),
                0..60,
            )
        ) {
            let lines: Vec<Line> = spec
                .into_iter()
                .map(|(ts, s, o, t, cut)| line(ts, stream_of(s).unwrap(), o, &t, cut))
                .collect();
            let d = Decoded::decode(&encode(&lines)).unwrap();
            prop_assert_eq!(d.lines(), lines);
        }

        #[test]
        fn any_bytes_decode_to_a_result(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let mut with_magic = MAGIC.to_vec();
            with_magic.extend(&bytes);
            let _ = Decoded::decode(&with_magic);
            let _ = Decoded::decode(&bytes);
        }
    }
}
