//! The gRPC health service (`grpc.health.v1.Health/Check`) on the client port, answered by
//! every node itself (never forwarded). It knows the names Temporal's frontend registers and
//! its clients ask about: the empty name (the server as a whole), WorkflowService and
//! OperatorService; any other name is NOT_FOUND, as the health protocol says. A node answers
//! SERVING while it knows a leader (its own or another node's: requests it cannot serve are
//! forwarded) that a quorum follows, NOT_SERVING when there is none (an election, a node cut
//! off from the majority, a leader that lost its quorum) and once it has begun shutting down.

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

impl HealthService {
    /// Whether this node can serve client requests now: it knows a leader, and if it is the
    /// leader of several voters, a quorum acknowledged it lately (a leader cut off from the
    /// majority keeps its role in openraft until a newer term reaches it, but can commit
    /// nothing).
    pub fn serving(keel: &Keel) -> bool {
        if keel.stopping.load(Ordering::SeqCst) {
            return false;
        }
        let m = keel.node.metrics();
        if m.current_leader.is_none() {
            return false;
        }
        let voters = m.membership_config.membership().voter_ids().count();
        if m.state != openraft::ServerState::Leader || voters <= 1 {
            return true;
        }
        m.millis_since_quorum_ack
            .is_some_and(|ms| ms < QUORUM_ACK_WITHIN_MS)
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
