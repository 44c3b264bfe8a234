//! The times a canonical spec fires: the union of its calendars and intervals, minus its
//! exclusions, inside its start/end window, each delayed by a jitter derived from the
//! schedule and the time (never from a random number, so every replica agrees). Whole
//! seconds, as Temporal's; calendars read wall-clock time in the spec's zone.

use super::spec::MAX_YEAR;
use super::zone::{self, days_in_month, instant, local_fields};
use crate::time::nanos;
use chrono_tz::Tz;
use temporalio_protos::temporal::api::schedule::v1::{Range, ScheduleSpec, StructuredCalendarSpec};

const SEC: i64 = 1_000_000_000;
/// How many excluded times one search passes over before it gives up (an exclusion that
/// covers everything must not spin `apply`).
const MAX_EXCLUDED: usize = 100_000;

/// A time the schedule fires: `nominal` names the action, `actual` is when it is due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fire {
    /// Unix nanos, a whole second.
    pub nominal: i64,
    /// `nominal` plus the jitter, unix nanos.
    pub actual: i64,
}

#[derive(Debug, Clone)]
struct Calendar {
    second: u64,
    minute: u64,
    hour: u64,
    day_of_month: u64,
    month: u64,
    day_of_week: u64,
    /// `None`: every year.
    years: Option<Vec<i32>>,
}

#[derive(Debug, Clone)]
pub struct Compiled {
    tz: Tz,
    calendars: Vec<Calendar>,
    excludes: Vec<Calendar>,
    /// (interval, phase), whole seconds.
    intervals: Vec<(i64, i64)>,
    /// Unix seconds; the window is inclusive.
    start: Option<i64>,
    end: Option<i64>,
    jitter_ms: i64,
}

fn bits(ranges: &[Range]) -> u64 {
    let mut out = 0u64;
    each(ranges, |v| {
        if (0..64).contains(&v) {
            out |= 1 << v
        }
    });
    out
}

fn each(ranges: &[Range], mut f: impl FnMut(i32)) {
    for r in ranges {
        let step = if r.step <= 0 { 1 } else { r.step };
        let end = r.end.max(r.start);
        let mut v = r.start;
        while v <= end {
            f(v);
            v += step;
        }
    }
}

impl Calendar {
    fn new(cal: &StructuredCalendarSpec) -> Self {
        Calendar {
            second: bits(&cal.second),
            minute: bits(&cal.minute),
            hour: bits(&cal.hour),
            day_of_month: bits(&cal.day_of_month),
            month: bits(&cal.month),
            day_of_week: bits(&cal.day_of_week),
            years: (!cal.year.is_empty()).then(|| {
                let mut years = Vec::new();
                each(&cal.year, |y| years.push(y));
                years
            }),
        }
    }

    fn year(&self, y: i32) -> bool {
        self.years.as_ref().is_none_or(|ys| ys.contains(&y))
    }

    fn matches(&self, tz: Tz, utc: i64) -> bool {
        let (y, mo, d, h, m, s, wd) = local_fields(tz, utc);
        let has = |bits: u64, v: u32| bits & (1 << v) != 0;
        self.year(y)
            && has(self.month, mo)
            && has(self.day_of_month, d)
            && has(self.day_of_week, wd)
            && has(self.hour, h)
            && has(self.minute, m)
            && has(self.second, s)
    }

