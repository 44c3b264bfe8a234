//! keel-raft: openraft on Keel's storage. The log store (fsynced appends and votes), the
//! state machine (decode, apply, one write batch, respond, notify), snapshots, and the
//! proposer that stamps the leader's time into every mutation.

// openraft's traits fix the error type (StorageError, ~224 bytes); boxing it is not ours to do.
#![allow(clippy::result_large_err)]

pub mod backup;
pub mod cluster_id;
pub mod codec;
pub mod disk;
pub mod log_store;
pub mod metrics;
pub mod node;
pub mod peer;
pub mod proposer;
pub mod snapshot;
pub mod state_machine;
pub mod types;

#[cfg(feature = "test-clock")]
pub use node::test_clock;
pub use node::{leader_now, NodeOptions, ProposeError, RaftNode, StartError};
pub use peer::PeerTransport;
pub use state_machine::NotificationSender;
pub use types::{KeelNode, NodeId, Proposal, Response};
