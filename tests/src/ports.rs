//! Loopback ports for test servers that no other test can take before the server binds them.
//!
//! Binding port 0 and closing it again (the usual "free port") races: until the child process
//! binds the port, the kernel may hand it to any outgoing connection or to another `bind(0)`,
//! and tests run in parallel. A port from here is instead
//! - outside the kernel's ephemeral range (`ip_local_port_range`), so neither outgoing
//!   connections nor `bind(0)` are ever given it;
//! - reserved with an exclusive lock on `$TMPDIR/keel-test-ports/<port>.lock`, held until this
//!   process exits, so no other test process (Rust harness, Python tests, keel-jepsen,
//!   keel-bench all share the directory) picks it; the lock is released by the kernel
//!   however the process ends, so a crashed test leaves nothing behind;
//! - free when reserved (a trial bind succeeds), so software outside the suite is skipped.
//!
//! The same port stays reserved while its node is killed and restarted on it.

use std::fs::{File, OpenOptions};
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::sync::Mutex;

/// Where test ports are chosen from when the ephemeral range leaves it alone.
const PREFERRED: (u16, u16) = (20_000, 32_000);

/// Lock files of the ports this process holds, kept open (and so locked) until it exits.
static HELD: Mutex<Vec<File>> = Mutex::new(Vec::new());

/// The kernel's ephemeral port range, `(low, high)` inclusive.
fn ephemeral_range() -> (u16, u16) {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| {
            let mut it = s.split_whitespace().map(|p| p.parse::<u16>().ok());
            Some((it.next()??, it.next()??))
        })
        .unwrap_or((32_768, 60_999))
}

/// The candidate ports: the preferred range minus the ephemeral one (or, if they overlap
/// completely, the ports below the ephemeral range).
pub fn candidate_range() -> (u16, u16) {
    let (eph_low, eph_high) = ephemeral_range();
    let (low, high) = PREFERRED;
    if high < eph_low || low > eph_high {
        (low, high)
    } else if low < eph_low {
        (low, eph_low - 1)
    } else if eph_high < u16::MAX - 2_000 {
        (eph_high + 1, u16::MAX - 1)
    } else {
        (10_000, eph_low.saturating_sub(1).max(10_001))
    }
}

fn lock_dir() -> PathBuf {
    std::env::temp_dir().join("keel-test-ports")
}

/// Reserves a loopback port for the rest of this process's life (see the module doc).
pub fn reserve_port() -> u16 {
    let (low, high) = candidate_range();
    let span = u32::from(high - low) + 1;
    let dir = lock_dir();
    std::fs::create_dir_all(&dir).expect("create the test port lock directory");
    // Start at a different place in each process so concurrent processes rarely contend.
    let start = (std::process::id().wrapping_mul(7_919)
        ^ std::time::UNIX_EPOCH
            .elapsed()
            .unwrap_or_default()
            .subsec_nanos())
        % span;
    for i in 0..span {
        let port = low + ((start + i) % span) as u16;
        let Ok(file) = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join(format!("{port}.lock")))
        else {
            continue;
        };
        if file.try_lock().is_err() {
            continue;
        }
        if TcpListener::bind(("127.0.0.1", port)).is_err() {
            continue; // something outside the suite uses it; the lock is dropped with `file`
        }
        HELD.lock().unwrap_or_else(|e| e.into_inner()).push(file);
        return port;
    }
    panic!("no free test port in {low}..={high}");
}

/// A reserved port on 127.0.0.1.
pub fn reserve_addr() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], reserve_port()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_ports_are_distinct_outside_the_ephemeral_range_and_bindable() {
        let (eph_low, eph_high) = ephemeral_range();
        let ports: Vec<u16> = (0..50).map(|_| reserve_port()).collect();
        let mut unique = ports.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), ports.len(), "a port was handed out twice");
        for p in ports {
            assert!(p < eph_low || p > eph_high, "{p} is in the ephemeral range");
            TcpListener::bind(("127.0.0.1", p)).expect("a reserved port is bindable");
        }
    }

    #[test]
    fn a_port_locked_by_another_holder_is_not_handed_out() {
        let port = reserve_port();
        // Another open file description of the same lock file (as another process would
        // have) cannot take the lock while this process holds it.
        let other = File::open(lock_dir().join(format!("{port}.lock"))).unwrap();
        assert!(other.try_lock().is_err());
    }
}
