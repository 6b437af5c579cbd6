//! The evaluator: lines and lifecycle steps in, findings out. Pure and
//! synchronous (time is passed in), so every signal's rule is tested with
//! exact inputs; the service (`service.rs`) feeds it what the recorder
//! records and persists what it finds.
//!
//! Per line it costs a level check and, for a lab with patterns, one
//! `RegexSet` pass over rules and one over checkpoints; evidence is built
//! only for the lines that become evidence.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;

use labtail_history::Lifecycle;
use labtail_logs::{Action, ContainerEvent, ContainerInfo, DockerId, Line, Stream};

use crate::config::AttentionConfig;
use crate::entry::{Evidence, Finding, Raise, Reached, Severity, Signal, Subject};
use crate::labs::Labs;
use crate::level::{Level, detect};

const SEC: i64 = 1_000_000_000;

/// Exit codes a container ends with when it is stopped on purpose
/// (`docker stop`: SIGTERM, 143; Ctrl-C: 130): not a crash.
const ON_REQUEST: [i64; 2] = [130, 143];

const OOM_TITLE: &str = "ran out of memory (killed by the kernel)";

/// Error lines remembered per container at most (their times).
const MAX_ERRORS: usize = 10_000;

#[derive(Debug)]
struct Watched {
    subject: Subject,
    /// Its Docker ID, as Docker gave it (the sampler asks Docker with it).
    id: DockerId,
    /// The engine it runs on (`forget_engine`).
    engine: String,
    running: bool,
    /// Docker's time of its newest line (or of its start).
    last_line: i64,
    /// Times of its error lines within the burst window.
    errors: VecDeque<i64>,
    last_errors: VecDeque<Evidence>,
    recent: VecDeque<Evidence>,
    starts: VecDeque<i64>,
    oom_at: Option<i64>,
    /// Checkpoints reached (indices into its lab's).
    reached: HashSet<usize>,
    silent_told: bool,
    burst_quiet_until: i64,
    loop_told_at: i64,
    /// The crash told last (its time and title): lines of that run that
    /// reach the evaluator after its end (a follow stream drained late)
    /// become its evidence.
    crash: Option<(i64, String)>,
    /// Samples in a row at or above the runaway share: CPU, memory.
    hot: [usize; 2],
    /// Runaway told in this run: CPU, memory.
    hot_told: [bool; 2],
}

impl Watched {
    fn new(subject: Subject, id: DockerId, engine: &str) -> Self {
        Watched {
            subject,
            id,
            engine: engine.to_owned(),
            running: false,
            last_line: 0,
            errors: VecDeque::new(),
            last_errors: VecDeque::new(),
            recent: VecDeque::new(),
            starts: VecDeque::new(),
            oom_at: None,
            reached: HashSet::new(),
            silent_told: false,
            burst_quiet_until: i64::MIN,
            loop_told_at: i64::MIN,
            crash: None,
            hot: [0; 2],
            hot_told: [false; 2],
        }
    }
}

fn push_bounded<T>(q: &mut VecDeque<T>, v: T, max: usize) {
    if q.len() >= max.max(1) {
        q.pop_front();
    }
    q.push_back(v);
}

fn ns(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}

/// Whether a line counts as an error: a detected error level, or stderr
/// with no level (stderr that says `INFO` is not an error).
pub fn is_error(l: &Line) -> bool {
    match detect(&l.text) {
        Some(Level::Error) => true,
        Some(_) => false,
        None => l.stream == Stream::Stderr,
    }
}

#[derive(Debug)]
pub struct Evaluator {
    cfg: AttentionConfig,
    labs: Arc<Labs>,
    watched: HashMap<String, Watched>,
}

impl Evaluator {
    pub fn new(cfg: AttentionConfig, labs: Arc<Labs>) -> Self {
        Evaluator {
            cfg,
            labs,
            watched: HashMap::new(),
        }
    }

    /// New definitions: checkpoints are looked for again (what was
    /// reached stays stored; a store ignores a second report).
    pub fn set_labs(&mut self, labs: Arc<Labs>) {
        self.labs = labs;
        for w in self.watched.values_mut() {
            w.reached.clear();
        }
    }

    fn watch(&mut self, engine: &str, id: &DockerId, subject: Subject) -> &mut Watched {
        self.watched
            .entry(subject.container_id.clone())
            .or_insert_with(|| Watched::new(subject, id.clone(), engine))
    }

