//! The benchmark's command line. (Also what makes `cargo test` build
//! `target/debug/labtail-bench` for the smoke run in scripts/test, with the
//! same build as the other tests.)

use std::process::Command;

#[test]
fn help_names_the_options() {
    let out = Command::new(env!("CARGO_BIN_EXE_labtail-bench"))
        .arg("--help")
        .output()
        .expect("run labtail-bench");
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for opt in [
        "--smoke",
        "--runs",
        "--out",
        "--only",
        "--before",
        "--servers",
        "--no-curves",
    ] {
        assert!(text.contains(opt), "{opt} missing from: {text}");
    }
}
