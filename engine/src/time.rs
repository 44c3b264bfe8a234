//! Conversions between the engine's unix-nanosecond integers and protobuf time types.

use prost_wkt_types::{Duration, Timestamp};

const NANOS: i64 = 1_000_000_000;

/// The longest duration the engine takes from a request: 100 years. Longer ones (up to the
/// 292 years an i64 of nanoseconds holds) are taken as 100 years, so that a deadline, which
/// is now plus a duration or two, always fits in an i64.
pub const MAX_DURATION_NANOS: i64 = 100 * 365 * 86_400 * NANOS;

pub fn timestamp(nanos: i64) -> Option<Timestamp> {
    (nanos != 0).then(|| Timestamp {
        seconds: nanos.div_euclid(NANOS),
        nanos: nanos.rem_euclid(NANOS) as i32,
    })
}

pub fn duration(nanos: i64) -> Option<Duration> {
    (nanos != 0).then_some(Duration {
        seconds: nanos / NANOS,
        nanos: (nanos % NANOS) as i32,
    })
}

/// A duration that is present even when zero ("0s"), where Temporal writes zeros explicitly.
pub fn explicit_duration(nanos: i64) -> Option<Duration> {
    Some(duration(nanos).unwrap_or_default())
}

/// Unix nanoseconds of a protobuf timestamp; `None` when absent.
pub fn timestamp_nanos(t: &Option<Timestamp>) -> Option<i64> {
    t.as_ref().map(|t| {
        t.seconds
            .saturating_mul(NANOS)
            .saturating_add(t.nanos as i64)
    })
}

/// Nanoseconds in a protobuf duration, within ±`MAX_DURATION_NANOS`; 0 when absent.
pub fn nanos(d: &Option<Duration>) -> i64 {
    d.as_ref().map_or(0, |d| {
        d.seconds
            .saturating_mul(NANOS)
            .saturating_add(d.nanos as i64)
            .clamp(-MAX_DURATION_NANOS, MAX_DURATION_NANOS)
    })
}

/// Unix nanoseconds of an RFC 3339 time (`2024-01-02T03:04:05Z`, `...05.1+02:00`).
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(s)
        .ok()?
        .timestamp_nanos_opt()
}

/// An RFC 3339 time in UTC with as many fractional digits as needed (Go's RFC3339Nano).
pub fn format_rfc3339(nanos: i64) -> String {
    let full = chrono::DateTime::from_timestamp_nanos(nanos)
        .to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
    // "...05.500000000Z" -> "...05.5Z"; "...05.000000000Z" -> "...05Z".
    let (time, _) = full.split_at(full.len() - 1);
    format!("{}Z", time.trim_end_matches('0').trim_end_matches('.'))
}

/// A Go duration (`1h30m`, `90s`, `1.5h`, `300ms`) in nanoseconds; with `days`, also `d`
/// (Temporal's visibility queries accept it, Go's own parser and cron's `@every` do not).
pub fn parse_go_duration(text: &str, days: bool) -> Option<i64> {
    let (negative, mut rest) = match text.as_bytes().first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    if rest == "0" {
        return Some(0);
    }
    let mut total: f64 = 0.0;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let number: f64 = rest[..number_len].parse().ok()?;
        rest = &rest[number_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = match &rest[..unit_len] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            "d" if days => 86_400e9,
            _ => return None,
        };
        rest = &rest[unit_len..];
        total += number * unit;
    }
    if total > i64::MAX as f64 {
        return None;
    }
    Some(if negative { -total } else { total } as i64)
}

pub fn secs(s: i64) -> i64 {
    s * NANOS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        for n in [1, 999_999_999, NANOS, 12 * NANOS + 5] {
            assert_eq!(nanos(&duration(n)), n);
            let t = timestamp(n).unwrap();
            assert_eq!(t.seconds * NANOS + t.nanos as i64, n);
        }
        assert_eq!(duration(0), None);
        let t = parse_rfc3339("2024-01-02T03:04:05.5+02:00").unwrap();
        assert_eq!(format_rfc3339(t), "2024-01-02T01:04:05.5Z");
        assert_eq!(parse_rfc3339(&format_rfc3339(t)), Some(t));
        assert_eq!(nanos(&None), 0);
    }
}
