//! Attention at work: the observer a recorder calls (each line, step and
//! Docker event, in the recorder's task: evaluated at once, cheaply), a
//! bounded queue of findings, and the tasks that store them, run the
//! time-based signals, follow lab definitions and look for checkpoints in
//! the recorded history.
//!
//! Findings are stored by one task; the queue's bound keeps evaluation
//! from ever slowing recording (a finding that does not fit is dropped
//! and counted). New entries are announced on a broadcast channel (the
//! server's notifications).

use std::collections::HashSet;
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use labtail_history::{HistoryConfig, Lifecycle, Observer, Visible};
use labtail_logs::{ContainerEvent, ContainerInfo, Line};
use tokio::sync::{broadcast, mpsc};

use crate::config::AttentionConfig;
use crate::entry::{Evidence, Finding, Raise, Reached, Subject};
use crate::evaluate::Evaluator;
use crate::labs::{LabDef, Labs};
use crate::store::Store;

fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// The key of a signal's entries: a container, a signal, a rule.
pub fn key_of(r: &Raise) -> String {
    format!(
        "{}:{}:{}",
        r.subject.container_id,
        r.signal.as_str(),
        r.rule
    )
}

pub struct Attention {
    cfg: AttentionConfig,
    store: Store,
    history: labtail_history::Store,
    history_cfg: HistoryConfig,
    evaluator: Mutex<Evaluator>,
    /// Which engine each observed container belongs to, and the engines
    /// this node records.
    engines: Mutex<Engines>,
    labs: RwLock<Arc<Labs>>,
    /// The labs file's definitions (the database's replace them by name).
    file_labs: Vec<LabDef>,
    tx: mpsc::Sender<Finding>,
    new_entries: broadcast::Sender<i64>,
}

#[derive(Default)]
struct Engines {
    recording: HashSet<String>,
}

impl std::fmt::Debug for Attention {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Attention").finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Attention {
    /// Starts attention's tasks. `file_labs` were read from `--labs-file`
    /// (checked already: [`Labs::compile`]).
    pub fn start(
        cfg: AttentionConfig,
        store: Store,
        history: labtail_history::Store,
        history_cfg: HistoryConfig,
        file_labs: Vec<LabDef>,
    ) -> Result<Arc<Attention>, String> {
        let labs = Arc::new(Labs::compile(&file_labs, &cfg)?);
        let (tx, rx) = mpsc::channel(cfg.queue.max(1));
        let (new_entries, _) = broadcast::channel(256);
        let me = Arc::new(Attention {
            evaluator: Mutex::new(Evaluator::new(cfg.clone(), labs.clone())),
            cfg,
            store,
            history,
            history_cfg,
            engines: Mutex::default(),
            labs: RwLock::new(labs),
            file_labs,
            tx,
            new_entries,
        });
        tokio::spawn(persist(Arc::downgrade(&me), rx));
        tokio::spawn(tick(Arc::downgrade(&me)));
        tokio::spawn(follow_labs(Arc::downgrade(&me)));
        Ok(me)
    }

