//! Business calendars: when the SLA clock runs.
//!
//! A [`BusinessCalendar`] is a time zone, weekly opening hours (several
//! ranges a day, for split shifts) and holidays. It answers three questions,
//! all pure functions of their arguments:
//!
//! - [`is_open`](BusinessCalendar::is_open): is the clock running at this
//!   instant?
//! - [`business_millis_between`](BusinessCalendar::business_millis_between):
//!   how much open time lies between two instants?
//! - [`add_business_millis`](BusinessCalendar::add_business_millis): when
//!   will this much open time have elapsed (an SLA deadline)?
//!
//! [`BusinessCalendar::always_open`] is the calendar of calendar-time
//! policies: open at every instant, so the three reduce to plain arithmetic.
//!
//! # The model: open intervals on the UTC time line
//!
//! Opening hours are written in local wall-clock time. Each range
//! `[start, end)` of each local date that is not a holiday is turned into one
//! interval of UTC instants `[to_utc(date + start), to_utc(date + end))`, and
//! the calendar is open exactly on the union of these intervals. `24:00` as
//! an end means the next local midnight, so `"20:00-24:00"` on Friday and
//! `"00:00-02:00"` on Saturday are one contiguous interval.
//!
//! `to_utc` maps a local time to **the first instant whose wall clock shows
//! that time or later**. That spells out both DST cases:
//!
//! - a **nonexistent** local time (in the gap of a spring-forward
//!   transition) maps to the first valid instant after the gap: in
//!   `Europe/Berlin` on 2026-03-29, `02:30` maps to `03:00 CEST`
//!   (`01:00 UTC`);
//! - an **ambiguous** local time (repeated by a fall-back transition) maps
//!   to the earliest of its instants: in `Europe/Berlin` on 2026-10-25,
//!   `02:30` maps to `02:30 CEST` (`00:30 UTC`), not `02:30 CET`.
//!
//! Consequently a range that contains a spring-forward gap is shorter than
//! its wall-clock length (`01:00-04:00` lasts 2 h that day) and one that
//! contains a fall-back repetition is longer (`01:00-04:00` lasts 4 h that
//! day); ranges that do not contain the transition keep their length. The
//! mapping never decreases, so the intervals of one day never overlap and
//! never come before those of the previous day: the model is consistent
//! whatever the zone does.
//!
//! Holidays close whole local dates. Instants are [`Millis`]; supported
//! instants are the years 0001 to 9999 (UTC); arguments outside that range
//! are clamped into it.
//!
//! # Cost
//!
//! Hours are parsed, sorted and merged, and holidays sorted and merged, once
//! when the calendar is built. The queries then walk the span one local day
//! at a time, with two time-zone conversions (binary searches in the zone's
//! transition table) per opening range and a binary search in the holidays:
//! microseconds for SLA spans of hours to weeks, and no per-minute work.
//! [`add_business_millis`](BusinessCalendar::add_business_millis) gives up
//! after [`ADD_HORIZON_DAYS`].

use chrono::{
    DateTime, Datelike, MappedLocalTime, NaiveDate, NaiveDateTime, NaiveTime, TimeDelta, TimeZone,
};
use chrono_tz::{GapInfo, Tz};
use serde::{Deserialize, Serialize};

use crate::event::Millis;

/// How far (in local days from the start) [`BusinessCalendar::add_business_millis`]
/// looks for enough open time before it answers `None`: three years.
pub const ADD_HORIZON_DAYS: u32 = 3 * 366;

/// The earliest supported instant: 0001-01-01T00:00:00Z.
pub const MIN_INSTANT: Millis = -62_135_596_800_000;
/// The latest supported instant: 9999-12-31T23:59:59.999Z.
pub const MAX_INSTANT: Millis = 253_402_300_799_999;

const MINUTES_PER_DAY: u16 = 24 * 60;

/// A business calendar: a time zone, weekly opening hours and holidays.
///
/// Built from a [`CalendarConfig`] (see [`CalendarConfig::build`]) or as
/// [`BusinessCalendar::always_open`]. See the [module docs](self) for the
/// exact model, including DST.
#[derive(Debug, Clone, PartialEq)]
pub struct BusinessCalendar {
    tz: Tz,
    /// Opening ranges per weekday (index 0 = Monday), in minutes since local
    /// midnight, `start < end <= 1440`; sorted, disjoint and with adjacent
    /// ranges merged.
    week: [Vec<(u16, u16)>; 7],
    /// Closed local dates: inclusive `(first, last)` ranges, sorted, with
    /// overlapping and adjacent ranges merged.
    holidays: Vec<(NaiveDate, NaiveDate)>,
    /// Open at every instant: queries are plain arithmetic.
    always_open: bool,
}

