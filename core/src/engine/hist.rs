//! Duration histograms.
//!
//! Two kinds, chosen for what each is read for:
//! - [`Buckets`]: fixed log-spaced bounds shared with the Prometheus export
//!   (`le` labels). 128 bytes, exact counts and sums, mergeable by addition:
//!   window panes hold these, and instances sum in PromQL.
//! - [`Hdr`]: an HDR histogram (2 significant digits, 1 ms .. 30 days,
//!   ~13 KiB) for precise quantiles of the cumulative distribution per queue
//!   × channel. Quantiles are a per-instance view (not mergeable across
//!   instances via Prometheus), so they are only shown in the snapshot.

use std::sync::Arc;

use hdrhistogram::Histogram;
use serde::de::{self, Deserializer};
use serde::ser::Serializer;
use serde::{Deserialize, Serialize};

use crate::event::Millis;

const S: Millis = 1000;
const MIN: Millis = 60 * S;
const H: Millis = 60 * MIN;
const D: Millis = 24 * H;

/// Upper bounds (inclusive, ms) of the finite buckets; one overflow bucket
/// (`+Inf`) follows. Spans queue waits of seconds to resolutions of a week.
pub const BOUNDS_MS: [Millis; 29] = [
    S,
    2 * S,
    5 * S,
    10 * S,
    15 * S,
    20 * S,
    30 * S,
    45 * S,
    MIN,
    90 * S,
    2 * MIN,
    3 * MIN,
    4 * MIN,
    5 * MIN,
    10 * MIN,
    15 * MIN,
    20 * MIN,
    30 * MIN,
    45 * MIN,
    H,
    2 * H,
    4 * H,
    8 * H,
    12 * H,
    D,
    2 * D,
    3 * D,
    5 * D,
    7 * D,
];

pub(super) const NB: usize = BOUNDS_MS.len() + 1;

/// Fixed-bucket histogram of durations in ms, with the smallest and the
/// largest sample (mergeable by min and max), so an interpolated quantile
/// never leaves the range of what was observed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Buckets {
    counts: [u32; NB],
    sum_ms: u64,
    /// `(smallest, largest)` sample in ms; `None` when empty.
    extremes: Option<(u64, u64)>,
}

impl Default for Buckets {
    fn default() -> Self {
        Buckets {
            counts: [0; NB],
            sum_ms: 0,
            extremes: None,
        }
    }
}

impl Buckets {
    pub fn record(&mut self, v: Millis) {
        let v = v.max(0);
        let i = BOUNDS_MS.partition_point(|&b| b < v);
        self.counts[i] = self.counts[i].saturating_add(1);
        self.sum_ms = self.sum_ms.saturating_add(v as u64);
        self.widen(Some((v as u64, v as u64)));
    }

    fn widen(&mut self, o: Option<(u64, u64)>) {
        self.extremes = match (self.extremes, o) {
            (Some((a, b)), Some((c, d))) => Some((a.min(c), b.max(d))),
            (a, b) => a.or(b),
        };
    }

    pub fn merge_from(&mut self, o: &Buckets) {
        for (a, b) in self.counts.iter_mut().zip(o.counts.iter()) {
            *a = a.saturating_add(*b);
        }
        self.sum_ms = self.sum_ms.saturating_add(o.sum_ms);
        self.widen(o.extremes);
    }

    /// A histogram saved without its extremes (checkpoint format 1): they
    /// are taken as the outer bounds of the outermost non-empty buckets
    /// (the overflow bucket has no upper bound), so quantiles are what
    /// that format gave until samples with known extremes merge in.
    pub(super) fn without_extremes(counts: [u32; NB], sum_ms: u64) -> Self {
        let first = counts.iter().position(|&c| c > 0);
        let last = counts.iter().rposition(|&c| c > 0);
        let extremes = first.zip(last).map(|(f, l)| {
            let lo = if f == 0 { 0 } else { BOUNDS_MS[f - 1] as u64 };
            let hi = BOUNDS_MS.get(l).map_or(u64::MAX, |&b| b as u64);
            (lo, hi)
        });
        Buckets {
            counts,
            sum_ms,
            extremes,
        }
    }

