//! A running Raft node on Keel's storage and the proposer: stamp a mutation with the leader's
//! time, propose it, await its applied outcome. openraft batches concurrent proposals into
//! one append (one fsync) by itself.

use crate::log_store::LogStore;
use crate::network::NoPeersFactory;
use crate::state_machine::{NotificationSender, StateMachine};
use crate::types::{NodeId, Raft, StorageError};
use keel_engine::{ApplyResult, Mutation, Outcome};
use keel_storage::Store;
use openraft::error::{ClientWriteError, RaftError};
use openraft::{BasicNode, Config, ServerState, SnapshotPolicy};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

#[derive(Debug, thiserror::Error)]
pub enum ProposeError {
    #[error("this node is not the leader (leader: {leader:?})")]
    NotLeader { leader: Option<NodeId> },
    #[error("raft is shutting down or failed: {0}")]
    Fatal(String),
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("invalid raft config: {0}")]
    Config(String),
    #[error("raft storage: {0}")]
    Storage(#[from] StorageError),
    #[error("raft: {0}")]
    Raft(String),
}

#[derive(Clone)]
pub struct RaftNode {
    pub raft: Raft,
    pub store: Store,
    pub node_id: NodeId,
}

/// The leader's wall clock, unix nanos: the only place time enters the log.
pub fn leader_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

impl RaftNode {
    /// Starts a one-voter group on `store`, bootstrapping it on first start, and waits until
    /// this node leads.
    pub async fn start_single(
        store: Store,
        node_id: NodeId,
        addr: String,
        notifications: NotificationSender,
    ) -> Result<Self, StartError> {
        let config = Config {
            cluster_name: "keel".into(),
            heartbeat_interval: 100,
            election_timeout_min: 250,
            election_timeout_max: 500,
            // The log is purged behind a snapshot every this many entries.
            snapshot_policy: SnapshotPolicy::LogsSinceLast(20_000),
            max_in_snapshot_log_to_keep: 1_000,
            ..Default::default()
        }
        .validate()
        .map_err(|e| StartError::Config(e.to_string()))?;
        let log_store = LogStore::new(store.clone());
        let state_machine = StateMachine::open(store.clone(), notifications)?;
        let raft = Raft::new(
            node_id,
            Arc::new(config),
            NoPeersFactory,
            log_store,
            state_machine,
        )
        .await
        .map_err(|e| StartError::Raft(e.to_string()))?;
        let initialized = raft
            .is_initialized()
            .await
            .map_err(|e| StartError::Raft(e.to_string()))?;
        if !initialized {
            let members = BTreeMap::from([(node_id, BasicNode::new(addr))]);
            raft.initialize(members)
                .await
                .map_err(|e| StartError::Raft(e.to_string()))?;
        }
        raft.wait(Some(Duration::from_secs(30)))
            .state(ServerState::Leader, "single node becomes leader")
            .await
            .map_err(|e| StartError::Raft(e.to_string()))?;
        Ok(RaftNode {
            raft,
            store,
            node_id,
        })
    }

    /// Proposes `mutation` (stamped now) and returns the engine's outcome once applied.
    pub async fn propose(
        &self,
        mut mutation: Mutation,
    ) -> Result<ApplyResult<Outcome>, ProposeError> {
        mutation.now = leader_now();
        match self.raft.client_write(mutation).await {
            Ok(resp) => Ok(resp.data.0),
            Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f))) => {
                Err(ProposeError::NotLeader {
                    leader: f.leader_id,
                })
            }
            Err(e) => Err(ProposeError::Fatal(e.to_string())),
        }
    }

    pub async fn is_leader(&self) -> bool {
        self.raft.current_leader().await == Some(self.node_id)
    }

    pub async fn shutdown(&self) {
        let _ = self.raft.shutdown().await;
    }
}