impl BusinessCalendar {
    /// The calendar of calendar-time policies: open at every instant, in
    /// UTC. `business_millis_between(a, b)` is `b - a` and
    /// `add_business_millis(a, d)` is `a + d` (no horizon; `None` only on
    /// `i64` overflow).
    pub fn always_open() -> Self {
        BusinessCalendar {
            tz: Tz::UTC,
            week: std::array::from_fn(|_| vec![(0, MINUTES_PER_DAY)]),
            holidays: Vec::new(),
            always_open: true,
        }
    }

    /// The time zone the opening hours and holidays are written in.
    pub fn time_zone(&self) -> Tz {
        self.tz
    }

    /// Whether this is [`BusinessCalendar::always_open`].
    pub fn is_always_open(&self) -> bool {
        self.always_open
    }

    /// Whether the calendar is open at the instant `at`: `at` lies in one of
    /// the open intervals (start included, end excluded).
    pub fn is_open(&self, at: Millis) -> bool {
        if self.always_open {
            return true;
        }
        let at = clamp(at);
        let day = self.local_date(at);
        // The interval holding `at` belongs to its local date or, after a
        // fall-back across midnight, to the next one (module docs).
        [Some(day), day.succ_opt()]
            .into_iter()
            .flatten()
            .any(|d| self.day_intervals(d).any(|(s, e)| s <= at && at < e))
    }

    /// Open time elapsed from `from` to `to`, in ms; 0 if `to <= from`.
    ///
    /// Additive: `between(a, b) + between(b, c) == between(a, c)` for
    /// `a <= b <= c`.
    pub fn business_millis_between(&self, from: Millis, to: Millis) -> Millis {
        if to <= from {
            return 0;
        }
        if self.always_open {
            return to.saturating_sub(from);
        }
        let (from, to) = (clamp(from), clamp(to));
        let mut total = 0;
        let mut day = self.local_date(from);
        // Day D's intervals start at or after local midnight of D, so the
        // day after `to`'s local date is the last that can reach back before
        // `to` (after a fall-back across midnight).
        let last = self.local_date(to).succ_opt().unwrap_or(NaiveDate::MAX);
        while day <= last {
            for (s, e) in self.day_intervals(day) {
                let (s, e) = (s.max(from), e.min(to));
                if s < e {
                    total += e - s;
                }
            }
            match day.succ_opt() {
                Some(next) => day = next,
                None => break,
            }
        }
        total
    }

    /// The earliest instant at which `amount` ms of open time have elapsed
    /// since `from`: an SLA deadline.
    ///
    /// If `from` is outside opening hours the clock starts at the next
    /// opening. A deadline that falls exactly on a closing time is that
    /// closing time (not the next opening). `amount <= 0` gives `from`.
    ///
    /// `None` if the open time is not reached within [`ADD_HORIZON_DAYS`]
    /// local days of `from` (a calendar that is never open, holidays
    /// covering the horizon, or a huge amount), if `from` is after
    /// [`MAX_INSTANT`], or, for [`always_open`](Self::always_open), on
    /// overflow.
    pub fn add_business_millis(&self, from: Millis, amount: Millis) -> Option<Millis> {
        if amount <= 0 {
            return Some(from);
        }
        if self.always_open {
            return from.checked_add(amount);
        }
        if from > MAX_INSTANT || self.week.iter().all(Vec::is_empty) {
            return None;
        }
        let from = clamp(from);
        let mut remaining = amount;
        let mut day = self.local_date(from);
        for _ in 0..=ADD_HORIZON_DAYS {
            for (s, e) in self.day_intervals(day) {
                let s = s.max(from);
                if s >= e {
                    continue;
                }
                if remaining <= e - s {
                    return Some(s + remaining);
                }
                remaining -= e - s;
            }
            day = day.succ_opt()?;
        }
        None
    }

