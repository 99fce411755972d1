//! Specification of business calendars (`ccpulse_core::sla::calendar`).
//!
//! Every expected instant is worked out by hand in UTC, in the comments next
//! to it. Offsets used: Europe/Berlin is CET = UTC+1 in winter and
//! CEST = UTC+2 in summer; America/New_York is EST = UTC-5 and EDT = UTC-4.
//! 2026 transitions: Berlin springs forward on Sun 2026-03-29 (02:00 CET ->
//! 03:00 CEST, at 01:00 UTC) and falls back on Sun 2026-10-25 (03:00 CEST ->
//! 02:00 CET, at 01:00 UTC); New York springs forward on Sun 2026-03-08
//! (02:00 EST -> 03:00 EDT, at 07:00 UTC) and falls back on Sun 2026-11-01
//! (02:00 EDT -> 01:00 EST, at 06:00 UTC).

use ccpulse_core::event::Millis;
use ccpulse_core::sla::calendar::{BusinessCalendar, CalendarConfig, CalendarError};
use proptest::prelude::*;

const SEC: Millis = 1_000;
const MIN: Millis = 60 * SEC;
const HOUR: Millis = 60 * MIN;
const DAY: Millis = 24 * HOUR;

/// A UTC instant, written out (independent of the code under test).
fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> Millis {
    chrono::NaiveDate::from_ymd_opt(y, mo, d)
        .and_then(|date| date.and_hms_opt(h, mi, 0))
        .map(|t| t.and_utc().timestamp_millis())
        .expect("valid test date")
}

fn calendar(toml_text: &str) -> BusinessCalendar {
    let config: CalendarConfig = toml::from_str(toml_text).expect("test config parses");
    match config.build() {
        Ok(calendar) => calendar,
        Err(errors) => panic!("test config is invalid: {errors:?}"),
    }
}

/// Berlin, Mon-Fri 08:00-18:00.
fn office() -> BusinessCalendar {
    calendar(
        r#"
        time_zone = "Europe/Berlin"
        hours = { mon = ["08:00-18:00"], tue = ["08:00-18:00"], wed = ["08:00-18:00"],
                  thu = ["08:00-18:00"], fri = ["08:00-18:00"] }
        holidays = ["2026-12-25", "2026-12-31..2027-01-01"]
        "#,
    )
}

// ---------------------------------------------------------------------------
// Weekends, holidays, split shifts
// ---------------------------------------------------------------------------

#[test]
fn the_weekend_is_skipped() {
    let cal = office();
    // Fri 2026-01-09 17:00 CET = 16:00 UTC. One hour left on Friday, then
    // closed until Mon 2026-01-12 08:00 CET; one more hour -> 09:00 CET =
    // 08:00 UTC.
    let friday_5pm = utc(2026, 1, 9, 16, 0);
    assert_eq!(
        cal.add_business_millis(friday_5pm, 2 * HOUR),
        Some(utc(2026, 1, 12, 8, 0))
    );
    assert_eq!(
        cal.business_millis_between(friday_5pm, utc(2026, 1, 12, 8, 0)),
        2 * HOUR
    );
    // Up to Monday's opening (07:00 UTC) only Friday's hour counts.
    assert_eq!(
        cal.business_millis_between(friday_5pm, utc(2026, 1, 12, 7, 0)),
        HOUR
    );
    // Sat 2026-01-10 12:00 CET.
    assert!(!cal.is_open(utc(2026, 1, 10, 11, 0)));
}

#[test]
fn a_holiday_is_closed_all_day() {
    let cal = office();
    // Thu 2026-12-24 17:00 CET = 16:00 UTC: one hour on Thursday; Fri 12-25
    // is a holiday, then the weekend; Mon 2026-12-28 08:00 CET + 1 h =
    // 09:00 CET = 08:00 UTC.
    let from = utc(2026, 12, 24, 16, 0);
    assert_eq!(
        cal.add_business_millis(from, 2 * HOUR),
        Some(utc(2026, 12, 28, 8, 0))
    );
    assert_eq!(
        cal.business_millis_between(from, utc(2026, 12, 28, 8, 0)),
        2 * HOUR
    );
    // Fri 2026-12-25 10:00 CET = 09:00 UTC.
    assert!(!cal.is_open(utc(2026, 12, 25, 9, 0)));
    // A holiday's whole day counts nothing.
    assert_eq!(
        cal.business_millis_between(utc(2026, 12, 24, 23, 0), utc(2026, 12, 25, 23, 0)),
        0
    );
}

