//! Docker's json-file logs, read directly from disk.
//!
//! dockerd 20.10's follow stream loses and repeats lines across json-file
//! rotation, and formats every timestamp it sends. Where labtail can read
//! the engine's log files (a local engine, `--docker-log-files auto`, the
//! files readable), it reads them itself, as log shippers do:
//!
//! - a container's log is `<id>-json.log` and, after rotation, `.1`, `.2`,
//!   … (older), each line one JSON entry `{"log", "stream", "time"}`: one
//!   message, as the API would send it, so lines, cursors and order are
//!   the API's (a TTY's `stdout` is its `console`);
//! - following, every file is held open from the moment it is seen, so a
//!   file rotated away (or a container removed) is still read to its end;
//! - `since` seeks by binary search over the files' stamps, `tail` reads
//!   backwards: no read scans a whole log to find where it starts.
//!
//! Compressed rotated files (`--log-opt compress=true`) are not read here:
//! such a container is read through the API.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio::sync::mpsc;

use super::watch::DirWatcher;
use super::{DockerError, ReadFrom};
use crate::frame::{Bytes, Frame};
use crate::line::Stream;
use crate::timefmt::parse_rfc3339_nanos;

/// Where a container's json-file log is, as labtail sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LogFile {
    pub path: PathBuf,
    pub tty: bool,
}

/// A json-file line longer than this is skipped (Docker's messages are at
/// most 16 KiB, escaped at most six times longer).
const MAX_ENTRY: usize = 4 * 1024 * 1024;
/// Bytes read at once.
const READ: usize = 64 * 1024;
/// Frames handed over at once.
const BATCH: usize = 512;

#[derive(Deserialize)]
struct RawEntry<'a> {
    #[serde(borrow)]
    log: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    stream: &'a str,
    #[serde(borrow)]
    time: &'a str,
}

/// One json-file line as a frame; `None` for what is not an entry.
fn parse(line: &[u8], tty: bool) -> Option<Frame> {
    let raw: RawEntry<'_> = serde_json::from_slice(line).ok()?;
    let stream = match raw.stream {
        "stdout" if tty => Stream::Console,
        "stdout" => Stream::Stdout,
        "stderr" => Stream::Stderr,
        _ => return None,
    };
    let ts = parse_rfc3339_nanos(raw.time)?;
    Some(Frame {
        stream,
        bytes: Bytes::from(raw.log.into_owned().into_bytes()),
        ts: Some(ts),
    })
}

/// The stamp of a json-file line, found without parsing all of it
/// (`"time"` is written last).
fn stamp(line: &[u8]) -> Option<i64> {
    let key = b"\"time\":\"";
    let at = line
        .windows(key.len())
        .rposition(|w| w == key)
        .map(|i| i + key.len())?;
    let end = line[at..].iter().position(|&b| b == b'"')? + at;
    parse_rfc3339_nanos(std::str::from_utf8(&line[at..end]).ok()?)
}

/// The log's files, oldest first: `.N` … `.1`, then the current one.
fn chain(path: &Path) -> Result<Vec<PathBuf>, DockerError> {
    let mut older = Vec::new();
    for n in 1.. {
        let p = PathBuf::from(format!("{}.{n}", path.display()));
        if p.exists() {
            older.push(p);
            continue;
        }
        if PathBuf::from(format!("{}.{n}.gz", path.display())).exists() {
            return Err(DockerError::Other(
                "compressed rotated log files; reading through the API".into(),
            ));
        }
        break;
    }
    older.reverse();
    older.push(path.to_owned());
    Ok(older)
}

fn io_error(e: std::io::Error) -> DockerError {
    if e.kind() == std::io::ErrorKind::NotFound {
        DockerError::NotFound
    } else {
        DockerError::Other(format!("cannot read the container's log file: {e}"))
    }
}

