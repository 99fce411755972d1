//! Sliding event-time windows built from slices ("panes").
//!
//! A window of length `L` is a ring of `n = L / S` panes of width `S`. An
//! event at time `t` updates the pane of slice `t / S` in O(1); reading the
//! window at `now` sums the panes of slices `(now/S - n, now/S]`. So a window
//! read at `now` covers between `L - S` and `L` of event time, aligned to
//! slice boundaries; tests and the brute-force oracle use the same rule.
//! Memory per window is `n` panes, whatever the traffic.

use serde::{Deserialize, Serialize};

use crate::event::Millis;

/// One window tier, e.g. 5m built from 30s slices.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WindowSpec {
    /// Label value, e.g. `5m`.
    pub name: String,
    pub length: Millis,
    pub slice: Millis,
}

impl WindowSpec {
    pub fn new(name: &str, length: Millis, slice: Millis) -> Self {
        WindowSpec {
            name: name.to_string(),
            length,
            slice,
        }
    }

    /// Number of panes in the ring (config validation guarantees `slice`
    /// divides `length`).
    pub fn panes(&self) -> usize {
        (self.length / self.slice).max(1) as usize
    }

    /// The slice index holding time `t` (floor division, correct before 1970).
    pub fn slice_of(&self, t: Millis) -> i64 {
        t.div_euclid(self.slice)
    }

    /// Event-time span `[start, end)` the window covers when read at `now`.
    pub fn span_at(&self, now: Millis) -> (Millis, Millis) {
        let s = self.slice_of(now);
        let end = (s + 1) * self.slice;
        (end - self.panes() as i64 * self.slice, end)
    }

    /// The default tiers: 5m, 15m, 1h, 24h.
    pub fn defaults() -> Vec<WindowSpec> {
        const S: Millis = 1000;
        vec![
            WindowSpec::new("5m", 300 * S, 30 * S),
            WindowSpec::new("15m", 900 * S, 60 * S),
            WindowSpec::new("1h", 3600 * S, 300 * S),
            WindowSpec::new("24h", 86_400 * S, 3600 * S),
        ]
    }
}

/// Data a pane holds: it must be resettable and summable.
pub trait PaneData: Default {
    fn merge_from(&mut self, other: &Self);
}

/// A ring of panes for one window tier.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Ring<T> {
    slice: Millis,
    /// `(slice index, data)`; the tag says which slice a pane holds now.
    panes: Box<[(i64, T)]>,
    /// Newest slice written or advanced to.
    head: i64,
    /// Where the head slice's pane is, so an event in the head slice (most
    /// of them) finds its pane without the two 64-bit divisions of the
    /// general path. Only a hint: it is trusted when that pane's tag says
    /// `head`, so it is not saved, and a restored ring starts with 0 and
    /// corrects it on the first miss.
    #[serde(skip)]
    head_idx: usize,
}

impl<T> Ring<T> {
    /// The same ring with every pane converted (older checkpoint forms).
    pub(super) fn map<U>(self, mut f: impl FnMut(T) -> U) -> Ring<U> {
        Ring {
            slice: self.slice,
            panes: self
                .panes
                .into_vec()
                .into_iter()
                .map(|(s, d)| (s, f(d)))
                .collect(),
            head: self.head,
            head_idx: self.head_idx,
        }
    }
}

impl<T: PaneData> Ring<T> {
    pub fn new(spec: &WindowSpec) -> Self {
        let n = spec.panes();
        Ring {
            slice: spec.slice,
            panes: (0..n).map(|_| (i64::MIN, T::default())).collect(),
            head: i64::MIN,
            head_idx: 0,
        }
    }

    fn n(&self) -> i64 {
        self.panes.len() as i64
    }

    /// Whether this ring has the shape `spec` gives (a restored checkpoint
    /// is checked against the settings).
    pub fn fits(&self, spec: &WindowSpec) -> bool {
        self.slice == spec.slice && self.panes.len() == spec.panes()
    }