#[test]
fn a_holiday_range_over_new_year_is_closed_on_every_day_of_it() {
    let cal = office();
    // Wed 2026-12-30 17:00 CET = 16:00 UTC: one hour on Wednesday; Thu 12-31
    // and Fri 01-01 are the holiday range, then the weekend; Mon 2027-01-04
    // 08:00 CET + 2 h = 10:00 CET = 09:00 UTC.
    let from = utc(2026, 12, 30, 16, 0);
    assert_eq!(
        cal.add_business_millis(from, 3 * HOUR),
        Some(utc(2027, 1, 4, 9, 0))
    );
    assert_eq!(
        cal.business_millis_between(from, utc(2027, 1, 4, 9, 0)),
        3 * HOUR
    );
    // Thu 2026-12-31 and Fri 2027-01-01, 10:00 CET = 09:00 UTC.
    assert!(!cal.is_open(utc(2026, 12, 31, 9, 0)));
    assert!(!cal.is_open(utc(2027, 1, 1, 9, 0)));
    // Wed 2026-12-30 10:00 CET is an ordinary working day.
    assert!(cal.is_open(utc(2026, 12, 30, 9, 0)));
}

#[test]
fn the_lunch_break_of_a_split_shift_is_not_counted() {
    let cal = calendar(
        r#"
        time_zone = "Europe/Berlin"
        hours = { mon = ["08:00-12:00", "13:00-18:00"] }
        "#,
    );
    // Mon 2026-01-12 11:00 CET = 10:00 UTC: 1 h to 12:00, lunch, 1 h from
    // 13:00 -> 14:00 CET = 13:00 UTC.
    let eleven = utc(2026, 1, 12, 10, 0);
    assert_eq!(
        cal.add_business_millis(eleven, 2 * HOUR),
        Some(utc(2026, 1, 12, 13, 0))
    );
    assert_eq!(
        cal.business_millis_between(eleven, utc(2026, 1, 12, 13, 0)),
        2 * HOUR
    );
    // A deadline at the start of lunch is 12:00 CET = 11:00 UTC itself; one
    // ms more is the first ms after lunch, 13:00:00.001 CET.
    assert_eq!(
        cal.add_business_millis(eleven, HOUR),
        Some(utc(2026, 1, 12, 11, 0))
    );
    assert_eq!(
        cal.add_business_millis(eleven, HOUR + 1),
        Some(utc(2026, 1, 12, 12, 0) + 1)
    );
    // 12:30 CET = 11:30 UTC is lunch.
    assert!(!cal.is_open(utc(2026, 1, 12, 11, 30)));
    // Whole day: 4 h + 5 h.
    assert_eq!(
        cal.business_millis_between(utc(2026, 1, 12, 0, 0), utc(2026, 1, 13, 0, 0)),
        9 * HOUR
    );
}

#[test]
fn a_range_ending_at_24_00_continues_into_the_next_day() {
    let cal = calendar(
        r#"
        time_zone = "UTC"
        hours = { fri = ["20:00-24:00"], sat = ["00:00-02:00"] }
        "#,
    );
    // Fri 2026-01-09 23:00 + 2 h, straight across midnight.
    assert_eq!(
        cal.add_business_millis(utc(2026, 1, 9, 23, 0), 2 * HOUR),
        Some(utc(2026, 1, 10, 1, 0))
    );
    assert_eq!(
        cal.business_millis_between(utc(2026, 1, 9, 20, 0), utc(2026, 1, 10, 2, 0)),
        6 * HOUR
    );
    assert!(cal.is_open(utc(2026, 1, 10, 0, 0)));
}

// ---------------------------------------------------------------------------
// Starting outside hours, exact boundaries
// ---------------------------------------------------------------------------

