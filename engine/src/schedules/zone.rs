//! Time zones for schedules: IANA names from the tz database compiled into the binary (every
//! replica of one build answers alike), and the two conversions calendars need, with Go's
//! rules for local times that do not exist or exist twice (Temporal computes with Go's
//! `time.Date`, and its schedules' answers follow from them).

use crate::civil;
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
    let (y, m, d) = civil::civil_from_days(days);
    let weekday = (days + 4).rem_euclid(7) as u32; // 1970-01-01 was a Thursday
    (
        y as i32,
        m as u32,
        d as u32,
        secs / 3600,
        secs / 60 % 60,
        secs % 60,
        weekday,
    )
}

/// The instant of local time y-m-d h:m:s in `tz`, as Go's `time.Date` picks it: fields past
/// their range roll over; a time skipped by a clock change lands an hour off (so its hour
/// differs from the one asked for); a time that happens twice is the one whose offset is in
/// effect at the local time read as UTC.
pub fn instant(tz: Tz, y: i32, m: u32, d: u32, h: u32, min: u32, s: u32) -> i64 {
    let local = civil::days_from_civil(y.into(), m.into(), d.into()) * 86_400
        + h as i64 * 3600
        + min as i64 * 60
        + s as i64;
    let guess = offset_at(tz, local);
    let utc = local - guess;
    let actual = offset_at(tz, utc);
    if actual == guess {
        utc
    } else {
        local - actual
    }
}

/// Days in month `m` of year `y`.
pub fn days_in_month(y: i32, m: u32) -> u32 {
    civil::days_in_month(y.into(), m.into()) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_of_the_epoch() {
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
