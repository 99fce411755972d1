//! Duplicate detection over a bounded event-time horizon.
//!
//! Event ids are hashed (xxh3, 64 bit) into buckets of `horizon / 4` event
//! time; buckets older than `watermark - horizon` are dropped whole, so
//! memory is proportional to the events of one horizon, never to history.
//! A 64-bit collision would drop a distinct event: at one million ids held
//! the chance per event is about 5e-14, accepted and documented.

use std::collections::VecDeque;

use rustc_hash::FxHashSet;

use crate::event::Millis;

#[derive(Debug, Clone)]
pub struct Dedup {
    horizon: Millis,
    slice: Millis,
    /// `(slice index, hashes)`, ascending by slice.
    buckets: VecDeque<(i64, FxHashSet<u64>)>,
}

impl Dedup {
    pub fn new(horizon: Millis) -> Self {
        Dedup {
            horizon,
            slice: (horizon / 4).max(1),
            buckets: VecDeque::new(),
        }
    }

    /// Remember `id` seen at `t`; false if it was already seen.
    pub fn insert(&mut self, id: &str, t: Millis) -> bool {
        let h = xxhash_rust::xxh3::xxh3_64(id.as_bytes());
        if self.buckets.iter().any(|(_, set)| set.contains(&h)) {
            return false;
        }
        let s = t.div_euclid(self.slice);
        let pos = self.buckets.partition_point(|(bs, _)| *bs < s);
        match self.buckets.get_mut(pos) {
            Some((bs, set)) if *bs == s => {
                set.insert(h);
            }
            _ => {
                let mut set = FxHashSet::default();
                set.insert(h);
                self.buckets.insert(pos, (s, set));
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
            self.buckets.pop_front();
        }
    }

    pub fn len(&self) -> usize {
        self.buckets.iter().map(|(_, s)| s.len()).sum()
    }

    /// The buckets as `(slice index, hashes)`, slices ascending and hashes
    /// sorted (a canonical form for checkpoints: the sets' iteration order
    /// is not part of the state).
    pub fn buckets(&self) -> impl ExactSizeIterator<Item = (i64, Vec<u64>)> + '_ {
        self.buckets.iter().map(|(s, set)| {
            let mut hashes: Vec<u64> = set.iter().copied().collect();
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
            d.buckets.push_back((s, hashes.into_iter().collect()));
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
}
