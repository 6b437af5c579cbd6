//! A line's level, where the line says one: JSON (`"level"`, `"severity"`,
//! `"lvl"`, `"levelname"`; pino's numbers too), logfmt (`level=`), a word
//! near its start (`ERROR`, `WARN`, `[error]`, `E: `…), and Python
//! tracebacks (the header, its `File` lines and the exception line are
//! errors). Cheap by construction: it runs once per line on the live path
//! (`container-log` is rendered once for all viewers) and in the
//! attention evaluator; it looks at the start of the line and searches
//! the rest only for the bytes `level`/`severity`.

use memchr::memmem;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    Debug,
    Info,
    Warn,
    Error,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
        }
    }

    /// A level word (any case); `None` for anything else.
    pub fn from_word(w: &[u8]) -> Option<Level> {
        if w.len() > 9 {
            return None;
        }
        let mut buf = [0u8; 9];
        let lower = &mut buf[..w.len()];
        lower.copy_from_slice(w);
        lower.make_ascii_lowercase();
        Some(match &*lower {
            b"error" | b"err" | b"fatal" | b"critical" | b"crit" | b"panic" | b"emerg"
            | b"alert" | b"severe" => Level::Error,
            b"warn" | b"warning" => Level::Warn,
            b"info" | b"notice" => Level::Info,
            b"debug" | b"trace" | b"fine" => Level::Debug,
            _ => return None,
        })
    }
}

/// How far into a line a level word is looked for (after a timestamp, a
/// logger name…).
const PREFIX: usize = 64;

pub fn detect(text: &str) -> Option<Level> {
    let b = text.as_bytes();
    let start = b
        .iter()
        .position(|c| !c.is_ascii_whitespace())
        .unwrap_or(b.len());
    let body = &b[start..];
    if body.is_empty() {
        return None;
    }
    if body[0] == b'{'
        && let Some(l) = json_level(body)
    {
        return Some(l);
    }
    if let Some(l) = python(b, body) {
        return Some(l);
    }
    if let Some(l) = logfmt_level(b) {
        return Some(l);
    }
    prefix_word(&body[..body.len().min(PREFIX)])
}

