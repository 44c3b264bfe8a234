//! openraft's type configuration for Keel: the log carries engine mutations; the response
//! of applying one is the engine's outcome or rejection.

use keel_engine::{ApplyResult, Mutation, Outcome};
use std::io::Cursor;

pub type NodeId = u64;

/// What a proposer gets back once its mutation is applied.
#[derive(Debug, Clone, PartialEq)]
pub struct Response(pub ApplyResult<Outcome>);

openraft::declare_raft_types!(
    pub TypeConfig:
        D = Mutation,
        R = Response,
        NodeId = NodeId,
        Node = openraft::BasicNode,
        Entry = openraft::Entry<TypeConfig>,
        SnapshotData = Cursor<Vec<u8>>,
        AsyncRuntime = openraft::TokioRuntime,
);

pub type Raft = openraft::Raft<TypeConfig>;
pub type LogId = openraft::LogId<NodeId>;
pub type Vote = openraft::Vote<NodeId>;
pub type Entry = openraft::Entry<TypeConfig>;
pub type StoredMembership = openraft::StoredMembership<NodeId, openraft::BasicNode>;
pub type StorageError = openraft::StorageError<NodeId>;