/// Log files held open from the moment their container started, so that
/// a container removed right after it ran (`docker run --rm` that prints
/// and exits) can still be read: Docker deletes the file at removal, and
/// labtail may not have opened it by then. A pin is taken when the
/// container's `start` event arrives (before anything else hears of it),
/// and released a while after its `destroy` (`PIN_GRACE`: time for the
/// recorder to read it). Reads open the path as usual and fall back to the
/// pinned file, reopened through `/proc/self/fd` (its own offset).
mod pins {
    use std::collections::HashMap;
    use std::path::{Path, PathBuf};
    use std::sync::{LazyLock, Mutex, MutexGuard};
    use std::time::{Duration, Instant};

    /// How long a removed container's file stays readable.
    const PIN_GRACE: Duration = Duration::from_secs(300);
    /// Most files held at once; the oldest released ones go first, then
    /// the oldest.
    const MAX_PINS: usize = 4096;

    struct Pinned {
        file: std::fs::File,
        at: Instant,
        released: Option<Instant>,
    }

    static PINS: LazyLock<Mutex<HashMap<PathBuf, Pinned>>> = LazyLock::new(Default::default);

    fn pins() -> MutexGuard<'static, HashMap<PathBuf, Pinned>> {
        PINS.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn sweep(p: &mut HashMap<PathBuf, Pinned>) {
        p.retain(|_, v| v.released.is_none_or(|r| r.elapsed() < PIN_GRACE));
        while p.len() >= MAX_PINS {
            let oldest = p
                .iter()
                .min_by_key(|(_, v)| (v.released.is_none(), v.at))
                .map(|(k, _)| k.clone());
            match oldest {
                Some(k) => p.remove(&k),
                None => break,
            };
        }
    }

    /// Holds `path` open (a file that is not there, or not readable, is
    /// not pinned: reads go through the API then anyway).
    pub(crate) fn pin(path: &Path) {
        match std::fs::File::open(path) {
            Ok(file) => keep(path, file),
            Err(e) => {
                tracing::debug!(path = %path.display(), error = %e, "cannot hold a log file open")
            }
        }
    }

    /// Holds `file`, just opened at `path`, unless that very file (same
    /// inode) is held already: the first fd taken is as good as any, and
    /// a rotation since makes the path another file.
    pub(crate) fn keep(path: &Path, file: std::fs::File) {
        let ino = |f: &std::fs::File| f.metadata().map(|m| super::ino_of(&m)).ok();
        let mut p = pins();
        if let Some(held) = p.get(path)
            && held.released.is_none()
            && ino(&held.file) == ino(&file)
        {
            return;
        }
        sweep(&mut p);
        p.insert(
            path.to_owned(),
            Pinned {
                file,
                at: Instant::now(),
                released: None,
            },
        );
    }

    /// The container is gone: its file stays readable for `PIN_GRACE`.
    pub(crate) fn release(path: &Path) {
        let mut p = pins();
        if let Some(v) = p.get_mut(path) {
            v.released = Some(Instant::now());
        }
        sweep(&mut p);
    }

    pub(crate) fn is_pinned(path: &Path) -> bool {
        pins().contains_key(path)
    }

    /// The pinned file as a new open file (its own offset).
    pub(super) fn reopen(path: &Path) -> Option<std::fs::File> {
        let p = pins();
        let v = p.get(path)?;
        reopen_fd(&v.file)
    }

    #[cfg(target_os = "linux")]
    fn reopen_fd(f: &std::fs::File) -> Option<std::fs::File> {
        use std::os::fd::AsRawFd;
        std::fs::File::open(format!("/proc/self/fd/{}", f.as_raw_fd())).ok()
    }

    #[cfg(not(target_os = "linux"))]
    fn reopen_fd(_: &std::fs::File) -> Option<std::fs::File> {
        None
    }
}

pub(crate) use pins::{is_pinned, keep, pin, release};

/// Opens a log file by its path, or, once Docker deleted it, the pinned one.
async fn open_log(path: &Path) -> std::io::Result<tokio::fs::File> {
    match tokio::fs::File::open(path).await {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => match pins::reopen(path) {
            Some(f) => Ok(tokio::fs::File::from_std(f)),
            None => Err(e),
        },
        other => other,
    }
}

