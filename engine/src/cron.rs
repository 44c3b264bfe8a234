//! Cron schedules (`cron_schedule` on a workflow start): parsing the forms Temporal accepts
//! (five fields, the @descriptors, `@every <duration>`, an optional UTC time zone prefix),
//! the next time a schedule fires, and Temporal's backoff before a cron run.
//!
//! All arithmetic is on integers in UTC, so every replica computes the same nanosecond.

use crate::civil::{civil_from_days, days_from_civil, days_in_month};

const SEC: i64 = 1_000_000_000;
const MINUTE: i64 = 60 * SEC;
const HOUR: i64 = 60 * MINUTE;
const DAY: i64 = 24 * HOUR;
/// How far ahead a schedule is searched, as Temporal's cron library does.
const SEARCH_YEARS: i64 = 5;

/// Temporal's answer to a schedule it cannot parse.
pub const INVALID: &str = "invalid CronSchedule.";
/// Temporal's answer to a schedule no date satisfies (31 February).
pub const UNSATISFIABLE: &str =
    "invalid CronSchedule, no time can be found to satisfy the schedule";

#[derive(Debug, Clone, PartialEq)]
pub enum Schedule {
    /// `@every <duration>`: whole seconds, at least one.
    Every {
        interval: i64,
    },
    Fields(Fields),
}

/// The five fields as bit sets; `*_star` marks a day field given as `*` or `?`, which
/// decides how day of month and day of week combine.
#[derive(Debug, Clone, PartialEq)]
pub struct Fields {
    minutes: u64,
    hours: u64,
    days_of_month: u64,
    months: u64,
    days_of_week: u64,
    day_of_month_star: bool,
    day_of_week_star: bool,
}

/// Parses a schedule; the error is Temporal's message (or says what Keel does not support).
pub fn parse(spec: &str) -> Result<Schedule, String> {
    let spec = without_time_zone(spec.trim())?;
    if let Some(every) = spec.strip_prefix("@every ") {
        let nanos = crate::time::parse_go_duration(every.trim(), false).ok_or(INVALID)?;
        // Whole seconds, at least one, as Temporal's cron library rounds.
        let interval = (nanos - nanos % SEC).max(SEC);
        return Ok(Schedule::Every { interval });
    }
    let expanded = match spec {
        "@yearly" | "@annually" => "0 0 1 1 *",
        "@monthly" => "0 0 1 * *",
        "@weekly" => "0 0 * * 0",
        "@daily" | "@midnight" => "0 0 * * *",
        "@hourly" => "0 * * * *",
        other if other.starts_with('@') => return Err(INVALID.into()),
        other => other,
    };
    let parts: Vec<&str> = expanded.split_whitespace().collect();
    let [minute, hour, dom, month, dow] = parts[..] else {
        return Err(INVALID.into());
    };
    let (minutes, _) = field(minute, 0, 59, &[])?;
    let (hours, _) = field(hour, 0, 23, &[])?;
    let (days_of_month, day_of_month_star) = field(dom, 1, 31, &[])?;
    let (months, _) = field(month, 1, 12, &MONTH_NAMES)?;
    let (days_of_week, day_of_week_star) = field(dow, 0, 6, &DAY_NAMES)?;
    let fields = Fields {
        minutes,
        hours,
        days_of_month,
        months,
        days_of_week,
        day_of_month_star,
        day_of_week_star,
    };
    if !fields.satisfiable() {
        return Err(UNSATISFIABLE.into());
    }
    Ok(Schedule::Fields(fields))
}

const MONTH_NAMES: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];
const DAY_NAMES: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

/// `CRON_TZ=<zone> ` or `TZ=<zone> ` before the schedule: Keel has no time zone database,
/// so only UTC is accepted.
fn without_time_zone(spec: &str) -> Result<&str, String> {
    let Some(rest) = spec
        .strip_prefix("CRON_TZ=")
        .or_else(|| spec.strip_prefix("TZ="))
    else {
        return Ok(spec);
    };
    let (zone, schedule) = rest.split_once(char::is_whitespace).ok_or(INVALID)?;
    match zone {
        "UTC" | "Etc/UTC" | "GMT" | "Etc/GMT" | "Zulu" | "UCT" => Ok(schedule.trim_start()),
        other => Err(format!(
            "invalid CronSchedule: time zone {other} is not supported by Keel (only UTC)."
        )),
    }
}

