//! The admin API's messages.

/// One node's view of itself and of the membership (answered locally, never forwarded).
#[derive(Clone, PartialEq, prost::Message)]
pub struct NodeStatusRequest {}

#[derive(Clone, PartialEq, prost::Message)]
pub struct NodeStatus {
    #[prost(uint64, tag = "1")]
    pub node_id: u64,
    #[prost(string, tag = "2")]
    pub client_addr: String,
    #[prost(string, tag = "3")]
    pub peer_addr: String,
    /// leader, follower, candidate or learner.
    #[prost(string, tag = "4")]
    pub role: String,
    #[prost(uint64, tag = "5")]
    pub term: u64,
    #[prost(uint64, optional, tag = "6")]
    pub last_log_index: Option<u64>,
    #[prost(uint64, optional, tag = "7")]
    pub applied_index: Option<u64>,
    #[prost(uint64, optional, tag = "8")]
    pub snapshot_index: Option<u64>,
    #[prost(uint64, optional, tag = "9")]
    pub leader_id: Option<u64>,
    #[prost(message, repeated, tag = "10")]
    pub members: Vec<Member>,
    #[prost(uint64, optional, tag = "11")]
    pub purged_index: Option<u64>,
    /// The Keel release the node runs.
    #[prost(string, tag = "12")]
    pub version: String,
    /// The storage format of its data directory.
    #[prost(uint32, tag = "13")]
    pub storage_format: u32,
    /// RocksDB's estimate of the live data, bytes.
    #[prost(uint64, tag = "14")]
    pub data_size_bytes: u64,
    /// The data directory's files on disk (RocksDB and snapshot files), bytes.
    #[prost(uint64, tag = "15")]
    pub disk_size_bytes: u64,
    /// The cluster this node belongs to ("" before it has joined one).
    #[prost(string, tag = "16")]
    pub cluster_id: String,
    /// This build's feature level (`keel_engine::feature_level`).
    #[prost(uint32, tag = "17")]
    pub feature_level: u32,
    /// On the leader: the lowest feature level among the members (what it may propose).
    #[prost(uint32, optional, tag = "18")]
    pub cluster_level: Option<u32>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Member {
    #[prost(uint64, tag = "1")]
    pub node_id: u64,
    #[prost(string, tag = "2")]
    pub client_addr: String,
    #[prost(string, tag = "3")]
    pub peer_addr: String,
    #[prost(bool, tag = "4")]
    pub voter: bool,
}

/// A checksum of this node's `state` column family (answered locally): equal checksums at
/// equal applied indexes mean identical replicas.
#[derive(Clone, PartialEq, prost::Message)]
pub struct StateChecksumRequest {}

#[derive(Clone, PartialEq, prost::Message)]
pub struct StateChecksum {
    #[prost(uint64, optional, tag = "1")]
    pub applied_index: Option<u64>,
    /// FNV-1a 64 over every key and value, length-prefixed, in key order.
    #[prost(uint64, tag = "2")]
    pub checksum: u64,
    #[prost(uint64, tag = "3")]
    pub keys: u64,
}

/// Asks the receiving node to start an election (leadership transfer to it).
#[derive(Clone, PartialEq, prost::Message)]
pub struct CampaignRequest {}

#[derive(Clone, PartialEq, prost::Message)]
pub struct CampaignReply {}

#[derive(Clone, PartialEq, prost::Message)]
pub struct AddNodeRequest {
    #[prost(uint64, tag = "1")]
    pub node_id: u64,
    #[prost(string, tag = "2")]
    pub client_addr: String,
    #[prost(string, tag = "3")]
    pub peer_addr: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct AddNodeReply {}

#[derive(Clone, PartialEq, prost::Message)]
pub struct RemoveNodeRequest {
    #[prost(uint64, tag = "1")]
    pub node_id: u64,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct RemoveNodeReply {}

/// Streams a backup of the answering node's whole state at one applied index (after a
/// linearizable read, so it holds everything acknowledged before the call): the bytes of a
/// `keel_raft::backup` file, in order.
#[derive(Clone, PartialEq, prost::Message)]
pub struct SnapshotSaveRequest {}

#[derive(Clone, PartialEq, prost::Message)]
pub struct SnapshotChunk {
    #[prost(bytes = "vec", tag = "1")]
    pub data: Vec<u8>,
}

/// Compacts the answering node's RocksDB (all column families), returning when done.
#[derive(Clone, PartialEq, prost::Message)]
pub struct CompactRequest {}

#[derive(Clone, PartialEq, prost::Message)]
pub struct CompactReply {
    /// The data directory's size on disk before and after, bytes.
    #[prost(uint64, tag = "1")]
    pub disk_bytes_before: u64,
    #[prost(uint64, tag = "2")]
    pub disk_bytes_after: u64,
}