/// An open log file, read line by line.
///
/// Read in place once it is `live` (followed at its end: what a read finds
/// was just written, in the page cache, a copy of a few microseconds);
/// before that (catching up on what may not be cached) on the blocking
/// pool. A live line costs one wake-up, not three hand-offs to the pool.
struct Open {
    file: std::fs::File,
    live: bool,
    ino: u64,
    buf: Vec<u8>,
    /// Bytes of `buf` handed out already.
    start: usize,
    /// Skipping the rest of an over-long line.
    skipping: bool,
}

#[cfg(unix)]
fn ino_of(m: &std::fs::Metadata) -> u64 {
    std::os::unix::fs::MetadataExt::ino(m)
}

#[cfg(not(unix))]
fn ino_of(_: &std::fs::Metadata) -> u64 {
    0
}

impl Open {
    async fn at(path: &Path, offset: u64) -> Result<Open, DockerError> {
        let mut file = open_log(path).await.map_err(io_error)?;
        let ino = ino_of(&file.metadata().await.map_err(io_error)?);
        if offset > 0 {
            file.seek(std::io::SeekFrom::Start(offset))
                .await
                .map_err(io_error)?;
        }
        Ok(Open {
            file: file.into_std().await,
            live: false,
            ino,
            buf: Vec::with_capacity(READ),
            start: 0,
            skipping: false,
        })
    }

    /// Reads what is there; appends the complete lines' frames to `out`.
    /// False at the end of what is written.
    async fn read(
        &mut self,
        tty: bool,
        since: i64,
        out: &mut Vec<Frame>,
    ) -> Result<bool, DockerError> {
        if self.start > 0 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        let len = self.buf.len();
        let n = if self.live {
            self.buf.resize(len + READ, 0);
            std::io::Read::read(&mut self.file, &mut self.buf[len..]).map_err(io_error)?
        } else {
            // A duplicate shares the file's offset: the read moves it.
            let mut f = self.file.try_clone().map_err(io_error)?;
            let (n, chunk) = tokio::task::spawn_blocking(move || {
                let mut chunk = vec![0u8; READ];
                std::io::Read::read(&mut f, &mut chunk).map(|n| (n, chunk))
            })
            .await
            .map_err(|e| DockerError::Other(format!("log read: {e}")))?
            .map_err(io_error)?;
            self.buf.resize(len + READ, 0);
            self.buf[len..len + n].copy_from_slice(&chunk[..n]);
            n
        };
        self.buf.truncate(len + n);
        if n == 0 {
            return Ok(false);
        }
        let mut pos = 0;
        while let Some(i) = self.buf[pos..].iter().position(|&b| b == b'\n') {
            let line = &self.buf[pos..pos + i];
            pos += i + 1;
            if std::mem::take(&mut self.skipping) {
                continue;
            }
            if let Some(f) = parse(line, tty)
                && f.ts.is_some_and(|t| t >= since)
            {
                out.push(f);
            }
        }
        self.start = pos;
        if self.buf.len() - self.start > MAX_ENTRY {
            // An entry too long for any Docker message: skip to its end.
            self.skipping = true;
            self.start = self.buf.len();
        }
        Ok(true)
    }
}

/// The byte offset of the first line of `path` that may be stamped `t` or
/// later (a line a little earlier, so racing stamps are not missed).
async fn seek_time(path: &Path, t: i64) -> Result<u64, DockerError> {
    // As re-reads do (`reread::REREAD_MARGIN_SECS`): a second back catches
    // a line of the other stream stamped a hair earlier.
    let margin = 1_000_000_000;
    let target = t.saturating_sub(margin);
    let mut file = open_log(path).await.map_err(io_error)?;
    let len = file.metadata().await.map_err(io_error)?.len();
    let (mut lo, mut hi) = (0u64, len);
    let mut window = vec![0u8; 256 * 1024];
    while hi - lo > READ as u64 {
        let mid = lo + (hi - lo) / 2;
        file.seek(std::io::SeekFrom::Start(mid))
            .await
            .map_err(io_error)?;
        let n = file.read(&mut window).await.map_err(io_error)?;
        let w = &window[..n];
        // The first whole line after `mid`.
        let Some(a) = w.iter().position(|&b| b == b'\n') else {
            break;
        };
        let Some(b) = w[a + 1..].iter().position(|&b| b == b'\n') else {
            break;
        };
        let line_start = mid + a as u64 + 1;
        match stamp(&w[a + 1..a + 1 + b]) {
            Some(ts) if ts < target => lo = line_start,
            Some(_) => hi = mid,
            None => break,
        }
    }
    Ok(lo)
}