#[test]
fn a_clock_started_outside_hours_starts_at_the_next_opening() {
    let cal = office();
    // Sat 2026-01-10 10:00 CET and Mon 2026-01-12 06:00 CET both start at
    // Mon 08:00 CET; + 30 min = 08:30 CET = 07:30 UTC.
    assert_eq!(
        cal.add_business_millis(utc(2026, 1, 10, 9, 0), 30 * MIN),
        Some(utc(2026, 1, 12, 7, 30))
    );
    assert_eq!(
        cal.add_business_millis(utc(2026, 1, 12, 5, 0), 30 * MIN),
        Some(utc(2026, 1, 12, 7, 30))
    );
    // A zero amount is due at once, open or not.
    assert_eq!(
        cal.add_business_millis(utc(2026, 1, 10, 9, 0), 0),
        Some(utc(2026, 1, 10, 9, 0))
    );
}

#[test]
fn a_deadline_on_closing_time_is_closing_time_and_one_ms_more_is_next_morning() {
    let cal = office();
    // Tue 2026-01-13 08:00 CET = 07:00 UTC opens; 18:00 CET = 17:00 UTC
    // closes.
    let open = utc(2026, 1, 13, 7, 0);
    let close = utc(2026, 1, 13, 17, 0);
    assert_eq!(cal.add_business_millis(open, 10 * HOUR), Some(close));
    // Wed 2026-01-14 08:00:00.001 CET = 07:00:00.001 UTC.
    assert_eq!(
        cal.add_business_millis(open, 10 * HOUR + 1),
        Some(utc(2026, 1, 14, 7, 0) + 1)
    );
    assert_eq!(
        cal.add_business_millis(close, 1),
        Some(utc(2026, 1, 14, 7, 0) + 1)
    );
    // Opening is inclusive, closing exclusive.
    assert!(!cal.is_open(open - 1));
    assert!(cal.is_open(open));
    assert!(cal.is_open(close - 1));
    assert!(!cal.is_open(close));
    assert_eq!(cal.business_millis_between(open, close), 10 * HOUR);
    assert_eq!(cal.business_millis_between(close - 1, close + HOUR), 1);
}

#[test]
fn between_is_zero_for_an_empty_or_reversed_span() {
    let cal = office();
    let t = utc(2026, 1, 13, 9, 0);
    assert_eq!(cal.business_millis_between(t, t), 0);
    assert_eq!(cal.business_millis_between(t + HOUR, t), 0);
}

// ---------------------------------------------------------------------------
// Daylight saving time
// ---------------------------------------------------------------------------

#[test]
fn berlin_spring_forward_shortens_the_range_holding_the_skipped_hour() {
    let cal = calendar(
        r#"
        time_zone = "Europe/Berlin"
        hours = { sun = ["01:00-04:00"] }
        "#,
    );
    // Sun 2026-03-29: 01:00 CET = 00:00 UTC; 04:00 CEST = 02:00 UTC.
    // 02:00-03:00 local does not exist: the range lasts 2 h, not 3.
    let saturday = utc(2026, 3, 28, 12, 0);
    let monday = utc(2026, 3, 30, 0, 0);
    assert_eq!(cal.business_millis_between(saturday, monday), 2 * HOUR);
    // 90 min after opening: 01:30 UTC (= 03:30 CEST).
    assert_eq!(
        cal.add_business_millis(saturday, 90 * MIN),
        Some(utc(2026, 3, 29, 1, 30))
    );
    // The whole 2 h end at closing, 02:00 UTC.
    assert_eq!(
        cal.add_business_millis(saturday, 2 * HOUR),
        Some(utc(2026, 3, 29, 2, 0))
    );
    // One ms more: next Sunday 2026-04-05 01:00 CEST = Sat 04-04 23:00 UTC.
    assert_eq!(
        cal.add_business_millis(saturday, 2 * HOUR + 1),
        Some(utc(2026, 4, 4, 23, 0) + 1)
    );
    // An ordinary winter Sunday (2026-03-22): 00:00-03:00 UTC, 3 h.
    assert_eq!(
        cal.business_millis_between(utc(2026, 3, 21, 12, 0), utc(2026, 3, 23, 0, 0)),
        3 * HOUR
    );
}