    /// The local date of an (already clamped) instant.
    fn local_date(&self, at: Millis) -> NaiveDate {
        match DateTime::from_timestamp_millis(at) {
            Some(utc) => utc.with_timezone(&self.tz).date_naive(),
            // Unreachable for clamped instants; any date keeps us total.
            None => NaiveDate::MAX,
        }
    }

    fn is_holiday(&self, date: NaiveDate) -> bool {
        let i = self.holidays.partition_point(|&(_, last)| last < date);
        self.holidays
            .get(i)
            .is_some_and(|&(first, _)| first <= date)
    }

    /// The open intervals (UTC ms, `start < end`, in order) of one local date.
    fn day_intervals(&self, date: NaiveDate) -> impl Iterator<Item = (Millis, Millis)> + '_ {
        let ranges: &[(u16, u16)] = if self.is_holiday(date) {
            &[]
        } else {
            &self.week[date.weekday().num_days_from_monday() as usize]
        };
        let midnight = NaiveDateTime::new(date, NaiveTime::MIN);
        ranges.iter().filter_map(move |&(start, end)| {
            let s = self.to_utc(midnight, start)?;
            let e = self.to_utc(midnight, end)?;
            (s < e).then_some((s, e))
        })
    }

    /// `midnight + minutes` (local) as UTC ms: the first instant whose wall
    /// clock shows that local time or later (module docs).
    fn to_utc(&self, midnight: NaiveDateTime, minutes: u16) -> Option<Millis> {
        let local = midnight.checked_add_signed(TimeDelta::minutes(i64::from(minutes)))?;
        match self.tz.from_local_datetime(&local) {
            MappedLocalTime::Single(t) => Some(t.timestamp_millis()),
            MappedLocalTime::Ambiguous(a, b) => {
                Some(a.timestamp_millis().min(b.timestamp_millis()))
            }
            // In a gap: the instant the gap ends.
            MappedLocalTime::None => GapInfo::new(&local, &self.tz)
                .and_then(|gap| gap.end)
                .map(|t| t.timestamp_millis()),
        }
    }

    /// A canonical one-line text of everything the calendar decides by
    /// (time zone, opening ranges per weekday, holidays): equal calendars
    /// give equal texts. Part of the engine settings' fingerprint that
    /// checkpoints carry.
    pub fn canonical_text(&self) -> String {
        use std::fmt::Write;
        let mut s = String::new();
        let _ = write!(
            s,
            "tz={} always_open={} week=",
            self.tz.name(),
            self.always_open
        );
        for (d, ranges) in self.week.iter().enumerate() {
            let _ = write!(s, "{d}:");
            for (a, b) in ranges {
                let _ = write!(s, "{a}-{b},");
            }
            s.push(';');
        }
        s.push_str(" holidays=");
        for (a, b) in &self.holidays {
            let _ = write!(s, "{a}..{b},");
        }
        s
    }
}

fn clamp(at: Millis) -> Millis {
    at.clamp(MIN_INSTANT, MAX_INSTANT)
}

// ---------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------

/// One business calendar as written in the configuration, e.g.
///
/// ```toml
/// [sla.calendars.support]
/// time_zone = "Europe/Berlin"
/// hours = { mon = ["08:00-12:00", "13:00-18:00"], tue = ["08:00-18:00"], sat = ["09:00-13:00"] }
/// holidays = ["2026-12-25", "2026-12-31..2027-01-01"]
/// ```
///
/// Turn it into a [`BusinessCalendar`] with [`CalendarConfig::build`], which
/// validates everything and reports every problem at once.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CalendarConfig {
    /// IANA time zone name, e.g. `Europe/Berlin`.
    pub time_zone: String,
    /// Opening hours per weekday; a day left out is closed.
    #[serde(default)]
    pub hours: WeeklyHoursConfig,
    /// Closed local dates: `YYYY-MM-DD` or an inclusive range
    /// `YYYY-MM-DD..YYYY-MM-DD`.
    #[serde(default)]
    pub holidays: Vec<String>,
}

