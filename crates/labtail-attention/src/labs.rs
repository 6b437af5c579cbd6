//! Labs: rules (a pattern → a severity and a title) and checkpoints (a
//! pattern that marks progress), per lab (containers with the lab label).
//! Defined in a TOML file at start (`--labs-file`) or by instructors in the
//! web app (stored in the database), validated alike: a bad pattern names
//! the lab, the rule or checkpoint, and where in the pattern.
//!
//! ```toml
//! [[lab]]
//! name = "ospf"
//! [[lab.rule]]
//! pattern = "Traceback|Segmentation fault"
//! severity = "error"
//! title = "the program crashed"
//! [[lab.checkpoint]]
//! name = "neighbour up"
//! pattern = "OSPF neighbor .* FULL"
//! ```
//!
//! Each lab's rules are one `RegexSet`, its checkpoints another: a line is
//! matched against all of a lab's patterns in one pass.

use std::collections::HashMap;
use std::sync::Arc;

use regex::{RegexSet, RegexSetBuilder};
use serde::{Deserialize, Serialize};

use crate::config::AttentionConfig;
use crate::entry::Severity;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LabDef {
    pub name: String,
    #[serde(default, rename = "rule")]
    pub rules: Vec<RuleDef>,
    #[serde(default, rename = "checkpoint")]
    pub checkpoints: Vec<CheckpointDef>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleDef {
    pub pattern: String,
    pub severity: Severity,
    pub title: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckpointDef {
    pub name: String,
    pub pattern: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LabsFile {
    #[serde(default)]
    lab: Vec<LabDef>,
}

/// A lab with its patterns compiled.
#[derive(Debug)]
pub struct Lab {
    pub def: LabDef,
    rules: RegexSet,
    checkpoints: RegexSet,
}

impl Lab {
    /// The rules `text` matches (indices into `def.rules`).
    pub fn rules_matching(&self, text: &str) -> Vec<usize> {
        if self.rules.is_empty() {
            return Vec::new();
        }
        self.rules.matches(text).into_iter().collect()
    }

    /// The checkpoints `text` matches (indices into `def.checkpoints`).
    pub fn checkpoints_matching(&self, text: &str) -> Vec<usize> {
        if self.checkpoints.is_empty() {
            return Vec::new();
        }
        self.checkpoints.matches(text).into_iter().collect()
    }
}

/// Every lab, by name.
#[derive(Debug, Default)]
pub struct Labs {
    by_name: HashMap<String, Arc<Lab>>,
}

impl Labs {
    pub fn get(&self, name: &str) -> Option<&Arc<Lab>> {
        self.by_name.get(name)
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.by_name.keys().map(String::as_str)
    }

    pub fn defs(&self) -> Vec<LabDef> {
        let mut v: Vec<LabDef> = self.by_name.values().map(|l| l.def.clone()).collect();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v
    }

    /// Compiles `defs`; a later definition of a lab replaces an earlier one.
    pub fn compile(defs: &[LabDef], cfg: &AttentionConfig) -> Result<Labs, String> {
        let mut by_name = HashMap::new();
        for d in defs {
            by_name.insert(d.name.clone(), Arc::new(compile_lab(d, cfg)?));
        }
        Ok(Labs { by_name })
    }
}

/// Reads a labs file (TOML); the error names the line.
pub fn parse_file(text: &str) -> Result<Vec<LabDef>, String> {
    let file: LabsFile = toml::from_str(text).map_err(|e| {
        let at = e
            .span()
            .map(|s| format!("line {}: ", line_of(text, s.start)))
            .unwrap_or_default();
        format!("{at}{}", e.message())
    })?;
    Ok(file.lab)
}

fn line_of(text: &str, offset: usize) -> usize {
    text.get(..offset)
        .map_or(0, |t| t.bytes().filter(|b| *b == b'\n').count())
        + 1
}

/// A usable lab name: what a label value and a URL carry as they are.
pub fn validate_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(format!("lab name {name:?}: use 1-64 of A-Z a-z 0-9 . _ -"))
    }
}

/// Checks and compiles one lab; every error names the lab and the rule or
/// checkpoint (by number and title or name) and says where the pattern is
/// wrong.
pub fn compile_lab(d: &LabDef, cfg: &AttentionConfig) -> Result<Lab, String> {
    validate_name(&d.name)?;
    let lab = &d.name;
    if d.rules.len() > cfg.max_rules || d.checkpoints.len() > cfg.max_rules {
        return Err(format!(
            "lab {lab}: at most {} rules and {} checkpoints",
            cfg.max_rules, cfg.max_rules
        ));
    }
    let check = |what: String, p: &str| -> Result<(), String> {
        if p.is_empty() {
            return Err(format!("lab {lab}, {what}: the pattern is empty"));
        }
        if p.len() > cfg.max_pattern {
            return Err(format!(
                "lab {lab}, {what}: the pattern is longer than {} bytes",
                cfg.max_pattern
            ));
        }
        regex::RegexBuilder::new(p)
            .size_limit(cfg.regex_size_limit)
            .build()
            .map(|_| ())
            .map_err(|e| format!("lab {lab}, {what}: {}", one_line(&e.to_string())))
    };
    for (i, r) in d.rules.iter().enumerate() {
        if r.title.trim().is_empty() {
            return Err(format!("lab {lab}, rule {}: a rule needs a title", i + 1));
        }
        check(format!("rule {} ({:?})", i + 1, r.title), &r.pattern)?;
    }
    let mut names = std::collections::HashSet::new();
    for (i, c) in d.checkpoints.iter().enumerate() {
        if c.name.trim().is_empty() {
            return Err(format!(
                "lab {lab}, checkpoint {}: a checkpoint needs a name",
                i + 1
            ));
        }
        if !names.insert(c.name.as_str()) {
            return Err(format!("lab {lab}: two checkpoints are named {:?}", c.name));
        }
        check(format!("checkpoint {} ({:?})", i + 1, c.name), &c.pattern)?;
    }
    let set = |patterns: Vec<&str>| {
        RegexSetBuilder::new(patterns)
            .size_limit(cfg.regex_size_limit)
            .build()
            .map_err(|e| {
                format!(
                    "lab {lab}: its patterns together are too large: {}",
                    one_line(&e.to_string())
                )
            })
    };
    Ok(Lab {
        rules: set(d.rules.iter().map(|r| r.pattern.as_str()).collect())?,
        checkpoints: set(d.checkpoints.iter().map(|c| c.pattern.as_str()).collect())?,
        def: d.clone(),
    })
}

/// The regex crate's message spans lines (the pattern, a caret under the
/// error, the reason): one line of it, position included.
fn one_line(msg: &str) -> String {
    let lines: Vec<&str> = msg
        .lines()
        .map(str::trim_end)
        .filter(|l| !l.is_empty())
        .collect();
    let reason = lines
        .iter()
        .rev()
        .find(|l| l.starts_with("error:"))
        .copied()
        .unwrap_or("");
    let caret = lines.iter().position(|l| l.trim_start().starts_with('^'));
    match (
        caret,
        lines.iter().find(|l| !l.starts_with("regex parse error")),
    ) {
        (Some(i), _) => {
            let pos = lines[i].find('^').unwrap_or(0).saturating_sub(4);
            format!(
                "{} (at position {pos})",
                reason.trim_start_matches("error: ")
            )
        }
        _ => lines.join(" "),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = r#"
[[lab]]
name = "ospf"
[[lab.rule]]
pattern = "Traceback|Segmentation fault"
severity = "error"
title = "the program crashed"
[[lab.checkpoint]]
name = "neighbour up"
pattern = "OSPF neighbor .* FULL"
[[lab.checkpoint]]
name = "tests passed"
pattern = "^ok [0-9]+ tests"
"#;

    #[test]
    fn a_lab_matches_its_rules_and_checkpoints_in_one_pass() {
        let cfg = AttentionConfig::default();
        let labs = Labs::compile(&parse_file(FILE).unwrap(), &cfg).unwrap();
        let lab = labs.get("ospf").unwrap();
        assert_eq!(
            lab.rules_matching("Segmentation fault (core dumped)"),
            vec![0]
        );
        assert!(lab.rules_matching("all good").is_empty());
        assert_eq!(
            lab.checkpoints_matching("OSPF neighbor 10.0.0.2 state FULL"),
            vec![0]
        );
        assert_eq!(lab.checkpoints_matching("ok 12 tests"), vec![1]);
    }

    #[test]
    fn bad_labs_name_the_lab_the_rule_and_the_position() {
        let cfg = AttentionConfig::default();
        let bad = "[[lab]]\nname = \"net\"\n[[lab.rule]]\npattern = \"ok\"\nseverity = \"error\"\ntitle = \"fine\"\n[[lab.rule]]\npattern = \"a(b\"\nseverity = \"error\"\ntitle = \"broken\"\n";
        let e = Labs::compile(&parse_file(bad).unwrap(), &cfg).unwrap_err();
        assert!(
            e.contains("lab net")
                && e.contains("rule 2")
                && e.contains("broken")
                && e.contains("position"),
            "{e}"
        );
        let e = parse_file("[[lab]]\nname = \"x\"\n[[lab.rule]]\npattern = \"a\"\nseverity = \"loud\"\ntitle = \"t\"\n").unwrap_err();
        assert!(e.contains("line "), "{e}");
        let e = parse_file("[[lab]]\nnom = \"x\"\n").unwrap_err();
        assert!(e.contains("line 2"), "{e}");
        let dup = LabDef {
            name: "x".into(),
            rules: vec![],
            checkpoints: vec![
                CheckpointDef {
                    name: "a".into(),
                    pattern: "a".into(),
                },
                CheckpointDef {
                    name: "a".into(),
                    pattern: "b".into(),
                },
            ],
        };
        assert!(
            compile_lab(&dup, &cfg)
                .unwrap_err()
                .contains("two checkpoints")
        );
        let long = LabDef {
            name: "x".into(),
            rules: vec![RuleDef {
                pattern: "a".repeat(2000),
                severity: Severity::Info,
                title: "t".into(),
            }],
            checkpoints: vec![],
        };
        assert!(
            compile_lab(&long, &cfg)
                .unwrap_err()
                .contains("longer than")
        );
        assert!(validate_name("a b").is_err());
    }
}