/// The last `n` lines of the log's files (fewer if it has fewer), oldest
/// first.
/// The current file is read up to `current_len` (what a follow goes on from).
async fn tail(
    files: &[PathBuf],
    n: usize,
    tty: bool,
    current_len: u64,
) -> Result<Vec<Frame>, DockerError> {
    let mut out: VecDeque<Frame> = VecDeque::new();
    for (k, path) in files.iter().enumerate().rev() {
        if out.len() >= n {
            break;
        }
        // Read this file's last lines backwards, a block at a time.
        let mut file = open_log(path).await.map_err(io_error)?;
        let len = if k + 1 == files.len() {
            current_len
        } else {
            file.metadata().await.map_err(io_error)?.len()
        };
        let want = n - out.len();
        let mut end = len;
        let mut pending: Vec<u8> = Vec::new();
        let mut found: Vec<Frame> = Vec::new();
        while end > 0 && found.len() < want {
            let start = end.saturating_sub(READ as u64);
            file.seek(std::io::SeekFrom::Start(start))
                .await
                .map_err(io_error)?;
            let mut block = vec![0u8; (end - start) as usize];
            file.read_exact(&mut block).await.map_err(io_error)?;
            block.extend_from_slice(&pending);
            // Lines whose start is in this block (the first may be cut
            // unless the block begins the file).
            let mut lines: Vec<&[u8]> = block.split(|&b| b == b'\n').collect();
            let head = if start > 0 {
                lines.remove(0).to_vec()
            } else {
                Vec::new()
            };
            for line in lines.into_iter().rev() {
                if line.is_empty() {
                    continue;
                }
                if let Some(f) = parse(line, tty) {
                    found.push(f);
                    if found.len() >= want {
                        break;
                    }
                }
            }
            if head.len() > MAX_ENTRY {
                // An entry too long for any Docker message: left out.
                pending.clear();
            } else {
                pending = head;
            }
            end = start;
        }
        for f in found {
            out.push_front(f);
        }
    }
    while out.len() > n {
        out.pop_front();
    }
    Ok(out.into())
}

/// Reads a container's log from its files into `tx`, as
/// [`super::DockerApi::logs`] does through the API: from `from`, and, with
/// `follow`, on as it grows (through rotations) until the receiver is gone
/// or the log's directory is (the container removed, its files read to
/// their end).
pub(crate) async fn read(
    log: LogFile,
    from: ReadFrom,
    follow: bool,
    tx: mpsc::Sender<Result<Vec<Frame>, DockerError>>,
) {
    if let Err(e) = read_inner(&log, from, follow, &tx).await {
        let _ = tx.send(Err(e)).await;
    }
}