    /// The pane for event time `t`, or `None` when `t` is older than the
    /// ring remembers (a late event beyond the window: the caller counts it).
    #[inline]
    pub fn pane_mut(&mut self, t: Millis) -> Option<&mut T> {
        self.pane_mut_fresh(t).map(|(p, _)| p)
    }

    /// Like [`Ring::pane_mut`], but also reports whether the pane was fresh
    /// (just reset), for data that carries a level across panes.
    ///
    /// Inlined: it runs for every tier of every record, several times per
    /// event, and its usual case (the head slice) is a few instructions.
    #[inline]
    pub fn pane_mut_fresh(&mut self, t: Millis) -> Option<(&mut T, bool)> {
        // The head slice is `[head × slice, head × slice + slice)`; no
        // start exists before the first write (`head` is `i64::MIN`).
        if let Some(start) = self.head.checked_mul(self.slice) {
            let h = self.head_idx;
            let hit = t >= start
                && (t.wrapping_sub(start) as u64) < self.slice as u64
                && self.panes.get(h).is_some_and(|p| p.0 == self.head);
            if hit {
                return Some((&mut self.panes[h].1, false));
            }
        }
        self.pane_mut_slow(t)
    }

    /// [`Ring::pane_mut_fresh`] for a time outside the head slice (or a
    /// stale hint): a new head, an older pane, or one the ring forgot.
    #[inline(never)]
    fn pane_mut_slow(&mut self, t: Millis) -> Option<(&mut T, bool)> {
        let s = t.div_euclid(self.slice);
        if s > self.head {
            self.head = s;
        } else if s <= self.head - self.n() {
            return None;
        }
        let idx = s.rem_euclid(self.n()) as usize;
        if s == self.head {
            self.head_idx = idx;
        }
        let pane = &mut self.panes[idx];
        let fresh = pane.0 != s;
        if fresh {
            *pane = (s, T::default());
        }
        Some((&mut pane.1, fresh))
    }

    /// Visit the panes inside the window read at `now`.
    pub fn for_each_in_window(&self, now: Millis, mut f: impl FnMut(i64, &T)) {
        let s_now = now.div_euclid(self.slice);
        let lo = s_now - self.n();
        for (s, data) in self.panes.iter() {
            if *s > lo && *s <= s_now {
                f(*s, data);
            }
        }
    }

    /// Sum of the panes inside the window read at `now`.
    pub fn sum(&self, now: Millis) -> T {
        let mut acc = T::default();
        self.for_each_in_window(now, |_, d| acc.merge_from(d));
        acc
    }

    /// Add a duration-valued quantity over `[start, end)` split across the
    /// slices it spans, visiting only slices the ring can still hold.
    pub fn add_interval(&mut self, start: Millis, end: Millis, mut f: impl FnMut(&mut T, Millis)) {
        if end <= start {
            return;
        }
        // `end` is exclusive: its last instant is `end - 1`.
        let last = (end - 1).div_euclid(self.slice);
        let first_kept = (self.head.max(last) - self.n() + 1) * self.slice;
        let mut from = start.max(first_kept);
        while from < end {
            let slice_end = (from.div_euclid(self.slice) + 1) * self.slice;
            let to = slice_end.min(end);
            if let Some(p) = self.pane_mut(from) {
                f(p, to - from);
            }
            from = to;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default, Debug, Clone, PartialEq)]
    struct N(u64);
    impl PaneData for N {
        fn merge_from(&mut self, o: &Self) {
            self.0 += o.0;
        }
    }

    fn spec() -> WindowSpec {
        // 1-minute window of 10-second slices: 6 panes.
        WindowSpec::new("1m", 60_000, 10_000)
    }

