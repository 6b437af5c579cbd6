//! A watch's history: what `start-container-logs` replays from lab history
//! before the live lines (or instead of them, for a removed container).
//!
//! The seam is exact: the plan reads how far history goes (its last line,
//! `L`), the live subscription joins right after `L`'s cursor (from the
//! ring, or read back from Docker), and the replay sends the recorded lines
//! up to `L`. A replay is bounded by `--max-resume-lines`; what is older is
//! told as a gap with its count (the viewer pages it in over HTTP).

use labtail_history::{ContainerRow, Reader};
use labtail_logs::{Cursor, Mark, StartAt};
use socketioxide::adapter::Adapter;
use socketioxide::extract::SocketRef;

use super::emit::{emit, send_lines_owned};
use crate::wire::{ContainerGap, StartFrom, WireError, names};

/// Lines of history to send before (or instead of) the live ones.
#[derive(Debug, Clone)]
pub(super) struct Replay {
    pub row: ContainerRow,
    /// Line numbers `from..to` of the container's history.
    pub from: i64,
    pub to: i64,
    /// Lines before `from` the client asked for but the bound left out,
    /// and the cursor they follow (`None`: not known, or the start).
    pub gap: Option<(Option<Cursor>, Option<u64>)>,
}

/// Where history takes a watch of a container: the replay, and where the
/// live subscription (if the container is live) joins. `None`: history has
/// nothing to add; the live engine serves the request as it is.
pub(super) async fn plan(
    reader: &Reader,
    row: &ContainerRow,
    from: &StartFrom,
    live: bool,
    max_tail: u64,
    max_replay: i64,
) -> Result<Option<(Replay, Option<StartAt>)>, WireError> {
    let last = row
        .last_cursor
        .as_deref()
        .and_then(|c| c.parse::<Cursor>().ok());
    let Some(last) = last else {
        return Ok(None);
    };
    let total = row.lines;
    let (start, mut gap) = match *from {
        // A live container's tail is the engine's ring; a removed one's is
        // history's.
        StartFrom::Tail(_) if live => return Ok(None),
        StartFrom::Tail(n) => (total - n.min(max_tail) as i64, None),
        StartFrom::After(mark) => {
            let Some(c) = mark.cursor() else {
                return Ok(None);
            };
            match reader.locate(row, &c).await {
                Ok(n) => (n + 1, None),
                // Not in history: newer than what it holds (the ring has
                // it) for a live container; for a removed one, unknown.
                Err(labtail_history::ReadError::UnknownCursor) if live => return Ok(None),
                Err(labtail_history::ReadError::UnknownCursor) => {
                    let n = reader
                        .first_from(row, c.ts_nanos)
                        .await
                        .map_err(read_error)?;
                    (n, Some((Some(c), None)))
                }
                Err(e) => return Err(read_error(e)),
            }
        }
        StartFrom::Since(t) => (reader.first_from(row, t).await.map_err(read_error)?, None),
    };
    if start >= total {
        // Nothing recorded after the start: live (if any) serves it all.
        if live {
            return Ok(None);
        }
    }
    let mut start = start.max(row.first_line);
    if total - start > max_replay {
        let left_out = total - max_replay - start;
        let after = match *from {
            StartFrom::After(Mark::Cursor(c)) => Some(c),
            _ => None,
        };
        gap = Some((after, Some(left_out as u64)));
        start = total - max_replay;
    }
    let live_start = live.then(|| StartAt::After(last.into()));
    Ok(Some((
        Replay {
            row: row.clone(),
            from: start,
            to: total,
            gap,
        },
        live_start,
    )))
}

fn read_error(e: labtail_history::ReadError) -> WireError {
    WireError::internal(e)
}

/// Lines read from history per step of a replay.
const STEP: i64 = 2000;

/// Sends a replay as `container-log` events (and a gap first, if any);
/// false if the socket went away.
pub(super) async fn send<A: Adapter>(
    s: &SocketRef<A>,
    name: &str,
    reader: &Reader,
    r: &Replay,
    max_lines: usize,
    max_bytes: usize,
    emitted: &metrics::Counter,
) -> bool {
    let mut from = r.from;
    let mut first = true;
    while from < r.to {
        let lines = match reader.lines(&r.row, from, (from + STEP).min(r.to)).await {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(container = %name, error = %e, "history replay failed");
                return true;
            }
        };
        let Some(next) = lines.last().map(|l| l.n + 1) else {
            break;
        };
        if first {
            first = false;
            if let Some((after, count)) = r.gap {
                let gap = ContainerGap {
                    container_name: name.to_owned(),
                    from: after.map(|c| c.to_string()),
                    to: lines.first().map(|l| l.line.cursor.to_string()),
                    count,
                };
                if !emit(s, names::CONTAINER_LOG_GAP, &gap).await {
                    return false;
                }
            }
        }
        let lines: Vec<labtail_logs::Line> = lines.into_iter().map(|l| l.line).collect();
        if !send_lines_owned(s, name, lines, max_lines, max_bytes, emitted).await {
            return false;
        }
        from = next;
    }
    true
}
