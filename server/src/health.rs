//! The gRPC health service (`grpc.health.v1.Health/Check`) on the client port, answered by
//! every node itself (never forwarded). It knows the names Temporal's frontend registers and
//! its clients ask about: the empty name (the server as a whole), WorkflowService and
//! OperatorService; any other name is NOT_FOUND, as the health protocol says. A node answers
//! SERVING while it knows a leader (its own or another node's: requests it cannot serve are
//! forwarded) that a quorum follows, NOT_SERVING when there is none (an election, a node cut
//! off from the majority, a leader that lost its quorum), while it is far behind in applying
//! its log, while its disk is below the free-space reserve (it refuses writes then), and once
//! it has begun shutting down: the checks of `readiness`, which
//! the metrics listener's `/readyz` reports too.

use crate::app::Keel;
use crate::proto::health::health_server::Health;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use temporalio_protos::grpc::health::v1::{
    health_check_response::ServingStatus, HealthCheckRequest, HealthCheckResponse,
};
use tonic::{Request, Response, Status};

/// The service names a health check may ask about.
pub const SERVICE_NAMES: &[&str] = &[
    "",
    "temporal.api.workflowservice.v1.WorkflowService",
    "temporal.api.operatorservice.v1.OperatorService",
];

/// A leader that heard from no quorum for this long is not serving (heartbeats go out every
/// 100 ms; elections time out after 0.5-1 s).
const QUORUM_ACK_WITHIN_MS: u64 = 3_000;

pub struct HealthService {
    pub keel: Arc<Keel>,
}

/// A node still applying more than this many entries of its own log is catching up.
const CATCHING_UP_ENTRIES: u64 = 10_000;

/// One readiness check (`/readyz?verbose` prints each).
pub struct Check {
    pub name: &'static str,
    pub ok: bool,
    pub detail: String,
}

/// Whether this node can serve client requests now, check by check: it is not shutting down;
/// it knows a leader; if it is the leader of several voters, a quorum acknowledged it lately
/// (a leader cut off from the majority keeps its role in openraft until a newer term reaches
/// it, but can commit nothing); and it has applied its log to within `CATCHING_UP_ENTRIES`
/// (a learner serves too: it forwards what it cannot answer).
pub fn readiness(keel: &Keel) -> Vec<Check> {
    let m = keel.node.metrics();
    let stopping = keel.stopping.load(Ordering::SeqCst);
    let membership = m.membership_config.membership();
    let voters = membership.voter_ids().count();
    let quorum = m.state != openraft::ServerState::Leader
        || voters <= 1
        || m.millis_since_quorum_ack
            .is_some_and(|ms| ms < QUORUM_ACK_WITHIN_MS);
    let last = m.last_log_index.unwrap_or(0);
    let applied = m.last_applied.map_or(0, |l| l.index);
    vec![
        Check {
            name: "shutdown",
            ok: !stopping,
            detail: if stopping { "shutting down" } else { "ok" }.into(),
        },
        Check {
            name: "leader",
            ok: m.current_leader.is_some(),
            detail: m
                .current_leader
                .map_or("no leader (an election is in progress)".into(), |l| {
                    format!("leader {l}")
                }),
        },
        Check {
            name: "quorum",
            ok: quorum,
            detail: if quorum {
                "ok".into()
            } else {
                "this leader heard from no quorum lately".into()
            },
        },
        match keel.node.disk.low() {
            Some(low) => Check {
                name: "disk",
                ok: false,
                detail: format!(
                    "{} MiB free, below the {} MiB reserve: writes are refused",
                    low.free >> 20,
                    low.reserve >> 20
                ),
            },
            None => Check {
                name: "disk",
                ok: true,
                detail: "ok".into(),
            },
        },
        Check {
            name: "applied",
            ok: last.saturating_sub(applied) <= CATCHING_UP_ENTRIES,
            detail: format!("applied {applied} of {last}"),
        },
    ]
}

impl HealthService {
    /// Whether this node can serve client requests now: every readiness check passes.
    pub fn serving(keel: &Keel) -> bool {
        readiness(keel).iter().all(|c| c.ok)
    }
}

#[tonic::async_trait]
impl Health for HealthService {
    #[tracing::instrument(skip_all, fields(service = %request.get_ref().service))]
    async fn check(
        &self,
        request: Request<HealthCheckRequest>,
    ) -> Result<Response<HealthCheckResponse>, Status> {
        let service = &request.get_ref().service;
        if !SERVICE_NAMES.contains(&service.as_str()) {
            return Err(Status::not_found(format!("unknown service: {service}")));
        }
        let status = if Self::serving(&self.keel) {
            ServingStatus::Serving
        } else {
            ServingStatus::NotServing
        };
        Ok(Response::new(HealthCheckResponse {
            status: status as i32,
        }))
    }
}
