//! CPU and memory of processes, read from /proc (Linux).

use std::collections::HashMap;
use std::time::Instant;

/// Clock ticks per second of /proc's CPU times (USER_HZ, 100 on Linux).
const TICKS: f64 = 100.0;

fn stat_fields(pid: u32) -> Option<Vec<String>> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces; it ends at the last ')'.
    let rest = &s[s.rfind(')')? + 2..];
    Some(rest.split_whitespace().map(str::to_owned).collect())
}

/// utime + stime (+ reaped children's) of one process, in ticks.
fn ticks(pid: u32) -> u64 {
    stat_fields(pid)
        .map(|f| {
            // After the name: state(0) ppid(1) … utime(11) stime(12) cutime(13) cstime(14)
            [11, 12, 13, 14]
                .iter()
                .filter_map(|&i| f.get(i)?.parse::<u64>().ok())
                .sum()
        })
        .unwrap_or(0)
}

/// The process and all its descendants.
pub fn tree(root: u32) -> Vec<u32> {
    let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
    if let Ok(dir) = std::fs::read_dir("/proc") {
        for e in dir.flatten() {
            let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
                continue;
            };
            if let Some(ppid) = stat_fields(pid).and_then(|f| f.get(1)?.parse::<u32>().ok()) {
                children.entry(ppid).or_default().push(pid);
            }
        }
    }
    let mut out = vec![root];
    let mut i = 0;
    while i < out.len() {
        if let Some(c) = children.get(&out[i]) {
            out.extend(c);
        }
        i += 1;
    }
    out
}

pub fn tree_ticks(root: u32) -> u64 {
    tree(root).into_iter().map(ticks).sum()
}

/// Resident memory of the process tree, in bytes.
pub fn tree_rss(root: u32) -> u64 {
    tree(root)
        .into_iter()
        .filter_map(|pid| {
            let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
            let line = s.lines().find(|l| l.starts_with("VmRSS:"))?;
            let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
            Some(kb * 1024)
        })
        .sum()
}

/// The pid of the first process with this exact command name.
pub fn find(name: &str) -> Option<u32> {
    std::fs::read_dir("/proc").ok()?.flatten().find_map(|e| {
        let pid = e.file_name().to_string_lossy().parse::<u32>().ok()?;
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
        (comm.trim() == name).then_some(pid)
    })
}

/// Average CPU use (in cores) of a process tree over a window.
pub struct CpuMeter {
    root: u32,
    start_ticks: u64,
    start: Instant,
}

impl CpuMeter {
    pub fn start(root: u32) -> Self {
        CpuMeter {
            root,
            start_ticks: tree_ticks(root),
            start: Instant::now(),
        }
    }

    /// CPU seconds used since the start.
    pub fn seconds(&self) -> f64 {
        (tree_ticks(self.root).saturating_sub(self.start_ticks)) as f64 / TICKS
    }

    pub fn cores(&self) -> f64 {
        let secs = self.start.elapsed().as_secs_f64().max(0.001);
        (tree_ticks(self.root).saturating_sub(self.start_ticks)) as f64 / TICKS / secs
    }
}

/// The machine's CPU use over a window, in cores (all processes, kernel
/// included): tells when the machine itself, not the server, is the limit.
pub struct MachineMeter {
    start: Option<(u64, u64)>,
}

/// (busy, total) jiffies of all CPUs, from /proc/stat's first line.
fn machine_jiffies() -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let cpu = stat.lines().next()?.strip_prefix("cpu ")?;
    let v: Vec<u64> = cpu
        .split_whitespace()
        .filter_map(|x| x.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal (guest is in user)
    let total: u64 = v.iter().take(8).sum();
    let idle = v.get(3)? + v.get(4).copied().unwrap_or(0);
    Some((total - idle, total))
}

impl MachineMeter {
    pub fn start() -> Self {
        MachineMeter {
            start: machine_jiffies(),
        }
    }

    /// Busy cores on average since the start (0 when /proc/stat is unreadable).
    pub fn cores(&self) -> f64 {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
        match (self.start, machine_jiffies()) {
            (Some((b0, t0)), Some((b1, t1))) if t1 > t0 => {
                (b1 - b0) as f64 / (t1 - t0) as f64 * cores
            }
            _ => 0.0,
        }
    }
}

/// Raises this process's open-file limit to its hard limit (children inherit).
pub fn raise_fd_limit() -> u64 {
    // SAFETY: getrlimit/setrlimit only read and write the struct we pass.
    unsafe {
        let mut l = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut l) == 0 {
            l.rlim_cur = l.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &l);
            return l.rlim_cur;
        }
    }
    0
}

/// A short description of what else the machine is doing.
pub fn machine_load() -> String {
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let load: Vec<&str> = load.split_whitespace().take(3).collect();
    format!("load average {}", load.join(" "))
}
