//! Export: a zip bundle of containers' histories, for grading, evidence, or
//! a student's own record.
//!
//! ```text
//! manifest.json              every container: its names, owner, image, the
//!                            lifecycle (created, started, exited with code,
//!                            removed, gaps), its file, lines, bytes, SHA-256
//! <owner>/<name>-<id12>.log  one line per log line: RFC 3339 time, stream, text
//! ```
//!
//! Written to a file (the caller's temporary one) one container at a time,
//! a few chunks in memory at once: a class's bundle costs disk, not memory.

use std::io::{Seek, Write};

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::read::{ReadError, Reader};
use crate::store::ContainerRow;

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error("cannot write the bundle: {0}")]
    Io(#[from] std::io::Error),
    #[error("cannot write the bundle: {0}")]
    Zip(#[from] zip::result::ZipError),
    #[error("cannot write the manifest: {0}")]
    Json(#[from] serde_json::Error),
}

/// The manifest of a bundle.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    pub generated_at: String,
    pub containers: Vec<Entry>,
}

/// One container in a bundle.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Entry {
    pub name: String,
    pub id: String,
    pub owner: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub course: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lab: Option<String>,
    pub image: String,
    pub created_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub removed_at: Option<String>,
    pub lifecycle: Vec<LifeEvent>,
    pub file: String,
    pub lines: i64,
    /// Lines retention dropped before the first one in the file.
    pub pruned_lines: i64,
    pub bytes: u64,
    pub sha256: String,
}

/// One entry of a container's timeline, in a manifest.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LifeEvent {
    pub at: String,
    pub kind: String,
    /// The line (0-based, of the whole log) it comes before.
    pub line: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub count: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

fn time(ns: i64) -> String {
    labtail_logs::format_rfc3339_nanos(ns)
}

/// The file name of a container's log in a bundle (names and owners are
/// Docker-name and user-name safe; a host's `/` becomes `_`).
pub fn file_name(c: &ContainerRow) -> String {
    let short = c.docker_id.get(..12).unwrap_or(&c.docker_id);
    format!("{}/{}-{short}.log", c.owner, c.name.replace('/', "_"))
}

/// Lines read per step while writing a container's file.
const STEP: i64 = 10_000;

/// Writes a bundle of `containers` into `out`. Runs on a blocking thread
/// (the zip writer is synchronous); reads go through the runtime's handle.
pub fn write_bundle<W: Write + Seek>(
    reader: &Reader,
    containers: &[ContainerRow],
    out: W,
    rt: &tokio::runtime::Handle,
) -> Result<Manifest, ExportError> {
    let mut zip = zip::ZipWriter::new(out);
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .large_file(true);
    let mut manifest = Manifest {
        generated_at: time(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| i64::try_from(d.as_nanos()).unwrap_or(0))
                .unwrap_or(0),
        ),
        containers: Vec::new(),
    };
    for c in containers {
        let file = file_name(c);
        zip.start_file(file.as_str(), opts)?;
        let mut hash = Sha256::new();
        let mut bytes = 0u64;
        let mut from = c.first_line;
        let mut buf = String::new();
        while from < c.lines {
            let lines = rt.block_on(reader.lines(c, from, from + STEP))?;
            if lines.is_empty() {
                break;
            }
            buf.clear();
            for l in &lines {
                buf.push_str(l.line.cursor.ts_text().as_str());
                buf.push(' ');
                buf.push_str(l.line.stream.as_str());
                buf.push(' ');
                buf.push_str(&l.line.text);
                buf.push('\n');
            }
            hash.update(buf.as_bytes());
            bytes += buf.len() as u64;
            zip.write_all(buf.as_bytes())?;
            from = lines.last().map_or(c.lines, |l| l.n + 1);
        }
        let events = rt
            .block_on(reader.store().events(c.id))
            .map_err(ReadError::from)?;
        manifest.containers.push(Entry {
            name: c.name.clone(),
            id: c.docker_id.clone(),
            owner: c.owner.clone(),
            course: c.course.clone(),
            lab: c.lab.clone(),
            image: c.image.clone(),
            created_at: time(c.created_at),
            started_at: c.started_at.map(time),
            ended_at: c.ended_at.map(time),
            exit_code: c.exit_code,
            removed_at: c.removed_at.map(time),
            lifecycle: events
                .into_iter()
                .map(|e| LifeEvent {
                    at: time(e.at),
                    kind: e.kind,
                    line: e.line,
                    exit_code: e.exit_code,
                    count: e.count,
                    detail: e.detail,
                })
                .collect(),
            file,
            lines: c.lines - c.first_line,
            pruned_lines: c.first_line,
            bytes,
            sha256: hex(&hash.finalize()),
        });
    }
    zip.start_file("manifest.json", opts)?;
    zip.write_all(&serde_json::to_vec_pretty(&manifest)?)?;
    zip.finish()?;
    Ok(manifest)
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}