    /// Smallest and largest sample in ms (`None` when empty).
    pub fn extremes(&self) -> Option<(u64, u64)> {
        self.extremes
    }

    /// `v` kept within the smallest and largest sample.
    pub fn clamp(&self, v: f64) -> f64 {
        match self.extremes {
            Some((lo, hi)) => v.clamp(lo as f64, hi as f64),
            None => v,
        }
    }

    pub fn count(&self) -> u64 {
        self.counts.iter().map(|&c| c as u64).sum()
    }

    pub fn sum_ms(&self) -> u64 {
        self.sum_ms
    }

    /// Per-bucket (non-cumulative) counts; the last is the `+Inf` bucket.
    pub fn counts(&self) -> &[u32] {
        &self.counts
    }

    /// Cumulative counts paired with their upper bound (`None` = `+Inf`),
    /// as Prometheus `_bucket{le=…}` series want them.
    pub fn cumulative(&self) -> impl Iterator<Item = (Option<Millis>, u64)> + '_ {
        let mut acc = 0u64;
        self.counts.iter().enumerate().map(move |(i, &c)| {
            acc += c as u64;
            (BOUNDS_MS.get(i).copied(), acc)
        })
    }

    /// Quantile estimate by linear interpolation inside the bucket, the
    /// same estimate PromQL's `histogram_quantile` makes, kept within the
    /// smallest and largest sample (interpolation alone could report a
    /// value above every sample, or below). `None` if empty.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        self.interpolate(q).map(|v| self.clamp(v))
    }

    fn interpolate(&self, q: f64) -> Option<f64> {
        let total = self.count();
        if total == 0 {
            return None;
        }
        let rank = q.clamp(0.0, 1.0) * total as f64;
        let mut below = 0u64;
        for (i, &c) in self.counts.iter().enumerate() {
            let c = c as u64;
            if c > 0 && (below + c) as f64 >= rank {
                let lo = if i == 0 { 0 } else { BOUNDS_MS[i - 1] } as f64;
                let Some(&hi) = BOUNDS_MS.get(i) else {
                    // Overflow bucket: the best honest answer is its lower bound.
                    return Some(lo);
                };
                let frac = ((rank - below as f64) / c as f64).clamp(0.0, 1.0);
                return Some(lo + (hi as f64 - lo) * frac);
            }
            below += c;
        }
        BOUNDS_MS.last().map(|&b| b as f64)
    }
}

/// HDR histogram of durations in ms for precise cumulative quantiles.
///
/// Shared copy-on-write: cloning (every published view clones every
/// queue's histograms) only bumps a count; the engine copies a histogram
/// when it next records into one a view still holds, so a publish tick
/// costs per *active* histogram, not per histogram.
#[derive(Debug, Clone)]
pub struct Hdr(Arc<Histogram<u32>>);

/// Largest value tracked exactly; larger values are clamped to it.
const HDR_MAX_MS: u64 = 30 * D as u64;

impl Default for Hdr {
    fn default() -> Self {
        // 2 significant digits: ±1 % on every quantile. Bounds are constants,
        // so construction cannot fail; fall back to an auto-resizing one to
        // stay panic-free regardless.
        let h = Histogram::new_with_bounds(1, HDR_MAX_MS, 2)
            .or_else(|_| Histogram::new(2))
            .unwrap_or_else(|_| unreachable_histogram());
        Hdr(Arc::new(h))
    }
}

#[cold]
fn unreachable_histogram() -> Histogram<u32> {
    // sigfig 0..=5 is always accepted by `Histogram::new`.
    match Histogram::new(1) {
        Ok(h) => h,
        Err(e) => panic!("hdrhistogram rejected constant bounds: {e}"),
    }
}

impl Hdr {
    pub fn record(&mut self, v: Millis) {
        let v = (v.max(1) as u64).min(HDR_MAX_MS);
        Arc::make_mut(&mut self.0).saturating_record(v);
    }

