//! Raft RPCs between nodes over tonic, on the peer port (separate from client traffic): the
//! server side hands requests to the local openraft instance; the client side is openraft's
//! network, with per-RPC deadlines from openraft and lazy (re)connection with backoff left to
//! openraft's replication loop (an unreachable peer is reported as such, and retried).

pub mod messages;

#[allow(clippy::all)]
mod generated {
    include!(concat!(env!("OUT_DIR"), "/keel.raft.v1.RaftPeer.rs"));
}

use crate::cluster_id::{self, AdmitError, ClusterId};
use crate::codec;
use crate::types::{KeelNode, NodeId, Raft, TypeConfig};
use generated::raft_peer_client::RaftPeerClient;
use generated::raft_peer_server::{RaftPeer, RaftPeerServer};
use keel_client::tls::ClientTls;
use messages::*;
use openraft::error::{InstallSnapshotError, NetworkError, RPCError, RaftError, Unreachable};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;
use tonic::transport::Channel;
use tonic::{Request, Response, Status};

/// How long a connection attempt to a peer may take before it counts as unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

fn bad_request(e: impl std::fmt::Display) -> Status {
    Status::invalid_argument(format!("malformed raft message: {e}"))
}

fn raft_failed(e: impl std::fmt::Display) -> Status {
    Status::unavailable(format!("raft: {e}"))
}

/// The peer service of one node.
pub struct PeerService {
    raft: Raft,
    node_id: NodeId,
    client_addr: String,
    cluster_id: ClusterId,
}

impl PeerService {
    pub fn server(
        raft: Raft,
        node_id: NodeId,
        client_addr: String,
        cluster_id: ClusterId,
    ) -> RaftPeerServer<PeerService> {
        RaftPeerServer::new(PeerService {
            raft,
            node_id,
            client_addr,
            cluster_id,
        })
        .max_decoding_message_size(usize::MAX)
        .max_encoding_message_size(usize::MAX)
    }
}

/// The cluster id a peer request carries, if any.
fn sender_cluster_id<T>(request: &Request<T>) -> Option<&str> {
    request
        .metadata()
        .get(cluster_id::HEADER)
        .and_then(|v| v.to_str().ok())
}

/// Names this node's cluster (if it has an id yet) on an outgoing peer request.
fn name_cluster<T>(request: &mut Request<T>, cluster_id: &ClusterId) {
    if let Some(value) = cluster_id.get().and_then(|id| id.parse().ok()) {
        request.metadata_mut().insert(cluster_id::HEADER, value);
    }
}

impl PeerService {
    /// Refuses a Raft message from another cluster (FAILED_PRECONDITION), before it can
    /// touch this node's vote, log or state.
    fn admit<T>(&self, request: Request<T>) -> Result<T, Status> {
        let theirs = sender_cluster_id(&request).unwrap_or_default();
        match self.cluster_id.admit(theirs) {
            Ok(()) => Ok(request.into_inner()),
            Err(AdmitError::Mismatch(m)) => Err(Status::failed_precondition(m.to_string())),
            Err(e @ AdmitError::Storage(_)) => Err(raft_failed(e)),
        }
    }
}

#[tonic::async_trait]
impl RaftPeer for PeerService {
    async fn append_entries(
        &self,
        request: Request<AppendEntriesMsg>,
    ) -> Result<Response<AppendEntriesReply>, Status> {
        let m = self.admit(request)?;
        let rpc = AppendEntriesRequest::<TypeConfig> {
            vote: codec::decode_vote(&m.vote).map_err(bad_request)?,
            prev_log_id: codec::decode_opt_log_id(&m.prev_log_id).map_err(bad_request)?,
            entries: m
                .entries
                .iter()
                .map(|e| codec::decode_entry(e))
                .collect::<Result<_, _>>()
                .map_err(bad_request)?,
            leader_commit: codec::decode_opt_log_id(&m.leader_commit).map_err(bad_request)?,
        };
        let reply = match self.raft.append_entries(rpc).await.map_err(raft_failed)? {
            AppendEntriesResponse::Success => AppendEntriesReply {
                outcome: append_outcome::SUCCESS,
                ..Default::default()
            },
            AppendEntriesResponse::PartialSuccess(matched) => AppendEntriesReply {
                outcome: append_outcome::PARTIAL_SUCCESS,
                matched: codec::encode_opt_log_id(&matched),
                vote: None,
            },
            AppendEntriesResponse::Conflict => AppendEntriesReply {
                outcome: append_outcome::CONFLICT,
                ..Default::default()
            },
            AppendEntriesResponse::HigherVote(v) => AppendEntriesReply {
                outcome: append_outcome::HIGHER_VOTE,
                matched: None,
                vote: Some(codec::encode_vote(&v)),
            },
        };
        Ok(Response::new(reply))
    }

