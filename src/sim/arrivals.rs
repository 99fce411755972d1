//! The arrival process: non-homogeneous Poisson with a piecewise-constant
//! rate ([`SimConfig::arrival_rate_at`]), sampled exactly by inverting the
//! integrated rate: a unit-exponential draw is spent segment by segment
//! (local hours, spike edges) until it runs out.

use super::config::{SimConfig, HOUR};
use ccpulse_core::event::Millis;

/// How far ahead the process looks for a non-zero rate before giving up
/// (a config whose rate is zero everywhere has no arrivals).
const LOOKAHEAD: Millis = 400 * 24 * HOUR;

/// The next point where the rate may change after `t`: the next local hour
/// or spike edge.
pub(crate) fn next_boundary(cfg: &SimConfig, t: Millis) -> Millis {
    let off = cfg.utc_offset_minutes as Millis * 60_000;
    let local = t.saturating_add(off);
    let mut b = (local.div_euclid(HOUR) + 1) * HOUR - off;
    if let Some(s) = &cfg.spike {
        let end = s.at.saturating_add(s.duration.max(0));
        for edge in [s.at, end] {
            if edge > t {
                b = b.min(edge);
            }
        }
    }
    b
}

/// The arrival after time `from` (ms, continuous) given `e ~ Exp(1)`: the
/// point where the integrated rate since `from` reaches `e`. `None` when the
/// rate stays zero for the whole lookahead.
pub(crate) fn next_arrival(cfg: &SimConfig, from: f64, e: f64) -> Option<f64> {
    let mut e = e.max(0.0);
    let mut t = from;
    let limit = from + LOOKAHEAD as f64;
    while t < limit {
        let ti = t.floor() as Millis;
        let b = next_boundary(cfg, ti) as f64;
        let per_ms = cfg.arrival_rate_at(ti) / HOUR as f64;
        let capacity = per_ms * (b - t);
        if per_ms > 0.0 && e <= capacity {
            return Some(t + e / per_ms);
        }
        e -= capacity;
        t = b;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::config::Spike;

    fn flat(rate: f64) -> SimConfig {
        SimConfig {
            base_arrivals_per_hour: rate,
            intraday: [1.0; 24],
            weekday: [1.0; 7],
            ..SimConfig::default()
        }
    }

    #[test]
    fn a_flat_rate_inverts_to_e_over_rate() {
        // 36 per hour = 1 per 100 s: e = 2.5 lands 250 s later.
        let cfg = flat(36.0);
        let t0 = cfg.start as f64;
        let got = next_arrival(&cfg, t0, 2.5).unwrap_or(f64::NAN);
        assert!((got - (t0 + 250_000.0)).abs() < 1e-6, "{got}");
    }

    #[test]
    fn the_draw_carries_over_hour_boundaries() {
        // Hour 0 has rate 10/h, hour 1 has 20/h. From 00:30, e = 10 spends
        // 5 in the rest of hour 0 and the other 5 in a quarter of hour 1.
        let mut cfg = flat(1.0);
        cfg.intraday[0] = 10.0;
        cfg.intraday[1] = 20.0;
        let t0 = (cfg.start + HOUR / 2) as f64;
        let got = next_arrival(&cfg, t0, 10.0).unwrap_or(f64::NAN);
        let want = (cfg.start + HOUR + HOUR / 4) as f64;
        assert!((got - want).abs() < 1e-3, "{got} vs {want}");
    }

    #[test]
    fn closed_hours_are_skipped_and_a_dead_curve_has_no_arrivals() {
        let mut cfg = flat(60.0);
        cfg.intraday = [0.0; 24];
        cfg.intraday[9] = 1.0; // one per minute, 09:00-10:00 only
        let got = next_arrival(&cfg, cfg.start as f64, 0.5).unwrap_or(f64::NAN);
        assert!((got - (cfg.start + 9 * HOUR + 30_000) as f64).abs() < 1e-3);
        cfg.intraday[9] = 0.0;
        assert_eq!(next_arrival(&cfg, cfg.start as f64, 0.5), None);
    }

    #[test]
    fn a_spike_multiplies_the_rate_between_its_edges() {
        let mut cfg = flat(60.0);
        let at = cfg.start + 10 * 60_000;
        cfg.spike = Some(Spike {
            at,
            duration: 60_000,
            arrival_factor: 4.0,
            patience_factor: 1.0,
        });
        assert_eq!(cfg.arrival_rate_at(at - 1), 60.0);
        assert_eq!(cfg.arrival_rate_at(at), 240.0);
        assert_eq!(cfg.arrival_rate_at(at + 60_000), 60.0);
        assert_eq!(next_boundary(&cfg, cfg.start), at);
        assert_eq!(next_boundary(&cfg, at), at + 60_000);
        // From 1 min before: e = 3 spends 1 before the spike, 2 in half of it.
        let got = next_arrival(&cfg, (at - 60_000) as f64, 3.0).unwrap_or(f64::NAN);
        assert!((got - (at + 30_000) as f64).abs() < 1e-3);
    }

    #[test]
    fn weekdays_follow_the_calendar_and_the_offset() {
        let cfg = SimConfig {
            weekday: [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0],
            intraday: [1.0; 24],
            base_arrivals_per_hour: 1.0,
            ..SimConfig::default()
        };
        // The default start is a Monday midnight UTC.
        assert_eq!(cfg.arrival_rate_at(cfg.start), 1.0);
        assert_eq!(cfg.arrival_rate_at(cfg.start + 6 * 24 * HOUR), 7.0);
        // At UTC+2, Monday 00:00 UTC is already Monday 02:00 local, and
        // Sunday 23:00 UTC is Monday 01:00 local.
        let east = SimConfig {
            utc_offset_minutes: 120,
            ..cfg.clone()
        };
        assert_eq!(east.arrival_rate_at(cfg.start - HOUR), 1.0);
        assert_eq!(cfg.arrival_rate_at(cfg.start - HOUR), 7.0);
    }
}