    pub fn len(&self) -> u64 {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Value at quantile `q` (ms), `None` if empty.
    pub fn quantile(&self, q: f64) -> Option<u64> {
        (!self.0.is_empty()).then(|| self.0.value_at_quantile(q))
    }

    pub fn merge_from(&mut self, o: &Hdr) {
        if o.is_empty() {
            return;
        }
        if self.is_empty() {
            self.0 = o.0.clone();
            return;
        }
        // Same bounds everywhere, so `add` cannot fail; saturate on overflow.
        let _ = Arc::make_mut(&mut self.0).add(&*o.0);
    }

    pub fn heap_bytes(&self) -> usize {
        self.0.distinct_values() * std::mem::size_of::<u32>()
    }
}

/// Quantile summary as shown in the snapshot.
/// Serialized (for checkpoints) as its non-empty buckets: `(value, count)`
/// pairs, `value` the highest value of the bucket, ascending. Recording
/// them into a fresh histogram of the same bounds rebuilds the same counts
/// (hence the same quantiles, minimum and maximum); the copy-on-write
/// sharing does not survive, which nothing observes.
impl Serialize for Hdr {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let pairs: Vec<(u64, u32)> = self
            .0
            .iter_recorded()
            .map(|v| (v.value_iterated_to(), v.count_at_value()))
            .collect();
        pairs.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Hdr {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let pairs = Vec::<(u64, u32)>::deserialize(deserializer)?;
        let mut h = Hdr::default();
        let inner = Arc::make_mut(&mut h.0);
        for (value, count) in pairs {
            inner.record_n(value, count).map_err(|e| {
                de::Error::custom(format!("HDR histogram value {value} out of range: {e:?}"))
            })?;
        }
        Ok(h)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Quantiles {
    pub p50_seconds: Option<f64>,
    pub p90_seconds: Option<f64>,
    pub p99_seconds: Option<f64>,
}

impl Quantiles {
    pub fn from_buckets(b: &Buckets) -> Self {
        let s = |q| b.quantile(q).map(|ms| ms / 1000.0);
        Quantiles {
            p50_seconds: s(0.5),
            p90_seconds: s(0.9),
            p99_seconds: s(0.99),
        }
    }

    /// HDR quantiles (the top of a ±1 % bucket) kept within the exact
    /// smallest and largest sample that `b` (the same samples) saw.
    pub fn from_hdr(h: &Hdr, b: &Buckets) -> Self {
        let s = |q| h.quantile(q).map(|ms| b.clamp(ms as f64) / 1000.0);
        Quantiles {
            p50_seconds: s(0.5),
            p90_seconds: s(0.9),
            p99_seconds: s(0.99),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_land_in_the_bucket_whose_inclusive_bound_covers_them() {
        let mut b = Buckets::default();
        b.record(1000); // le=1s
        b.record(1001); // le=2s
        b.record(20_000); // le=20s
        b.record(8 * D); // +Inf
        let c = b.counts();
        assert_eq!((c[0], c[1], c[5], c[NB - 1]), (1, 1, 1, 1));
        assert_eq!(b.count(), 4);
        assert_eq!(b.sum_ms(), (1000 + 1001 + 20_000 + 8 * D) as u64);
    }

    #[test]
    fn quantile_interpolates_like_histogram_quantile() {
        let mut b = Buckets::default();
        // 10 values in (10s, 15s], from 11 s to 14 s: the median is halfway
        // through the bucket: 12.5 s.
        for _ in 0..5 {
            b.record(11_000);
            b.record(14_000);
        }
        assert_eq!(b.quantile(0.5), Some(12_500.0));
        assert_eq!(Buckets::default().quantile(0.5), None);
    }

    #[test]
    fn interpolated_quantiles_stay_within_the_observed_samples() {
        let mut b = Buckets::default();
        // 10 values of 12 s in (10s, 15s]: interpolation alone says 12.5 s
        // for the median and 14.85 s for p99, above every sample; 10 s + 5 s
        // × 0.01 = 10.05 s for p1, below every sample. All are 12 s.
        for _ in 0..10 {
            b.record(12_000);
        }
        for q in [0.01, 0.5, 0.99, 1.0] {
            assert_eq!(b.quantile(q), Some(12_000.0), "q = {q}");
        }
        // Merged with one 3 s sample (in (2s, 5s]): p0 is 3 s, p100 12 s.
        let mut other = Buckets::default();
        other.record(3_000);
        b.merge_from(&other);
        assert_eq!(b.extremes(), Some((3_000, 12_000)));
        assert_eq!(b.quantile(0.0), Some(3_000.0));
        assert_eq!(b.quantile(1.0), Some(12_000.0));
        // An HDR quantile (top of its ±1 % bucket) is clamped the same way.
        let mut h = Hdr::default();
        h.record(1_000);
        let mut one = Buckets::default();
        one.record(1_000);
        assert_eq!(Quantiles::from_hdr(&h, &one).p99_seconds, Some(1.0));
    }

    #[test]
    fn a_histogram_without_extremes_takes_its_outer_bucket_bounds() {
        let mut counts = [0; NB];
        counts[3] = 2; // (5s, 10s]
        counts[5] = 1; // (15s, 20s]
        let b = Buckets::without_extremes(counts, 30_000);
        assert_eq!(b.extremes(), Some((5_000, 20_000)));
        assert_eq!(Buckets::without_extremes([0; NB], 0).extremes(), None);
    }

    #[test]
    fn hdr_quantiles_are_within_one_percent() {
        let mut h = Hdr::default();
        for v in 1..=10_000 {
            h.record(v);
        }
        let p90 = h.quantile(0.9).unwrap() as f64;
        assert!((p90 - 9000.0).abs() / 9000.0 < 0.01, "p90 = {p90}");
    }

    #[test]
    fn a_published_copy_does_not_change_when_the_engine_records_more() {
        let mut engine_side = Hdr::default();
        engine_side.record(1_000);
        let published = engine_side.clone();
        engine_side.record(2_000);
        engine_side.record(3_000);
        assert_eq!((published.len(), engine_side.len()), (1, 3));
        // HDR reports the top of the value's ±1 % bucket.
        let max = published.quantile(1.0).unwrap_or(0);
        assert!((1_000..=1_010).contains(&max), "max = {max}");
    }

    #[test]
    fn an_hdr_histogram_survives_a_round_trip_exactly() {
        let mut h = Hdr::default();
        for v in [
            1,
            2,
            999,
            1_000,
            1_001,
            65_000,
            3_600_000,
            HDR_MAX_MS as Millis,
            0,
            -5,
        ] {
            h.record(v);
        }
        h.record(12_345);
        h.record(12_345);
        let bytes = serde_json::to_vec(&h).unwrap();
        let back: Hdr = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(serde_json::to_vec(&back).unwrap(), bytes);
        assert_eq!(back.len(), h.len());
        for q in [0.0, 0.1, 0.5, 0.9, 0.99, 1.0] {
            assert_eq!(back.quantile(q), h.quantile(q), "q = {q}");
        }
        assert_eq!((back.0.max(), back.0.min_nz()), (h.0.max(), h.0.min_nz()));
        let mut merged = Hdr::default();
        merged.record(7);
        let mut merged2 = merged.clone();
        merged.merge_from(&h);
        merged2.merge_from(&back);
        assert_eq!(
            serde_json::to_vec(&merged).unwrap(),
            serde_json::to_vec(&merged2).unwrap()
        );
    }

    #[test]
    fn merging_adds_counts_and_leaves_the_sources_alone() {
        let (mut a, mut b) = (Hdr::default(), Hdr::default());
        a.record(1_000);
        b.record(5_000);
        b.record(9_000);
        let mut merged = Hdr::default();
        merged.merge_from(&a); // taken as is: shared with `a`
        merged.merge_from(&b);
        merged.merge_from(&Hdr::default());
        assert_eq!((merged.len(), a.len(), b.len()), (3, 1, 2));
        a.record(7_000);
        assert_eq!(merged.len(), 3, "a later record into a source");
    }
}