async fn read_inner(
    log: &LogFile,
    from: ReadFrom,
    follow: bool,
    tx: &mpsc::Sender<Result<Vec<Frame>, DockerError>>,
) -> Result<(), DockerError> {
    let dir = log.path.parent().map(Path::to_owned).unwrap_or_default();
    // Watch before the first read, so no change falls between.
    let mut watch = if follow {
        DirWatcher::get().watch(&dir)
    } else {
        None
    };
    let files = chain(&log.path)?;
    // What is already written.
    let mut queue: VecDeque<Open> = VecDeque::new();
    let mut since;
    match from {
        ReadFrom::Tail(n) => {
            // What is written now: the tail ends here, a follow goes on.
            let len = tokio::fs::metadata(&log.path)
                .await
                .map_err(io_error)?
                .len();
            let n = usize::try_from(n).unwrap_or(usize::MAX);
            let frames = tail(&files, n, log.tty, len).await?;
            for part in frames.chunks(BATCH) {
                if tx.send(Ok(part.to_vec())).await.is_err() {
                    return Ok(());
                }
            }
            if !follow {
                return Ok(());
            }
            queue.push_back(Open::at(&log.path, len).await?);
            since = i64::MAX;
        }
        ReadFrom::SinceSecs(s) => {
            since = if s > 0 {
                s.saturating_mul(1_000_000_000)
            } else {
                i64::MIN
            };
            let mut started = false;
            for (k, path) in files.iter().enumerate() {
                let last = k + 1 == files.len();
                if !started && !last {
                    // Skip files whose last line is older than `since`.
                    if last_stamp(path).await?.is_some_and(|t| t < since) {
                        continue;
                    }
                }
                let offset = if started || since == i64::MIN {
                    0
                } else {
                    seek_time(path, since).await?
                };
                started = true;
                queue.push_back(Open::at(path, offset).await?);
            }
        }
    }
    let mut batch = Vec::new();
    let mut reads = 0u32;
    loop {
        let Some(cur) = queue.front_mut() else {
            return Ok(());
        };
        // `since` filters only the first read; what follows is newer.
        let more = cur
            .read(
                log.tty,
                if since == i64::MAX { i64::MIN } else { since },
                &mut batch,
            )
            .await?;
        reads = reads.wrapping_add(1);
        if follow && more && reads.is_multiple_of(64) {
            // Reading a long way behind: hold every newer generation of the
            // log open as soon as it is seen, so a quick second rotation
            // cannot delete one before it is read.
            if let Ok(m) = std::fs::metadata(&log.path)
                && !queue.iter().any(|o| o.ino == ino_of(&m))
            {
                queue.push_back(Open::at(&log.path, 0).await?);
            }
        }
        if batch.len() >= BATCH || (!more && !batch.is_empty()) {
            for part in std::mem::take(&mut batch).chunks(BATCH) {
                if tx.send(Ok(part.to_vec())).await.is_err() {
                    return Ok(());
                }
            }
        }
        if more {
            continue;
        }
        // At the end of this file.
        if queue.len() > 1 {
            // A newer file exists: this one is complete.
            queue.pop_front();
            continue;
        }
        if !follow {
            return Ok(());
        }
        if let Some(cur) = queue.front_mut() {
            cur.live = true;
        }
        since = i64::MIN;
        // A newer generation of the log (rotation)? (A stat: in place.)
        match std::fs::metadata(&log.path) {
            Ok(m) if !queue.iter().any(|o| o.ino == ino_of(&m)) => {
                queue.push_back(Open::at(&log.path, 0).await?);
                continue;
            }
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if !dir.exists() {
                    // Removed, and everything it wrote is read.
                    return Ok(());
                }
            }
            Err(e) => return Err(io_error(e)),
        }
        // Wait for a change (or look again in a second).
        match &mut watch {
            Some(w) => {
                let _ = tokio::time::timeout(std::time::Duration::from_secs(1), w.changed()).await;
            }
            None => tokio::time::sleep(std::time::Duration::from_millis(50)).await,
        }
        if tx.is_closed() {
            return Ok(());
        }
    }
}

