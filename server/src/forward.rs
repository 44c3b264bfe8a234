//! Forwarding to the leader: a tower layer in front of every client-port service. On the
//! leader a request goes to the local services; on a follower it is sent as is (same path,
//! headers, body, deadline; long polls included) to the leader's peer port (under the peer
//! port's mutual TLS when it has it, so the client port's TLS and credentials stay the
//! clients' business), and the leader's answer comes back unchanged, so an SDK may point at
//! any node. With no leader known (an election) the answer is UNAVAILABLE, which SDKs
//! retry. The peer port serves the same services behind `ForwardLayer::peer_side`: a request
//! a member forwarded there is marked and never forwarded again (a node that receives one
//! without leading says UNAVAILABLE instead of bouncing it on); an unmarked one (a joining
//! node's `--join-peer` call) is forwarded once, as on the client port. Health, the admin
//! API's own-node calls and the visibility reads (`REPLICA_READS`) are answered by the node
//! itself. Every answer names the node that gave it (`x-keel-answered-by`).

use keel_raft::RaftNode;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use tonic::body::Body;
use tonic::transport::Channel;
use tonic::Status;
use tower::{Layer, Service, ServiceExt};

const FORWARDED: &str = "x-keel-forwarded-by";
/// Response metadata naming the node that answered (a follower's own read, or the leader).
pub const ANSWERED_BY: &str = "x-keel-answered-by";

/// Reads any node serves from its own replica, after a read index from the leader
/// (`RaftNode::linearizable`): visibility's lists and counts, as linearizable as on the leader.
const REPLICA_READS: &[&str] = &[
    "/temporal.api.workflowservice.v1.WorkflowService/ListWorkflowExecutions",
    "/temporal.api.workflowservice.v1.WorkflowService/ScanWorkflowExecutions",
    "/temporal.api.workflowservice.v1.WorkflowService/CountWorkflowExecutions",
    "/temporal.api.workflowservice.v1.WorkflowService/ListOpenWorkflowExecutions",
    "/temporal.api.workflowservice.v1.WorkflowService/ListClosedWorkflowExecutions",
    "/temporal.api.workflowservice.v1.WorkflowService/ListSchedules",
    "/temporal.api.workflowservice.v1.WorkflowService/CountSchedules",
];

/// Paths every node answers itself (Raft's own RPCs on the peer port among them).
fn is_local(path: &str) -> bool {
    path.starts_with("/grpc.health.v1.Health/")
        || path.starts_with("/keel.raft.v1.")
        || keel_client::LOCAL_METHODS.contains(&path)
        || REPLICA_READS.contains(&path)
}

#[derive(Clone)]
pub struct ForwardLayer {
    node: RaftNode,
    /// On the peer port: the forwarded mark is a member's, not a client's claim.
    peer_side: bool,
    channels: Arc<Mutex<HashMap<String, Channel>>>,
}

impl ForwardLayer {
    /// The client port's: requests for the leader go to its peer port.
    pub fn new(node: RaftNode) -> Self {
        ForwardLayer {
            node,
            peer_side: false,
            channels: Default::default(),
        }
    }

    /// The peer port's: requests are answered here or refused, never sent on.
    pub fn peer_side(node: RaftNode) -> Self {
        ForwardLayer {
            node,
            peer_side: true,
            channels: Default::default(),
        }
    }
}

impl<S> Layer<S> for ForwardLayer {
    type Service = Forward<S>;
    fn layer(&self, inner: S) -> Self::Service {
        Forward {
            inner,
            layer: self.clone(),
        }
    }
}

#[derive(Clone)]
pub struct Forward<S> {
    inner: S,
    layer: ForwardLayer,
}

/// Where a request goes.
enum Route {
    Local,
    Leader(Channel),
    Refuse(Status),
}

impl ForwardLayer {
    fn route(&self, path: &str, forwarded: bool) -> Route {
        if is_local(path) {
            return Route::Local;
        }
        let metrics = self.node.raft.metrics();
        let (leader, addr) = {
            let m = metrics.borrow();
            let leader = m.current_leader;
            let addr = leader.and_then(|id| {
                m.membership_config
                    .membership()
                    .get_node(&id)
                    .map(|n| n.peer_addr.clone())
            });
            (leader, addr)
        };
        match (leader, addr) {
            (Some(id), _) if id == self.node.node_id => Route::Local,
            _ if forwarded => Route::Refuse(Status::unavailable(
                "this node is not the leader (leadership is moving); retry",
            )),
            (Some(id), Some(addr)) => match self.channel(&addr) {
                Ok(c) => Route::Leader(c),
                Err(e) => Route::Refuse(Status::unavailable(format!(
                    "cannot reach leader {id} at {addr}: {e}"
                ))),
            },
            _ => Route::Refuse(Status::unavailable(
                "no leader is known (an election is in progress); retry",
            )),
        }
    }

    fn channel(&self, addr: &str) -> Result<Channel, tonic::transport::Error> {
        let mut channels = self.channels.lock().expect("channels lock");
        if let Some(c) = channels.get(addr) {
            return Ok(c.clone());
        }
        let transport = &self.node.transport;
        let channel =
            keel_client::tls::channel(addr, transport.tls.clone(), transport.source_ip, |e| {
                e.connect_timeout(std::time::Duration::from_secs(2))
            })?;
        channels.insert(addr.to_string(), channel.clone());
        Ok(channel)
    }
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S> Service<http::Request<Body>> for Forward<S>
where
    S: Service<http::Request<Body>, Response = http::Response<Body>> + Clone + Send + 'static,
    S::Future: Send,
    S::Error: Into<tower::BoxError>,
{
    type Response = http::Response<Body>;
    type Error = tower::BoxError;
    type Future = BoxFuture<Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, mut request: http::Request<Body>) -> Self::Future {
        // Only the peer port hears forwarded requests; a client cannot claim to be one. A
        // request on the peer port without the mark (a joining node's) may be forwarded once.
        let forwarded = self.layer.peer_side && request.headers().contains_key(FORWARDED);
        if !self.layer.peer_side {
            request.headers_mut().remove(FORWARDED);
        }
        match self.layer.route(request.uri().path(), forwarded) {
            Route::Local => {
                // The clone is not the instance poll_ready readied: swap them (tower's rule).
                let clone = self.inner.clone();
                let inner = std::mem::replace(&mut self.inner, clone);
                let by = http::HeaderValue::from(self.layer.node.node_id);
                Box::pin(async move {
                    let mut response = inner.oneshot(request).await.map_err(Into::into)?;
                    response.headers_mut().insert(ANSWERED_BY, by);
                    Ok(response)
                })
            }
            Route::Leader(channel) => {
                let by = self.layer.node.node_id.to_string();
                if let Ok(v) = http::HeaderValue::from_str(&by) {
                    request.headers_mut().insert(FORWARDED, v);
                }
                let path = request.uri().path().to_string();
                Box::pin(async move {
                    match channel.oneshot(request).await {
                        Ok(response) => Ok(response),
                        Err(e) => {
                            tracing::debug!(%path, error = %e, "forwarding to the leader failed");
                            Ok(
                                Status::unavailable(format!(
                                    "forwarding to the leader failed: {e}"
                                ))
                                .into_http(),
                            )
                        }
                    }
                })
            }
            Route::Refuse(status) => Box::pin(async move { Ok(status.into_http()) }),
        }
    }
}
