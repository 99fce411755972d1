//! Fixed-bucket histograms behind `/metrics`, counted as samples arrive.
//!
//! The Prometheus exporter keeps every histogram sample with the time it
//! was taken (it serves summaries from the same storage) and sorts them
//! into buckets when it renders: a clock read and a lock-free push per
//! sample, about 4 % of the service's CPU while the fold publishes
//! duration samples (perf, ARCHITECTURE.md decision 14). Every histogram
//! here has fixed buckets, so a sample only needs its bucket found and
//! three counters added: no clock, no allocation. The text is written with
//! the exporter's own formatting functions, so it reads as before.
//!
//! A series is touched when it is registered (the `metrics` macros and
//! `recorder::histogram` register before every batch of records); a series
//! of a family with a time-to-live that nobody touched for that long is
//! dropped at the next render, as the exporter's `idle_timeout` drops its
//! own.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use indexmap::IndexMap;
use metrics::{HistogramFn, Key};
use metrics_exporter_prometheus::formatting::{
    write_help_line, write_metric_line, write_type_line,
};
use metrics_exporter_prometheus::LabelSet;

/// How one family's series are bucketed, described and kept.
#[derive(Debug, Clone)]
pub struct FamilySpec {
    pub help: &'static str,
    /// Upper bounds, ascending (`+Inf` is implied).
    pub bounds: Arc<[f64]>,
    /// `None`: kept for the life of the process.
    pub ttl: Option<Duration>,
}

/// One series: a count per bucket (not cumulative; `+Inf` last), the sum
/// and the count.
#[derive(Debug)]
pub struct Series {
    bounds: Arc<[f64]>,
    counts: Box<[AtomicU64]>,
    /// The sum's `f64` bits.
    sum: AtomicU64,
    count: AtomicU64,
}

impl Series {
    fn new(bounds: Arc<[f64]>) -> Series {
        let counts = (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect();
        Series {
            bounds,
            counts,
            sum: AtomicU64::new(0f64.to_bits()),
            count: AtomicU64::new(0),
        }
    }

    /// Cumulative counts per bound, then the sum and the count, as read
    /// now (a render racing a record may see the sample in some of them;
    /// the next render sees it in all).
    fn read(&self) -> (Vec<(f64, u64)>, f64, u64) {
        let mut total = 0;
        let buckets = self
            .bounds
            .iter()
            .zip(self.counts.iter())
            .map(|(&le, c)| {
                total += c.load(Ordering::Relaxed);
                (le, total)
            })
            .collect();
        let sum = f64::from_bits(self.sum.load(Ordering::Relaxed));
        (buckets, sum, self.count.load(Ordering::Relaxed))
    }
}

impl HistogramFn for Series {
    fn record(&self, value: f64) {
        // Prometheus buckets hold what is at most their bound; NaN is at
        // most none of them, so only `+Inf` counts it (as the exporter's).
        let i = if value.is_nan() {
            self.bounds.len()
        } else {
            self.bounds.partition_point(|&le| le < value)
        };
        self.counts[i].fetch_add(1, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
        let _ = self
            .sum
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |bits| {
                Some((f64::from_bits(bits) + value).to_bits())
            });
    }
}

#[derive(Debug)]
struct Entry {
    series: Arc<Series>,
    touched: Instant,
}

/// Every fixed-bucket histogram series, by family name and key.
#[derive(Debug)]
pub struct Buckets {
    specs: HashMap<&'static str, FamilySpec>,
    series: Mutex<HashMap<Key, Entry>>,
}

impl Buckets {
    pub fn new(specs: HashMap<&'static str, FamilySpec>) -> Buckets {
        Buckets {
            specs,
            series: Mutex::new(HashMap::new()),
        }
    }

    /// The series of `key`, created on first use. `None` for a name with
    /// no spec (the caller leaves it to the exporter).
    pub fn register(&self, key: &Key) -> Option<Arc<Series>> {
        let spec = self.specs.get(key.name())?;
        let mut all = self.series.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        if let Some(e) = all.get_mut(key) {
            e.touched = now;
            return Some(e.series.clone());
        }
        let series = Arc::new(Series::new(spec.bounds.clone()));
        all.insert(
            key.clone(),
            Entry {
                series: series.clone(),
                touched: now,
            },
        );
        Some(series)
    }

