//! The labtail binary's command line, run as a user runs it.
//!
//! (Also what makes `cargo test` build `target/debug/labtail`, the binary
//! the end-to-end tests drive, with the same build as the other tests:
//! scripts/test builds the workspace once.)

use std::process::Command;

fn labtail(args: &[&str]) -> std::process::Output {
    let dir = std::env::temp_dir().join(format!("labtail-cli-test-{}", std::process::id()));
    Command::new(env!("CARGO_BIN_EXE_labtail"))
        .args(args)
        .arg("--data-dir")
        .arg(&dir)
        .output()
        .expect("run labtail")
}

#[test]
fn help_lists_the_commands() {
    let out = labtail(&["--help"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for cmd in ["serve", "user", "audit"] {
        assert!(text.contains(cmd), "{cmd} missing from: {text}");
    }
}

#[test]
fn bad_configuration_exits_2_with_one_clear_line() {
    for args in [
        &["serve", "--listen", "not-an-address"][..],
        &["serve", "--database-url", "mysql://x"],
        &["serve", "--backlog-lines", "0"],
        &["user", "add", "x", "--role", "teacher"],
        &["serve", "--attention-runaway-cpu", "1.5"],
        &["serve", "--attention-runaway-samples", "0"],
    ] {
        let out = labtail(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.lines()
                .any(|l| l.starts_with("labtail: error") || l.starts_with("error:")),
            "{args:?}: {err}"
        );
    }
}