    async fn vote(&self, request: Request<VoteMsg>) -> Result<Response<VoteReply>, Status> {
        let m = self.admit(request)?;
        let rpc = VoteRequest {
            vote: codec::decode_vote(&m.vote).map_err(bad_request)?,
            last_log_id: codec::decode_opt_log_id(&m.last_log_id).map_err(bad_request)?,
        };
        let r = self.raft.vote(rpc).await.map_err(raft_failed)?;
        Ok(Response::new(VoteReply {
            vote: codec::encode_vote(&r.vote),
            granted: r.vote_granted,
            last_log_id: codec::encode_opt_log_id(&r.last_log_id),
        }))
    }

    async fn install_snapshot(
        &self,
        request: Request<SnapshotChunkMsg>,
    ) -> Result<Response<SnapshotChunkReply>, Status> {
        let m = self.admit(request)?;
        let rpc = InstallSnapshotRequest::<TypeConfig> {
            vote: codec::decode_vote(&m.vote).map_err(bad_request)?,
            meta: codec::decode_snapshot_meta(&m.meta).map_err(bad_request)?,
            offset: m.offset,
            data: m.data,
            done: m.done,
        };
        let r = self.raft.install_snapshot(rpc).await.map_err(raft_failed)?;
        Ok(Response::new(SnapshotChunkReply {
            vote: codec::encode_vote(&r.vote),
        }))
    }

    /// The read index of the ReadIndex protocol: this node's commit index, given only while a
    /// quorum confirms it leads (openraft's `ensure_linearizable`, which also waits until this
    /// node has applied that far).
    async fn read_index(
        &self,
        _: Request<ReadIndexMsg>,
    ) -> Result<Response<ReadIndexReply>, Status> {
        let read = self
            .raft
            .ensure_linearizable()
            .await
            .map_err(|e| Status::unavailable(format!("not a leader a quorum follows: {e}")))?;
        Ok(Response::new(ReadIndexReply {
            index: read.map(|l| l.index),
        }))
    }

    async fn timeout_now(
        &self,
        request: Request<TimeoutNowMsg>,
    ) -> Result<Response<TimeoutNowReply>, Status> {
        // Stricter than `admit`: the sender must name this node's cluster exactly.
        let same_cluster = self.cluster_id.get().as_deref() == sender_cluster_id(&request);
        let m = request.into_inner();
        let leader = self.raft.metrics().borrow().current_leader;
        if !same_cluster || m.to != self.node_id || leader != Some(m.from) || m.from == m.to {
            return Err(Status::failed_precondition(
                "a leadership transfer is taken only from this node's leader, addressed to it",
            ));
        }
        tracing::info!(
            from = m.from,
            "the leader hands over leadership: campaigning"
        );
        self.raft.trigger().elect().await.map_err(raft_failed)?;
        Ok(Response::new(TimeoutNowReply {}))
    }

    async fn hello(&self, _: Request<HelloMsg>) -> Result<Response<HelloReply>, Status> {
        let initialized = self.raft.is_initialized().await.map_err(raft_failed)?;
        Ok(Response::new(HelloReply {
            node_id: self.node_id,
            initialized,
            client_addr: self.client_addr.clone(),
            feature_level: keel_engine::feature_level::LEVEL,
        }))
    }
}

