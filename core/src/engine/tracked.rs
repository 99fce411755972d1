//! `Tracked`: the map behind resolutions and customers (keyed by 64-bit
//! id hashes), cheap to copy for the provisional view.
//!
//! These maps hold up to `limits.max_tracked_*` entries each (a week of
//! resolutions by default), and the provisional view copies the fold at
//! every publish only to apply the few events still in its reorder buffer.
//! Copying them whole made a publish cost grow with a week's traffic. A
//! `Tracked` keeps its entries behind an `Arc`: [`Tracked::fork`] shares
//! them and records the fork's own writes in a small overlay, so a fork
//! costs what the buffered events change. Owned maps write in place
//! (`Arc::make_mut` on an unshared `Arc` copies nothing), so the fold
//! pays one pointer check per write. A persistent map (`imbl`) was
//! measured first: its lookups and inserts made the fold bench 25 %
//! slower.

use std::collections::hash_map::Entry;
use std::sync::Arc;

use rustc_hash::FxHashMap;

#[derive(Debug, Clone)]
pub(super) struct Tracked<V: Clone> {
    base: Arc<FxHashMap<u64, V>>,
    /// A fork's writes: `Some` replaces or adds, `None` removes. `None`
    /// for an owned map.
    overlay: Option<FxHashMap<u64, Option<V>>>,
    len: usize,
}

impl<V: Clone> Default for Tracked<V> {
    fn default() -> Self {
        Tracked {
            base: Arc::default(),
            overlay: None,
            len: 0,
        }
    }
}

impl<V: Clone> FromIterator<(u64, V)> for Tracked<V> {
    fn from_iter<I: IntoIterator<Item = (u64, V)>>(iter: I) -> Self {
        let base: FxHashMap<u64, V> = iter.into_iter().collect();
        Tracked {
            len: base.len(),
            base: Arc::new(base),
            overlay: None,
        }
    }
}

impl<V: Clone> Tracked<V> {
    /// A copy whose writes never touch (or copy) the shared entries. For
    /// short-lived copies: the overlay grows with every key written.
    pub(super) fn fork(&self) -> Self {
        Tracked {
            base: Arc::clone(&self.base),
            overlay: Some(self.overlay.clone().unwrap_or_default()),
            len: self.len,
        }
    }

    pub(super) fn len(&self) -> usize {
        self.len
    }

    pub(super) fn get(&self, k: &u64) -> Option<&V> {
        match self.overlay.as_ref().and_then(|o| o.get(k)) {
            Some(v) => v.as_ref(),
            None => self.base.get(k),
        }
    }

    pub(super) fn contains_key(&self, k: &u64) -> bool {
        self.get(k).is_some()
    }

    pub(super) fn get_mut(&mut self, k: &u64) -> Option<&mut V> {
        match &mut self.overlay {
            None => Arc::make_mut(&mut self.base).get_mut(k),
            Some(o) => {
                if !o.contains_key(k) {
                    let v = self.base.get(k)?.clone();
                    o.insert(*k, Some(v));
                }
                o.get_mut(k).and_then(Option::as_mut)
            }
        }
    }

    /// The entry for `k`; if there is none, a default one when `room`
    /// (`None` otherwise). One lookup on an owned map where `contains_key`,
    /// `insert` and `get_mut` take three.
    pub(super) fn get_or_insert_default(&mut self, k: u64, room: bool) -> Option<&mut V>
    where
        V: Default,
    {
        if self.overlay.is_some() {
            if !self.contains_key(&k) {
                if !room {
                    return None;
                }
                self.insert(k, V::default());
            }
            return self.get_mut(&k);
        }
        match Arc::make_mut(&mut self.base).entry(k) {
            Entry::Occupied(e) => Some(e.into_mut()),
            Entry::Vacant(_) if !room => None,
            Entry::Vacant(e) => {
                self.len += 1;
                Some(e.insert(V::default()))
            }
        }
    }

    pub(super) fn insert(&mut self, k: u64, v: V) -> Option<V> {
        let old = match &mut self.overlay {
            None => Arc::make_mut(&mut self.base).insert(k, v),
            Some(o) => match o.insert(k, Some(v)) {
                Some(prev) => prev,
                None => self.base.get(&k).cloned(),
            },
        };
        if old.is_none() {
            self.len += 1;
        }
        old
    }

    pub(super) fn remove(&mut self, k: &u64) -> Option<V> {
        let old = match &mut self.overlay {
            None => Arc::make_mut(&mut self.base).remove(k),
            Some(o) => match o.insert(*k, None) {
                Some(prev) => prev,
                None => self.base.get(k).cloned(),
            },
        };
        if old.is_some() {
            self.len -= 1;
        }
        old
    }

    /// Every entry, in no particular order (sort before anything depends
    /// on it).
    pub(super) fn iter(&self) -> impl Iterator<Item = (&u64, &V)> {
        let overlay = self.overlay.as_ref();
        let shadowed = move |k: &u64| overlay.is_some_and(|o| o.contains_key(k));
        overlay
            .into_iter()
            .flatten()
            .filter_map(|(k, v)| Some((k, v.as_ref()?)))
            .chain(self.base.iter().filter(move |(k, _)| !shadowed(k)))
    }

