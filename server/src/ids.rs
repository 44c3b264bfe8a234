//! Ids the server makes before proposing (never inside apply, which must be deterministic).

/// A new run id: a UUIDv7, time-ordered, as Temporal's run ids are (SDK code reads them;
/// ids of runs started later sort later).
pub fn new_run_id() -> String {
    uuid::Uuid::now_v7().to_string()
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