/// How this node connects to its peers: from which local address, and with which TLS
/// settings when the peer port needs mutual TLS.
#[derive(Clone, Default)]
pub struct PeerTransport {
    pub source_ip: Option<IpAddr>,
    pub tls: Option<Arc<ClientTls>>,
}

impl std::fmt::Debug for PeerTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PeerTransport")
            .field("source_ip", &self.source_ip)
            .field("tls", &self.tls.is_some())
            .finish()
    }
}

/// A lazily connecting channel to a peer address.
pub fn connect(
    peer_addr: &str,
    transport: &PeerTransport,
) -> Result<Channel, tonic::transport::Error> {
    keel_client::tls::channel(peer_addr, transport.tls.clone(), transport.source_ip, |e| {
        e.connect_timeout(CONNECT_TIMEOUT)
    })
}

/// Asks the node at `peer_addr` who it is.
pub async fn hello(
    peer_addr: &str,
    transport: &PeerTransport,
    timeout: Duration,
) -> Result<HelloReply, Status> {
    let channel = connect(peer_addr, transport).map_err(|e| Status::unavailable(e.to_string()))?;
    let mut request = Request::new(HelloMsg {});
    request.set_timeout(timeout);
    Ok(RaftPeerClient::new(channel)
        .hello(request)
        .await?
        .into_inner())
}

/// Asks the follower `to` at `peer_addr` to campaign now (leadership transfer from `from`).
pub async fn timeout_now(
    peer_addr: &str,
    transport: &PeerTransport,
    cluster_id: &ClusterId,
    from: NodeId,
    to: NodeId,
    timeout: Duration,
) -> Result<(), Status> {
    let channel = connect(peer_addr, transport).map_err(|e| Status::unavailable(e.to_string()))?;
    let mut request = Request::new(TimeoutNowMsg { from, to });
    request.set_timeout(timeout);
    name_cluster(&mut request, cluster_id);
    RaftPeerClient::new(channel).timeout_now(request).await?;
    Ok(())
}

/// Asks the leader at `peer_addr` for its read index.
pub async fn read_index(channel: Channel, timeout: Duration) -> Result<Option<u64>, Status> {
    let mut request = Request::new(ReadIndexMsg {});
    request.set_timeout(timeout);
    Ok(RaftPeerClient::new(channel)
        .read_index(request)
        .await?
        .into_inner()
        .index)
}

/// openraft's network: one client per replication target.
pub struct PeerNetwork {
    pub transport: PeerTransport,
    pub cluster_id: ClusterId,
}

pub struct PeerClient {
    target: NodeId,
    addr: String,
    transport: PeerTransport,
    cluster_id: ClusterId,
    client: Option<RaftPeerClient<Channel>>,
}

