//! Survey answers from one latent satisfaction per contact.
//!
//! `x = 1 + N(0, 1) - penalties`, where the penalties grow with the time
//! the customer waited (relative to what is normal for the channel) and
//! with bad outcomes (transfer, reopen, an agent who did not answer). The
//! three scores are monotone maps of the same `x`, so they agree with one
//! another and all move with the experience.

/// What the customer went through, as the scores see it.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Experience {
    /// Total queue wait over the channel's "normal" wait (1.0 = normal).
    pub wait_ratio: f64,
    pub transferred: bool,
    pub reopened: bool,
    /// An agent accepted it and then did not reply for a long while.
    pub stalled: bool,
    /// Closed without an answer from the customer (auto-closed).
    pub auto_closed: bool,
}

impl Experience {
    /// The latent satisfaction given a standard normal draw.
    pub fn latent(&self, z: f64) -> f64 {
        let wait = if self.wait_ratio.is_finite() {
            self.wait_ratio.clamp(0.0, 3.0)
        } else {
            3.0
        };
        1.0 + z
            - 0.7 * wait
            - 0.8 * f64::from(u8::from(self.transferred))
            - 0.7 * f64::from(u8::from(self.reopened))
            - 1.0 * f64::from(u8::from(self.stalled))
            - 0.3 * f64::from(u8::from(self.auto_closed))
    }
}

/// CSAT 1–5: how many of the cut points `x` clears, plus one.
pub(crate) fn csat(x: f64) -> u8 {
    1 + [-1.2, -0.4, 0.4, 1.2].iter().filter(|&&c| x > c).count() as u8
}

/// NPS 0–10.
pub(crate) fn nps(x: f64) -> u8 {
    (7.0 + 1.6 * x).round().clamp(0.0, 10.0) as u8
}

/// CES 1–7 (lower effort is better, so it falls as `x` rises).
pub(crate) fn ces(x: f64) -> u8 {
    ((3.0 - 1.2 * x).round() as u8).clamp(1, 7)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_stay_in_range_and_are_monotone() {
        let mut last = (0, 0, 8);
        for i in -100..=100 {
            let x = f64::from(i) / 10.0;
            let s = (csat(x), nps(x), ces(x));
            assert!((1..=5).contains(&s.0) && s.1 <= 10 && (1..=7).contains(&s.2));
            assert!(s.0 >= last.0 && s.1 >= last.1 && s.2 <= last.2, "{x}");
            last = s;
        }
        assert_eq!((csat(f64::NAN), nps(f64::NAN), ces(f64::NAN)), (1, 0, 1));
    }

    #[test]
    fn waits_and_bad_outcomes_lower_the_latent() {
        let good = Experience::default();
        let slow = Experience {
            wait_ratio: 2.0,
            ..good
        };
        let bounced = Experience {
            transferred: true,
            ..good
        };
        assert_eq!(good.latent(0.0), 1.0);
        assert!((slow.latent(0.0) - (1.0 - 1.4)).abs() < 1e-12);
        assert!((bounced.latent(0.0) - 0.2).abs() < 1e-12);
        let endless = Experience {
            wait_ratio: f64::INFINITY,
            ..good
        };
        assert!((endless.latent(0.0) - (1.0 - 2.1)).abs() < 1e-12);
    }
}
