//! What a local server process costs, read from /proc: CPU seconds (utime + stime), resident
//! memory (sampled; the peak of the samples), bytes written to storage, and disk flush
//! requests completed by the device under the current directory (device-wide: keep the
//! machine otherwise quiet while benchmarking).

use std::os::unix::fs::MetadataExt;

/// Clock ticks per second of /proc/PID/stat times (USER_HZ; 100 on Linux).
const TICKS_PER_SEC: f64 = 100.0;

#[derive(Debug, Clone, Copy, Default)]
pub struct Counters {
    pub cpu_secs: f64,
    pub write_bytes: u64,
    pub flushes: u64,
}

fn read(path: &str) -> Option<String> {
    std::fs::read_to_string(path).ok()
}

/// CPU seconds used so far by `pid`.
pub fn cpu_secs(pid: u32) -> Option<f64> {
    let stat = read(&format!("/proc/{pid}/stat"))?;
    // Fields after the command name (which may hold spaces) start at ") ".
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / TICKS_PER_SEC)
}

/// Bytes `pid` caused to be written to storage.
pub fn write_bytes(pid: u32) -> Option<u64> {
    let io = read(&format!("/proc/{pid}/io"))?;
    io.lines()
        .find_map(|l| l.strip_prefix("write_bytes:"))
        .and_then(|v| v.trim().parse().ok())
}

/// Current resident set size of `pid`, in bytes.
pub fn rss_bytes(pid: u32) -> Option<u64> {
    let status = read(&format!("/proc/{pid}/status"))?;
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    Some(kb * 1024)
}

/// Flush requests completed by the block device holding the current directory.
pub fn device_flushes() -> Option<u64> {
    let dev = std::fs::metadata(".").ok()?.dev();
    let (major, minor) = ((dev >> 8) & 0xfff, (dev & 0xff) | ((dev >> 12) & 0xfff00));
    let stats = read("/proc/diskstats")?;
    for line in stats.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() >= 20 && f[0] == major.to_string() && f[1] == minor.to_string() {
            // major, minor, name, 4 read, 4 write, 3 in-flight/time, 4 discard, then
            // flush requests completed.
            return f[18].parse().ok();
        }
    }
    None
}

/// The sum over `pids` of what they have used so far.
pub fn counters(pids: &[u32]) -> Counters {
    Counters {
        cpu_secs: pids.iter().filter_map(|p| cpu_secs(*p)).sum(),
        write_bytes: pids.iter().filter_map(|p| write_bytes(*p)).sum(),
        flushes: device_flushes().unwrap_or(0),
    }
}

pub fn total_rss(pids: &[u32]) -> u64 {
    pids.iter().filter_map(|p| rss_bytes(*p)).sum()
}