    /// Another node evaluates `engine` now.
    pub fn forget_engine(&mut self, engine: &str) {
        self.watched.retain(|_, w| w.engine != engine);
    }

    pub fn lines(
        &mut self,
        engine: &str,
        c: &ContainerInfo,
        lines: &[Line],
        _now: i64,
    ) -> Vec<Finding> {
        let Some(subject) = Subject::of(c) else {
            return Vec::new();
        };
        let lab = subject
            .lab
            .as_deref()
            .and_then(|l| self.labs.get(l))
            .cloned();
        let cfg_evidence = self.cfg.evidence_lines;
        let burst_window = ns(self.cfg.burst_window);
        let w = self.watch(engine, &c.id, subject);
        let mut out = Vec::new();
        // Per rule: (how many lines matched, the first as evidence).
        let mut rule_hits: Vec<(usize, i64, Evidence, usize)> = Vec::new();
        for l in lines {
            let ts = l.cursor.ts_nanos;
            w.last_line = w.last_line.max(ts);
            w.silent_told = false;
            if is_error(l) {
                push_bounded(&mut w.errors, ts, MAX_ERRORS);
                push_bounded(&mut w.last_errors, Evidence::of(l), cfg_evidence);
            }
            if let Some(lab) = &lab {
                for r in lab.rules_matching(&l.text) {
                    match rule_hits.iter_mut().find(|h| h.0 == r) {
                        Some(h) => h.3 += 1,
                        None => rule_hits.push((r, ts, Evidence::of(l), 1)),
                    }
                }
                for cp in lab.checkpoints_matching(&l.text) {
                    if w.reached.insert(cp) {
                        out.push(Finding::Reached(Reached {
                            subject: w.subject.clone(),
                            lab: lab.def.name.clone(),
                            checkpoint: lab.def.checkpoints[cp].name.clone(),
                            at: ts,
                            evidence: Evidence::of(l),
                        }));
                    }
                }
            }
        }
        if let Some(newest) = lines.last() {
            let cut = newest.cursor.ts_nanos.saturating_sub(burst_window);
            while w.errors.front().is_some_and(|t| *t < cut) {
                w.errors.pop_front();
            }
        }
        for l in lines.iter().rev().take(cfg_evidence).rev() {
            push_bounded(&mut w.recent, Evidence::of(l), cfg_evidence);
        }
        // Lines written before an OOM kill that reach the evaluator after
        // Docker's `oom` event (the event stream outran the recorder): the
        // entry's evidence is the lines before the kill, so it is told
        // again with them (counting nothing more).
        if let Some(at) = w.oom_at
            && lines.iter().any(|l| l.cursor.ts_nanos <= at)
        {
            out.push(Finding::Raise(mended(
                w,
                Signal::Oom,
                OOM_TITLE.to_owned(),
                at,
            )));
        }
        // Lines of a crashed run told after its end: the crash's evidence
        // is its last lines, so it is told again with them (counting
        // nothing more).
        if !w.running
            && let Some((at, title)) = w.crash.clone()
            && lines.iter().any(|l| l.cursor.ts_nanos <= at)
        {
            out.push(Finding::Raise(mended(w, Signal::Crashed, title, at)));
        }
        if let Some(lab) = &lab {
            for (r, at, evidence, count) in rule_hits {
                let def = &lab.def.rules[r];
                out.push(Finding::Raise(Raise {
                    subject: w.subject.clone(),
                    signal: Signal::Rule,
                    rule: format!("{}#{}", lab.def.name, r),
                    severity: def.severity,
                    title: def.title.clone(),
                    at,
                    count,
                    evidence: vec![evidence],
                }));
            }
        }
        out
    }

