//! The peer service's wire messages. Log ids, votes, entries and snapshot metadata travel in
//! the byte formats of `crate::codec` (the same bytes the log stores), so there is one
//! encoding of each Raft record.

#[derive(Clone, PartialEq, prost::Message)]
pub struct AppendEntriesMsg {
    #[prost(bytes = "vec", tag = "1")]
    pub vote: Vec<u8>,
    #[prost(bytes = "vec", optional, tag = "2")]
    pub prev_log_id: Option<Vec<u8>>,
    #[prost(bytes = "vec", repeated, tag = "3")]
    pub entries: Vec<Vec<u8>>,
    #[prost(bytes = "vec", optional, tag = "4")]
    pub leader_commit: Option<Vec<u8>>,
}

/// `AppendEntriesResponse`'s variants.
pub mod append_outcome {
    pub const SUCCESS: u32 = 0;
    pub const PARTIAL_SUCCESS: u32 = 1;
    pub const CONFLICT: u32 = 2;
    pub const HIGHER_VOTE: u32 = 3;
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct AppendEntriesReply {
    #[prost(uint32, tag = "1")]
    pub outcome: u32,
    /// For PARTIAL_SUCCESS: the last log id matched, if any.
    #[prost(bytes = "vec", optional, tag = "2")]
    pub matched: Option<Vec<u8>>,
    /// For HIGHER_VOTE: the higher vote.
    #[prost(bytes = "vec", optional, tag = "3")]
    pub vote: Option<Vec<u8>>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct VoteMsg {
    #[prost(bytes = "vec", tag = "1")]
    pub vote: Vec<u8>,
    #[prost(bytes = "vec", optional, tag = "2")]
    pub last_log_id: Option<Vec<u8>>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct VoteReply {
    #[prost(bytes = "vec", tag = "1")]
    pub vote: Vec<u8>,
    #[prost(bool, tag = "2")]
    pub granted: bool,
    #[prost(bytes = "vec", optional, tag = "3")]
    pub last_log_id: Option<Vec<u8>>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct SnapshotChunkMsg {
    #[prost(bytes = "vec", tag = "1")]
    pub vote: Vec<u8>,
    #[prost(bytes = "vec", tag = "2")]
    pub meta: Vec<u8>,
    #[prost(uint64, tag = "3")]
    pub offset: u64,
    #[prost(bytes = "vec", tag = "4")]
    pub data: Vec<u8>,
    #[prost(bool, tag = "5")]
    pub done: bool,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct SnapshotChunkReply {
    #[prost(bytes = "vec", tag = "1")]
    pub vote: Vec<u8>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct HelloMsg {}

/// Who answers on a peer address and whether it already belongs to a cluster (bootstrap
/// only happens when no initial member does).
#[derive(Clone, PartialEq, prost::Message)]
pub struct HelloReply {
    #[prost(uint64, tag = "1")]
    pub node_id: u64,
    #[prost(bool, tag = "2")]
    pub initialized: bool,
    /// Where the node serves clients (recorded in the membership at bootstrap).
    #[prost(string, tag = "3")]
    pub client_addr: String,
    /// The node's feature level (`keel_engine::feature_level`; 0 from a build before levels).
    #[prost(uint32, tag = "4")]
    pub feature_level: u32,
}

/// A follower's question before it serves a read from its own replica: up to which log index
/// must I have applied? The leader answers once a quorum has confirmed its leadership.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ReadIndexMsg {}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ReadIndexReply {
    /// The leader's commit index at the time of the question (none: nothing committed yet).
    #[prost(uint64, optional, tag = "1")]
    pub index: Option<u64>,
}

/// Raft's leadership transfer: a leader that is about to stop asks an up-to-date follower to
/// start an election now. Honoured only from this node's current leader, addressed to it.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TimeoutNowMsg {
    #[prost(uint64, tag = "1")]
    pub from: u64,
    #[prost(uint64, tag = "2")]
    pub to: u64,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct TimeoutNowReply {}