/// Opening hours per weekday: each a list of `"HH:MM-HH:MM"` ranges in
/// local time, start included, end excluded, within `00:00-24:00`. Several
/// ranges make a split shift (`["08:00-12:00", "13:00-18:00"]`); ranges of
/// one day may touch but not overlap; a range cannot cross midnight (end one
/// day at `24:00` and start the next at `00:00`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WeeklyHoursConfig {
    pub mon: Vec<String>,
    pub tue: Vec<String>,
    pub wed: Vec<String>,
    pub thu: Vec<String>,
    pub fri: Vec<String>,
    pub sat: Vec<String>,
    pub sun: Vec<String>,
}

impl WeeklyHoursConfig {
    /// `(key, ranges)` from Monday to Sunday.
    fn days(&self) -> [(&'static str, &[String]); 7] {
        [
            ("mon", &self.mon),
            ("tue", &self.tue),
            ("wed", &self.wed),
            ("thu", &self.thu),
            ("fri", &self.fri),
            ("sat", &self.sat),
            ("sun", &self.sun),
        ]
    }
}

/// One problem in a [`CalendarConfig`]: where, what is wrong, how to fix it.
///
/// Displays as `path: problem; fix`, e.g.
/// `hours.mon[1]: "25:00-26:00" is not a valid opening range; hours must be HH:MM-HH:MM within 00:00-24:00, start before end, e.g. "13:00-18:00"`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {problem}; {fix}")]
pub struct CalendarError {
    /// Field path relative to the calendar, e.g. `hours.mon[1]`,
    /// `holidays[0]`, `time_zone`.
    pub path: String,
    /// What is wrong, quoting the offending value.
    pub problem: String,
    /// How to fix it.
    pub fix: String,
}

impl CalendarError {
    fn new(path: impl Into<String>, problem: impl Into<String>, fix: impl Into<String>) -> Self {
        CalendarError {
            path: path.into(),
            problem: problem.into(),
            fix: fix.into(),
        }
    }
}

const RANGE_FIX: &str =
    "hours must be HH:MM-HH:MM within 00:00-24:00, start before end, e.g. \"13:00-18:00\"";
const DATE_FIX: &str =
    "write a date as YYYY-MM-DD, or an inclusive range FIRST..LAST such as \"2026-12-31..2027-01-01\"";

impl CalendarConfig {
    /// Validates the configuration and builds the calendar.
    ///
    /// On failure returns every problem found (not just the first), in the
    /// order time zone, hours (Monday to Sunday, in list order), holidays.
    pub fn build(&self) -> Result<BusinessCalendar, Vec<CalendarError>> {
        let mut errors = Vec::new();

        let tz = parse_time_zone(&self.time_zone)
            .map_err(|e| errors.push(e))
            .ok();

        let mut week: [Vec<(u16, u16)>; 7] = Default::default();
        for (slot, (key, ranges)) in week.iter_mut().zip(self.hours.days()) {
            *slot = parse_day(key, ranges, &mut errors);
        }
        if week.iter().all(Vec::is_empty) && ranges_given(&self.hours) == 0 {
            errors.push(CalendarError::new(
                "hours",
                "no opening hours on any day, so an SLA clock on this calendar would never run",
                "add at least one range, e.g. hours = { mon = [\"09:00-17:00\"] }; \
                 for round-the-clock SLAs open every day \"00:00-24:00\"",
            ));
        }

        let mut holidays = Vec::with_capacity(self.holidays.len());
        for (i, text) in self.holidays.iter().enumerate() {
            match parse_holiday(text) {
                Ok(range) => holidays.push(range),
                Err(e) => errors.push(CalendarError::new(format!("holidays[{i}]"), e.0, e.1)),
            }
        }

        match tz {
            Some(tz) if errors.is_empty() => Ok(BusinessCalendar {
                tz,
                week,
                holidays: merge_dates(holidays),
                always_open: false,
            }),
            _ => Err(errors),
        }
    }
}

fn ranges_given(hours: &WeeklyHoursConfig) -> usize {
    hours.days().iter().map(|(_, r)| r.len()).sum()
}

fn parse_time_zone(name: &str) -> Result<Tz, CalendarError> {
    if name.trim().is_empty() {
        return Err(CalendarError::new(
            "time_zone",
            "time zone is empty",
            "set an IANA time zone name such as \"Europe/Berlin\"",
        ));
    }
    name.parse::<Tz>().map_err(|_| {
        let fix = match suggest_time_zone(name) {
            Some(s) => format!(
                "did you mean \"{s}\"? Use an IANA time zone name such as \"Europe/Berlin\""
            ),
            None => "use an IANA time zone name such as \"Europe/Berlin\" or \
                     \"America/New_York\""
                .to_owned(),
        };
        CalendarError::new("time_zone", format!("unknown time zone \"{name}\""), fix)
    })
}

/// The IANA name closest to `name` (case-insensitive edit distance of at
/// most 2, or 3 for long names), first in the list on ties.
fn suggest_time_zone(name: &str) -> Option<&'static str> {
    let wanted: Vec<char> = name.trim().to_lowercase().chars().collect();
    let limit = if wanted.len() >= 12 { 3 } else { 2 };
    chrono_tz::TZ_VARIANTS
        .iter()
        .map(|tz| {
            let candidate: Vec<char> = tz.name().to_lowercase().chars().collect();
            (edit_distance(&wanted, &candidate), tz.name())
        })
        .filter(|&(d, _)| d <= limit)
        .min_by_key(|&(d, _)| d)
        .map(|(_, n)| n)
}