    pub fn lifecycle(
        &mut self,
        engine: &str,
        c: &ContainerInfo,
        step: &Lifecycle,
        now: i64,
    ) -> Vec<Finding> {
        let Some(subject) = Subject::of(c) else {
            return Vec::new();
        };
        let window = ns(self.cfg.window);
        let loop_window = ns(self.cfg.restart_loop_window);
        let loop_starts = self.cfg.restart_loop_starts;
        let w = self.watch(engine, &c.id, subject);
        let mut out = Vec::new();
        match *step {
            Lifecycle::Started { at } => {
                w.running = true;
                w.crash = None;
                w.hot = [0; 2];
                w.hot_told = [false; 2];
                w.silent_told = false;
                w.last_line = w.last_line.max(at);
                w.starts.push_back(at);
                while w
                    .starts
                    .front()
                    .is_some_and(|s| *s < at.saturating_sub(loop_window))
                {
                    w.starts.pop_front();
                }
                if w.starts.len() >= loop_starts
                    && at.saturating_sub(w.loop_told_at) > loop_window
                    && now.saturating_sub(at) < window
                {
                    w.loop_told_at = at;
                    out.push(Finding::Raise(raise(
                        w,
                        Signal::RestartLoop,
                        Severity::Error,
                        format!(
                            "restarted {} times within {}",
                            w.starts.len(),
                            span(loop_window)
                        ),
                        at,
                    )));
                }
            }
            Lifecycle::Exited { at, exit_code } => {
                w.running = false;
                let oom = w
                    .oom_at
                    .is_some_and(|o| o.saturating_sub(at).saturating_abs() < 30 * SEC);
                if let Some(code) = exit_code
                    && code != 0
                    && !ON_REQUEST.contains(&code)
                    && !oom
                    && now.saturating_sub(at) < window
                {
                    let title = format!("exited with code {code}");
                    w.crash = Some((at, title.clone()));
                    out.push(Finding::Raise(raise(
                        w,
                        Signal::Crashed,
                        Severity::Error,
                        title,
                        at,
                    )));
                }
            }
            Lifecycle::Removed { .. } => {
                self.watched.remove(c.id.as_str());
            }
        }
        out
    }

    pub fn docker_event(&mut self, engine: &str, e: &ContainerEvent, now: i64) -> Vec<Finding> {
        let (signal, severity, title) = match e.action {
            Action::Oom => (Signal::Oom, Severity::Error, OOM_TITLE),
            Action::Unhealthy => (
                Signal::Unhealthy,
                Severity::Warning,
                "its health check fails",
            ),
            _ => return Vec::new(),
        };
        let Some(owner) = e.owner.clone() else {
            return Vec::new();
        };
        if now.saturating_sub(e.time_nanos) > ns(self.cfg.window) {
            return Vec::new();
        }
        let subject = Subject {
            container_id: e.id.as_str().to_owned(),
            container_name: e.name.clone().unwrap_or_else(|| e.id.short().to_owned()),
            owner,
            course: e.course.clone(),
            lab: e.lab.clone(),
        };
        let w = self.watch(engine, &e.id, subject);
        if signal == Signal::Oom {
            w.oom_at = Some(e.time_nanos);
        }
        vec![Finding::Raise(raise(
            w,
            signal,
            severity,
            title.to_owned(),
            e.time_nanos,
        ))]
    }

    /// The running containers (engine, Docker ID): those whose use is
    /// sampled.
    pub fn running(&self) -> Vec<(String, DockerId)> {
        self.watched
            .values()
            .filter(|w| w.running)
            .map(|w| (w.engine.clone(), w.id.clone()))
            .collect()
    }

    /// One sample of a running container's use: a runaway once CPU or
    /// memory stayed at or above its share of the limit for
    /// `runaway_samples` samples in a row; told once per run and kind.
    pub fn usage(&mut self, container_id: &str, s: &Sample, now: i64) -> Vec<Finding> {
        let need = self.cfg.runaway_samples.max(1);
        let span_ns = ns(self.cfg.runaway_interval).saturating_mul(need as i64);
        let (cpu_share, mem_share) = (self.cfg.runaway_cpu, self.cfg.runaway_memory);
        let Some(w) = self.watched.get_mut(container_id) else {
            return Vec::new();
        };
        if !w.running {
            return Vec::new();
        }
        let shares = [
            s.cpu.map(|(used, limit)| (used / limit, limit)),
            s.memory
                .map(|(used, limit)| (used as f64 / limit as f64, limit as f64)),
        ];
        let mut out = Vec::new();
        for (k, share) in shares.into_iter().enumerate() {
            let threshold = if k == 0 { cpu_share } else { mem_share };
            match share {
                Some((share, limit)) if share.is_finite() && share >= threshold => {
                    w.hot[k] += 1;
                    if w.hot[k] >= need && !w.hot_told[k] {
                        w.hot_told[k] = true;
                        let pct = (share * 100.0).round();
                        let title = if k == 0 {
                            format!(
                                "CPU at {pct} % of its limit ({} CPUs) for {}",
                                round2(limit),
                                span(span_ns)
                            )
                        } else {
                            format!(
                                "memory at {pct} % of its limit ({} MiB) for {}",
                                (limit / (1024.0 * 1024.0)).round(),
                                span(span_ns)
                            )
                        };
                        let mut r = raise(w, Signal::Runaway, Severity::Warning, title, now);
                        r.rule = if k == 0 { "cpu" } else { "memory" }.to_owned();
                        out.push(Finding::Raise(r));
                    }
                }
                _ => w.hot[k] = 0,
            }
        }
        out
    }

