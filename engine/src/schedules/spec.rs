//! A schedule's spec in Temporal's canonical form: calendar strings and cron strings are
//! compiled into structured calendars appended after the caller's own (exclusions likewise),
//! `@every` cron strings become intervals, a `CRON_TZ=` prefix becomes the time zone, and
//! every part is validated with Temporal's messages (the frontend prefixes them with
//! `Invalid schedule spec: `). Describe fills the range defaults in (`with_defaults`).

use crate::time::{nanos, parse_go_duration};
use prost_wkt_types::Duration;
use temporalio_protos::temporal::api::schedule::v1::{
    CalendarSpec, IntervalSpec, Range, ScheduleSpec, StructuredCalendarSpec,
};

pub const MIN_YEAR: i32 = 2000;
pub const MAX_YEAR: i32 = 2100;
const MAX_COMMENT_LEN: usize = 200;
const SEC: i64 = 1_000_000_000;

const MONTHS: [&str; 12] = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];
const WEEKDAYS: [&str; 7] = [
    "sunday",
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
];

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Int,
    Year,
    Month,
    Weekday,
}

/// The canonical form of `spec`, or the reason it is invalid.
pub fn canonicalize(spec: &ScheduleSpec) -> Result<ScheduleSpec, String> {
    for iv in &spec.interval {
        check_duration(&iv.interval, "interval")?;
        check_duration(&iv.phase, "phase")?;
    }
    let mut out = spec.clone();
    for cal in std::mem::take(&mut out.calendar) {
        out.structured_calendar.push(structured_from_strings(&cal)?);
    }
    #[allow(deprecated)]
    for cal in std::mem::take(&mut out.exclude_calendar) {
        out.exclude_structured_calendar
            .push(structured_from_strings(&cal)?);
    }
    let mut cron_zone: Option<String> = None;
    for cron in std::mem::take(&mut out.cron_string) {
        let parsed = parse_cron(&cron)?;
        if cron_zone.as_ref().is_some_and(|z| *z != parsed.zone) {
            return Err("conflicting timezone names".into());
        }
        cron_zone = Some(parsed.zone);
        match parsed.item {
            CronItem::Calendar(c) => out.structured_calendar.push(c),
            CronItem::Interval(i) => out.interval.push(i),
        }
    }
    if let Some(zone) = cron_zone.filter(|z| !z.is_empty()) {
        if (!out.timezone_name.is_empty() && out.timezone_name != zone)
            || !out.timezone_data.is_empty()
        {
            return Err("conflicting timezone names".into());
        }
        out.timezone_name = zone;
    }
    for cal in &out.structured_calendar {
        validate_structured(cal)?;
    }
    for iv in &out.interval {
        validate_interval(iv)?;
    }
    super::zone::resolve(&out.timezone_name)?;
    Ok(out)
}

/// The spec as Describe shows it: every range with its end and step written out.
pub fn with_defaults(spec: &ScheduleSpec) -> ScheduleSpec {
    let mut out = spec.clone();
    let fill = |cal: &mut StructuredCalendarSpec| {
        for ranges in [
            &mut cal.second,
            &mut cal.minute,
            &mut cal.hour,
            &mut cal.day_of_month,
            &mut cal.month,
            &mut cal.year,
            &mut cal.day_of_week,
        ] {
            for r in ranges.iter_mut() {
                r.end = r.end.max(r.start);
                if r.step == 0 {
                    r.step = 1;
                }
            }
        }
    };
    out.structured_calendar.iter_mut().for_each(fill);
    out.exclude_structured_calendar.iter_mut().for_each(fill);
    out
}

fn check_duration(d: &Option<Duration>, what: &str) -> Result<(), String> {
    let Some(d) = d else { return Ok(()) };
    let valid = d.nanos.abs() < 1_000_000_000
        && (d.seconds == 0 || d.nanos == 0 || (d.seconds < 0) == (d.nanos < 0))
        && d.seconds.abs() <= 315_576_000_000;
    if valid {
        Ok(())
    } else {
        Err(format!(
            "{what} is not a valid duration: invalid duration {d:?}"
        ))
    }
}

fn validate_interval(iv: &IntervalSpec) -> Result<(), String> {
    let interval = nanos(&iv.interval);
    let phase = nanos(&iv.phase);
    if interval < SEC {
        Err("interval is too small".into())
    } else if phase < 0 {
        Err("phase is negative".into())
    } else if phase >= interval {
        Err("phase cannot be greater than Interval".into())
    } else {
        Ok(())
    }
}