    /// The first matching second after `after` (unix seconds), walking wall-clock fields in
    /// the zone as Temporal does: a local time skipped by a clock change never matches, and
    /// an hour that happens twice matches in both.
    fn next(&self, tz: Tz, after: i64) -> Option<i64> {
        let has = |bits: u64, v: u32| v < 64 && bits & (1 << v) != 0;
        let (mut y, mut mo, mut d, mut h, mut m, mut s, _) = local_fields(tz, after);
        // In the second pass of a repeated hour, results are an hour later than `instant`.
        let mut dst_offset = if local_fields(tz, after - 3600).3 == h {
            3600
        } else {
            0
        };
        s += 1;
        'outer: loop {
            if s >= 60 {
                m += 1;
                s = 0;
            }
            if m >= 60 {
                let prev = instant(tz, y, mo, d, h, 0, 0);
                h += 1;
                m = 0;
                let next = instant(tz, y, mo, d, h, 0, 0);
                if dst_offset == 0 && next - prev > 3600 {
                    h -= 1;
                    dst_offset = 3600;
                } else {
                    dst_offset = 0;
                }
            }
            if h >= 24 {
                d += 1;
                h = 0;
            }
            if d > days_in_month(y, mo) {
                mo += 1;
                d = 1;
            }
            if mo > 12 {
                y += 1;
                mo = 1;
            }
            if y > MAX_YEAR {
                return None;
            }
            if !self.year(y) {
                (y, mo, d, h, m, s) = (y + 1, 1, 1, 0, 0, 0);
                dst_offset = 0;
                continue 'outer;
            }
            while !has(self.month, mo) {
                (mo, d, h, m, s) = (mo + 1, 1, 0, 0, 0);
                dst_offset = 0;
                if mo > 12 {
                    continue 'outer;
                }
            }
            while !has(self.day_of_month, d)
                || !has(
                    self.day_of_week,
                    local_fields(tz, instant(tz, y, mo, d, h, m, s)).6,
                )
            {
                (d, h, m, s) = (d + 1, 0, 0, 0);
                dst_offset = 0;
                if d > days_in_month(y, mo) {
                    continue 'outer;
                }
            }
            while !has(self.hour, h) {
                (h, m, s) = (h + 1, 0, 0);
                dst_offset = 0;
                if h >= 24 {
                    continue 'outer;
                }
            }
            while !has(self.minute, m) {
                (m, s) = (m + 1, 0);
                if m >= 60 {
                    continue 'outer;
                }
            }
            while !has(self.second, s) {
                s += 1;
                if s >= 60 {
                    continue 'outer;
                }
            }
            let at = instant(tz, y, mo, d, h, m, s);
            if local_fields(tz, at).3 != h {
                (h, m, s) = (h + 1, 0, 0);
                continue 'outer;
            }
            return Some(at + dst_offset);
        }
    }
}

impl Compiled {
    /// Compiles a canonical spec (see `spec::canonicalize`, which has checked its zone).
    pub fn new(spec: &ScheduleSpec) -> Self {
        let secs = |t: &Option<prost_wkt_types::Timestamp>| t.as_ref().map(|t| t.seconds);
        Compiled {
            tz: zone::resolve(&spec.timezone_name).unwrap_or(Tz::UTC),
            calendars: spec.structured_calendar.iter().map(Calendar::new).collect(),
            excludes: spec
                .exclude_structured_calendar
                .iter()
                .map(Calendar::new)
                .collect(),
            intervals: spec
                .interval
                .iter()
                .map(|iv| {
                    (
                        (nanos(&iv.interval) / SEC).max(1),
                        (nanos(&iv.phase) / SEC).max(0),
                    )
                })
                .collect(),
            start: secs(&spec.start_time),
            end: secs(&spec.end_time),
            jitter_ms: nanos(&spec.jitter) / 1_000_000,
        }
    }

    /// The next time of any calendar or interval after `after` (unix seconds), unfiltered.
    fn raw_next(&self, after: i64) -> Option<i64> {
        let calendars = self.calendars.iter().filter_map(|c| c.next(self.tz, after));
        let intervals = self.intervals.iter().map(|&(interval, phase)| {
            ((after - phase).div_euclid(interval) + 1) * interval + phase
        });
        calendars.chain(intervals).min()
    }

    fn excluded(&self, t: i64) -> bool {
        self.excludes.iter().any(|c| c.matches(self.tz, t))
    }