    /// Signals of time and of the class: error bursts and silences.
    pub fn tick(&mut self, now: i64) -> Vec<Finding> {
        let burst_window = ns(self.cfg.burst_window);
        let silent_after = ns(self.cfg.silent_after);
        let mut out = Vec::new();
        // The class of a container: the running containers of its lab (or,
        // without a lab label, of its course; else every lab container).
        let mut classes: HashMap<(Option<String>, Option<String>), Vec<String>> = HashMap::new();
        for (id, w) in &mut self.watched {
            while w
                .errors
                .front()
                .is_some_and(|t| *t < now.saturating_sub(burst_window))
            {
                w.errors.pop_front();
            }
            if w.running {
                let key = match &w.subject.lab {
                    Some(l) => (Some(l.clone()), None),
                    None => (None, w.subject.course.clone()),
                };
                classes.entry(key).or_default().push(id.clone());
            }
        }
        for members in classes.values() {
            let mut counts: Vec<usize> = members
                .iter()
                .filter_map(|id| self.watched.get(id))
                .map(|w| w.errors.len())
                .collect();
            counts.sort_unstable();
            let median = counts.get(counts.len() / 2).copied().unwrap_or(0) as f64;
            let active = members
                .iter()
                .filter_map(|id| self.watched.get(id))
                .filter(|w| w.last_line >= now.saturating_sub(silent_after))
                .count();
            let most_active = members.len() >= 2
                && active as f64 >= self.cfg.silent_active_share * members.len() as f64;
            for id in members {
                let Some(w) = self.watched.get_mut(id) else {
                    continue;
                };
                let n = w.errors.len();
                if n >= self.cfg.burst_lines
                    && n as f64 > self.cfg.burst_factor * median
                    && now >= w.burst_quiet_until
                {
                    w.burst_quiet_until = now.saturating_add(burst_window);
                    let mut r = raise(
                        w,
                        Signal::ErrorBurst,
                        Severity::Warning,
                        format!(
                            "{n} error lines in {} (the class's median: {median})",
                            span(burst_window)
                        ),
                        now,
                    );
                    r.evidence = w.last_errors.iter().cloned().collect();
                    out.push(Finding::Raise(r));
                }
                if most_active && !w.silent_told && w.last_line < now.saturating_sub(silent_after) {
                    w.silent_told = true;
                    out.push(Finding::Raise(raise(
                        w,
                        Signal::Silent,
                        Severity::Info,
                        format!(
                            "no output for {} while most of the class is active",
                            span(silent_after)
                        ),
                        now,
                    )));
                }
            }
        }
        out
    }
}

/// One sample of a container's use against its limits, as the sampler
/// measured it: CPU `(cores used, cores allowed)`, memory `(bytes used,
/// bytes allowed)`; `None` where there is no limit or no measure yet.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Sample {
    pub cpu: Option<(f64, f64)>,
    pub memory: Option<(u64, u64)>,
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// A knob's span for a title: "5 min", "90 s".
fn span(nanos: i64) -> String {
    let secs = nanos / SEC;
    if secs >= 60 && secs % 60 == 0 {
        format!("{} min", secs / 60)
    } else {
        format!("{secs} s")
    }
}

/// An entry told again with the lines written up to `at` that arrived
/// after it (its evidence), counting nothing more.
fn mended(w: &Watched, signal: Signal, title: String, at: i64) -> Raise {
    let mut r = raise(w, signal, Severity::Error, title, at);
    r.count = 0;
    r.evidence.retain(|e| {
        e.cursor
            .parse::<labtail_logs::Cursor>()
            .is_ok_and(|c| c.ts_nanos <= at)
    });
    r
}

fn raise(w: &Watched, signal: Signal, severity: Severity, title: String, at: i64) -> Raise {
    Raise {
        subject: w.subject.clone(),
        signal,
        rule: String::new(),
        severity,
        title,
        at,
        count: 1,
        evidence: w.recent.iter().cloned().collect(),
    }
}
