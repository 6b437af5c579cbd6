//! The evaluator's rules, each with exact inputs (pure logic, fast; the
//! same signals from real containers are in
//! `tests/e2e/socket/attention.test.mjs`). A scripted Docker engine only
//! mints the container IDs.

use std::sync::Arc;
use std::time::Duration;

use labtail_attention::evaluate::Evaluator;
use labtail_attention::labs::{Labs, parse_file};
use labtail_attention::{AttentionConfig, Finding, Signal};
use labtail_history::Lifecycle;
use labtail_logs::{Action, ContainerEvent, ContainerInfo, Cursor, Line, ScriptedDocker, Stream};

const S: i64 = 1_000_000_000;
const T: i64 = 1_800_000_000 * S;

fn container(docker: &ScriptedDocker, name: &str, owner: &str, lab: Option<&str>) -> ContainerInfo {
    ContainerInfo {
        id: docker.run(name, Some(owner)),
        name: name.into(),
        owner: Some(owner.into()),
        state: "running".into(),
        status: String::new(),
        image: "x".into(),
        created: 0,
        course: None,
        lab: lab.map(str::to_owned),
        host: None,
        host_down: false,
    }
}

fn line(ts: i64, stream: Stream, text: &str) -> Line {
    Line {
        cursor: Cursor::new(ts, stream, 0),
        stream,
        text: text.into(),
        truncated: 0,
    }
}

fn raises(f: &[Finding]) -> Vec<(Signal, String)> {
    f.iter()
        .filter_map(|f| match f {
            Finding::Raise(r) => Some((r.signal, r.title.clone())),
            _ => None,
        })
        .collect()
}

const LABS: &str = r#"
[[lab]]
name = "py"
[[lab.rule]]
pattern = "Traceback|Segmentation fault"
severity = "error"
title = "the program crashed"
[[lab.checkpoint]]
name = "tests passed"
pattern = "^ok \\d+ tests"
"#;

fn evaluator(cfg: AttentionConfig) -> Evaluator {
    let labs = Labs::compile(&parse_file(LABS).unwrap(), &cfg).unwrap();
    Evaluator::new(cfg, Arc::new(labs))
}

#[test]
fn a_rule_is_one_finding_per_batch_with_its_count_and_a_checkpoint_is_reached_once() {
    let d = ScriptedDocker::new("o");
    let mut ev = evaluator(AttentionConfig::default());
    let c = container(&d, "a", "ann", Some("py"));
    let lines = [
        line(T, Stream::Stderr, "Traceback (most recent call last):"),
        line(T + 1, Stream::Stdout, "ok 12 tests"),
        line(T + 2, Stream::Stderr, "Traceback (most recent call last):"),
        line(T + 3, Stream::Stdout, "ok 13 tests"),
    ];
    let f = ev.lines("local", &c, &lines, T + 4);
    let rule: Vec<_> = f
        .iter()
        .filter_map(|f| match f {
            Finding::Raise(r) => Some(r),
            _ => None,
        })
        .collect();
    assert_eq!(rule.len(), 1);
    assert_eq!((rule[0].signal, rule[0].count), (Signal::Rule, 2));
    assert_eq!(rule[0].title, "the program crashed");
    assert_eq!(
        rule[0].evidence[0].text,
        "Traceback (most recent call last):"
    );
    let reached: Vec<_> = f
        .iter()
        .filter_map(|f| match f {
            Finding::Reached(r) => Some(r),
            _ => None,
        })
        .collect();
    assert_eq!(reached.len(), 1);
    assert_eq!(reached[0].evidence.text, "ok 12 tests");
    assert_eq!(reached[0].at, T + 1);
    // Not again.
    let f = ev.lines(
        "local",
        &c,
        &[line(T + 9, Stream::Stdout, "ok 14 tests")],
        T + 9,
    );
    assert!(f.is_empty());
    // A container of no lab, or of another, matches nothing of this one.
    let other = container(&d, "b", "bob", None);
    assert!(ev.lines("local", &other, &lines, T + 4).is_empty());
}