#[test]
fn berlin_a_nonexistent_opening_time_opens_at_the_end_of_the_gap() {
    let cal = calendar(
        r#"
        time_zone = "Europe/Berlin"
        hours = { sun = ["02:30-05:00"] }
        "#,
    );
    // Sun 2026-03-29: 02:30 does not exist -> first valid instant after it,
    // 03:00 CEST = 01:00 UTC; 05:00 CEST = 03:00 UTC.
    assert!(!cal.is_open(utc(2026, 3, 29, 1, 0) - 1));
    assert!(cal.is_open(utc(2026, 3, 29, 1, 0)));
    assert_eq!(
        cal.business_millis_between(utc(2026, 3, 28, 0, 0), utc(2026, 3, 30, 0, 0)),
        2 * HOUR
    );
    assert_eq!(
        cal.add_business_millis(utc(2026, 3, 28, 0, 0), MIN),
        Some(utc(2026, 3, 29, 1, 1))
    );
}

#[test]
fn berlin_fall_back_lengthens_the_range_holding_the_repeated_hour() {
    let cal = calendar(
        r#"
        time_zone = "Europe/Berlin"
        hours = { sun = ["01:00-04:00"] }
        "#,
    );
    // Sun 2026-10-25: 01:00 CEST = Sat 10-24 23:00 UTC; 04:00 CET = 03:00
    // UTC. 02:00-03:00 local happens twice: the range lasts 4 h.
    let saturday = utc(2026, 10, 24, 12, 0);
    assert_eq!(
        cal.business_millis_between(saturday, utc(2026, 10, 26, 0, 0)),
        4 * HOUR
    );
    // 3.5 h after opening: 02:30 UTC (= 03:30 CET).
    assert_eq!(
        cal.add_business_millis(saturday, 210 * MIN),
        Some(utc(2026, 10, 25, 2, 30))
    );
    assert!(cal.is_open(utc(2026, 10, 24, 23, 0)));
    assert!(!cal.is_open(utc(2026, 10, 25, 3, 0)));
}

#[test]
fn berlin_an_ambiguous_opening_time_opens_at_its_earliest_instant() {
    let cal = calendar(
        r#"
        time_zone = "Europe/Berlin"
        hours = { sun = ["02:30-05:00"] }
        "#,
    );
    // Sun 2026-10-25: 02:30 happens at 00:30 UTC (CEST) and 01:30 UTC (CET);
    // the earliest counts. 05:00 CET = 04:00 UTC. 3.5 h.
    assert!(!cal.is_open(utc(2026, 10, 25, 0, 30) - 1));
    assert!(cal.is_open(utc(2026, 10, 25, 0, 30)));
    assert_eq!(
        cal.business_millis_between(utc(2026, 10, 24, 0, 0), utc(2026, 10, 26, 0, 0)),
        210 * MIN
    );
}

#[test]
fn berlin_whole_days_last_23_and_25_hours_on_transition_days() {
    let cal = calendar(
        r#"
        time_zone = "Europe/Berlin"
        hours = { sat = ["00:00-24:00"], sun = ["00:00-24:00"] }
        "#,
    );
    // Sat 2026-03-28 00:00 CET = Fri 03-27 23:00 UTC .. Mon 03-30 00:00 CEST
    // = Sun 03-29 22:00 UTC: 24 h + 23 h.
    assert_eq!(
        cal.business_millis_between(utc(2026, 3, 27, 12, 0), utc(2026, 3, 30, 12, 0)),
        47 * HOUR
    );
    // Sat 2026-10-24 00:00 CEST = Fri 10-23 22:00 UTC .. Mon 10-26 00:00 CET
    // = Sun 10-25 23:00 UTC: 24 h + 25 h.
    assert_eq!(
        cal.business_millis_between(utc(2026, 10, 23, 12, 0), utc(2026, 10, 26, 12, 0)),
        49 * HOUR
    );
    // 48 h from the start of that weekend: Sun 10-25 22:00 UTC (23:00 CET).
    assert_eq!(
        cal.add_business_millis(utc(2026, 10, 23, 12, 0), 48 * HOUR),
        Some(utc(2026, 10, 25, 22, 0))
    );
}

