//! Test builds only (feature `test-clock`): the node's clock skew follows the file
//! `<data-dir>/test-clock-offset-ms` (a signed number of milliseconds; absent means none),
//! read every 100 ms. keel-jepsen writes it to skew a node's clock and removes it to heal.

use std::path::PathBuf;
use std::time::Duration;

pub const OFFSET_FILE: &str = "test-clock-offset-ms";

pub async fn follow_offset_file(data_dir: PathBuf) {
    let path = data_dir.join(OFFSET_FILE);
    let mut current = 0i64;
    loop {
        let wanted = std::fs::read_to_string(&path)
            .ok()
            .and_then(|s| s.trim().parse::<i64>().ok())
            .unwrap_or(0);
        if wanted != current {
            current = wanted;
            keel_raft::test_clock::set_offset_nanos(wanted * 1_000_000);
            tracing::warn!(offset_ms = wanted, "test clock offset set");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