#[test]
fn crashes_but_not_stops_on_request_and_oom_once() {
    let d = ScriptedDocker::new("o");
    let mut ev = evaluator(AttentionConfig::default());
    let c = container(&d, "a", "ann", None);
    let now = T + 100 * S;
    ev.lifecycle("local", &c, &Lifecycle::Started { at: T }, now);
    ev.lines(
        "local",
        &c,
        &[line(T + S, Stream::Stdout, "last words")],
        now,
    );
    let f = ev.lifecycle(
        "local",
        &c,
        &Lifecycle::Exited {
            at: T + 2 * S,
            exit_code: Some(3),
        },
        now,
    );
    assert_eq!(
        raises(&f),
        vec![(Signal::Crashed, "exited with code 3".into())]
    );
    match &f[0] {
        Finding::Raise(r) => assert_eq!(r.evidence.last().unwrap().text, "last words"),
        _ => unreachable!(),
    }
    for code in [Some(0), Some(143), Some(130), None] {
        let f = ev.lifecycle(
            "local",
            &c,
            &Lifecycle::Exited {
                at: T + 3 * S,
                exit_code: code,
            },
            now,
        );
        assert!(f.is_empty(), "{code:?}");
    }
    // An OOM kill: the oom event, and no "crashed" for its exit 137.
    let oom = ContainerEvent {
        id: c.id.clone(),
        name: Some("a".into()),
        owner: Some("ann".into()),
        course: None,
        lab: None,
        image: None,
        action: Action::Oom,
        exit_code: None,
        time_nanos: T + 10 * S,
    };
    assert_eq!(
        raises(&ev.docker_event("local", &oom, now))[0].0,
        Signal::Oom
    );
    let f = ev.lifecycle(
        "local",
        &c,
        &Lifecycle::Exited {
            at: T + 10 * S,
            exit_code: Some(137),
        },
        now,
    );
    assert!(f.is_empty());
    // An exit older than the window is history, not news.
    let old = ev.lifecycle(
        "local",
        &c,
        &Lifecycle::Exited {
            at: T - 48 * 3600 * S,
            exit_code: Some(1),
        },
        now,
    );
    assert!(old.is_empty());
}

#[test]
fn a_restart_loop_is_told_once_per_window() {
    let d = ScriptedDocker::new("o");
    let mut ev = evaluator(AttentionConfig::default());
    let c = container(&d, "a", "ann", None);
    let now = T + 1000 * S;
    let mut told = Vec::new();
    for k in 0..6 {
        told.extend(raises(&ev.lifecycle(
            "local",
            &c,
            &Lifecycle::Started { at: T + k * 10 * S },
            now,
        )));
    }
    assert_eq!(told.len(), 1, "{told:?}");
    assert_eq!(told[0].0, Signal::RestartLoop);
    // Starts spread over more than the window are no loop.
    let slow = container(&d, "b", "bob", None);
    for k in 0..4 {
        assert!(
            ev.lifecycle(
                "local",
                &slow,
                &Lifecycle::Started {
                    at: T + k * 400 * S
                },
                now
            )
            .is_empty()
        );
    }
}

#[test]
fn an_error_burst_stands_out_from_its_class_a_shared_one_does_not() {
    let d = ScriptedDocker::new("o");
    let cfg = AttentionConfig {
        burst_lines: 10,
        burst_window: Duration::from_secs(30),
        ..AttentionConfig::default()
    };
    let mut ev = evaluator(cfg);
    let class: Vec<_> = ["ann", "bob", "cyd", "dan"]
        .iter()
        .map(|o| container(&d, o, o, Some("py")))
        .collect();
    for c in &class {
        ev.lifecycle("local", c, &Lifecycle::Started { at: T }, T);
        ev.lines("local", c, &[line(T + S, Stream::Stdout, "fine")], T + S);
    }
    // ann: 20 errors (stderr, and levels); the others one each.
    let errors: Vec<_> = (0..20)
        .map(|k| {
            line(
                T + 2 * S + k,
                if k % 2 == 0 {
                    Stream::Stderr
                } else {
                    Stream::Stdout
                },
                if k % 2 == 0 { "boom" } else { "ERROR: boom" },
            )
        })
        .collect();
    ev.lines("local", &class[0], &errors, T + 3 * S);
    for c in &class[1..] {
        ev.lines(
            "local",
            c,
            &[line(T + 2 * S, Stream::Stderr, "oops")],
            T + 3 * S,
        );
    }
    // stderr that says INFO is no error.
    let info: Vec<_> = (0..30)
        .map(|k| line(T + 2 * S + 1 + k, Stream::Stderr, "INFO all good"))
        .collect();
    ev.lines("local", &class[1], &info, T + 3 * S);
    let f = ev.tick(T + 4 * S);
    let r = raises(&f);
    assert_eq!(r.len(), 1, "{r:?}");
    assert_eq!(r[0].0, Signal::ErrorBurst);
    assert!(r[0].1.starts_with("20 error lines"), "{}", r[0].1);
    // Not again within the window.
    assert!(raises(&ev.tick(T + 5 * S)).is_empty());
    // Everyone erring alike is the lab's problem, not one student's.
    let d2 = ScriptedDocker::new("o");
    let mut ev = evaluator(AttentionConfig {
        burst_lines: 10,
        ..AttentionConfig::default()
    });
    for o in ["ann", "bob", "cyd"] {
        let c = container(&d2, o, o, Some("py"));
        ev.lifecycle("local", &c, &Lifecycle::Started { at: T }, T);
        ev.lines("local", &c, &errors, T + 3 * S);
    }
    assert!(raises(&ev.tick(T + 4 * S)).is_empty());
}