#[test]
fn new_york_spring_forward_and_fall_back() {
    let cal = calendar(
        r#"
        time_zone = "America/New_York"
        hours = { sun = ["01:00-03:30"] }
        "#,
    );
    // Sun 2026-03-01 (EST): 01:00 = 06:00 UTC .. 03:30 = 08:30 UTC, 2.5 h.
    assert_eq!(
        cal.business_millis_between(utc(2026, 2, 28, 12, 0), utc(2026, 3, 2, 0, 0)),
        150 * MIN
    );
    // Sun 2026-03-08: 01:00 EST = 06:00 UTC .. 03:30 EDT = 07:30 UTC, 1.5 h.
    let saturday = utc(2026, 3, 7, 12, 0);
    assert_eq!(
        cal.business_millis_between(saturday, utc(2026, 3, 9, 0, 0)),
        90 * MIN
    );
    // 1 h in: 07:00 UTC, which is 03:00 EDT (02:00-03:00 never happened).
    assert_eq!(
        cal.add_business_millis(saturday, HOUR),
        Some(utc(2026, 3, 8, 7, 0))
    );
    assert_eq!(
        cal.add_business_millis(saturday, 90 * MIN),
        Some(utc(2026, 3, 8, 7, 30))
    );
    // One ms more: Sun 2026-03-15 01:00 EDT = 05:00 UTC, + 1 ms.
    assert_eq!(
        cal.add_business_millis(saturday, 90 * MIN + 1),
        Some(utc(2026, 3, 15, 5, 0) + 1)
    );
    // Sun 2026-11-01: 01:00 is ambiguous -> 01:00 EDT = 05:00 UTC; 03:30 EST
    // = 08:30 UTC: 3.5 h.
    let saturday = utc(2026, 10, 31, 12, 0);
    assert_eq!(
        cal.business_millis_between(saturday, utc(2026, 11, 2, 0, 0)),
        210 * MIN
    );
    // 3 h in: 08:00 UTC (03:00 EST).
    assert_eq!(
        cal.add_business_millis(saturday, 3 * HOUR),
        Some(utc(2026, 11, 1, 8, 0))
    );
    assert!(cal.is_open(utc(2026, 11, 1, 5, 0)));
    assert!(!cal.is_open(utc(2026, 11, 1, 5, 0) - 1));
}

#[test]
fn santiago_transitions_at_midnight_stay_consistent_across_the_day_boundary() {
    // America/Santiago changes at local midnight. 2026-04-05 00:00 -03
    // (03:00 UTC) goes back to Sat 04-04 23:00 -04: Saturday 23:00-24:00
    // happens twice. 2026-09-06 00:00 -04 (04:00 UTC) jumps to 01:00 -03:
    // Sunday 00:00-01:00 does not exist.
    let cal = calendar(
        r#"
        time_zone = "America/Santiago"
        hours = { sat = ["23:00-24:00"], sun = ["00:00-01:00"] }
        "#,
    );
    // April. Sat 23:00 (earliest, -03) = 04-05 02:00 UTC; Sat 24:00 = Sun
    // 00:00 -04 = 04:00 UTC: Saturday's range lasts 2 h. Sunday 00:00-01:00
    // -04 = 04:00-05:00 UTC. 3 h in all, without a gap.
    let saturday = utc(2026, 4, 4, 12, 0);
    assert_eq!(
        cal.business_millis_between(saturday, utc(2026, 4, 6, 0, 0)),
        3 * HOUR
    );
    // 03:30 UTC reads Sat 23:30 (-04), the repeated hour: still Saturday's.
    assert!(cal.is_open(utc(2026, 4, 5, 3, 30)));
    assert_eq!(
        cal.add_business_millis(saturday, 2 * HOUR),
        Some(utc(2026, 4, 5, 4, 0))
    );
    assert_eq!(
        cal.add_business_millis(saturday, 150 * MIN),
        Some(utc(2026, 4, 5, 4, 30))
    );
    // September. Sat 23:00 -04 = 09-06 03:00 UTC; Sat 24:00 = Sun 00:00,
    // which does not exist -> 01:00 -03 = 04:00 UTC. Sunday 00:00-01:00 maps
    // to 04:00-04:00 UTC: empty. 1 h in all.
    let saturday = utc(2026, 9, 5, 12, 0);
    assert_eq!(
        cal.business_millis_between(saturday, utc(2026, 9, 7, 0, 0)),
        HOUR
    );
    assert_eq!(
        cal.add_business_millis(saturday, HOUR),
        Some(utc(2026, 9, 6, 4, 0))
    );
    // One ms more: Sat 09-12 23:00 -03 = 09-13 02:00 UTC, + 1 ms.
    assert_eq!(
        cal.add_business_millis(saturday, HOUR + 1),
        Some(utc(2026, 9, 13, 2, 0) + 1)
    );
    assert!(!cal.is_open(utc(2026, 9, 6, 4, 0)));
}

