//! The run's report: counts of operations by kind and outcome, the faults injected, recovery
//! times, latency over time, anomalies with the operations that show them; as text
//! (`report.txt`), JSON (`report.json`) and a timeline plot of operations and faults
//! (`timeline.svg`).

use crate::checker::Anomaly;
use crate::op::{FaultRecord, Op};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::Path;

#[derive(Debug, Serialize)]
pub struct Report {
    pub seed: u64,
    pub nodes: usize,
    pub seconds: u64,
    pub nemeses: Vec<String>,
    /// op kind → outcome → count.
    pub operations: BTreeMap<String, BTreeMap<String, usize>>,
    pub faults: Vec<FaultRecord>,
    /// Milliseconds from each heal until all nodes agreed on a leader.
    pub recovery_ms: Vec<u64>,
    /// Milliseconds from the final heal until every workflow was closed.
    pub settle_ms: u64,
    pub latency: Vec<LatencyBucket>,
    pub workflows: usize,
    pub checksums: Vec<(u64, String)>,
    /// Runs ListWorkflowExecutions showed after healing, and what Count said.
    pub listed: usize,
    pub counted: i64,
    /// The schedule's actions counted and runs listed after healing (none if it was lost).
    pub schedule_actions: Option<(i64, usize)>,
    /// Versioned workflows by the build that ran them, and the deployment's current build
    /// after healing.
    pub versioned: (BTreeMap<String, usize>, Option<String>),
    pub anomalies: Vec<Anomaly>,
    /// The operations the anomalies name, by index.
    pub anomaly_ops: BTreeMap<usize, Op>,
}

/// Acknowledged operations completed within one 5-second window.
#[derive(Debug, Serialize)]
pub struct LatencyBucket {
    pub from_s: u64,
    pub ok: usize,
    pub not_ok: usize,
    pub p50_ms: u64,
    pub max_ms: u64,
}

const BUCKET_MS: u64 = 5_000;

pub fn count(ops: &[Op]) -> BTreeMap<String, BTreeMap<String, usize>> {
    let mut out: BTreeMap<String, BTreeMap<String, usize>> = BTreeMap::new();
    for op in ops {
        *out.entry(op.kind.name().to_string())
            .or_default()
            .entry(op.outcome.label().to_string())
            .or_default() += 1;
    }
    out
}

pub fn latency(ops: &[Op]) -> Vec<LatencyBucket> {
    let end = ops.iter().map(|o| o.complete_ms).max().unwrap_or(0);
    (0..=end / BUCKET_MS)
        .map(|b| {
            let in_bucket = ops.iter().filter(|o| o.complete_ms / BUCKET_MS == b);
            let (ok, not_ok): (Vec<&Op>, Vec<&Op>) =
                in_bucket.partition(|o| o.outcome == crate::op::Outcome::Ok);
            let mut lat: Vec<u64> = ok.iter().map(|o| o.complete_ms - o.invoke_ms).collect();
            lat.sort_unstable();
            LatencyBucket {
                from_s: b * BUCKET_MS / 1000,
                ok: ok.len(),
                not_ok: not_ok.len(),
                p50_ms: lat.get(lat.len() / 2).copied().unwrap_or(0),
                max_ms: lat.last().copied().unwrap_or(0),
            }
        })
        .collect()
}