    /// The first fire strictly after `after` (unix nanos), with its jitter seeded by `seed`.
    pub fn next(&self, seed: &str, after: i64) -> Option<Fire> {
        let mut after = after.div_euclid(SEC);
        if let Some(start) = self.start {
            after = after.max(start - 1);
        }
        let mut nominal;
        let mut passed = 0;
        loop {
            nominal = self.raw_next(after)?;
            if self.end.is_some_and(|end| nominal > end)
                || local_fields(Tz::UTC, nominal).0 > MAX_YEAR
            {
                return None;
            }
            if !self.excluded(nominal) {
                break;
            }
            passed += 1;
            if passed >= MAX_EXCLUDED {
                return None;
            }
            after = nominal;
        }
        let mut max_jitter = self.jitter_ms.max(0);
        if let Some(following) = self.raw_next(nominal) {
            max_jitter = max_jitter.min((following - nominal) * 1000);
        }
        let fraction = jitter_hash(seed, nominal) as i64;
        let jitter_ms = (fraction * max_jitter.min(u32::MAX as i64)) >> 32;
        Some(Fire {
            nominal: nominal * SEC,
            actual: nominal * SEC + jitter_ms * 1_000_000,
        })
    }

    /// The fires with `actual` in (after, until], at most `limit`.
    pub fn between(&self, seed: &str, after: i64, until: i64, limit: usize) -> Vec<Fire> {
        let mut out = Vec::new();
        let mut cursor = after;
        while out.len() < limit {
            let Some(fire) = self.next(seed, cursor) else {
                break;
            };
            if fire.actual > until {
                break;
            }
            if fire.actual > after {
                out.push(fire);
            }
            cursor = fire.nominal;
        }
        out
    }
}