/// One field: a comma-separated list of `*`, `?`, `n`, `a-b`, each with an optional `/step`;
/// values may be names (months, days of week). Returns the bits and whether it was a star.
fn field(text: &str, min: u32, max: u32, names: &[&str]) -> Result<(u64, bool), String> {
    let mut bits = 0u64;
    let mut star = false;
    for part in text.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((range, step)) => (range, Some(step.parse::<u32>().map_err(|_| INVALID)?)),
            None => (part, None),
        };
        if step == Some(0) {
            return Err(INVALID.into());
        }
        let (start, end, is_star) = if range == "*" || range == "?" {
            (min, max, step.unwrap_or(1) == 1)
        } else if let Some((a, b)) = range.split_once('-') {
            (value(a, names, min)?, value(b, names, min)?, false)
        } else {
            let v = value(range, names, min)?;
            // `n/step` means from n to the end of the range.
            (v, if step.is_some() { max } else { v }, false)
        };
        if start < min || end > max || start > end {
            return Err(INVALID.into());
        }
        star |= is_star;
        let step = step.unwrap_or(1) as usize;
        for v in (start..=end).step_by(step) {
            bits |= 1 << v;
        }
    }
    Ok((bits, star))
}

fn value(text: &str, names: &[&str], first: u32) -> Result<u32, String> {
    let lower = text.to_ascii_lowercase();
    if let Some(i) = names.iter().position(|n| *n == lower) {
        return Ok(i as u32 + first);
    }
    text.parse().map_err(|_| INVALID.into())
}

impl Fields {
    fn has(bits: u64, v: i64) -> bool {
        (0..64).contains(&v) && bits & (1 << v) != 0
    }

    /// Day of month and day of week: both must match when either is a star, else either.
    fn day_matches(&self, day: i64, weekday: i64) -> bool {
        let dom = Self::has(self.days_of_month, day);
        let dow = Self::has(self.days_of_week, weekday);
        if self.day_of_month_star || self.day_of_week_star {
            dom && dow
        } else {
            dom || dow
        }
    }

    /// Whether any date matches: only a day of month that no chosen month has (30
    /// February) with a starred day of week can never match.
    fn satisfiable(&self) -> bool {
        if !self.day_of_week_star || self.day_of_month_star {
            return true;
        }
        (1..=12).any(|m| {
            Self::has(self.months, m)
                && (1..=days_in_month(2000, m)).any(|d| Self::has(self.days_of_month, d))
        })
    }

    /// The first minute strictly after `after` (unix nanos, UTC) that matches.
    fn next(&self, after: i64) -> Option<i64> {
        let mut t = after.div_euclid(MINUTE) * MINUTE + MINUTE;
        let (give_up_year, _, _) = civil_from_days(t.div_euclid(DAY));
        let give_up_year = give_up_year + SEARCH_YEARS;
        loop {
            let days = t.div_euclid(DAY);
            let (year, month, day) = civil_from_days(days);
            if year > give_up_year {
                return None;
            }
            if !Self::has(self.months, month) {
                let (y, m) = if month == 12 {
                    (year + 1, 1)
                } else {
                    (year, month + 1)
                };
                t = days_from_civil(y, m, 1) * DAY;
                continue;
            }
            let weekday = (days + 4).rem_euclid(7); // 1970-01-01 was a Thursday
            if !self.day_matches(day, weekday) {
                t = (days + 1) * DAY;
                continue;
            }
            let in_day = t - days * DAY;
            if !Self::has(self.hours, in_day / HOUR) {
                t = t - in_day % HOUR + HOUR;
                continue;
            }
            if !Self::has(self.minutes, in_day % HOUR / MINUTE) {
                t += MINUTE;
                continue;
            }
            return Some(t);
        }
    }
}

impl Schedule {
    /// The first time the schedule fires strictly after `after` (unix nanos).
    pub fn next(&self, after: i64) -> Option<i64> {
        match self {
            Schedule::Every { interval } => Some(after - after.rem_euclid(SEC) + interval),
            Schedule::Fields(f) => f.next(after),
        }
    }
}