impl Report {
    pub fn text(&self) -> String {
        let mut t = String::new();
        let _ = writeln!(
            t,
            "keel-jepsen: {} nodes, {} s, nemeses {:?}, seed {}",
            self.nodes, self.seconds, self.nemeses, self.seed
        );
        let _ = writeln!(t, "\noperations (ok / fail / unknown):");
        for (kind, by) in &self.operations {
            let get = |k: &str| by.get(k).copied().unwrap_or(0);
            let _ = writeln!(
                t,
                "  {kind:24} {:6} / {:6} / {:6}",
                get("ok"),
                get("fail"),
                get("unknown")
            );
        }
        let _ = writeln!(t, "\nfaults ({}):", self.faults.len());
        for f in &self.faults {
            let _ = writeln!(
                t,
                "  {:7.1} s – {:7.1} s  {:26} nodes {:?}",
                f.start_ms as f64 / 1000.0,
                f.end_ms as f64 / 1000.0,
                f.fault,
                f.nodes
            );
        }
        let mut rec = self.recovery_ms.clone();
        rec.sort_unstable();
        let _ = writeln!(
            t,
            "\nrecovery after a heal (agreed leader): median {} ms, max {} ms",
            rec.get(rec.len() / 2).copied().unwrap_or(0),
            rec.last().copied().unwrap_or(0)
        );
        let _ = writeln!(
            t,
            "after the final heal every one of {} workflows closed in {} ms",
            self.workflows, self.settle_ms
        );
        let _ = writeln!(t, "state checksums: {:?}", self.checksums);
        let _ = writeln!(
            t,
            "visibility after healing: {} runs listed, count {}",
            self.listed, self.counted
        );
        if let Some((actions, runs)) = self.schedule_actions {
            let _ = writeln!(
                t,
                "schedule after healing: {actions} actions counted, {runs} runs listed"
            );
        }
        let (by_build, current) = &self.versioned;
        let _ = writeln!(
            t,
            "worker versioning: versioned workflows by build {by_build:?}, current after healing {current:?}"
        );
        let _ = writeln!(t, "\nlatency of acknowledged operations per 5 s:");
        for b in &self.latency {
            let _ = writeln!(
                t,
                "  {:4} s  ok {:5}  not ok {:5}  p50 {:5} ms  max {:5} ms",
                b.from_s, b.ok, b.not_ok, b.p50_ms, b.max_ms
            );
        }
        let _ = writeln!(t, "\nanomalies: {}", self.anomalies.len());
        for a in &self.anomalies {
            let _ = writeln!(t, "  {} {}: {}", a.kind, a.workflow_id, a.detail);
            for i in &a.ops {
                if let Some(op) = self.anomaly_ops.get(i) {
                    let _ = writeln!(t, "      op {i}: {op:?}");
                }
            }
        }
        t
    }

    /// Operations as dots (one row per kind; green ok, red fail, orange unknown) over the
    /// faults as shaded bands.
    pub fn svg(&self, ops: &[Op]) -> String {
        let end_ms = ops
            .iter()
            .map(|o| o.complete_ms)
            .chain(self.faults.iter().map(|f| f.end_ms))
            .max()
            .unwrap_or(1)
            .max(1);
        let kinds: Vec<&String> = self.operations.keys().collect();
        let (width, row, left) = (1200.0, 40.0, 190.0);
        let height = row * (kinds.len() as f64 + 2.0);
        let x = |ms: u64| left + (width - left - 10.0) * ms as f64 / end_ms as f64;
        let mut s = String::new();
        let _ = writeln!(
            s,
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="12">"#
        );
        for f in &self.faults {
            let _ = writeln!(
                s,
                r##"<rect x="{:.1}" y="0" width="{:.1}" height="{height}" fill="#cccccc" opacity="0.5"><title>{} {:?}</title></rect>"##,
                x(f.start_ms),
                (x(f.end_ms) - x(f.start_ms)).max(1.0),
                f.fault,
                f.nodes
            );
            let _ = writeln!(
                s,
                r#"<text x="{:.1}" y="{:.1}" font-size="9">{}</text>"#,
                x(f.start_ms),
                height - 22.0,
                f.fault.trim_start_matches("partition-")
            );
        }
        for (i, kind) in kinds.iter().enumerate() {
            let y = row * (i as f64 + 1.0);
            let _ = writeln!(s, r#"<text x="5" y="{:.1}">{kind}</text>"#, y + 4.0);
            for op in ops.iter().filter(|o| o.kind.name() == kind.as_str()) {
                let color = match op.outcome.label() {
                    "ok" => "#2a9d3a",
                    "fail" => "#d62728",
                    _ => "#ff9900",
                };
                let _ = writeln!(
                    s,
                    r#"<circle cx="{:.1}" cy="{y:.1}" r="1.5" fill="{color}"/>"#,
                    x(op.complete_ms)
                );
            }
        }
        let _ = writeln!(
            s,
            r#"<text x="{left}" y="{:.1}">0 s</text><text x="{:.1}" y="{:.1}">{:.0} s</text></svg>"#,
            height - 5.0,
            width - 60.0,
            height - 5.0,
            end_ms as f64 / 1000.0
        );
        s
    }

    pub fn write(&self, ops: &[Op], dir: &Path) -> anyhow::Result<()> {
        std::fs::write(dir.join("report.txt"), self.text())?;
        std::fs::write(dir.join("report.json"), serde_json::to_vec_pretty(self)?)?;
        std::fs::write(dir.join("timeline.svg"), self.svg(ops))?;
        std::fs::write(dir.join("history.json"), serde_json::to_vec(ops)?)?;
        Ok(())
    }
}
