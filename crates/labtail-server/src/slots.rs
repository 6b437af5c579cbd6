//! Per-user counts under a limit, on this node: a user's watches
//! (`--max-streams-per-user`) and sockets (`--max-sockets-per-user`).
//!
//! A count, not a look at the Socket.IO rooms: asking socketioxide how many
//! sockets a user's room holds lists them all, so a class's reconnect storm
//! (thousands of sockets of a few sessions) cost O(n²); in the `idle`
//! benchmark that check was 80 % of labtail's CPU while 10 000 sockets of
//! one user connected.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

type Counts = Arc<Mutex<HashMap<i64, usize>>>;

#[derive(Debug, Default)]
pub struct PerUser(Counts);

impl PerUser {
    /// One of the user's slots, if fewer than `limit` are taken; it is given
    /// back when the returned guard drops.
    pub fn take(&self, user_id: i64, limit: usize) -> Option<Slot> {
        let mut m = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let n = m.entry(user_id).or_insert(0);
        if *n >= limit {
            return None;
        }
        *n += 1;
        Some(Slot {
            counts: self.0.clone(),
            user_id,
        })
    }

    #[cfg(test)]
    fn count(&self, user_id: i64) -> usize {
        let m = self.0.lock().unwrap_or_else(|p| p.into_inner());
        m.get(&user_id).copied().unwrap_or(0)
    }
}

/// One taken slot (see [`PerUser::take`]).
#[derive(Debug)]
pub struct Slot {
    counts: Counts,
    user_id: i64,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut m = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = m.get_mut(&self.user_id) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                m.remove(&self.user_id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_counted_per_user_and_given_back() {
        let users = PerUser::default();
        let a1 = users.take(1, 2).expect("first");
        let a2 = users.take(1, 2).expect("second");
        assert!(users.take(1, 2).is_none(), "over the limit");
        let b = users.take(2, 2).expect("another user has their own");
        drop(a1);
        let a3 = users.take(1, 2).expect("given back");
        assert_eq!(users.count(1), 2);
        drop((a2, a3, b));
        assert_eq!(users.count(1), 0);
        assert!(users.0.lock().unwrap().is_empty(), "no entry left behind");
    }
}