/// A 32-bit value from the seed and the nominal second (FNV-1a): the fraction of the maximum
/// jitter this time is delayed by.
fn jitter_hash(seed: &str, nominal: i64) -> u32 {
    let mut hash: u32 = 0x811c_9dc5;
    for b in nominal.to_be_bytes().iter().chain(seed.as_bytes()) {
        hash ^= *b as u32;
        hash = hash.wrapping_mul(0x0100_0193);
    }
    hash
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schedules::spec::canonicalize;
    use crate::time::{format_rfc3339, parse_rfc3339};
    use temporalio_protos::temporal::api::schedule::v1::IntervalSpec;

    fn compiled(cron: &[&str], tz: &str) -> Compiled {
        Compiled::new(
            &canonicalize(&ScheduleSpec {
                cron_string: cron.iter().map(|s| s.to_string()).collect(),
                timezone_name: tz.into(),
                ..Default::default()
            })
            .unwrap(),
        )
    }

    fn times(c: &Compiled, from: &str, n: usize) -> Vec<String> {
        let mut at = parse_rfc3339(from).unwrap();
        let mut out = Vec::new();
        for _ in 0..n {
            let fire = c.next("seed", at).unwrap();
            out.push(format_rfc3339(fire.actual));
            at = fire.nominal;
        }
        out
    }

    #[test]
    fn calendars_match_wall_clock_fields() {
        let c = compiled(&["0 12 * * MON"], "");
        assert_eq!(
            times(&c, "2024-01-01T12:00:00Z", 2),
            ["2024-01-08T12:00:00Z", "2024-01-15T12:00:00Z"]
        );
        let feb29 = compiled(&["0 0 29 2 *"], "");
        assert_eq!(
            times(&feb29, "2024-03-01T00:00:00Z", 1),
            ["2028-02-29T00:00:00Z"]
        );
        // Day of month and day of week are ANDed: a Friday the 13th.
        let friday13 = compiled(&["0 0 13 * FRI"], "");
        assert_eq!(
            times(&friday13, "2024-01-01T00:00:00Z", 1),
            ["2024-09-13T00:00:00Z"]
        );
    }

    #[test]
    fn daylight_saving_gaps_are_skipped_and_repeated_hours_fire_twice() {
        let c = compiled(&["30 * * * *"], "America/New_York");
        // Spring forward, 2024-03-10: 00:30 and 01:30 EST, then 03:30 EDT (02:30 local
        // does not exist).
        assert_eq!(
            times(&c, "2024-03-10T05:00:00Z", 3),
            [
                "2024-03-10T05:30:00Z",
                "2024-03-10T06:30:00Z",
                "2024-03-10T07:30:00Z"
            ]
        );
        // Fall back, 2024-11-03: 01:30 local happens in EDT and again in EST.
        assert_eq!(
            times(&c, "2024-11-03T04:00:00Z", 3),
            [
                "2024-11-03T04:30:00Z",
                "2024-11-03T05:30:00Z",
                "2024-11-03T06:30:00Z"
            ]
        );
    }

    #[test]
    fn intervals_count_from_the_epoch_plus_phase() {
        let spec = ScheduleSpec {
            interval: vec![IntervalSpec {
                interval: Some(prost_wkt_types::Duration {
                    seconds: 864_000,
                    nanos: 0,
                }),
                phase: Some(prost_wkt_types::Duration {
                    seconds: 18_000,
                    nanos: 0,
                }),
            }],
            ..Default::default()
        };
        let c = Compiled::new(&spec);
        let from = parse_rfc3339("2022-02-01T00:00:00Z").unwrap();
        let until = parse_rfc3339("2022-03-01T00:00:00Z").unwrap();
        assert_eq!(c.between("", from, until, 100).len(), 3);
    }

    #[test]
    fn jitter_is_deterministic_and_below_the_gap() {
        let mut spec = canonicalize(&ScheduleSpec {
            cron_string: vec!["* * * * *".into()],
            ..Default::default()
        })
        .unwrap();
        spec.jitter = Some(prost_wkt_types::Duration {
            seconds: 3600,
            nanos: 0,
        });
        let c = Compiled::new(&spec);
        let at = parse_rfc3339("2024-01-01T00:00:00Z").unwrap();
        let fires = c.between("s", at, at + 3600 * SEC, 100);
        assert_eq!(fires, c.between("s", at, at + 3600 * SEC, 100));
        assert!(fires.iter().all(|f| f.actual - f.nominal < 60 * SEC));
        assert!(fires.iter().any(|f| f.actual != f.nominal));
    }

    #[test]
    fn window_and_exclusions_filter() {
        let mut spec = canonicalize(&ScheduleSpec {
            cron_string: vec!["0 * * * *".into()],
            exclude_structured_calendar: vec![StructuredCalendarSpec {
                second: vec![Range {
                    start: 0,
                    end: 0,
                    step: 0,
                }],
                minute: vec![Range {
                    start: 0,
                    end: 0,
                    step: 0,
                }],
                hour: vec![Range {
                    start: 1,
                    end: 0,
                    step: 0,
                }],
                day_of_month: vec![Range {
                    start: 1,
                    end: 31,
                    step: 0,
                }],
                month: vec![Range {
                    start: 1,
                    end: 12,
                    step: 0,
                }],
                day_of_week: vec![Range {
                    start: 0,
                    end: 6,
                    step: 0,
                }],
                ..Default::default()
            }],
            ..Default::default()
        })
        .unwrap();
        spec.end_time = Some(prost_wkt_types::Timestamp {
            seconds: parse_rfc3339("2024-01-01T03:00:00Z").unwrap() / SEC,
            nanos: 0,
        });
        let c = Compiled::new(&spec);
        let at = parse_rfc3339("2024-01-01T00:00:00Z").unwrap();
        let got: Vec<_> = c
            .between("", at, i64::MAX, 10)
            .iter()
            .map(|f| format_rfc3339(f.actual))
            .collect();
        assert_eq!(got, ["2024-01-01T02:00:00Z", "2024-01-01T03:00:00Z"]);
    }
}