/// The stamp of the last line of a file.
async fn last_stamp(path: &Path) -> Result<Option<i64>, DockerError> {
    let mut file = open_log(path).await.map_err(io_error)?;
    let len = file.metadata().await.map_err(io_error)?.len();
    let start = len.saturating_sub(READ as u64 * 2);
    file.seek(std::io::SeekFrom::Start(start))
        .await
        .map_err(io_error)?;
    let mut block = Vec::new();
    file.read_to_end(&mut block).await.map_err(io_error)?;
    Ok(block
        .split(|&b| b == b'\n')
        .rev()
        .find(|l| !l.is_empty())
        .and_then(stamp))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(stream: &str, ts: &str, log: &str) -> String {
        format!(
            "{}\n",
            serde_json::json!({"log": log, "stream": stream, "time": ts})
        )
    }

    #[test]
    fn entries_parse_as_the_api_sends_them() {
        let e = entry("stdout", "2026-11-22T22:46:37.000000001Z", "héllo \"x\"\n");
        let f = parse(e.trim_end().as_bytes(), false).unwrap();
        assert_eq!(f.stream, Stream::Stdout);
        assert_eq!(&f.bytes[..], "héllo \"x\"\n".as_bytes());
        assert_eq!(f.ts, parse_rfc3339_nanos("2026-11-22T22:46:37.000000001Z"));
        assert_eq!(stamp(e.trim_end().as_bytes()), f.ts);
        // A TTY's stdout is its console; garbage is no entry.
        assert_eq!(
            parse(e.trim_end().as_bytes(), true).unwrap().stream,
            Stream::Console
        );
        assert!(parse(b"{not json", false).is_none());
        assert!(
            parse(
                br#"{"log":"x","stream":"stdin","time":"2026-11-22T22:46:37Z"}"#,
                false
            )
            .is_none()
        );
    }

    #[tokio::test]
    async fn since_tail_and_follow_across_a_rotation() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c-json.log");
        let ts = |i: u64| format!("2026-11-22T22:46:{:02}.{:09}Z", 10 + i / 1000, i % 1000);
        let write = |p: &Path, range: std::ops::Range<u64>| {
            use std::io::Write;
            let mut f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)
                .unwrap();
            for i in range {
                f.write_all(entry("stdout", &ts(i), &format!("{i}\n")).as_bytes())
                    .unwrap();
            }
        };
        // `.1` holds 0..5000, the current file 5000..9000.
        write(&PathBuf::from(format!("{}.1", path.display())), 0..5000);
        write(&path, 5000..9000);
        let log = LogFile {
            path: path.clone(),
            tty: false,
        };
        let all = |from| {
            let log = log.clone();
            async move {
                let (tx, mut rx) = mpsc::channel(4);
                tokio::spawn(read(log, from, false, tx));
                let mut out = Vec::new();
                while let Some(b) = rx.recv().await {
                    for f in b.unwrap() {
                        out.push(
                            String::from_utf8(f.bytes.to_vec())
                                .unwrap()
                                .trim_end()
                                .to_owned(),
                        );
                    }
                }
                out
            }
        };
        let want = |r: std::ops::Range<u64>| r.map(|i| i.to_string()).collect::<Vec<_>>();
        assert_eq!(all(ReadFrom::SinceSecs(0)).await, want(0..9000));
        // Second 16 starts at line 6000.
        let since16 = parse_rfc3339_nanos(&ts(6000)).unwrap() / 1_000_000_000;
        assert_eq!(all(ReadFrom::SinceSecs(since16)).await, want(6000..9000));
        assert_eq!(all(ReadFrom::Tail(4500)).await, want(4500..9000));
        assert_eq!(all(ReadFrom::Tail(3)).await, want(8997..9000));

        // Follow: more lines, then a rotation, then more.
        let (tx, mut rx) = mpsc::channel(4);
        tokio::spawn(read(log.clone(), ReadFrom::Tail(1), true, tx));
        let mut got = Vec::new();
        async fn next(
            rx: &mut mpsc::Receiver<Result<Vec<Frame>, DockerError>>,
            got: &mut Vec<String>,
            want_len: usize,
        ) {
            while got.len() < want_len {
                let b = tokio::time::timeout(std::time::Duration::from_secs(10), rx.recv())
                    .await
                    .expect("lines in time")
                    .expect("stream open")
                    .unwrap();
                got.extend(b.into_iter().map(|f| {
                    String::from_utf8(f.bytes.to_vec())
                        .unwrap()
                        .trim_end()
                        .to_owned()
                }));
            }
        }
        next(&mut rx, &mut got, 1).await;
        write(&path, 9000..9100);
        next(&mut rx, &mut got, 101).await;
        // dockerd's rotation: the current file becomes `.1` (the old `.1`
        // goes), a new one is created, written to.
        std::fs::rename(&path, format!("{}.1", path.display())).unwrap();
        write(&path, 9100..9200);
        next(&mut rx, &mut got, 201).await;
        assert_eq!(got, want(8999..9200));
    }
}