// ---------------------------------------------------------------------------
// Always open, never open
// ---------------------------------------------------------------------------

#[test]
fn always_open_is_plain_arithmetic() {
    let cal = BusinessCalendar::always_open();
    let t = utc(2026, 3, 29, 0, 30); // across Berlin's DST night, irrelevant here
    assert_eq!(cal.add_business_millis(t, 90 * MIN), Some(t + 90 * MIN));
    assert_eq!(cal.add_business_millis(t, 30 * DAY), Some(t + 30 * DAY));
    assert_eq!(cal.business_millis_between(t, t + 7 * DAY + 1), 7 * DAY + 1);
    assert_eq!(cal.business_millis_between(t, t - 1), 0);
    assert!(cal.is_open(t));
    assert_eq!(cal.add_business_millis(Millis::MAX - 1, 2), None);
}

#[test]
fn a_calendar_closed_beyond_the_horizon_gives_none() {
    // Open one hour on Mondays, but closed by holidays for 2026-2030.
    let cal = calendar(
        r#"
        time_zone = "UTC"
        hours = { mon = ["09:00-10:00"] }
        holidays = ["2026-01-01..2030-12-31"]
        "#,
    );
    assert_eq!(cal.add_business_millis(utc(2026, 1, 1, 0, 0), 1), None);
    // From 2030-12-30 (a Monday, still a holiday), the first opening is
    // Mon 2031-01-06 09:00.
    assert_eq!(
        cal.add_business_millis(utc(2030, 12, 30, 0, 0), 1),
        Some(utc(2031, 1, 6, 9, 0) + 1)
    );
}

// ---------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------

#[test]
fn the_documented_example_builds() {
    let cal = calendar(
        r#"
        time_zone = "Europe/Berlin"
        hours = { mon = ["08:00-12:00", "13:00-18:00"], tue = ["08:00-18:00"], sat = ["09:00-13:00"] }
        holidays = ["2026-12-25", "2026-12-31..2027-01-01"]
        "#,
    );
    assert_eq!(cal.time_zone(), chrono_tz::Europe::Berlin);
    // Sat 2026-01-10 09:00-13:00 CET = 08:00-12:00 UTC.
    assert_eq!(
        cal.business_millis_between(utc(2026, 1, 10, 0, 0), utc(2026, 1, 11, 0, 0)),
        4 * HOUR
    );
}

#[test]
fn the_config_is_read_from_a_toml_table() {
    #[derive(serde::Deserialize)]
    struct Root {
        sla: Sla,
    }
    #[derive(serde::Deserialize)]
    struct Sla {
        calendars: std::collections::BTreeMap<String, CalendarConfig>,
    }
    let root: Root = toml::from_str(
        r#"
        [sla.calendars.support]
        time_zone = "Europe/Berlin"
        hours = { mon = ["08:00-12:00", "13:00-18:00"], tue = ["08:00-18:00"], sat = ["09:00-13:00"] }
        holidays = ["2026-12-25", "2026-12-31..2027-01-01"]
        "#,
    )
    .expect("parses");
    let support = &root.sla.calendars["support"];
    assert_eq!(support.hours.mon, ["08:00-12:00", "13:00-18:00"]);
    assert!(support.hours.wed.is_empty());
    assert!(support.build().is_ok());
}

#[test]
fn unknown_keys_are_rejected() {
    let err = toml::from_str::<CalendarConfig>("time_zone = \"UTC\"\ntimezone = \"UTC\"\n")
        .expect_err("unknown key");
    assert!(
        err.to_string().contains("unknown field `timezone`"),
        "{err}"
    );
    let err = toml::from_str::<CalendarConfig>("time_zone = \"UTC\"\nhours = { monday = [] }\n")
        .expect_err("unknown day");
    assert!(err.to_string().contains("unknown field `monday`"), "{err}");
}

