//! Ids the server makes before proposing (never inside apply, which must be deterministic).

/// A new run id: a UUIDv7, time-ordered, as Temporal's run ids are (SDK code reads them;
/// ids of runs started later sort later).
pub fn new_run_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// A random seed the leader draws for apply (which must not draw its own), such as the one
/// that spreads the jitter of an UnpauseActivity over its activities.
pub fn new_seed() -> u64 {
    uuid::Uuid::new_v4().as_u64_pair().0
}

#[cfg(test)]
mod tests {
    #[test]
    fn run_ids_are_version_7_and_later_ones_sort_later() {
        let first = super::new_run_id();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let second = super::new_run_id();
        let parsed = uuid::Uuid::parse_str(&first).unwrap();
        assert_eq!(parsed.get_version_num(), 7);
        assert!(second > first, "{second} sorts after {first}");
    }
}
