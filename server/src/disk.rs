//! Measures the free space of the data directory's filesystem once a second and keeps the
//! node's `DiskGuard` (`keel_raft::disk`: below the reserve, writes are refused) up to date,
//! logging when the alarm is raised and cleared. The reserve is `--min-free-disk`, or by
//! default 5% of the filesystem, at least 16 MiB and at most 1 GiB.

use keel_raft::disk::DiskGuard;
use std::path::{Path, PathBuf};
use std::time::Duration;

const EVERY: Duration = Duration::from_secs(1);

/// The reserve when none is given, for a filesystem of `total` bytes.
pub fn default_reserve(total: u64) -> u64 {
    (total / 20).clamp(16 << 20, 1 << 30)
}

/// Free bytes (what an unprivileged writer may still use) and total bytes of the
/// filesystem holding `dir`.
pub fn space(dir: &Path) -> std::io::Result<(u64, u64)> {
    let s = rustix::fs::statvfs(dir)?;
    Ok((
        s.f_bavail.saturating_mul(s.f_frsize),
        s.f_blocks.saturating_mul(s.f_frsize),
    ))
}

/// One measurement into `guard`.
pub fn measure_once(guard: &DiskGuard, dir: &Path, reserve: Option<u64>) {
    match space(dir) {
        Ok((free, total)) => {
            let reserve = reserve.unwrap_or_else(|| default_reserve(total));
            if guard.record(free, reserve) {
                match guard.low() {
                    Some(_) => tracing::error!(
                        free_mib = free >> 20,
                        reserve_mib = reserve >> 20,
                        dir = %dir.display(),
                        "the data directory's disk is below its free-space reserve: refusing \
                         writes (reads go on) until space is freed"
                    ),
                    None => tracing::warn!(
                        free_mib = free >> 20,
                        reserve_mib = reserve >> 20,
                        "disk space is back above the reserve: taking writes again"
                    ),
                }
            }
        }
        Err(e) => tracing::debug!(error = %e, "measuring free disk space failed"),
    }
}

/// Measures for the life of the node.
pub async fn watch(guard: DiskGuard, dir: PathBuf, reserve: Option<u64>) {
    loop {
        tokio::time::sleep(EVERY).await;
        measure_once(&guard, &dir, reserve);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_reserve_is_five_percent_within_bounds() {
        assert_eq!(default_reserve(100 << 20), 16 << 20);
        assert_eq!(default_reserve(10 << 30), (10 << 30) / 20);
        assert_eq!(default_reserve(1 << 40), 1 << 30);
    }

    #[test]
    fn a_real_directory_has_some_space_and_a_reserve_above_it_raises_the_alarm() {
        let dir = tempfile::tempdir().unwrap();
        let (free, total) = space(dir.path()).unwrap();
        assert!(free > 0 && total >= free);
        let guard = DiskGuard::default();
        measure_once(&guard, dir.path(), Some(free.saturating_mul(2)));
        assert!(guard.low().is_some());
        measure_once(&guard, dir.path(), Some(0));
        assert!(guard.low().is_none());
    }
}