/// `"level": "warn"` (or `severity`, `lvl`, `levelname`), or pino's
/// numeric level.
fn json_level(b: &[u8]) -> Option<Level> {
    for key in [
        &b"\"level\""[..],
        b"\"severity\"",
        b"\"lvl\"",
        b"\"levelname\"",
    ] {
        let Some(at) = memmem::find(b, key) else {
            continue;
        };
        let rest = &b[at + key.len()..];
        let rest = skip(rest, |c| c.is_ascii_whitespace() || c == b':');
        if let Some(v) = rest.strip_prefix(b"\"") {
            let end = v.iter().position(|&c| c == b'"')?;
            return Level::from_word(&v[..end]);
        }
        let end = rest
            .iter()
            .position(|c| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        return match std::str::from_utf8(&rest[..end])
            .ok()?
            .parse::<u32>()
            .ok()?
        {
            50.. => Some(Level::Error),
            40..50 => Some(Level::Warn),
            30..40 => Some(Level::Info),
            _ => Some(Level::Debug),
        };
    }
    None
}

/// `level=warn` as a logfmt field (at the start or after a space).
fn logfmt_level(b: &[u8]) -> Option<Level> {
    let mut from = 0;
    while let Some(i) = memmem::find(&b[from..], b"level=") {
        let at = from + i;
        if at == 0 || b[at - 1] == b' ' {
            let v = &b[at + 6..];
            let v = v.strip_prefix(b"\"").unwrap_or(v);
            let end = v
                .iter()
                .position(|c| !c.is_ascii_alphabetic())
                .unwrap_or(v.len());
            return Level::from_word(&v[..end]);
        }
        from = at + 6;
    }
    None
}

/// A level word in the line's first bytes: `ERROR`/`WARN`… in capitals
/// anywhere there (as a word), or in any case when it opens the line or
/// is bracketed (`[error]`, `<warn>`, `error:`).
fn prefix_word(b: &[u8]) -> Option<Level> {
    let mut i = 0;
    while i < b.len() {
        if !b[i].is_ascii_alphabetic() {
            i += 1;
            continue;
        }
        let end = b[i..]
            .iter()
            .position(|c| !c.is_ascii_alphabetic())
            .map_or(b.len(), |n| i + n);
        let word = &b[i..end];
        let before = if i == 0 { None } else { Some(b[i - 1]) };
        let after = b.get(end).copied();
        // `ERROR`, `WARN` anywhere in the prefix; `error:` opening the
        // line (gcc, Go's `panic:`); `[error]`, `<warn>`. A plain word is
        // not a level: "fine", "error handling works".
        let capitals = word.len() >= 3 && word.iter().all(u8::is_ascii_uppercase);
        let opens = i == 0 && after == Some(b':');
        let marked = matches!(before, Some(b'[') | Some(b'<') | Some(b'('))
            && matches!(after, Some(b']') | Some(b'>') | Some(b')'));
        if (capitals || opens || marked)
            && let Some(l) = Level::from_word(word)
        {
            return Some(l);
        }
        i = end;
    }
    None
}

/// Python's traceback: its header, its `File "…", line N` lines and the
/// exception line that ends it (`ValueError: …`) are errors.
fn python(line: &[u8], body: &[u8]) -> Option<Level> {
    if body.starts_with(b"Traceback (most recent call last)") {
        return Some(Level::Error);
    }
    if line.starts_with(b"  File \"") {
        return Some(Level::Error);
    }
    if line.first().is_some_and(|c| c.is_ascii_alphabetic()) {
        let name_end = line
            .iter()
            .position(|&c| !(c.is_ascii_alphanumeric() || c == b'_' || c == b'.'))
            .unwrap_or(line.len());
        let name = &line[..name_end];
        let rest = &line[name_end..];
        let ends = rest.is_empty() || rest.starts_with(b": ");
        if ends && name.len() > 5 {
            if name.ends_with(b"Error") || name.ends_with(b"Exception") {
                return Some(Level::Error);
            }
            if name.ends_with(b"Warning") {
                return Some(Level::Warn);
            }
        }
    }
    None
}

fn skip(b: &[u8], f: impl Fn(u8) -> bool) -> &[u8] {
    let n = b.iter().position(|&c| !f(c)).unwrap_or(b.len());
    &b[n..]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_where_lines_say_them() {
        let cases = [
            (r#"{"level":"error","msg":"x"}"#, Some(Level::Error)),
            (r#"{"msg":"x", "severity": "WARNING"}"#, Some(Level::Warn)),
            (r#"{"level":30,"msg":"pino"}"#, Some(Level::Info)),
            (r#"{"level":60,"msg":"pino"}"#, Some(Level::Error)),
            ("ts=1 level=debug msg=hi", Some(Level::Debug)),
            ("level=\"warn\" msg=x", Some(Level::Warn)),
            (
                "2026-12-04 10:00:00,123 ERROR app: boom",
                Some(Level::Error),
            ),
            ("[warn] disk almost full", Some(Level::Warn)),
            ("error: cannot open file", Some(Level::Error)),
            ("E: Unable to locate package", None),
            ("INFO  starting", Some(Level::Info)),
            ("Traceback (most recent call last):", Some(Level::Error)),
            ("  File \"app.py\", line 3, in <module>", Some(Level::Error)),
            ("ZeroDivisionError: division by zero", Some(Level::Error)),
            ("DeprecationWarning: old", Some(Level::Warn)),
            ("KeyboardInterrupt", None),
            ("an error happened in the middle", None),
            ("Errors are fine to mention", None),
            ("fine", None),
            ("error handling works", None),
            ("info about the lab", None),
            ("panic: runtime error", Some(Level::Error)),
            ("ERR connection refused", Some(Level::Error)),
            ("the FINE print", Some(Level::Debug)),
            ("GET /errors 200", None),
            ("", None),
            ("    ", None),
            ("loglevel=info is not level=", None),
        ];
        for (line, want) in cases {
            assert_eq!(detect(line), want, "{line:?}");
        }
    }

    #[test]
    fn any_input_is_fine() {
        for s in [
            "{\"level\":",
            "{\"level\":\"",
            "level=",
            "[",
            "\u{0}\u{ff}error",
            "{\"lvl\": 99999999999999999999}",
        ] {
            let _ = detect(s);
        }
    }
}