fn edit_distance(a: &[char], b: &[char]) -> usize {
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.iter().enumerate() {
        cur[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitute = prev[j] + usize::from(ca != cb);
            cur[j + 1] = substitute.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

/// Parses one weekday's ranges, reporting bad and overlapping ones; returns
/// the valid ranges sorted with touching ones merged.
fn parse_day(key: &str, texts: &[String], errors: &mut Vec<CalendarError>) -> Vec<(u16, u16)> {
    // (start, end, index in the list)
    let mut parsed: Vec<(u16, u16, usize)> = Vec::with_capacity(texts.len());
    for (i, text) in texts.iter().enumerate() {
        match parse_range(text) {
            Ok((start, end)) => parsed.push((start, end, i)),
            Err(RangeProblem::Syntax) => errors.push(CalendarError::new(
                format!("hours.{key}[{i}]"),
                format!("\"{text}\" is not a valid opening range"),
                RANGE_FIX,
            )),
            Err(RangeProblem::Order) => errors.push(CalendarError::new(
                format!("hours.{key}[{i}]"),
                format!("\"{text}\" does not start before it ends"),
                "write HH:MM-HH:MM with start before end; a range cannot cross midnight: \
                 end the day at \"24:00\" and start the next day at \"00:00\"",
            )),
        }
    }
    // Sort by start, then list position, so an overlap is reported on the
    // later-starting range, naming the one it runs into.
    parsed.sort_by_key(|&(start, end, i)| (start, end, i));
    let mut merged: Vec<(u16, u16)> = Vec::with_capacity(parsed.len());
    let mut reach: Option<(u16, usize)> = None; // furthest end so far, and whose
    for &(start, end, i) in &parsed {
        if let Some((far, j)) = reach {
            if start < far {
                errors.push(CalendarError::new(
                    format!("hours.{key}[{i}]"),
                    format!(
                        "\"{}\" overlaps \"{}\" (hours.{key}[{j}])",
                        texts[i], texts[j]
                    ),
                    "ranges of one day must not overlap; merge them into one range \
                     or move one of them",
                ));
            }
        }
        if reach.is_none_or(|(far, _)| end > far) {
            reach = Some((end, i));
        }
        match merged.last_mut() {
            Some(last) if start <= last.1 => last.1 = last.1.max(end),
            _ => merged.push((start, end)),
        }
    }
    merged
}

enum RangeProblem {
    /// Not `HH:MM-HH:MM` within `00:00-24:00`.
    Syntax,
    /// Start not before end.
    Order,
}

/// `"HH:MM-HH:MM"` to minutes since midnight; `24:00` only as the end.
fn parse_range(text: &str) -> Result<(u16, u16), RangeProblem> {
    let (start, end) = text.split_once('-').ok_or(RangeProblem::Syntax)?;
    let start = parse_clock(start).filter(|&m| m < MINUTES_PER_DAY);
    let end = parse_clock(end);
    match (start, end) {
        (Some(start), Some(end)) if start < end => Ok((start, end)),
        (Some(_), Some(_)) => Err(RangeProblem::Order),
        _ => Err(RangeProblem::Syntax),
    }
}

/// `"HH:MM"` (two digits each) within `00:00..=24:00` to minutes.
fn parse_clock(text: &str) -> Option<u16> {
    let b = text.as_bytes();
    if b.len() != 5 || b[2] != b':' {
        return None;
    }
    let digit = |i: usize| b[i].is_ascii_digit().then(|| u16::from(b[i] - b'0'));
    let hours = digit(0)? * 10 + digit(1)?;
    let minutes = digit(3)? * 10 + digit(4)?;
    let total = hours * 60 + minutes;
    (minutes < 60 && total <= MINUTES_PER_DAY).then_some(total)
}

/// `"YYYY-MM-DD"` or `"YYYY-MM-DD..YYYY-MM-DD"` to an inclusive date range.
fn parse_holiday(text: &str) -> Result<(NaiveDate, NaiveDate), (String, String)> {
    let not_a_date = || {
        (
            format!("\"{text}\" is not a date or a date range"),
            DATE_FIX.to_owned(),
        )
    };
    match text.split_once("..") {
        None => {
            let day = parse_date(text).ok_or_else(not_a_date)?;
            Ok((day, day))
        }
        Some((first, last)) => {
            let first = parse_date(first).ok_or_else(not_a_date)?;
            let last = parse_date(last).ok_or_else(not_a_date)?;
            if last < first {
                return Err((
                    format!("\"{text}\" ends before it starts"),
                    "write FIRST..LAST with FIRST on or before LAST (both included)".to_owned(),
                ));
            }
            Ok((first, last))
        }
    }
}

/// Strict `YYYY-MM-DD` (a real calendar date, year 0001 to 9999).
fn parse_date(text: &str) -> Option<NaiveDate> {
    let b = text.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let number = |range: std::ops::Range<usize>| -> Option<u32> {
        b[range].iter().try_fold(0u32, |n, &c| {
            c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0'))
        })
    };
    let year = i32::try_from(number(0..4)?).ok().filter(|&y| y >= 1)?;
    NaiveDate::from_ymd_opt(year, number(5..7)?, number(8..10)?)
}

/// Sorts inclusive date ranges and merges overlapping or adjacent ones.
fn merge_dates(mut ranges: Vec<(NaiveDate, NaiveDate)>) -> Vec<(NaiveDate, NaiveDate)> {
    ranges.sort();
    let mut merged: Vec<(NaiveDate, NaiveDate)> = Vec::with_capacity(ranges.len());
    for (first, last) in ranges {
        match merged.last_mut() {
            Some(prev) if prev.1.succ_opt().is_none_or(|next| first <= next) => {
                prev.1 = prev.1.max(last);
            }
            _ => merged.push((first, last)),
        }
    }
    merged
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_parsing_is_strict() {
        assert_eq!(parse_clock("00:00"), Some(0));
        assert_eq!(parse_clock("08:30"), Some(510));
        assert_eq!(parse_clock("24:00"), Some(1440));
        for bad in [
            "24:01", "8:00", "08:60", "0800", "08:00 ", "+8:00", "ab:cd", "25:00",
        ] {
            assert_eq!(parse_clock(bad), None, "{bad}");
        }
    }

    #[test]
    fn date_parsing_is_strict() {
        assert_eq!(
            parse_date("2026-02-28"),
            NaiveDate::from_ymd_opt(2026, 2, 28)
        );
        for bad in [
            "2026-02-29",
            "2026-2-28",
            "26-02-28",
            "0000-01-01",
            "2026/02/28",
        ] {
            assert_eq!(parse_date(bad), None, "{bad}");
        }
    }

    #[test]
    fn adjacent_holidays_are_merged() {
        let d = |m, d| NaiveDate::from_ymd_opt(2026, m, d).unwrap_or_default();
        let merged = merge_dates(vec![
            (d(12, 31), d(12, 31)),
            (d(12, 24), d(12, 26)),
            (d(12, 27), d(12, 27)),
        ]);
        assert_eq!(merged, vec![(d(12, 24), d(12, 27)), (d(12, 31), d(12, 31))]);
    }

    #[test]
    fn edit_distance_counts_single_character_edits() {
        let chars = |s: &str| s.chars().collect::<Vec<_>>();
        assert_eq!(edit_distance(&chars("berln"), &chars("berlin")), 1);
        assert_eq!(edit_distance(&chars("kitten"), &chars("sitting")), 3);
        assert_eq!(edit_distance(&chars(""), &chars("abc")), 3);
    }
}