#[test]
fn every_problem_is_reported_at_once_with_its_path_and_fix() {
    let config: CalendarConfig = toml::from_str(
        r#"
        time_zone = "Europe/Berln"
        hours = { mon = ["08:00-12:00", "25:00-26:00", "11:00-14:00"], tue = ["18:00-08:00"], sun = ["9:00-17:00"] }
        holidays = ["2026-12-25", "2026-13-01", "2027-01-01..2026-12-31", "christmas"]
        "#,
    )
    .expect("parses");
    let errors = config.build().expect_err("invalid");
    let shown: Vec<String> = errors.iter().map(CalendarError::to_string).collect();
    assert_eq!(
        shown,
        [
            r#"time_zone: unknown time zone "Europe/Berln"; did you mean "Europe/Berlin"? Use an IANA time zone name such as "Europe/Berlin""#,
            r#"hours.mon[1]: "25:00-26:00" is not a valid opening range; hours must be HH:MM-HH:MM within 00:00-24:00, start before end, e.g. "13:00-18:00""#,
            r#"hours.mon[2]: "11:00-14:00" overlaps "08:00-12:00" (hours.mon[0]); ranges of one day must not overlap; merge them into one range or move one of them"#,
            r#"hours.tue[0]: "18:00-08:00" does not start before it ends; write HH:MM-HH:MM with start before end; a range cannot cross midnight: end the day at "24:00" and start the next day at "00:00""#,
            r#"hours.sun[0]: "9:00-17:00" is not a valid opening range; hours must be HH:MM-HH:MM within 00:00-24:00, start before end, e.g. "13:00-18:00""#,
            r#"holidays[1]: "2026-13-01" is not a date or a date range; write a date as YYYY-MM-DD, or an inclusive range FIRST..LAST such as "2026-12-31..2027-01-01""#,
            r#"holidays[2]: "2027-01-01..2026-12-31" ends before it starts; write FIRST..LAST with FIRST on or before LAST (both included)"#,
            r#"holidays[3]: "christmas" is not a date or a date range; write a date as YYYY-MM-DD, or an inclusive range FIRST..LAST such as "2026-12-31..2027-01-01""#,
        ]
    );
    assert_eq!(errors[2].path, "hours.mon[2]");
}

#[test]
fn a_time_zone_with_no_close_match_gets_a_generic_hint() {
    let config = CalendarConfig {
        time_zone: "Mars/Olympus_Mons".to_owned(),
        hours: ccpulse_core::sla::calendar::WeeklyHoursConfig {
            mon: vec!["09:00-17:00".to_owned()],
            ..Default::default()
        },
        holidays: vec![],
    };
    let errors = config.build().expect_err("unknown zone");
    assert_eq!(errors.len(), 1);
    assert_eq!(
        errors[0].to_string(),
        r#"time_zone: unknown time zone "Mars/Olympus_Mons"; use an IANA time zone name such as "Europe/Berlin" or "America/New_York""#
    );
}

#[test]
fn a_calendar_without_any_hours_is_rejected() {
    let config = CalendarConfig {
        time_zone: String::new(),
        ..Default::default()
    };
    let errors = config.build().expect_err("empty");
    let paths: Vec<&str> = errors.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(paths, ["time_zone", "hours"]);
    assert_eq!(errors[0].problem, "time zone is empty");
    assert!(
        errors[1].fix.contains("mon = [\"09:00-17:00\"]"),
        "{}",
        errors[1]
    );
}

#[test]
fn touching_ranges_and_overlapping_holidays_are_accepted() {
    let cal = calendar(
        r#"
        time_zone = "UTC"
        hours = { mon = ["12:00-18:00", "08:00-12:00"] }
        holidays = ["2026-12-24..2026-12-26", "2026-12-25"]
        "#,
    );
    // Mon 2026-01-12 08:00-18:00 UTC without a break.
    assert_eq!(
        cal.business_millis_between(utc(2026, 1, 12, 0, 0), utc(2026, 1, 13, 0, 0)),
        10 * HOUR
    );
    assert!(cal.is_open(utc(2026, 1, 12, 12, 0)));
}

// ---------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------