fn validate_structured(cal: &StructuredCalendarSpec) -> Result<(), String> {
    let mut errors = Vec::new();
    let mut check = |ranges: &[Range], field: &str, min: i32, max: i32| {
        for r in ranges {
            if r.start < min || r.start > max {
                errors.push(format!("{field} Start is not in range [{min}-{max}]"));
            }
            if r.end != 0 && (r.end < r.start || r.end > max) {
                errors.push(format!(
                    "{field} End is before Start or not in range [{min}-{max}]"
                ));
            }
            if r.step < 0 {
                errors.push(format!("{field} has invalid Step"));
            }
        }
    };
    check(&cal.second, "Second", 0, 59);
    check(&cal.minute, "Minute", 0, 59);
    check(&cal.hour, "Hour", 0, 23);
    check(&cal.day_of_month, "DayOfMonth", 1, 31);
    check(&cal.month, "Month", 1, 12);
    check(&cal.year, "Year", MIN_YEAR, MAX_YEAR);
    check(&cal.day_of_week, "DayOfWeek", 0, 6);
    if cal.comment.len() > MAX_COMMENT_LEN {
        errors.push("comment is too long".into());
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(format!("invalid calendar spec: {}", errors.join(", ")))
    }
}

/// A calendar given as strings, each field defaulted as Temporal's: second, minute and hour
/// "0", the rest "*".
fn structured_from_strings(cal: &CalendarSpec) -> Result<StructuredCalendarSpec, String> {
    let mut errors = Vec::new();
    let mut field = |text: &str, name: &str, default: &str, min, max, mode| {
        ranges(text, name, default, min, max, mode).unwrap_or_else(|e| {
            errors.push(e);
            Vec::new()
        })
    };
    let out = StructuredCalendarSpec {
        second: field(&cal.second, "Second", "0", 0, 59, Mode::Int),
        minute: field(&cal.minute, "Minute", "0", 0, 59, Mode::Int),
        hour: field(&cal.hour, "Hour", "0", 0, 23, Mode::Int),
        day_of_week: field(&cal.day_of_week, "DayOfWeek", "*", 0, 7, Mode::Weekday),
        day_of_month: field(&cal.day_of_month, "DayOfMonth", "*", 1, 31, Mode::Int),
        month: field(&cal.month, "Month", "*", 1, 12, Mode::Month),
        year: field(&cal.year, "Year", "*", MIN_YEAR, MAX_YEAR, Mode::Year),
        comment: cal.comment.clone(),
    };
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors.join(", "))
    }
}

