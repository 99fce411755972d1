//! Duplicate detection over a bounded event-time horizon.
//!
//! Event ids are hashed (xxh3, 64 bit) into one set, which answers "seen?"
//! with one probe per event, and into buckets of `horizon / 4` event time,
//! which say when to forget them: buckets older than `watermark - horizon`
//! are dropped whole and their hashes leave the set, so memory is
//! proportional to the events of one horizon, never to history. Each id
//! held costs its hash twice (set and bucket), 8 bytes more than a set per
//! bucket did, for one probe per event instead of one per bucket.
//! A 64-bit collision would drop a distinct event: at one million ids held
//! the chance per event is about 5e-14, accepted and documented.

use std::collections::VecDeque;

use rustc_hash::FxHashSet;

use crate::event::Millis;

#[derive(Debug, Clone)]
pub struct Dedup {
    horizon: Millis,
    slice: Millis,
    /// Every hash the buckets hold.
    seen: FxHashSet<u64>,
    /// `(slice index, hashes)`, ascending by slice; a hash is in one bucket.
    buckets: VecDeque<(i64, Vec<u64>)>,
}

impl Dedup {
    pub fn new(horizon: Millis) -> Self {
        Dedup {
            horizon,
            slice: (horizon / 4).max(1),
            seen: FxHashSet::default(),
            buckets: VecDeque::new(),
        }
    }

    /// Remember `id` seen at `t`; false if it was already seen.
    pub fn insert(&mut self, id: &str, t: Millis) -> bool {
        let h = xxhash_rust::xxh3::xxh3_64(id.as_bytes());
        if !self.seen.insert(h) {
            return false;
        }
        let s = t.div_euclid(self.slice);
        // In-order streams write the newest bucket: checked first, as a
        // search of the deque per event was 0.9 % of a replay (callgrind).
        match self.buckets.back_mut() {
            Some((bs, hashes)) if *bs == s => hashes.push(h),
            _ => {
                let pos = self.buckets.partition_point(|(bs, _)| *bs < s);
                match self.buckets.get_mut(pos) {
                    Some((bs, hashes)) if *bs == s => hashes.push(h),
                    _ => self.buckets.insert(pos, (s, vec![h])),
                }
            }
        }
        true
    }

    /// Forget ids older than `watermark - horizon`.
    pub fn prune(&mut self, watermark: Millis) {
        let keep_from = watermark
            .saturating_sub(self.horizon)
            .div_euclid(self.slice);
        while self.buckets.front().is_some_and(|(s, _)| *s < keep_from) {
            if let Some((_, hashes)) = self.buckets.pop_front() {
                for h in hashes {
                    self.seen.remove(&h);
                }
            }
        }
    }

    pub fn len(&self) -> usize {
        self.seen.len()
    }

    /// The buckets as `(slice index, hashes)`, slices ascending and hashes
    /// sorted (a canonical form for checkpoints: the order in which a
    /// bucket's hashes arrived is not part of the state).
    pub fn buckets(&self) -> impl ExactSizeIterator<Item = (i64, Vec<u64>)> + '_ {
        self.buckets.iter().map(|(s, hashes)| {
            let mut hashes = hashes.clone();
            hashes.sort_unstable();
            (*s, hashes)
        })
    }

    /// Rebuild from [`Dedup::buckets`] under `horizon`; slices must ascend.
    pub fn from_buckets(
        horizon: Millis,
        buckets: impl IntoIterator<Item = (i64, Vec<u64>)>,
    ) -> Result<Self, String> {
        let mut d = Dedup::new(horizon);
        for (s, hashes) in buckets {
            if d.buckets.back().is_some_and(|(last, _)| *last >= s) {
                return Err(format!("dedup slices out of order at slice {s}"));
            }
            let mut kept = Vec::with_capacity(hashes.len());
            for h in hashes {
                // A damaged list naming a hash twice keeps it once.
                if d.seen.insert(h) {
                    kept.push(h);
                }
            }
            d.buckets.push_back((s, kept));
        }
        Ok(d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repeated_id_is_a_duplicate_within_the_horizon() {
        let mut d = Dedup::new(60_000);
        assert!(d.insert("e1", 1_000));
        assert!(!d.insert("e1", 50_000));
        assert!(d.insert("e2", 1_000));
    }

    #[test]
    fn ids_are_forgotten_once_the_watermark_passes_the_horizon() {
        let mut d = Dedup::new(60_000);
        d.insert("e1", 1_000);
        d.prune(61_000); // keep slices >= (61_000-60_000)/15_000 = 0
        assert!(!d.insert("e1", 61_000));
        d.prune(200_000);
        assert!(d.insert("e1", 200_000));
    }

    #[derive(Debug, Clone)]
    enum Op {
        Insert(u8, Millis),
        Prune(Millis),
        /// Save and restore through the checkpoint form.
        Restore,
    }

    fn op() -> impl proptest::strategy::Strategy<Value = Op> {
        use proptest::prelude::*;
        prop_oneof![
            6 => (0u8..12, 0i64..400_000).prop_map(|(id, t)| Op::Insert(id, t)),
            2 => (0i64..500_000).prop_map(Op::Prune),
            1 => Just(Op::Restore),
        ]
    }

    proptest::proptest! {
        /// Against a list of `(id, slice)` that forgets, on every prune,
        /// each id whose slice lies before `(watermark - horizon) / slice`:
        /// the same answers, the same count, and the same checkpoint form.
        #[test]
        fn answers_like_a_list_that_forgets_old_slices(
            ops in proptest::collection::vec(op(), 0..80),
        ) {
            const HORIZON: Millis = 60_000;
            const SLICE: Millis = HORIZON / 4;
            let mut d = Dedup::new(HORIZON);
            let mut oracle: Vec<(String, i64)> = Vec::new();
            for o in ops {
                match o {
                    Op::Insert(id, t) => {
                        let id = format!("e{id}");
                        let fresh = !oracle.iter().any(|(i, _)| *i == id);
                        if fresh {
                            oracle.push((id.clone(), t.div_euclid(SLICE)));
                        }
                        proptest::prop_assert_eq!(d.insert(&id, t), fresh, "insert {} at {}", id, t);
                    }
                    Op::Prune(wm) => {
                        let keep_from = (wm - HORIZON).div_euclid(SLICE);
                        oracle.retain(|(_, s)| *s >= keep_from);
                        d.prune(wm);
                    }
                    Op::Restore => {
                        let saved: Vec<(i64, Vec<u64>)> = d.buckets().collect();
                        d = Dedup::from_buckets(HORIZON, saved).expect("own form");
                    }
                }
                proptest::prop_assert_eq!(d.len(), oracle.len());
                let mut want: Vec<(i64, Vec<u64>)> = Vec::new();
                let mut slices: Vec<i64> = oracle.iter().map(|(_, s)| *s).collect();
                slices.sort_unstable();
                slices.dedup();
                for s in slices {
                    let mut hashes: Vec<u64> = oracle
                        .iter()
                        .filter(|(_, os)| *os == s)
                        .map(|(i, _)| xxhash_rust::xxh3::xxh3_64(i.as_bytes()))
                        .collect();
                    hashes.sort_unstable();
                    want.push((s, hashes));
                }
                proptest::prop_assert_eq!(d.buckets().collect::<Vec<_>>(), want);
            }
        }
    }
}
