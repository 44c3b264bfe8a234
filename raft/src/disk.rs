//! The free-space reserve of a node's data directory, as etcd's space quota: while the
//! filesystem has less free space than the reserve, proposals are refused (clients get
//! RESOURCE_EXHAUSTED, reads go on) and they are taken again by themselves once space is
//! back. The server measures (`keel_server::disk`); `RaftNode::propose`, the one place every
//! write passes, checks.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

#[derive(Clone, Default)]
pub struct DiskGuard(Arc<Inner>);

#[derive(Default)]
struct Inner {
    low: AtomicBool,
    free: AtomicU64,
    reserve: AtomicU64,
}

/// What a refused proposal is told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LowDisk {
    pub free: u64,
    pub reserve: u64,
}

impl DiskGuard {
    /// Records a measurement; whether the alarm changed (raised or cleared).
    pub fn record(&self, free: u64, reserve: u64) -> bool {
        self.0.free.store(free, Ordering::Relaxed);
        self.0.reserve.store(reserve, Ordering::Relaxed);
        let low = free < reserve;
        self.0.low.swap(low, Ordering::SeqCst) != low
    }

    /// The alarm, while it is raised.
    pub fn low(&self) -> Option<LowDisk> {
        self.0.low.load(Ordering::SeqCst).then(|| LowDisk {
            free: self.0.free.load(Ordering::Relaxed),
            reserve: self.0.reserve.load(Ordering::Relaxed),
        })
    }

    /// The last measurement: free bytes and the reserve.
    pub fn last(&self) -> (u64, u64) {
        (
            self.0.free.load(Ordering::Relaxed),
            self.0.reserve.load(Ordering::Relaxed),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_alarm_follows_free_space_across_the_reserve() {
        let guard = DiskGuard::default();
        assert!(!guard.record(100, 10));
        assert_eq!(guard.low(), None);
        assert!(guard.record(9, 10), "raised");
        assert_eq!(
            guard.low(),
            Some(LowDisk {
                free: 9,
                reserve: 10
            })
        );
        assert!(!guard.record(5, 10), "still raised");
        assert!(guard.record(10, 10), "cleared at the reserve");
        assert_eq!(guard.low(), None);
    }
}
