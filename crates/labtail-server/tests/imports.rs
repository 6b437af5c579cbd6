//! "Imports run one way": every module of labtail-logs, labtail-history
//! and labtail-server uses only modules above it in the layers that
//! ARCHITECTURE.md lists for its crate (so the map and the code cannot
//! drift apart), and no module uses one that uses it back. Checked on the
//! source text: every `crate::x` and `super::x` a non-test part of a file
//! names is an edge.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read source dir").flatten() {
        let p = entry.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

/// `socket/worker.rs` → `socket::worker`; `lib.rs` → None.
fn module_of(src: &Path, file: &Path) -> Option<String> {
    let rel = file.strip_prefix(src).ok()?.with_extension("");
    let mut parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if parts.last().is_some_and(|p| p == "mod") {
        parts.pop();
    }
    if parts == ["lib"] || parts == ["main"] || parts.is_empty() {
        return None;
    }
    Some(parts.join("::"))
}

/// The text before the first `#[cfg(test)]` module: tests may reach anywhere.
fn non_test(text: &str) -> &str {
    let cut = text
        .match_indices("#[cfg(test)]")
        .find(|(i, _)| text[i + 12..].trim_start().starts_with("mod "))
        .map_or(text.len(), |(i, _)| i);
    &text[..cut]
}

fn idents_after<'a>(text: &'a str, prefix: &str) -> Vec<&'a str> {
    text.match_indices(prefix)
        .filter_map(|(i, _)| {
            let rest = &text[i + prefix.len()..];
            let end = rest
                .find(|c: char| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'))
                .unwrap_or(rest.len());
            (end > 0).then(|| &rest[..end])
        })
        .collect()
}

/// Module → the modules it uses, at the granularity of files.
fn graph(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let modules: BTreeSet<String> = files.iter().filter_map(|f| module_of(src, f)).collect();
    let mut g = BTreeMap::new();
    for f in &files {
        let Some(m) = module_of(src, f) else {
            continue;
        };
        // A file of tests (`db/tests.rs`, `seam_tests.rs`) is a test module:
        // like an inline `#[cfg(test)] mod`, it may reach anywhere.
        if m.rsplit("::")
            .next()
            .is_some_and(|last| last.ends_with("tests"))
        {
            continue;
        }
        let text = std::fs::read_to_string(f).expect("read source");
        let text = non_test(&text);
        let parent = m.rsplit_once("::").map(|(p, _)| p.to_owned());
        let mut deps = BTreeSet::new();
        for name in idents_after(text, "crate::") {
            deps.insert(name.to_owned());
        }
        if let Some(parent) = &parent {
            for name in idents_after(text, "super::") {
                let sibling = format!("{parent}::{name}");
                if modules.contains(&sibling) {
                    deps.insert(sibling);
                }
            }
        }
        // A module's own folder and its parent are not edges.
        deps.retain(|d| modules.contains(d) && *d != m && Some(d) != parent.as_ref());
        g.insert(m, deps);
    }
    g
}