    pub fn config(&self) -> &AttentionConfig {
        &self.cfg
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The labs as defined now (file and database).
    pub fn labs(&self) -> Arc<Labs> {
        self.labs.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// New entries' IDs as they are stored (on this node).
    pub fn subscribe_new(&self) -> broadcast::Receiver<i64> {
        self.new_entries.subscribe()
    }

    /// A student's raised hand: a new entry, announced like the others.
    pub async fn raise_hand(
        &self,
        subject: &Subject,
        message: &str,
        at: i64,
        evidence: &[Evidence],
    ) -> Result<i64, crate::store::StoreError> {
        let id = self.store.hand(subject, message, at, evidence).await?;
        metrics::counter!(crate::metrics::ENTRIES, "signal" => "hand").increment(1);
        let _ = self.new_entries.send(id);
        Ok(id)
    }

    /// Defines (or redefines) a lab in the database; checked first.
    pub async fn put_lab(&self, def: &LabDef, by: &str) -> Result<(), PutLabError> {
        crate::labs::compile_lab(def, &self.cfg).map_err(PutLabError::Invalid)?;
        self.store
            .put_lab(def, by)
            .await
            .map_err(PutLabError::Store)?;
        self.reload().await;
        Ok(())
    }

    fn send(&self, findings: Vec<Finding>) {
        for f in findings {
            if self.tx.try_send(f).is_err() {
                metrics::counter!(crate::metrics::FINDINGS_DROPPED).increment(1);
            }
        }
    }

    /// Reads the labs again (file, then database) and, if they changed,
    /// evaluates with them and looks for their checkpoints in history.
    async fn reload(&self) {
        let mut defs = self.file_labs.clone();
        match self.store.labs().await {
            Ok(db) => {
                for d in db {
                    defs.retain(|f| f.name != d.name);
                    defs.push(d);
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "attention: cannot read labs");
                return;
            }
        }
        let labs = match Labs::compile(&defs, &self.cfg) {
            Ok(l) => Arc::new(l),
            Err(e) => {
                tracing::warn!(error = %e, "attention: a stored lab does not compile; keeping the others as they were");
                return;
            }
        };
        if labs.defs() == self.labs().defs() {
            return;
        }
        *self.labs.write().unwrap_or_else(|p| p.into_inner()) = labs.clone();
        lock(&self.evaluator).set_labs(labs.clone());
        self.backfill(&labs).await;
    }

    /// Looks for every lab's checkpoints not reached yet in the recorded
    /// history of its containers: a checkpoint reached while labtail was
    /// down, or defined after the fact, is found with its line. Bounded
    /// by history's search budget per checkpoint and container.
    pub async fn backfill(&self, labs: &Labs) {
        let rows = match self.history.containers(&Visible::All, None, 100_000).await {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(error = %e, "attention: cannot list history for checkpoints");
                return;
            }
        };
        for row in rows {
            let Some(lab) = row.lab.as_deref().and_then(|l| labs.get(l)) else {
                continue;
            };
            let subject = Subject {
                container_id: row.docker_id.clone(),
                container_name: row.name.clone(),
                owner: row.owner.clone(),
                course: row.course.clone(),
                lab: row.lab.clone(),
            };
            for cp in &lab.def.checkpoints {
                if self
                    .store
                    .has_reached(&row.docker_id, &lab.def.name, &cp.name)
                    .await
                    .unwrap_or(true)
                {
                    continue;
                }
                let q = labtail_history::Query {
                    pattern: cp.pattern.clone(),
                    regex: true,
                    ignore_case: false,
                    containers: vec![row.id],
                    from_ts: i64::MIN,
                    to_ts: i64::MAX,
                    limit: 1,
                    after: None,
                };
                let found =
                    match labtail_history::search::search(&self.history, &self.history_cfg, &q)
                        .await
                    {
                        Ok(f) => f,
                        Err(e) => {
                            tracing::debug!(error = %e, "attention: checkpoint search failed");
                            continue;
                        }
                    };
                if let Some(hit) = found.hits.first() {
                    let r = Reached {
                        subject: subject.clone(),
                        lab: lab.def.name.clone(),
                        checkpoint: cp.name.clone(),
                        at: hit.line.cursor.ts_nanos,
                        evidence: Evidence::of(&hit.line),
                    };
                    if let Err(e) = self.store.reach(&r).await {
                        tracing::warn!(error = %e, "attention: cannot store a checkpoint");
                    }
                }
            }
        }
    }

    /// Samples what the running lab containers use (the runaway signal),
    /// on the engines given by name (as the recorders name them).
    pub fn sample_usage(self: &Arc<Self>, engines: Vec<(String, labtail_logs::Docker)>) {
        tokio::spawn(crate::sampler::run(
            Arc::downgrade(self),
            engines.into_iter().collect(),
        ));
    }

    fn records(&self, engine: &str) -> bool {
        lock(&self.engines).recording.contains(engine)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PutLabError {
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Store(crate::store::StoreError),
}

impl crate::sampler::UsageSink for Attention {
    fn config(&self) -> &AttentionConfig {
        &self.cfg
    }

    fn running_containers(&self) -> Vec<(String, labtail_logs::DockerId)> {
        let recording = lock(&self.engines).recording.clone();
        let mut r = lock(&self.evaluator).running();
        r.retain(|(engine, _)| recording.contains(engine));
        r
    }

    fn usage(&self, container_id: &str, sample: &crate::evaluate::Sample) {
        let f = lock(&self.evaluator).usage(container_id, sample, now_ns());
        self.send(f);
    }
}

impl Observer for Attention {
    fn recording(&self, engine: &str, on: bool) {
        let mut e = lock(&self.engines);
        if on {
            e.recording.insert(engine.to_owned());
        } else {
            e.recording.remove(engine);
            // Another node evaluates it now: what this node knew of its
            // containers would look like silence.
            lock(&self.evaluator).forget_engine(engine);
        }
    }

    fn lines(&self, engine: &str, c: &ContainerInfo, lines: &[Line]) {
        let started = std::time::Instant::now();
        let f = lock(&self.evaluator).lines(engine, c, lines, now_ns());
        metrics::counter!(crate::metrics::EVAL_NANOS)
            .increment(u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX));
        metrics::counter!(crate::metrics::LINES_EVALUATED).increment(lines.len() as u64);
        self.send(f);
    }

    fn lifecycle(&self, engine: &str, c: &ContainerInfo, step: &Lifecycle) {
        tracing::debug!(container = %c.name, ?step, "attention: lifecycle");
        let f = lock(&self.evaluator).lifecycle(engine, c, step, now_ns());
        self.send(f);
    }

    fn docker_event(&self, engine: &str, e: &ContainerEvent) {
        if !self.records(engine) {
            return;
        }
        let f = lock(&self.evaluator).docker_event(engine, e, now_ns());
        self.send(f);
    }
}

/// Stores findings in order; announces new entries.
async fn persist(me: std::sync::Weak<Attention>, mut rx: mpsc::Receiver<Finding>) {
    while let Some(f) = rx.recv().await {
        let Some(a) = me.upgrade() else {
            return;
        };
        match f {
            Finding::Raise(r) => match a.store.raise(&r, &key_of(&r)).await {
                Ok((id, new)) => {
                    tracing::debug!(id, new, signal = r.signal.as_str(), container = %r.subject.container_name, "attention: raised");
                    if new {
                        metrics::counter!(crate::metrics::ENTRIES, "signal" => r.signal.as_str())
                            .increment(1);
                        let _ = a.new_entries.send(id);
                    }
                }
                Err(e) => tracing::warn!(error = %e, "attention: cannot store an entry"),
            },
            Finding::Reached(r) => {
                if let Err(e) = a.store.reach(&r).await {
                    tracing::warn!(error = %e, "attention: cannot store a checkpoint");
                }
            }
        }
    }
}

/// The time-based signals, every `tick`.
async fn tick(me: std::sync::Weak<Attention>) {
    let period = match me.upgrade() {
        Some(a) => a.cfg.tick,
        None => return,
    };
    let mut t = tokio::time::interval(period.max(std::time::Duration::from_millis(100)));
    t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        t.tick().await;
        let Some(a) = me.upgrade() else {
            return;
        };
        let f = lock(&a.evaluator).tick(now_ns());
        a.send(f);
    }
}

/// Labs edited on any node reach every node: the table is looked at every
/// few seconds. The first pass also looks for checkpoints in history.
async fn follow_labs(me: std::sync::Weak<Attention>) {
    let mut seen = None;
    let mut first = true;
    loop {
        let Some(a) = me.upgrade() else {
            return;
        };
        match a.store.labs_version().await {
            Ok(v) if Some(v) != seen => {
                seen = Some(v);
                a.reload().await;
                if first {
                    first = false;
                    let labs = a.labs();
                    a.backfill(&labs).await;
                }
            }
            Ok(_) => {}
            Err(e) => tracing::debug!(error = %e, "attention: cannot read the labs' version"),
        }
        drop(a);
        tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    }
}
