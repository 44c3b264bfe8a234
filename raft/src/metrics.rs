//! The Raft and disk metrics measured where they happen (in this crate), etcd's in shape:
//! log fsync latency, apply batch size and latency, snapshot build time and size, and the
//! round trip of heartbeats to each peer (an empty AppendEntries: what etcd's
//! `peer_round_trip_time_seconds` probes, with the peer's own handling in it). They live
//! in one registry of their own, which the server's `/metrics` renders with its own.

use prometheus::{Histogram, HistogramOpts, HistogramVec, IntGauge, Registry};
use std::sync::OnceLock;

pub struct RaftMetrics {
    registry: Registry,
    pub wal_fsync: Histogram,
    pub apply_entries: Histogram,
    pub apply_duration: Histogram,
    pub snapshot_duration: Histogram,
    pub snapshot_bytes: IntGauge,
    /// Per peer node id (bounded by the membership).
    pub peer_round_trip: HistogramVec,
}

/// etcd's fsync buckets: 1 ms doubling to about 8 s.
fn disk_buckets() -> Vec<f64> {
    prometheus::exponential_buckets(0.001, 2.0, 14).expect("valid buckets")
}

fn histogram(registry: &Registry, name: &str, help: &str, buckets: Vec<f64>) -> Histogram {
    let h = Histogram::with_opts(HistogramOpts::new(name, help).buckets(buckets))
        .expect("a valid metric");
    registry
        .register(Box::new(h.clone()))
        .expect("registered once");
    h
}

pub fn get() -> &'static RaftMetrics {
    static METRICS: OnceLock<RaftMetrics> = OnceLock::new();
    METRICS.get_or_init(|| {
        let r = Registry::new();
        let snapshot_bytes = IntGauge::new(
            "keel_snapshot_size_bytes",
            "Size of the last snapshot this node built.",
        )
        .expect("a valid metric");
        r.register(Box::new(snapshot_bytes.clone()))
            .expect("registered once");
        RaftMetrics {
            wal_fsync: histogram(
                &r,
                "keel_disk_wal_fsync_duration_seconds",
                "Raft log fsyncs (one per group of appends), seconds.",
                disk_buckets(),
            ),
            apply_entries: histogram(
                &r,
                "keel_raft_apply_batch_entries",
                "Log entries per apply batch (one RocksDB write batch).",
                prometheus::exponential_buckets(1.0, 2.0, 12).expect("valid buckets"),
            ),
            apply_duration: histogram(
                &r,
                "keel_raft_apply_duration_seconds",
                "Apply batches: engine and RocksDB write, seconds.",
                disk_buckets(),
            ),
            snapshot_duration: histogram(
                &r,
                "keel_snapshot_build_duration_seconds",
                "Snapshot builds, seconds.",
                prometheus::exponential_buckets(0.01, 2.0, 14).expect("valid buckets"),
            ),
            snapshot_bytes,
            peer_round_trip: {
                let h = HistogramVec::new(
                    HistogramOpts::new(
                        "keel_network_peer_round_trip_time_seconds",
                        "Heartbeat (empty AppendEntries) round trips to each peer, seconds.",
                    )
                    .buckets(
                        prometheus::exponential_buckets(0.0001, 2.0, 16).expect("valid buckets"),
                    ),
                    &["peer"],
                )
                .expect("a valid metric");
                r.register(Box::new(h.clone())).expect("registered once");
                h
            },
            registry: r,
        }
    })
}

/// The registry the server renders beside its own.
pub fn registry() -> &'static Registry {
    &get().registry
}