/// Temporal's wait before the next cron run: the first firing after the closing run's
/// `scheduled` time that is not before `now`, minus `now`, rounded up to whole seconds.
/// `None` when the schedule never fires again (or does not parse).
pub fn backoff(spec: &str, scheduled: i64, now: i64) -> Option<i64> {
    let schedule = parse(spec).ok()?;
    let mut next = schedule.next(scheduled)?;
    while next < now {
        next = schedule.next(next)?;
    }
    let wait = next - now;
    Some((wait + SEC - 1).div_euclid(SEC) * SEC)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Unix nanos of a UTC date and time.
    fn at(y: i64, mo: i64, d: i64, h: i64, mi: i64) -> i64 {
        days_from_civil(y, mo, d) * DAY + h * HOUR + mi * MINUTE
    }

    #[test]
    fn five_fields_fire_at_the_next_matching_minute() {
        let now = at(2026, 11, 26, 4, 39) + 35 * SEC;
        let next = |spec: &str| parse(spec).unwrap().next(now).unwrap();
        assert_eq!(next("* * * * *"), at(2026, 11, 26, 4, 40));
        assert_eq!(next("0 * * * *"), at(2026, 11, 26, 5, 0));
        assert_eq!(next("*/15 * * * *"), at(2026, 11, 26, 4, 45));
        assert_eq!(next("30 2 * * *"), at(2026, 11, 27, 2, 30));
        assert_eq!(next("0 0 1 * *"), at(2026, 12, 1, 0, 0));
        assert_eq!(next("@yearly"), at(2027, 1, 1, 0, 0));
        // 2026-11-26 is a Thursday: the next Monday is the 30th.
        assert_eq!(next("0 9 * * MON"), at(2026, 11, 30, 9, 0));
        assert_eq!(next("@weekly"), at(2026, 11, 29, 0, 0));
        // Both day fields given: either matches (the 1st, or a Friday).
        assert_eq!(next("0 0 1 * 5"), at(2026, 11, 27, 0, 0));
        assert_eq!(next("0 0 29 2 *"), at(2028, 2, 29, 0, 0));
        assert_eq!(next("0-10/5 8-9 * jan-mar,dec ?"), at(2026, 12, 1, 8, 0));
    }

    #[test]
    fn every_counts_from_the_whole_second() {
        let s = parse("@every 2s").unwrap();
        assert_eq!(s.next(10 * SEC + 300), Some(12 * SEC));
        assert_eq!(
            parse("@every 500ms").unwrap(),
            Schedule::Every { interval: SEC }
        );
        assert_eq!(
            parse("@every 0s").unwrap(),
            Schedule::Every { interval: SEC }
        );
        assert_eq!(
            parse("@every 1h30m").unwrap(),
            Schedule::Every {
                interval: 90 * MINUTE
            }
        );
        assert_eq!(
            parse("@every 1.5s").unwrap(),
            Schedule::Every { interval: SEC }
        );
    }

    #[test]
    fn bad_schedules_get_temporals_messages() {
        for bad in [
            "bad",
            "61 * * * *",
            "* * * * * *",
            "* * * *",
            "*/0 * * * *",
            "5-1 * * * *",
            "* * * * 7",
            "@often",
            "@every",
            "@every soon",
        ] {
            assert_eq!(parse(bad), Err(INVALID.to_string()), "{bad}");
        }
        assert_eq!(parse("0 0 31 2 *"), Err(UNSATISFIABLE.to_string()));
        assert!(parse("0 0 31 2 MON").is_ok(), "either day field may match");
        assert!(parse("CRON_TZ=UTC 0 * * * *").is_ok());
        assert!(parse("TZ=America/New_York 0 * * * *")
            .unwrap_err()
            .contains("America/New_York"));
    }

    #[test]
    fn the_backoff_skips_missed_firings_and_rounds_up_to_seconds() {
        // Scheduled at 10 s on a 2 s schedule, closed at 15.3 s: the next firing is 16 s.
        assert_eq!(
            backoff("@every 2s", 10 * SEC, 15 * SEC + 300_000_000),
            Some(SEC)
        );
        // First run: scheduled = now.
        let now = at(2026, 11, 26, 4, 39) + 35 * SEC + 1;
        assert_eq!(backoff("0 * * * *", now, now), Some((20 * 60 + 25) * SEC));
    }
}