    #[test]
    fn window_covers_the_last_n_slices_including_the_current_one() {
        let mut r: Ring<N> = Ring::new(&spec());
        for t in [0, 5_000, 15_000, 59_999, 60_000, 65_000] {
            r.pane_mut(t).unwrap().0 += 1;
        }
        // At now = 65_000 the current slice is 6; the window is slices 1..=6:
        // 15_000, 59_999, 60_000, 65_000 -> 4 (0 and 5_000 are in slice 0).
        assert_eq!(r.sum(65_000).0, 4);
        // Read at 69_999 (still slice 6): same answer.
        assert_eq!(r.sum(69_999).0, 4);
        // At 125_000 (slice 12): window 7..=12 is empty.
        assert_eq!(r.sum(125_000).0, 0);
    }

    #[test]
    fn events_older_than_the_ring_are_refused() {
        let mut r: Ring<N> = Ring::new(&spec());
        r.pane_mut(100_000).unwrap().0 += 1; // slice 10
        assert!(r.pane_mut(40_000).is_none()); // slice 4 = 10 - 6: gone
        assert!(r.pane_mut(50_000).is_some()); // slice 5: still held
    }

    #[test]
    fn a_reused_pane_starts_empty() {
        let mut r: Ring<N> = Ring::new(&spec());
        r.pane_mut(0).unwrap().0 += 7; // slice 0 -> index 0
        r.pane_mut(60_000).unwrap().0 += 1; // slice 6 -> index 0 again
        assert_eq!(r.sum(60_000).0, 1);
    }

    #[test]
    fn a_stale_head_hint_still_finds_the_right_pane() {
        let mut r: Ring<N> = Ring::new(&spec());
        r.pane_mut(35_000).unwrap().0 += 1; // slice 3 -> index 3
                                            // As after a restore: the hint is not saved and starts at 0.
        r.head_idx = 0;
        r.pane_mut(36_000).unwrap().0 += 1;
        r.pane_mut(37_000).unwrap().0 += 1;
        let mut seen = vec![];
        r.for_each_in_window(37_000, |s, d| seen.push((s, d.0)));
        assert_eq!(seen, vec![(3, 3)]);
        assert_eq!(r.head_idx, 3);
    }

    #[test]
    fn an_event_just_outside_the_head_slice_takes_its_own_pane() {
        let mut r: Ring<N> = Ring::new(&spec());
        r.pane_mut(10_000).unwrap().0 += 1; // slice 1: [10_000, 20_000)
        r.pane_mut(9_999).unwrap().0 += 1; // slice 0
        r.pane_mut(20_000).unwrap().0 += 1; // slice 2, the new head
        r.pane_mut(19_999).unwrap().0 += 1; // slice 1 again
        let mut seen = vec![];
        r.for_each_in_window(20_000, |s, d| seen.push((s, d.0)));
        seen.sort();
        assert_eq!(seen, vec![(0, 1), (1, 2), (2, 1)]);
    }

    #[test]
    fn intervals_are_split_across_slices() {
        let mut r: Ring<N> = Ring::new(&spec());
        // 8s..32s: 2s in slice 0, 10s in 1, 10s in 2, 2s in 3.
        r.add_interval(8_000, 32_000, |p, d| p.0 += d as u64);
        let mut seen = vec![];
        r.for_each_in_window(32_000, |s, d| seen.push((s, d.0)));
        seen.sort();
        assert_eq!(seen, vec![(0, 2_000), (1, 10_000), (2, 10_000), (3, 2_000)]);
    }

    #[test]
    fn long_intervals_only_touch_slices_the_ring_holds() {
        let mut r: Ring<N> = Ring::new(&spec());
        // Ten days: only the last 6 slices (60 s) can be held.
        r.add_interval(0, 864_000_000, |p, d| p.0 += d as u64);
        assert_eq!(r.sum(864_000_000 - 1).0, 60_000);
    }

    #[test]
    fn span_matches_the_pane_rule() {
        assert_eq!(spec().span_at(65_000), (10_000, 70_000));
    }
}
