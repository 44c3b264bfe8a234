//! Conversions between the engine's unix-nanosecond integers and protobuf time types.

use prost_wkt_types::{Duration, Timestamp};

const NANOS: i64 = 1_000_000_000;

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

/// Nanoseconds in a protobuf duration, saturating; 0 when absent.
pub fn nanos(d: &Option<Duration>) -> i64 {
    d.as_ref().map_or(0, |d| {
        d.seconds
            .saturating_mul(NANOS)
            .saturating_add(d.nanos as i64)
    })
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
        assert_eq!(nanos(&None), 0);
    }
}
