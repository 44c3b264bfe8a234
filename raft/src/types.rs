//! openraft's type configuration for Keel: the log carries engine mutations; the response
//! of applying one is the engine's outcome or rejection.

use keel_engine::{ApplyResult, Mutation, Outcome};
use std::fmt;

pub type NodeId = u64;

/// A member of the cluster as the membership records it: where clients reach it (Temporal
/// gRPC and the admin API) and where its peers send Raft RPCs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeelNode {
    pub client_addr: String,
    pub peer_addr: String,
}

impl fmt::Display for KeelNode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "client {} peer {}", self.client_addr, self.peer_addr)
    }
}

/// What one log entry carries: mutations proposed together (concurrent proposals are merged
/// into one entry, one append, one fsync), applied in order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Proposal {
    pub mutations: Vec<Mutation>,
}

/// The outcome of each of an entry's mutations, in order.
#[derive(Debug, Clone, PartialEq)]
pub struct Response(pub Vec<ApplyResult<Outcome>>);

openraft::declare_raft_types!(
    pub TypeConfig:
        D = Proposal,
        R = Response,
        NodeId = NodeId,
        Node = KeelNode,
        Entry = openraft::Entry<TypeConfig>,
        SnapshotData = tokio::fs::File,
        AsyncRuntime = openraft::TokioRuntime,
);

pub type Raft = openraft::Raft<TypeConfig>;
pub type LogId = openraft::LogId<NodeId>;
pub type Vote = openraft::Vote<NodeId>;
pub type Entry = openraft::Entry<TypeConfig>;
pub type StoredMembership = openraft::StoredMembership<NodeId, KeelNode>;
pub type Membership = openraft::Membership<NodeId, KeelNode>;
pub type SnapshotMeta = openraft::SnapshotMeta<NodeId, KeelNode>;
pub type StorageError = openraft::StorageError<NodeId>;