/// One calendar field: `*`, `x`, `x-z`, `x/y`, `x-z/y`, `*/y`, comma-separated; names for
/// months and weekdays; 7 is also Sunday. A year of `*` is the empty list (every year).
fn ranges(
    text: &str,
    field: &str,
    default: &str,
    min: i32,
    max: i32,
    mode: Mode,
) -> Result<Vec<Range>, String> {
    let text = match text.trim() {
        "" => default,
        t => t,
    };
    if text == "*" && mode == Mode::Year {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    for part in text.split(',') {
        let (body, step) = match part.split_once('/') {
            Some((_, s)) if s.contains('/') => return Err(format!("{field} has too many slashes")),
            Some((_, "")) => return Err(format!("{field} missing step value")),
            Some((b, s)) => {
                let step: i32 = s
                    .parse()
                    .map_err(|_| format!("strconv.Atoi: parsing {s:?}: invalid syntax"))?;
                if step < 1 {
                    return Err(format!("{field} has invalid Step"));
                }
                (b, Some(step))
            }
            None => (part, None),
        };
        let (mut start, mut end) = (min, max);
        if body != "*" {
            if let Some((a, b)) = body.split_once('-') {
                if b.contains('-') {
                    return Err(format!("{field} has too many dashes"));
                }
                start = value(a, min, max, mode)
                    .ok_or_else(|| format!("{field} Start is not in range [{min}-{max}]"))?;
                end = value(b, start, max, mode).ok_or_else(|| {
                    format!("{field} End is before Start or not in range [{min}-{max}]")
                })?;
            } else {
                start = value(body, min, max, mode)
                    .ok_or_else(|| format!("{field} is not in range [{min}-{max}]"))?;
                if step.is_none() {
                    end = start;
                }
            }
        }
        let step = step.unwrap_or(1);
        if mode == Mode::Weekday && end == 7 {
            // Sunday given as 7 becomes 0 when the range reaches it.
            if (7 - start) % step == 0 && (step > 1 || start > 1) {
                out.push(Range {
                    start: 0,
                    end: 0,
                    step: 0,
                });
                if start == 7 {
                    continue;
                }
            }
            end = 6;
        }
        out.push(Range {
            start,
            end: if start == end { 0 } else { end },
            step: if step == 1 { 0 } else { step },
        });
    }
    Ok(out)
}

fn value(text: &str, min: i32, max: i32, mode: Mode) -> Option<i32> {
    let lower = text.to_ascii_lowercase();
    let named = match mode {
        Mode::Month if text.len() >= 3 => MONTHS
            .iter()
            .position(|m| m.starts_with(&lower))
            .map(|i| i as i32 + 1),
        Mode::Weekday if text.len() >= 2 => WEEKDAYS
            .iter()
            .position(|d| d.starts_with(&lower))
            .map(|i| i as i32),
        _ => None,
    };
    let v = match named {
        Some(v) => v,
        None => text.parse().ok()?,
    };
    (min..=max).contains(&v).then_some(v)
}

enum CronItem {
    Calendar(StructuredCalendarSpec),
    Interval(IntervalSpec),
}

struct ParsedCron {
    item: CronItem,
    /// The `CRON_TZ=` / `TZ=` zone, or empty.
    zone: String,
}

/// A cron string: `[CRON_TZ=zone ]fields[ # comment]` with 5 (minute hour day-of-month month
/// day-of-week), 6 (+ year) or 7 (second first) fields, a descriptor, or `@every d[/phase]`.
fn parse_cron(text: &str) -> Result<ParsedCron, String> {
    let mut text = text.trim();
    let mut zone = String::new();
    if text.starts_with("TZ=") || text.starts_with("CRON_TZ=") {
        let (tz, rest) = text
            .split_once(' ')
            .ok_or("CronString has time zone but missing fields")?;
        zone = tz
            .split_once('=')
            .map(|(_, z)| z.to_string())
            .unwrap_or_default();
        text = rest;
    }
    let (body, comment) = match text.split_once('#') {
        Some((b, c)) => (b.trim(), c.trim()),
        None => (text.trim(), ""),
    };
    if body.starts_with("@every") {
        let (_, every) = body
            .split_once(' ')
            .ok_or("CronString does not have interval after @every")?;
        let (interval, phase) = every.split_once('/').unwrap_or((every, ""));
        let duration = |t: &str| {
            parse_go_duration(t, true)
                .map(|n| crate::time::explicit_duration(n).unwrap_or_default())
                .ok_or_else(|| format!("time: invalid duration {t:?}"))
        };
        let iv = IntervalSpec {
            interval: Some(duration(interval)?),
            phase: if phase.is_empty() {
                None
            } else {
                Some(duration(phase)?)
            },
        };
        return Ok(ParsedCron {
            item: CronItem::Interval(iv),
            zone: String::new(),
        });
    }
    let body = match body {
        "@yearly" | "@annually" => "0 0 1 1 *",
        "@monthly" => "0 0 1 * *",
        "@weekly" => "0 0 * * 0",
        "@daily" | "@midnight" => "0 0 * * *",
        "@hourly" => "0 * * * *",
        other => other,
    };
    let f: Vec<&str> = body.split_whitespace().collect();
    let cal = |second: &str, rest: &[&str], year: &str| CalendarSpec {
        second: second.into(),
        minute: rest[0].into(),
        hour: rest[1].into(),
        day_of_month: rest[2].into(),
        month: rest[3].into(),
        day_of_week: rest[4].into(),
        year: year.into(),
        comment: comment.into(),
    };
    let spec = match f.len() {
        5 => cal("", &f, ""),
        6 => cal("", &f[..5], f[5]),
        7 => cal(f[0], &f[1..6], f[6]),
        _ => return Err("CronString does not have 5-7 fields".into()),
    };
    Ok(ParsedCron {
        item: CronItem::Calendar(structured_from_strings(&spec)?),
        zone,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(start: i32, end: i32, step: i32) -> Range {
        Range { start, end, step }
    }

    fn cron(text: &str) -> Result<ScheduleSpec, String> {
        canonicalize(&ScheduleSpec {
            cron_string: vec![text.into()],
            ..Default::default()
        })
    }

    #[test]
    fn a_five_field_cron_string_becomes_a_structured_calendar() {
        let spec = with_defaults(&cron("0 12 * * MON").unwrap());
        let cal = &spec.structured_calendar[0];
        assert_eq!(cal.second, vec![r(0, 0, 1)]);
        assert_eq!(cal.minute, vec![r(0, 0, 1)]);
        assert_eq!(cal.hour, vec![r(12, 12, 1)]);
        assert_eq!(cal.day_of_month, vec![r(1, 31, 1)]);
        assert_eq!(cal.month, vec![r(1, 12, 1)]);
        assert_eq!(cal.day_of_week, vec![r(1, 1, 1)]);
        assert!(cal.year.is_empty());
        assert!(spec.cron_string.is_empty());
    }

    #[test]
    fn cron_forms_steps_names_zones_and_comments() {
        let spec = cron("CRON_TZ=Europe/Berlin 30 */5 1-15/2 jan,JUL fri-7 2030 # hi").unwrap();
        assert_eq!(spec.timezone_name, "Europe/Berlin");
        let cal = &spec.structured_calendar[0];
        assert_eq!(cal.comment, "hi");
        assert_eq!(cal.hour, vec![r(0, 23, 5)]);
        assert_eq!(cal.day_of_month, vec![r(1, 15, 2)]);
        assert_eq!(cal.month, vec![r(1, 0, 0), r(7, 0, 0)]);
        // fri-7: 7 is Sunday, so 0, then 5-6.
        assert_eq!(cal.day_of_week, vec![r(0, 0, 0), r(5, 6, 0)]);
        assert_eq!(cal.year, vec![r(2030, 0, 0)]);
        let seven = cron("15 30 * * * * *").unwrap();
        assert_eq!(seven.structured_calendar[0].second, vec![r(15, 0, 0)]);
        let every = cron("@every 10d/5h").unwrap();
        assert_eq!(
            every.interval[0].interval.as_ref().unwrap().seconds,
            864_000
        );
        assert_eq!(every.interval[0].phase.as_ref().unwrap().seconds, 18_000);
        let daily = cron("@daily").unwrap();
        assert_eq!(daily.structured_calendar[0].hour, vec![r(0, 0, 0)]);
    }

    #[test]
    fn cron_entries_come_after_the_callers_own_calendars() {
        let spec = canonicalize(&ScheduleSpec {
            structured_calendar: vec![StructuredCalendarSpec {
                comment: "mine".into(),
                ..Default::default()
            }],
            calendar: vec![CalendarSpec {
                comment: "strings".into(),
                ..Default::default()
            }],
            cron_string: vec!["0 0 * * *".into()],
            ..Default::default()
        })
        .unwrap();
        let comments: Vec<_> = spec
            .structured_calendar
            .iter()
            .map(|c| &c.comment)
            .collect();
        assert_eq!(comments, ["mine", "strings", ""]);
    }

    #[test]
    fn bad_specs_get_temporals_messages() {
        assert_eq!(
            cron("1 2 3").unwrap_err(),
            "CronString does not have 5-7 fields"
        );
        assert_eq!(
            cron("61 * * * *").unwrap_err(),
            "Minute is not in range [0-59]"
        );
        assert_eq!(
            cron("5-1 * * * *").unwrap_err(),
            "Minute End is before Start or not in range [0-59]"
        );
        assert_eq!(cron("*/0 * * * *").unwrap_err(), "Minute has invalid Step");
        assert_eq!(
            cron("1/2/3 * * * *").unwrap_err(),
            "Minute has too many slashes"
        );
        assert_eq!(
            cron("CRON_TZ=Nowhere/Special 0 0 * * *").unwrap_err(),
            "unknown time zone Nowhere/Special"
        );
        let iv = |secs, phase| {
            canonicalize(&ScheduleSpec {
                interval: vec![IntervalSpec {
                    interval: Some(Duration {
                        seconds: secs,
                        nanos: 0,
                    }),
                    phase: Some(Duration {
                        seconds: phase,
                        nanos: 0,
                    }),
                }],
                ..Default::default()
            })
        };
        assert_eq!(iv(0, 0).unwrap_err(), "interval is too small");
        assert_eq!(iv(10, -1).unwrap_err(), "phase is negative");
        assert_eq!(
            iv(10, 10).unwrap_err(),
            "phase cannot be greater than Interval"
        );
        let structured = canonicalize(&ScheduleSpec {
            structured_calendar: vec![StructuredCalendarSpec {
                hour: vec![r(25, 0, 0)],
                comment: "x".repeat(201),
                ..Default::default()
            }],
            ..Default::default()
        });
        assert_eq!(
            structured.unwrap_err(),
            "invalid calendar spec: Hour Start is not in range [0-23], comment is too long"
        );
        let zones = canonicalize(&ScheduleSpec {
            cron_string: vec!["TZ=UTC 0 0 * * *".into(), "TZ=Asia/Tokyo 0 0 * * *".into()],
            ..Default::default()
        });
        assert_eq!(zones.unwrap_err(), "conflicting timezone names");
    }
}