    /// The text exposition of every series, families and series in name
    /// and label order; series idle past their family's time-to-live are
    /// dropped first.
    pub fn render(&self) -> String {
        let now = Instant::now();
        let mut rows: Vec<(Key, Arc<Series>)> = {
            let mut all = self.series.lock().unwrap_or_else(PoisonError::into_inner);
            all.retain(|k, e| {
                let ttl = self.specs.get(k.name()).and_then(|s| s.ttl);
                ttl.is_none_or(|ttl| now.duration_since(e.touched) < ttl)
            });
            all.iter()
                .map(|(k, e)| (k.clone(), e.series.clone()))
                .collect()
        };
        rows.sort_by(|a, b| a.0.cmp(&b.0));
        let mut out = String::new();
        let no_globals = IndexMap::new();
        let mut family = "";
        for (key, series) in &rows {
            let name = key.name();
            if name != family {
                if !family.is_empty() {
                    out.push('\n');
                }
                let help = self.specs.get(name).map_or("", |s| s.help);
                write_help_line(&mut out, name, None, None, help);
                write_type_line(&mut out, name, None, None, "histogram");
            }
            family = name;
            let labels = LabelSet::from_key_and_global(key, &no_globals);
            let (buckets, sum, count) = series.read();
            for (le, n) in buckets {
                write_metric_line(
                    &mut out,
                    name,
                    Some("bucket"),
                    &labels,
                    Some(("le", le)),
                    n,
                    None,
                );
            }
            write_metric_line(
                &mut out,
                name,
                Some("bucket"),
                &labels,
                Some(("le", "+Inf")),
                count,
                None,
            );
            write_metric_line::<&str, f64>(&mut out, name, Some("sum"), &labels, None, sum, None);
            write_metric_line::<&str, u64>(
                &mut out,
                name,
                Some("count"),
                &labels,
                None,
                count,
                None,
            );
        }
        if !family.is_empty() {
            out.push('\n');
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use metrics::Label;

    fn store(ttl: Option<Duration>) -> Buckets {
        let spec = FamilySpec {
            help: "Waits.",
            bounds: Arc::from([1.0, 2.5, 10.0].as_slice()),
            ttl,
        };
        Buckets::new(HashMap::from([("wait_seconds", spec)]))
    }

    fn key(queue: &str) -> Key {
        Key::from_parts("wait_seconds", vec![Label::new("queue", queue.to_string())])
    }

    #[test]
    fn buckets_are_cumulative_and_a_sample_on_a_bound_counts_in_it() {
        let b = store(None);
        let s = b.register(&key("billing")).expect("a family with a spec");
        for v in [0.5, 1.0, 1.5, 2.5, 3.0, 20.0] {
            s.record(v);
        }
        let text = b.render();
        // By hand: <= 1: 0.5, 1.0; <= 2.5: also 1.5, 2.5; <= 10: also 3.0;
        // +Inf: also 20.0. Sum 28.5.
        let want = "# HELP wait_seconds Waits.\n\
                    # TYPE wait_seconds histogram\n\
                    wait_seconds_bucket{queue=\"billing\",le=\"1\"} 2\n\
                    wait_seconds_bucket{queue=\"billing\",le=\"2.5\"} 4\n\
                    wait_seconds_bucket{queue=\"billing\",le=\"10\"} 5\n\
                    wait_seconds_bucket{queue=\"billing\",le=\"+Inf\"} 6\n\
                    wait_seconds_sum{queue=\"billing\"} 28.5\n\
                    wait_seconds_count{queue=\"billing\"} 6\n\n";
        assert_eq!(text, want);
    }

    #[test]
    fn nan_counts_only_in_the_inf_bucket() {
        let b = store(None);
        b.register(&key("q")).expect("spec").record(f64::NAN);
        let text = b.render();
        assert!(
            text.contains("wait_seconds_bucket{queue=\"q\",le=\"10\"} 0\n"),
            "{text}"
        );
        assert!(
            text.contains("wait_seconds_bucket{queue=\"q\",le=\"+Inf\"} 1\n"),
            "{text}"
        );
    }

    #[test]
    fn a_name_without_a_spec_is_left_to_the_exporter() {
        let b = store(None);
        assert!(b.register(&Key::from_name("other_seconds")).is_none());
        assert_eq!(b.render(), "");
    }

    #[test]
    fn a_series_idle_past_its_ttl_is_dropped_and_a_kept_one_stays() {
        let b = store(Some(Duration::ZERO));
        let s = b.register(&key("billing")).expect("spec");
        s.record(1.0);
        assert_eq!(b.render(), "", "idle for zero is past a zero ttl");
        let kept = store(None);
        kept.register(&key("billing")).expect("spec").record(1.0);
        assert!(kept
            .render()
            .contains("wait_seconds_count{queue=\"billing\"} 1\n"));
    }

    #[test]
    fn registering_again_returns_the_same_series() {
        let b = store(None);
        b.register(&key("a")).expect("spec").record(1.0);
        b.register(&key("a")).expect("spec").record(3.0);
        b.register(&key("b")).expect("spec").record(3.0);
        let text = b.render();
        assert!(
            text.contains("wait_seconds_count{queue=\"a\"} 2\n"),
            "{text}"
        );
        assert!(
            text.contains("wait_seconds_count{queue=\"b\"} 1\n"),
            "{text}"
        );
        assert_eq!(text.matches("# TYPE").count(), 1, "{text}");
    }
}
