//! One JSON line per run: throughput, latency percentiles, errors, and what the server
//! process(es) used per workflow.

use crate::procstats::Counters;
use crate::raw::{RunOutcome, RunSpec};

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct RunReport {
    pub label: String,
    pub scenario: String,
    pub mode: String,
    pub workflows: usize,
    pub concurrency: usize,
    pub completed: usize,
    pub errors: u64,
    pub elapsed_s: f64,
    /// Completed workflows per second (start-only: starts per second).
    pub workflows_per_s: f64,
    /// Activities completed per second (hello, chain10).
    pub activities_per_s: f64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub timer_late_p50_ms: Option<f64>,
    pub timer_late_p99_ms: Option<f64>,
    pub server_cpu_ms_per_wf: Option<f64>,
    pub server_peak_rss_mb: Option<f64>,
    pub server_write_kb_per_wf: Option<f64>,
    pub disk_flushes_per_wf: Option<f64>,
}

/// The value below which `p` of the sorted samples fall (nearest rank).
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

pub fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    percentile(values, 50.0)
}

pub struct ServerUse {
    pub before: Counters,
    pub after: Counters,
    pub peak_rss: u64,
}

pub fn build(
    label: &str,
    mode: &str,
    spec: &RunSpec,
    activities_per_wf: usize,
    mut outcome: RunOutcome,
    server: Option<ServerUse>,
) -> RunReport {
    outcome.latencies_ms.sort_by(f64::total_cmp);
    outcome.lateness_ms.sort_by(f64::total_cmp);
    let secs = outcome.elapsed.as_secs_f64();
    let n = outcome.completed.max(1) as f64;
    let late = |p| (!outcome.lateness_ms.is_empty()).then(|| percentile(&outcome.lateness_ms, p));
    RunReport {
        label: label.to_string(),
        scenario: spec.scenario.name().to_string(),
        mode: mode.to_string(),
        workflows: spec.workflows,
        concurrency: spec.concurrency,
        completed: outcome.completed,
        errors: outcome.errors,
        elapsed_s: secs,
        workflows_per_s: outcome.completed as f64 / secs,
        activities_per_s: (outcome.completed * activities_per_wf) as f64 / secs,
        p50_ms: percentile(&outcome.latencies_ms, 50.0),
        p95_ms: percentile(&outcome.latencies_ms, 95.0),
        p99_ms: percentile(&outcome.latencies_ms, 99.0),
        timer_late_p50_ms: late(50.0),
        timer_late_p99_ms: late(99.0),
        server_cpu_ms_per_wf: server
            .as_ref()
            .map(|s| (s.after.cpu_secs - s.before.cpu_secs) * 1e3 / n),
        server_peak_rss_mb: server
            .as_ref()
            .map(|s| s.peak_rss as f64 / (1 << 20) as f64),
        server_write_kb_per_wf: server
            .as_ref()
            .map(|s| (s.after.write_bytes - s.before.write_bytes) as f64 / 1024.0 / n),
        disk_flushes_per_wf: server
            .as_ref()
            .map(|s| (s.after.flushes.saturating_sub(s.before.flushes)) as f64 / n),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 50.0), 50.0);
        assert_eq!(percentile(&v, 99.0), 99.0);
        assert_eq!(percentile(&v, 100.0), 100.0);
        assert_eq!(percentile(&[7.0], 99.0), 7.0);
        assert!(percentile(&[], 50.0).is_nan());
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), 2.0);
    }
}