#[test]
fn silence_while_the_class_is_active_and_only_then() {
    let d = ScriptedDocker::new("o");
    let cfg = AttentionConfig {
        silent_after: Duration::from_secs(300),
        ..AttentionConfig::default()
    };
    let mut ev = evaluator(cfg);
    let class: Vec<_> = ["ann", "bob", "cyd"]
        .iter()
        .map(|o| container(&d, o, o, Some("py")))
        .collect();
    for c in &class {
        ev.lifecycle("local", c, &Lifecycle::Started { at: T }, T);
    }
    // Ten minutes on, bob and cyd are writing; ann has said nothing.
    let now = T + 600 * S;
    for c in &class[1..] {
        ev.lines("local", c, &[line(now - S, Stream::Stdout, "working")], now);
    }
    let r = raises(&ev.tick(now));
    assert_eq!(r.len(), 1, "{r:?}");
    assert_eq!(r[0].0, Signal::Silent);
    assert!(raises(&ev.tick(now + S)).is_empty(), "told once");
    // A line, and then silence again: told again.
    ev.lines(
        "local",
        &class[0],
        &[line(now + 2 * S, Stream::Stdout, "hi")],
        now + 2 * S,
    );
    let later = now + 700 * S;
    for c in &class[1..] {
        ev.lines(
            "local",
            c,
            &[line(later - S, Stream::Stdout, "still working")],
            later,
        );
    }
    assert_eq!(raises(&ev.tick(later)).len(), 1);
    // When the whole class is quiet, nobody is "silent".
    let mut ev = evaluator(AttentionConfig::default());
    for c in &class {
        ev.lifecycle("local", c, &Lifecycle::Started { at: T }, T);
    }
    assert!(raises(&ev.tick(T + 3600 * S)).is_empty());
    // Another node took the engine over: what this one knew is dropped.
    ev.forget_engine("local");
    assert!(raises(&ev.tick(T + 7200 * S)).is_empty());
}

#[test]
fn a_failing_health_check() {
    let d = ScriptedDocker::new("o");
    let mut ev = evaluator(AttentionConfig::default());
    let c = container(&d, "a", "ann", None);
    let e = ContainerEvent {
        id: c.id.clone(),
        name: Some("a".into()),
        owner: Some("ann".into()),
        course: None,
        lab: None,
        image: None,
        action: Action::Unhealthy,
        exit_code: None,
        time_nanos: T,
    };
    assert_eq!(
        raises(&ev.docker_event("local", &e, T))[0].0,
        Signal::Unhealthy
    );
    let unowned = ContainerEvent { owner: None, ..e };
    assert!(ev.docker_event("local", &unowned, T).is_empty());
}

#[test]
fn a_crashed_runs_lines_told_after_its_end_become_its_evidence() {
    // A follow stream can hand over a run's last lines after its end was
    // told (late under load); the crash is told again with them, counting
    // no new occurrence. Lines of a later run change nothing.
    let d = ScriptedDocker::new("o");
    let mut ev = evaluator(AttentionConfig::default());
    let c = container(&d, "a", "ann", None);
    let now = T + 100 * S;
    ev.lifecycle("local", &c, &Lifecycle::Started { at: T }, now);
    let exit = Lifecycle::Exited {
        at: T + 2 * S,
        exit_code: Some(3),
    };
    let f = ev.lifecycle("local", &c, &exit, now);
    assert_eq!(raises(&f).len(), 1);
    let f = ev.lines(
        "local",
        &c,
        &[line(T + S, Stream::Stderr, "segfault coming")],
        now,
    );
    match f.as_slice() {
        [Finding::Raise(r)] => {
            assert_eq!(r.signal, Signal::Crashed);
            assert_eq!(r.count, 0);
            assert_eq!(r.evidence.last().unwrap().text, "segfault coming");
        }
        other => panic!("{other:?}"),
    }
    ev.lifecycle("local", &c, &Lifecycle::Started { at: T + 3 * S }, now);
    let f = ev.lines(
        "local",
        &c,
        &[line(T + 4 * S, Stream::Stdout, "again")],
        now,
    );
    assert!(raises(&f).is_empty());
}