impl RaftNetworkFactory<TypeConfig> for PeerNetwork {
    type Network = PeerClient;
    async fn new_client(&mut self, target: NodeId, node: &KeelNode) -> Self::Network {
        PeerClient {
            target,
            addr: node.peer_addr.clone(),
            transport: self.transport.clone(),
            cluster_id: self.cluster_id.clone(),
            client: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("peer {target} at {addr}: {detail}")]
struct PeerError {
    target: NodeId,
    addr: String,
    detail: String,
}

impl PeerClient {
    fn error(&self, detail: impl std::fmt::Display) -> PeerError {
        PeerError {
            target: self.target,
            addr: self.addr.clone(),
            detail: detail.to_string(),
        }
    }

    fn client<E: std::error::Error>(
        &mut self,
    ) -> Result<RaftPeerClient<Channel>, RPCError<NodeId, KeelNode, E>> {
        if self.client.is_none() {
            let channel = connect(&self.addr, &self.transport)
                .map_err(|e| RPCError::Unreachable(Unreachable::new(&self.error(e))))?;
            self.client = Some(
                RaftPeerClient::new(channel)
                    .max_decoding_message_size(usize::MAX)
                    .max_encoding_message_size(usize::MAX),
            );
        }
        Ok(self.client.clone().expect("set above"))
    }

    /// A failed call: an unreachable peer (openraft backs off) or a network error.
    fn failed<E: std::error::Error>(&self, status: Status) -> RPCError<NodeId, KeelNode, E> {
        let err = self.error(format!("{:?}: {}", status.code(), status.message()));
        match status.code() {
            tonic::Code::Unavailable | tonic::Code::DeadlineExceeded | tonic::Code::Unknown => {
                RPCError::Unreachable(Unreachable::new(&err))
            }
            _ => RPCError::Network(NetworkError::new(&err)),
        }
    }

    fn undecodable<E: std::error::Error>(
        &self,
        e: codec::DecodeError,
    ) -> RPCError<NodeId, KeelNode, E> {
        RPCError::Network(NetworkError::new(&self.error(e)))
    }
}

impl PeerClient {
    /// A request with openraft's deadline and this node's cluster id.
    fn request<T>(&self, message: T, option: &RPCOption) -> Request<T> {
        let mut request = Request::new(message);
        request.set_timeout(option.hard_ttl());
        name_cluster(&mut request, &self.cluster_id);
        request
    }
}

impl RaftNetwork<TypeConfig> for PeerClient {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<NodeId>, RPCError<NodeId, KeelNode, RaftError<NodeId>>> {
        let message = AppendEntriesMsg {
            vote: codec::encode_vote(&rpc.vote),
            prev_log_id: codec::encode_opt_log_id(&rpc.prev_log_id),
            entries: rpc.entries.iter().map(codec::encode_entry).collect(),
            leader_commit: codec::encode_opt_log_id(&rpc.leader_commit),
        };
        let heartbeat = message.entries.is_empty();
        let began = std::time::Instant::now();
        let reply = self
            .client()?
            .append_entries(self.request(message, &option))
            .await
            .map_err(|s| self.failed(s))?
            .into_inner();
        if heartbeat {
            crate::metrics::get()
                .peer_round_trip
                .with_label_values(&[&self.target.to_string()])
                .observe(began.elapsed().as_secs_f64());
        }
        Ok(match reply.outcome {
            append_outcome::SUCCESS => AppendEntriesResponse::Success,
            append_outcome::PARTIAL_SUCCESS => AppendEntriesResponse::PartialSuccess(
                codec::decode_opt_log_id(&reply.matched).map_err(|e| self.undecodable(e))?,
            ),
            append_outcome::CONFLICT => AppendEntriesResponse::Conflict,
            _ => AppendEntriesResponse::HigherVote(
                codec::decode_vote(reply.vote.as_deref().unwrap_or_default())
                    .map_err(|e| self.undecodable(e))?,
            ),
        })
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<
        InstallSnapshotResponse<NodeId>,
        RPCError<NodeId, KeelNode, RaftError<NodeId, InstallSnapshotError>>,
    > {
        let message = SnapshotChunkMsg {
            vote: codec::encode_vote(&rpc.vote),
            meta: codec::encode_snapshot_meta(&rpc.meta),
            offset: rpc.offset,
            data: rpc.data,
            done: rpc.done,
        };
        let reply = self
            .client()?
            .install_snapshot(self.request(message, &option))
            .await
            .map_err(|s| self.failed(s))?
            .into_inner();
        Ok(InstallSnapshotResponse {
            vote: codec::decode_vote(&reply.vote).map_err(|e| self.undecodable(e))?,
        })
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        option: RPCOption,
    ) -> Result<VoteResponse<NodeId>, RPCError<NodeId, KeelNode, RaftError<NodeId>>> {
        let message = VoteMsg {
            vote: codec::encode_vote(&rpc.vote),
            last_log_id: codec::encode_opt_log_id(&rpc.last_log_id),
        };
        let reply = self
            .client()?
            .vote(self.request(message, &option))
            .await
            .map_err(|s| self.failed(s))?
            .into_inner();
        Ok(VoteResponse {
            vote: codec::decode_vote(&reply.vote).map_err(|e| self.undecodable(e))?,
            vote_granted: reply.granted,
            last_log_id: codec::decode_opt_log_id(&reply.last_log_id)
                .map_err(|e| self.undecodable(e))?,
        })
    }
}
