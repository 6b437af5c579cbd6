//! Login throttling: failed logins make the next attempt wait, per user name
//! and per client address, with exponential backoff.
//!
//! After `free_failures` failures for a user name (or `ip_free_failures` from
//! one address), each further failure blocks that key for
//! `base * 2^(extra failures)`, up to `max`. A blocked attempt is answered
//! `429 rate_limited` before any password is checked, the same for known and
//! unknown user names (so the limiter reveals nothing either). A success
//! clears the user name's count, not the address's: one valid account must
//! not reset the budget for guessing others.
//!
//! State is in memory, per labtail node, bounded to `max_keys` entries
//! (entries idle for an hour are forgotten first).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct ThrottleConfig {
    pub free_failures: u32,
    pub ip_free_failures: u32,
    pub base: Duration,
    pub max: Duration,
    pub max_keys: usize,
}

impl Default for ThrottleConfig {
    fn default() -> Self {
        ThrottleConfig {
            free_failures: 5,
            ip_free_failures: 30,
            base: Duration::from_secs(1),
            max: Duration::from_secs(15 * 60),
            max_keys: 100_000,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    failures: u32,
    blocked_until: Option<Instant>,
    last: Instant,
}

#[derive(Debug)]
pub struct LoginThrottle {
    cfg: ThrottleConfig,
    keys: Mutex<HashMap<String, Entry>>,
}

const FORGET_AFTER: Duration = Duration::from_secs(3600);

/// The key for an address: IPv6 clients are counted per /64, since one host
/// usually holds a whole /64.
fn ip_key(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => format!("ip:{v4}"),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => format!("ip:{v4}"),
            None => {
                let s = v6.segments();
                format!("ip:{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
    }
}

fn user_key(user: &str) -> String {
    format!("u:{}", user.to_lowercase())
}

impl LoginThrottle {
    pub fn new(cfg: ThrottleConfig) -> Self {
        LoginThrottle {
            cfg,
            keys: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        self.keys.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `Err(wait)` when this attempt must not be made yet.
    pub fn check(&self, user: &str, ip: IpAddr) -> Result<(), Duration> {
        let now = Instant::now();
        let keys = self.lock();
        let wait = [user_key(user), ip_key(ip)]
            .iter()
            .filter_map(|k| keys.get(k)?.blocked_until)
            .filter(|until| *until > now)
            .map(|until| until - now)
            .max();
        match wait {
            Some(w) => Err(w),
            None => Ok(()),
        }
    }

    pub fn failed(&self, user: &str, ip: IpAddr) {
        let now = Instant::now();
        let mut keys = self.lock();
        if keys.len() >= self.cfg.max_keys {
            keys.retain(|_, e| now.duration_since(e.last) < FORGET_AFTER);
            if keys.len() >= self.cfg.max_keys {
                // Still full: keep the blocked ones, they matter most.
                keys.retain(|_, e| e.blocked_until.is_some_and(|u| u > now));
            }
            if keys.len() >= self.cfg.max_keys {
                // Full of blocked keys: a spray from many addresses. Memory
                // is bounded first; the per-address limits still apply.
                tracing::warn!("login throttle full; forgetting half of its entries");
                let drop: Vec<String> = keys.keys().take(keys.len() / 2).cloned().collect();
                for k in drop {
                    keys.remove(&k);
                }
            }
        }
        for (key, free) in [
            (user_key(user), self.cfg.free_failures),
            (ip_key(ip), self.cfg.ip_free_failures),
        ] {
            let e = keys.entry(key).or_insert(Entry {
                failures: 0,
                blocked_until: None,
                last: now,
            });
            if now.duration_since(e.last) > FORGET_AFTER {
                e.failures = 0;
            }
            e.failures = e.failures.saturating_add(1);
            e.last = now;
            if e.failures > free {
                let extra = (e.failures - free - 1).min(30);
                let wait = self
                    .cfg
                    .base
                    .saturating_mul(1u32 << extra.min(20))
                    .min(self.cfg.max);
                e.blocked_until = Some(now + wait);
            }
        }
    }

    pub fn succeeded(&self, user: &str) {
        self.lock().remove(&user_key(user));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn cfg() -> ThrottleConfig {
        ThrottleConfig {
            free_failures: 3,
            ip_free_failures: 10,
            base: Duration::from_secs(10),
            max: Duration::from_secs(40),
            max_keys: 1000,
        }
    }

    #[test]
    fn a_user_is_blocked_after_the_free_failures_with_growing_waits() {
        let t = LoginThrottle::new(cfg());
        for _ in 0..3 {
            assert!(t.check("amy", ip("10.0.0.1")).is_ok());
            t.failed("amy", ip("10.0.0.1"));
        }
        assert!(t.check("amy", ip("10.0.0.1")).is_ok());
        t.failed("amy", ip("10.0.0.1"));
        let w1 = t.check("amy", ip("10.0.0.2")).unwrap_err();
        assert!(w1 > Duration::from_secs(9) && w1 <= Duration::from_secs(10));
        t.failed("amy", ip("10.0.0.2"));
        let w2 = t.check("AMY", ip("10.0.0.3")).unwrap_err();
        assert!(w2 > Duration::from_secs(19), "doubles: {w2:?}");
        for _ in 0..5 {
            t.failed("amy", ip("10.0.0.4"));
        }
        let w = t.check("amy", ip("10.0.0.5")).unwrap_err();
        assert!(w <= Duration::from_secs(40), "capped: {w:?}");
        // Other users are not affected; success clears the user's count.
        assert!(t.check("bob", ip("10.0.0.9")).is_ok());
        t.succeeded("amy");
        assert!(t.check("amy", ip("10.0.0.9")).is_ok());
    }

    #[test]
    fn an_address_spraying_user_names_is_blocked() {
        let t = LoginThrottle::new(cfg());
        for i in 0..11 {
            t.failed(&format!("user{i}"), ip("192.0.2.7"));
        }
        assert!(t.check("fresh-name", ip("192.0.2.7")).is_err());
        assert!(t.check("fresh-name", ip("192.0.2.8")).is_ok());
    }

    #[test]
    fn ipv6_is_counted_per_64() {
        assert_eq!(
            ip_key(ip("2001:db8:1:2:3:4:5:6")),
            ip_key(ip("2001:db8:1:2:ffff::1"))
        );
        assert_ne!(ip_key(ip("2001:db8:1:2::1")), ip_key(ip("2001:db8:1:3::1")));
        assert_eq!(ip_key(ip("::ffff:10.1.2.3")), "ip:10.1.2.3");
    }

    #[test]
    fn memory_is_bounded() {
        let t = LoginThrottle::new(ThrottleConfig {
            max_keys: 50,
            ..cfg()
        });
        for i in 0..1000 {
            t.failed(
                &format!("u{i}"),
                ip(&format!("10.0.{}.{}", i / 250, i % 250)),
            );
        }
        assert!(t.lock().len() <= 52);
    }
}