/// Some circle of `g`, if it has one.
fn circle(g: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        g: &BTreeMap<String, BTreeSet<String>>,
        n: &str,
        state: &mut BTreeMap<String, u8>,
        path: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        state.insert(n.to_owned(), 1);
        path.push(n.to_owned());
        for d in g.get(n).into_iter().flatten() {
            match state.get(d.as_str()) {
                Some(1) => {
                    let at = path.iter().position(|p| p == d).unwrap_or(0);
                    let mut c = path[at..].to_vec();
                    c.push(d.clone());
                    return Some(c);
                }
                Some(_) => {}
                None => {
                    if let Some(c) = visit(g, d, state, path) {
                        return Some(c);
                    }
                }
            }
        }
        path.pop();
        state.insert(n.to_owned(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for n in g.keys() {
        if !state.contains_key(n.as_str())
            && let Some(c) = visit(g, n, &mut state, &mut Vec::new())
        {
            return Some(c);
        }
    }
    None
}

/// Folders count as one module when looking across folders.
fn top_level(g: &BTreeMap<String, BTreeSet<String>>) -> BTreeMap<String, BTreeSet<String>> {
    let top = |m: &str| m.split("::").next().unwrap_or(m).to_owned();
    let mut t: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (m, deps) in g {
        let entry = t.entry(top(m)).or_default();
        for d in deps {
            if top(d) != top(m) {
                entry.insert(top(d));
            }
        }
    }
    t
}

/// The layers ARCHITECTURE.md gives for `krate`: a fenced block whose first
/// line is `layers of <krate>`, then one layer per line, top first.
fn documented_layers(krate: &str) -> Vec<Vec<String>> {
    let doc = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../ARCHITECTURE.md"),
    )
    .expect("read ARCHITECTURE.md");
    let head = format!("layers of {krate}");
    let mut lines = doc
        .lines()
        .skip_while(|l| !l.trim_start().starts_with(&head));
    assert!(
        lines.next().is_some(),
        "ARCHITECTURE.md has no `{head}` block"
    );
    lines
        .take_while(|l| !l.trim_start().starts_with("```"))
        .map(|l| l.split_whitespace().map(str::to_owned).collect::<Vec<_>>())
        .filter(|layer| !layer.is_empty())
        .collect()
}

/// Every edge that goes to the same or a later layer, and every module
/// the layers leave out (or name twice, or name but the crate lacks).
fn against_layers(g: &BTreeMap<String, BTreeSet<String>>, layers: &[Vec<String>]) -> Vec<String> {
    let mut at = BTreeMap::new();
    let mut wrong = Vec::new();
    for (i, layer) in layers.iter().enumerate() {
        for m in layer {
            if at.insert(m.clone(), i).is_some() {
                wrong.push(format!("{m} is in two layers"));
            }
            if !g.contains_key(m) {
                wrong.push(format!("{m} is documented but is no module"));
            }
        }
    }
    for (m, deps) in g {
        let Some(&mine) = at.get(m) else {
            wrong.push(format!("{m} is in no documented layer"));
            continue;
        };
        for d in deps {
            match at.get(d) {
                Some(&theirs) if theirs < mine => {}
                Some(_) => wrong.push(format!("{m} uses {d}, which is not above it")),
                None => {}
            }
        }
    }
    wrong
}

#[test]
fn imports_run_one_way_in_the_documented_order() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    for krate in [
        "labtail-logs",
        "labtail-history",
        "labtail-attention",
        "labtail-server",
    ] {
        let g = graph(&root.join(krate).join("src"));
        assert!(g.len() > 5, "{krate}: no modules found");
        if let Some(c) = circle(&g) {
            panic!("{krate}: import circle {}", c.join(" → "));
        }
        if let Some(c) = circle(&top_level(&g)) {
            panic!("{krate}: import circle between folders {}", c.join(" → "));
        }
        let wrong = against_layers(&g, &documented_layers(krate));
        assert!(
            wrong.is_empty(),
            "{krate}: the imports do not follow the layers in ARCHITECTURE.md:\n{}",
            wrong.join("\n")
        );
    }
}

#[test]
fn the_check_sees_an_import_against_the_layers() {
    let mut g = BTreeMap::new();
    g.insert("leaf".to_owned(), BTreeSet::from(["top".to_owned()]));
    g.insert("top".to_owned(), BTreeSet::new());
    let layers = vec![vec!["leaf".to_owned()], vec!["top".to_owned()]];
    assert_eq!(
        against_layers(&g, &layers),
        ["leaf uses top, which is not above it"]
    );
    let layers = vec![vec!["top".to_owned()], vec!["leaf".to_owned()]];
    assert!(against_layers(&g, &layers).is_empty());
}

#[test]
fn the_check_sees_a_circle() {
    let mut g = BTreeMap::new();
    g.insert("a".to_owned(), BTreeSet::from(["b".to_owned()]));
    g.insert("b".to_owned(), BTreeSet::from(["a".to_owned()]));
    assert_eq!(circle(&g), Some(vec!["a".into(), "b".into(), "a".into()]));
}