/// Split shifts, weekend hours, a range across Berlin's DST hour, holidays.
fn busy_berlin() -> BusinessCalendar {
    calendar(
        r#"
        time_zone = "Europe/Berlin"
        hours = { mon = ["08:00-12:00", "13:00-18:00"], tue = ["08:00-18:00"], wed = ["00:00-24:00"],
                  thu = ["07:30-09:15", "10:00-10:01", "22:00-24:00"], fri = ["00:00-06:00", "08:00-16:30"],
                  sat = ["09:00-13:00"], sun = ["01:00-04:00"] }
        holidays = ["2026-05-01", "2026-10-28..2026-10-30", "2026-12-31..2027-01-01"]
        "#,
    )
}

fn new_york() -> BusinessCalendar {
    calendar(
        r#"
        time_zone = "America/New_York"
        hours = { mon = ["09:00-17:00"], tue = ["09:00-17:00"], sat = ["23:00-24:00"], sun = ["00:00-03:30", "20:00-21:00"] }
        "#,
    )
}

/// Transitions at local midnight (see the Santiago test above).
fn santiago() -> BusinessCalendar {
    calendar(
        r#"
        time_zone = "America/Santiago"
        hours = { fri = ["09:00-18:00"], sat = ["10:00-12:00", "23:00-24:00"], sun = ["00:00-01:00", "23:30-24:00"] }
        "#,
    )
}

fn any_calendar(which: usize) -> BusinessCalendar {
    match which {
        0 => busy_berlin(),
        1 => new_york(),
        _ => santiago(),
    }
}

/// Instants across 2026 and into 2027 (all four DST transitions above).
fn instant() -> impl Strategy<Value = Millis> {
    utc(2026, 1, 1, 0, 0)..utc(2027, 1, 10, 0, 0)
}

proptest! {
    #[test]
    fn add_then_between_gives_the_amount_back(from in instant(), d in 0..300 * HOUR, which in 0..3usize) {
        let cal = any_calendar(which);
        let deadline = cal.add_business_millis(from, d).expect("open within the horizon");
        prop_assert_eq!(cal.business_millis_between(from, deadline), d);
        if d > 0 {
            // Earliest: one ms earlier is one ms short, and that ms was open.
            prop_assert_eq!(cal.business_millis_between(from, deadline - 1), d - 1);
            prop_assert!(cal.is_open(deadline - 1));
        }
    }

    #[test]
    fn deadlines_grow_strictly_with_the_amount(from in instant(), d1 in 0..200 * HOUR, extra in 1..50 * HOUR) {
        let cal = busy_berlin();
        let a = cal.add_business_millis(from, d1).expect("open");
        let b = cal.add_business_millis(from, d1 + extra).expect("open");
        prop_assert!(a < b);
    }

    #[test]
    fn between_is_additive(a in instant(), x in 0..40 * DAY, y in 0..40 * DAY, which in 0..3usize) {
        let cal = any_calendar(which);
        let (b, c) = (a + x, a + x + y);
        prop_assert_eq!(
            cal.business_millis_between(a, b) + cal.business_millis_between(b, c),
            cal.business_millis_between(a, c)
        );
    }

    #[test]
    fn is_open_agrees_with_between(t in instant(), which in 0..3usize) {
        let cal = any_calendar(which);
        prop_assert_eq!(cal.is_open(t), cal.business_millis_between(t, t + 1) == 1);
    }

    #[test]
    fn open_every_day_all_day_is_calendar_time_even_across_dst(a in instant(), x in 0..60 * DAY) {
        let cal = calendar(
            r#"
            time_zone = "Europe/Berlin"
            hours = { mon = ["00:00-24:00"], tue = ["00:00-24:00"], wed = ["00:00-24:00"], thu = ["00:00-24:00"],
                      fri = ["00:00-24:00"], sat = ["00:00-24:00"], sun = ["00:00-24:00"] }
            "#,
        );
        prop_assert_eq!(cal.business_millis_between(a, a + x), x);
        prop_assert_eq!(cal.add_business_millis(a, x), Some(a + x));
        prop_assert_eq!(BusinessCalendar::always_open().business_millis_between(a, a + x), x);
        prop_assert_eq!(BusinessCalendar::always_open().add_business_millis(a, x), Some(a + x));
    }
}
