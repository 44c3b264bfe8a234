//! Time zones for schedules: IANA names from the tz database compiled into the binary (every
//! replica of one build answers alike), and the two conversions calendars need, with Go's
//! rules for local times that do not exist or exist twice (Temporal computes with Go's
//! `time.Date`, and its schedules' answers follow from them).

use chrono::{Offset, TimeZone};
use chrono_tz::Tz;

/// The zone a spec names: empty (and `UTC`, `Local`) is UTC.
pub fn resolve(name: &str) -> Result<Tz, String> {
    match name {
        "" | "UTC" | "Local" => Ok(Tz::UTC),
        other => other
            .parse::<Tz>()
            .map_err(|_| format!("unknown time zone {other}")),
    }
}

/// Seconds east of UTC in `tz` at the instant `utc` (unix seconds).
fn offset_at(tz: Tz, utc: i64) -> i64 {
    let Some(at) = chrono::DateTime::from_timestamp(utc, 0) else {
        return 0;
    };
    tz.offset_from_utc_datetime(&at.naive_utc())
        .fix()
        .local_minus_utc() as i64
}

/// The local wall-clock fields of instant `utc`: (year, month, day, hour, minute, second,
/// weekday with Sunday 0).
pub fn local_fields(tz: Tz, utc: i64) -> (i32, u32, u32, u32, u32, u32, u32) {
    let local = utc + offset_at(tz, utc);
    let days = local.div_euclid(86_400);
    let secs = local.rem_euclid(86_400) as u32;
    let (y, m, d) = civil_from_days(days);
    let weekday = (days + 4).rem_euclid(7) as u32; // 1970-01-01 was a Thursday
    (y, m, d, secs / 3600, secs / 60 % 60, secs % 60, weekday)
}

/// The instant of local time y-m-d h:m:s in `tz`, as Go's `time.Date` picks it: fields past
/// their range roll over; a time skipped by a clock change lands an hour off (so its hour
/// differs from the one asked for); a time that happens twice is the one whose offset is in
/// effect at the local time read as UTC.
pub fn instant(tz: Tz, y: i32, m: u32, d: u32, h: u32, min: u32, s: u32) -> i64 {
    let local = days_from_civil(y, m, d) * 86_400 + h as i64 * 3600 + min as i64 * 60 + s as i64;
    let guess = offset_at(tz, local);
    let utc = local - guess;
    let actual = offset_at(tz, utc);
    if actual == guess {
        utc
    } else {
        local - actual
    }
}

pub fn days_in_month(y: i32, m: u32) -> u32 {
    match m {
        2 if y % 4 == 0 && (y % 100 != 0 || y % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

fn days_from_civil(y: i32, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y as i64 - 1 } else { y as i64 };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = m as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(days: i64) -> (i32, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y as i32, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates_round_trip() {
        for days in [-1000, 0, 1, 59, 365, 11_016, 19_000, 47_482] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
        assert_eq!(local_fields(Tz::UTC, 0), (1970, 1, 1, 0, 0, 0, 4));
    }

    #[test]
    fn go_rules_for_skipped_and_repeated_local_times() {
        let ny: Tz = resolve("America/New_York").unwrap();
        // 2024-03-10 02:30 does not exist in New York: an hour off, so not hour 2.
        let skipped = instant(ny, 2024, 3, 10, 2, 30, 0);
        assert_ne!(local_fields(ny, skipped).3, 2);
        // 2024-11-03 01:30 happens twice: Go picks EDT (05:30Z).
        assert_eq!(instant(ny, 2024, 11, 3, 1, 30, 0), 1_730_611_800);
        assert_eq!(
            resolve("Mars/Olympus").unwrap_err(),
            "unknown time zone Mars/Olympus"
        );
    }
}
