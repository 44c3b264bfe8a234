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