    pub(super) fn values(&self) -> impl Iterator<Item = &V> {
        self.iter().map(|(_, v)| v)
    }

    /// Keep the entries `keep` accepts. On a fork, removals are recorded
    /// in the overlay (rare: housekeeping).
    pub(super) fn retain(&mut self, mut keep: impl FnMut(&u64, &V) -> bool) {
        match &mut self.overlay {
            None => {
                let base = Arc::make_mut(&mut self.base);
                base.retain(|k, v| keep(k, v));
                self.len = base.len();
            }
            Some(o) => {
                // A dropped overlay entry becomes a removal, not a gap:
                // a gap would bring the base's older value back.
                for (k, v) in o.iter_mut() {
                    if v.as_ref().is_some_and(|x| !keep(k, x)) {
                        *v = None;
                    }
                }
                let gone: Vec<u64> = self
                    .base
                    .iter()
                    .filter(|(k, v)| !o.contains_key(k) && !keep(k, v))
                    .map(|(k, _)| *k)
                    .collect();
                for k in gone {
                    o.insert(k, None);
                }
                self.len = self.iter().count();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use super::*;

    #[derive(Debug, Clone)]
    enum Op {
        Insert(u64, u32),
        Remove(u64),
        Bump(u64),
        /// Bump the entry, created as 0 first if absent and there is room
        /// (the `bool`).
        Upsert(u64, bool),
        Retain(u32),
    }

    fn op() -> impl Strategy<Value = Op> {
        // Few keys, so that operations meet the same entries.
        let key = 0u64..24;
        prop_oneof![
            (key.clone(), any::<u32>()).prop_map(|(k, v)| Op::Insert(k, v)),
            key.clone().prop_map(Op::Remove),
            key.clone().prop_map(Op::Bump),
            (key, any::<bool>()).prop_map(|(k, room)| Op::Upsert(k, room)),
            (1u32..5).prop_map(Op::Retain),
        ]
    }

    /// Apply `op` to the map under test and to a `BTreeMap` oracle; both
    /// must answer alike.
    fn apply(t: &mut Tracked<u32>, oracle: &mut BTreeMap<u64, u32>, op: &Op) {
        match *op {
            Op::Insert(k, v) => assert_eq!(t.insert(k, v), oracle.insert(k, v)),
            Op::Remove(k) => assert_eq!(t.remove(&k), oracle.remove(&k)),
            Op::Bump(k) => {
                let got = t.get_mut(&k).map(|v| {
                    *v = v.wrapping_add(1);
                    *v
                });
                let want = oracle.get_mut(&k).map(|v| {
                    *v = v.wrapping_add(1);
                    *v
                });
                assert_eq!(got, want);
            }
            Op::Upsert(k, room) => {
                let got = t.get_or_insert_default(k, room).map(|v| {
                    *v = v.wrapping_add(1);
                    *v
                });
                let want = match oracle.get_mut(&k) {
                    Some(v) => Some(v),
                    None if room => Some(oracle.entry(k).or_insert(0)),
                    None => None,
                }
                .map(|v| {
                    *v = v.wrapping_add(1);
                    *v
                });
                assert_eq!(got, want);
            }
            Op::Retain(m) => {
                t.retain(|_, v| v % m != 0);
                oracle.retain(|_, v| *v % m != 0);
            }
        }
        assert_eq!(t.len(), oracle.len());
        let mut seen: Vec<(u64, u32)> = t.iter().map(|(k, v)| (*k, *v)).collect();
        seen.sort_unstable();
        let want: Vec<(u64, u32)> = oracle.iter().map(|(k, v)| (*k, *v)).collect();
        assert_eq!(seen, want);
        for k in 0..24 {
            assert_eq!(t.get(&k), oracle.get(&k), "get({k})");
            assert_eq!(t.contains_key(&k), oracle.contains_key(&k));
        }
    }

    proptest! {
        /// A fork answers every operation like a plain map holding its
        /// entries, and the map it was forked from never changes.
        #[test]
        fn a_fork_behaves_as_a_copy_and_leaves_its_origin_untouched(
            before in proptest::collection::vec(op(), 0..40),
            after in proptest::collection::vec(op(), 0..40),
        ) {
            let mut owned = Tracked::default();
            let mut oracle = BTreeMap::new();
            for o in &before {
                apply(&mut owned, &mut oracle, o);
            }
            let frozen = oracle.clone();
            let mut fork = owned.fork();
            let mut fork_oracle = oracle.clone();
            for o in &after {
                apply(&mut fork, &mut fork_oracle, o);
            }
            let mut origin: Vec<(u64, u32)> = owned.iter().map(|(k, v)| (*k, *v)).collect();
            origin.sort_unstable();
            prop_assert_eq!(origin, frozen.into_iter().collect::<Vec<_>>());
            // A fork of a fork, too.
            let frozen = fork_oracle.clone();
            let mut again = fork.fork();
            let mut again_oracle = fork_oracle;
            for o in &before {
                apply(&mut again, &mut again_oracle, o);
            }
            let mut origin: Vec<(u64, u32)> = fork.iter().map(|(k, v)| (*k, *v)).collect();
            origin.sort_unstable();
            prop_assert_eq!(origin, frozen.into_iter().collect::<Vec<_>>());
        }
    }
}
