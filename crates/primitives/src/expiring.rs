//! [`Expiring`]: a map whose entries end at a deadline and whose size is capped, the oldest
//! entry giving way first. For short-lived secrets kept in memory (challenges, sessions).

use std::{
    collections::{HashMap, VecDeque},
    hash::Hash,
    time::Instant,
};

/// At most `cap` entries; an entry is gone once its deadline passes or when `cap` newer ones
/// came after it.
#[derive(Debug)]
pub struct Expiring<K, V> {
    map: HashMap<K, (V, Instant)>,
    order: VecDeque<K>,
    cap: usize,
}

impl<K: Hash + Eq + Clone, V> Expiring<K, V> {
    pub fn new(cap: usize) -> Self {
        Self { map: HashMap::new(), order: VecDeque::new(), cap: cap.max(1) }
    }

    /// Adds `value` under `key` until `until` (replacing an entry of the same key), dropping
    /// expired entries and then the oldest while full.
    pub fn insert(&mut self, key: K, value: V, until: Instant, now: Instant) {
        self.map.retain(|_, (_, u)| *u > now);
        let map = &self.map;
        self.order.retain(|k| map.contains_key(k));
        while self.map.len() >= self.cap && !self.map.contains_key(&key) {
            let Some(old) = self.order.pop_front() else { break };
            self.map.remove(&old);
        }
        if self.map.insert(key.clone(), (value, until)).is_none() {
            self.order.push_back(key);
        }
    }

    /// The live entry under `key`.
    pub fn get(&self, key: &K, now: Instant) -> Option<&V> {
        self.map.get(key).filter(|(_, u)| *u > now).map(|(v, _)| v)
    }

    /// Removes and returns the live entry under `key`.
    pub fn take(&mut self, key: &K, now: Instant) -> Option<V> {
        self.map.remove(key).filter(|(_, u)| *u > now).map(|(v, _)| v)
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn entries_end_at_their_deadline_and_the_oldest_gives_way() {
        let t0 = Instant::now();
        let s = Duration::from_secs(1);
        let mut m = Expiring::new(2);
        m.insert("a", 1, t0 + 10 * s, t0);
        m.insert("b", 2, t0 + 2 * s, t0);
        assert_eq!(m.get(&"a", t0), Some(&1));
        assert_eq!(m.get(&"b", t0 + 2 * s), None, "expired at its deadline");
        // full: the oldest ("a") goes, unless an expired one makes room first
        m.insert("c", 3, t0 + 10 * s, t0 + 3 * s);
        assert_eq!((m.get(&"a", t0 + 3 * s), m.len()), (Some(&1), 2), "expired b made room");
        m.insert("d", 4, t0 + 10 * s, t0 + 3 * s);
        assert_eq!(m.get(&"a", t0 + 3 * s), None, "the oldest gave way");
        assert_eq!(m.take(&"c", t0 + 3 * s), Some(3));
        assert_eq!(m.take(&"c", t0 + 3 * s), None, "taken once");
        // replacing a key neither grows the map nor evicts another
        m.insert("d", 5, t0 + 10 * s, t0 + 3 * s);
        m.insert("e", 6, t0 + 10 * s, t0 + 3 * s);
        assert_eq!((m.get(&"d", t0 + 3 * s), m.get(&"e", t0 + 3 * s), m.len()), (Some(&5), Some(&6), 2));
    }
}