#[test]
fn runaway_is_told_after_enough_hot_samples_in_a_row_once_per_run_and_kind() {
    use labtail_attention::evaluate::Sample;
    let d = ScriptedDocker::new("o");
    let cfg = AttentionConfig {
        runaway_samples: 3,
        runaway_interval: Duration::from_secs(20),
        ..AttentionConfig::default()
    };
    let mut ev = evaluator(cfg);
    let c = container(&d, "spin", "ann", None);
    let id = c.id.as_str().to_owned();
    // Not known (never started): nothing to sample, nothing told.
    assert!(ev.running().is_empty());
    let hot = Sample {
        cpu: Some((0.198, 0.2)),
        memory: None,
    };
    assert!(ev.usage(&id, &hot, T).is_empty());
    ev.lifecycle("local", &c, &Lifecycle::Started { at: T }, T);
    assert_eq!(ev.running().len(), 1);
    // Two hot, one cool (the count starts again), then three hot.
    let cool = Sample {
        cpu: Some((0.05, 0.2)),
        memory: Some((1 << 20, 32 << 20)),
    };
    let mut told = Vec::new();
    for (k, s) in [hot, hot, cool, hot, hot, hot, hot, hot].iter().enumerate() {
        let f = ev.usage(&id, s, T + k as i64 * 20 * S);
        told.extend(raises(&f).into_iter().map(|r| (k, r)));
    }
    assert_eq!(
        told,
        [(
            5,
            (
                Signal::Runaway,
                "CPU at 99 % of its limit (0.2 CPUs) for 1 min".to_owned()
            )
        )]
    );
    // Memory is its own kind; a new run may be told again.
    let full = Sample {
        cpu: None,
        memory: Some((31 << 20, 32 << 20)),
    };
    let f: Vec<_> = (0..3)
        .flat_map(|k| ev.usage(&id, &full, T + k * S))
        .collect();
    assert_eq!(
        raises(&f),
        [(
            Signal::Runaway,
            "memory at 97 % of its limit (32 MiB) for 1 min".to_owned()
        )]
    );
    ev.lifecycle(
        "local",
        &c,
        &Lifecycle::Exited {
            at: T + 200 * S,
            exit_code: Some(0),
        },
        T + 200 * S,
    );
    assert!(ev.usage(&id, &hot, T + 201 * S).is_empty(), "not running");
    ev.lifecycle(
        "local",
        &c,
        &Lifecycle::Started { at: T + 300 * S },
        T + 300 * S,
    );
    let f: Vec<_> = (0..3)
        .flat_map(|k| ev.usage(&id, &hot, T + (301 + k) * S))
        .collect();
    assert_eq!(raises(&f).len(), 1, "told again in the new run");
}

#[test]
fn lines_before_an_oom_kill_that_arrive_after_its_event_become_its_evidence() {
    // The event stream can outrun the recorder: Docker's `oom` event is
    // evaluated before the lines written before the kill.
    let d = ScriptedDocker::new("o");
    let mut ev = evaluator(AttentionConfig::default());
    let c = container(&d, "hog", "ann", None);
    ev.lifecycle("local", &c, &Lifecycle::Started { at: T }, T);
    let oom = ContainerEvent {
        id: c.id.clone(),
        name: Some("hog".into()),
        owner: Some("ann".into()),
        course: None,
        lab: None,
        image: None,
        action: Action::Oom,
        exit_code: None,
        time_nanos: T + 10 * S,
    };
    let first = ev.docker_event("local", &oom, T + 10 * S);
    let Finding::Raise(r) = &first[0] else {
        panic!("{first:?}")
    };
    assert!(r.evidence.is_empty(), "no line yet");
    let late = [
        line(T + S, Stream::Stdout, "start"),
        line(T + 11 * S, Stream::Stdout, "after 137"),
    ];
    let f = ev.lines("local", &c, &late, T + 12 * S);
    let mended: Vec<_> = f
        .iter()
        .filter_map(|f| match f {
            Finding::Raise(r) if r.signal == Signal::Oom => Some(r),
            _ => None,
        })
        .collect();
    assert_eq!(mended.len(), 1, "{f:?}");
    assert_eq!(mended[0].count, 0, "counts nothing more");
    let texts: Vec<_> = mended[0].evidence.iter().map(|e| e.text.as_str()).collect();
    assert_eq!(texts, ["start"], "only lines before the kill");
    // Later lines do not touch it again.
    let f = ev.lines(
        "local",
        &c,
        &[line(T + 20 * S, Stream::Stdout, "fine")],
        T + 20 * S,
    );
    assert!(raises(&f).is_empty(), "{f:?}");
}
