//! Local calendar position (hour, weekday, month) of event times in the
//! configured time zone, for volume by hour / weekday / month.
//!
//! Every UTC offset in use is a multiple of 15 minutes, so all instants of
//! one 15-minute UTC block share a local hour; the last block is cached and
//! a time-zone conversion happens at most once per block, not per event.

use chrono::{Datelike, TimeZone, Timelike};
use chrono_tz::Tz;

use crate::event::Millis;

const BLOCK: Millis = 15 * 60 * 1000;

#[derive(Debug, Clone)]
pub struct LocalClock {
    tz: Tz,
    block: i64,
    pos: (u8, u8, u8),
}

impl LocalClock {
    pub fn new(tz: Tz) -> Self {
        LocalClock {
            tz,
            block: i64::MIN,
            pos: (0, 0, 0),
        }
    }

    /// `(hour 0–23, weekday 0–6 from Monday, month 0–11)` of `t`.
    pub fn position(&mut self, t: Millis) -> (u8, u8, u8) {
        let b = t.div_euclid(BLOCK);
        if b != self.block {
            self.block = b;
            self.pos = match self.tz.timestamp_millis_opt(b * BLOCK).single() {
                Some(dt) => (
                    dt.hour() as u8,
                    dt.weekday().num_days_from_monday() as u8,
                    dt.month0() as u8,
                ),
                None => (0, 0, 0),
            };
        }
        self.pos
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn berlin_local_hour_follows_dst() {
        let mut c = LocalClock::new(chrono_tz::Europe::Berlin);
        // 2026-03-29 00:30 UTC = 01:30 CET (Sunday, March).
        assert_eq!(c.position(1_774_744_200_000), (1, 6, 2));
        // 2026-03-29 01:30 UTC = 03:30 CEST (the 02:xx hour does not exist).
        assert_eq!(c.position(1_774_747_800_000), (3, 6, 2));
    }
}
