//! A running Raft node on Keel's storage and the proposer: stamp a mutation with the leader's
//! time, propose it, await its applied outcome. openraft batches concurrent proposals into
//! one append (one fsync) by itself. Also bootstrap (one node, or an initial member set) and
//! membership changes.

use crate::cluster_id::ClusterId;
use crate::log_store::LogStore;
use crate::peer::{self, PeerNetwork, PeerTransport};
use crate::proposer::Proposer;
use crate::state_machine::{NotificationSender, StateMachine};
use crate::types::{KeelNode, NodeId, Raft, StorageError};
use keel_engine::feature_level;
use keel_engine::mutation::{Kind, RecordClusterLevel};
use keel_engine::{ApplyResult, Mutation, Outcome};
use keel_storage::Store;
use openraft::error::{CheckIsLeaderError, ClientWriteError, RaftError};
use openraft::{ChangeMembers, Config, RaftMetrics, ServerState, SnapshotPolicy};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tonic::transport::Channel;

/// A proposal that is not applied within this long is answered "unavailable" (its outcome is
/// unknown: it may still commit, which request ids make harmless to retry).
pub(crate) const PROPOSE_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, thiserror::Error)]
pub enum ProposeError {
    #[error("this node is not the leader (leader: {leader:?})")]
    NotLeader { leader: Option<NodeId> },
    #[error("no quorum answered within {0:?}")]
    Timeout(Duration),
    #[error("membership change refused: {0}")]
    Membership(String),
    #[error("raft is shutting down or failed: {0}")]
    Fatal(String),
    #[error("the leader did not give a read index: {0}")]
    NoReadIndex(String),
    #[error(
        "the leader's disk is nearly full ({} MiB free, below the {} MiB reserve of \
         --min-free-disk): writes are refused until space is freed",
        .0.free >> 20,
        .0.reserve >> 20
    )]
    DiskFull(crate::disk::LowDisk),
    #[error(transparent)]
    TooNew(keel_engine::feature_level::TooNew),
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

/// How this node takes part in Raft.
#[derive(Debug, Clone)]
pub struct NodeOptions {
    pub node_id: NodeId,
    pub addrs: KeelNode,
    /// A snapshot is taken (and the log purged behind it) every this many entries.
    pub snapshot_every: u64,
    /// How outgoing peer connections are made (local address, TLS).
    pub transport: PeerTransport,
}

#[derive(Clone)]
pub struct RaftNode {
    pub raft: Raft,
    proposer: Proposer,
    pub store: Store,
    pub node_id: NodeId,
    pub addrs: KeelNode,
    pub transport: PeerTransport,
    pub cluster_id: ClusterId,
    /// Refuses proposals while the data directory's filesystem is below its reserve.
    pub disk: crate::disk::DiskGuard,
    /// The lowest feature level among the members, as this node last surveyed them while
    /// leading (`survey_members`).
    surveyed_level: Arc<AtomicU32>,
    /// The cluster's level as recorded in the log (0 before one is): a floor the survey
    /// cannot lower, so an absent member does not take features away.
    recorded_level: Arc<AtomicU32>,
    /// Set by `hand_off_leadership`: proposals are refused from then on.
    handing_off: Arc<AtomicBool>,
    /// Peer channels to leaders, for follower reads' read-index questions.
    leader_channels: Arc<Mutex<HashMap<String, Channel>>>,
}

/// The leader's wall clock, unix nanos: the only place time enters the log.
pub fn leader_now() -> i64 {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0);
    #[cfg(feature = "test-clock")]
    let now = now + test_clock::offset_nanos();
    now
}

/// Test builds only (feature `test-clock`): a skew added to this node's wall clock.
#[cfg(feature = "test-clock")]
pub mod test_clock {
    use std::sync::atomic::{AtomicI64, Ordering};

    static OFFSET_NANOS: AtomicI64 = AtomicI64::new(0);

    pub fn set_offset_nanos(nanos: i64) {
        OFFSET_NANOS.store(nanos, Ordering::Relaxed);
    }

    pub fn offset_nanos() -> i64 {
        OFFSET_NANOS.load(Ordering::Relaxed)
    }
}

pub(crate) fn write_error(
    e: RaftError<NodeId, ClientWriteError<NodeId, KeelNode>>,
) -> ProposeError {
    match e {
        RaftError::APIError(ClientWriteError::ForwardToLeader(f)) => ProposeError::NotLeader {
            leader: f.leader_id,
        },
        RaftError::APIError(ClientWriteError::ChangeMembershipError(c)) => {
            ProposeError::Membership(c.to_string())
        }
        RaftError::Fatal(f) => ProposeError::Fatal(f.to_string()),
    }
}

impl RaftNode {
    /// Opens the node's Raft on `store`. It serves peers' RPCs once the caller exposes
    /// `peer::PeerService`; it leads nothing until bootstrapped or added to a cluster.
    pub async fn start(
        store: Store,
        options: NodeOptions,
        notifications: NotificationSender,
    ) -> Result<Self, StartError> {
        let config = Config {
            cluster_name: "keel".into(),
            heartbeat_interval: 100,
            election_timeout_min: 500,
            election_timeout_max: 1000,
            snapshot_policy: SnapshotPolicy::LogsSinceLast(options.snapshot_every),
            max_in_snapshot_log_to_keep: 1_000,
            // The last chunk of a snapshot carries its install, which may take a while.
            install_snapshot_timeout: 60_000,
            ..Default::default()
        }
        .validate()
        .map_err(|e| StartError::Config(e.to_string()))?;
        let cluster_id = ClusterId::load(store.clone())
            .map_err(|e| StartError::Raft(format!("reading the cluster id: {e}")))?;
        let log_store = LogStore::new(store.clone());
        let recorded_level = Arc::new(AtomicU32::new(0));
        let state_machine =
            StateMachine::open(store.clone(), notifications, recorded_level.clone())?;
        let recorded = recorded_level.load(Ordering::SeqCst);
        if recorded > feature_level::LEVEL {
            return Err(StartError::Config(format!(
                "this data directory belongs to a cluster at feature level {recorded}, and this \
                 build is level {}: a cluster cannot be downgraded; run a build of level \
                 {recorded} or later",
                feature_level::LEVEL
            )));
        }
        let raft = Raft::new(
            options.node_id,
            Arc::new(config),
            PeerNetwork {
                transport: options.transport.clone(),
                cluster_id: cluster_id.clone(),
            },
            log_store,
            state_machine,
        )
        .await
        .map_err(|e| StartError::Raft(e.to_string()))?;
        Ok(RaftNode {
            proposer: Proposer::start(raft.clone()),
            raft,
            store,
            node_id: options.node_id,
            addrs: options.addrs,
            transport: options.transport,
            cluster_id,
            disk: Default::default(),
            surveyed_level: Arc::new(AtomicU32::new(feature_level::BEFORE_LEVELS)),
            recorded_level,
            handing_off: Arc::default(),
            leader_channels: Arc::default(),
        })
    }

    async fn is_initialized(&self) -> Result<bool, StartError> {
        self.raft
            .is_initialized()
            .await
            .map_err(|e| StartError::Raft(e.to_string()))
    }

    /// A one-voter group: bootstraps it on first start and waits until this node leads.
    pub async fn bootstrap_single(&self) -> Result<(), StartError> {
        // The only member: one minted now (also for a node that predates cluster ids) is
        // what any node added later adopts.
        self.mint_cluster_id()?;
        if !self.is_initialized().await? {
            let members = BTreeMap::from([(self.node_id, self.addrs.clone())]);
            self.raft
                .initialize(members)
                .await
                .map_err(|e| StartError::Raft(e.to_string()))?;
        }
        self.raft
            .wait(Some(Duration::from_secs(30)))
            .state(ServerState::Leader, "single node becomes leader")
            .await
            .map_err(|e| StartError::Raft(e.to_string()))?;
        Ok(())
    }

    /// An initial member set (ids and peer addresses): the member with the lowest id
    /// bootstraps, once every member answers on its peer address (telling its client address)
    /// and none of them belongs to a cluster yet. Restarts (this node or any other already
    /// initialized) never bootstrap again, so nothing forks.
    pub async fn bootstrap_cluster(
        &self,
        peers: BTreeMap<NodeId, String>,
    ) -> Result<(), StartError> {
        if self.is_initialized().await? {
            return Ok(());
        }
        if peers.keys().next() != Some(&self.node_id) {
            tracing::info!("waiting for the initial cluster to be bootstrapped by its lowest id");
            return Ok(());
        }
        let mut members = BTreeMap::from([(self.node_id, self.addrs.clone())]);
        loop {
            let mut waiting_for = Vec::new();
            for (id, peer_addr) in peers.iter().filter(|(id, _)| **id != self.node_id) {
                match peer::hello(peer_addr, &self.transport, Duration::from_secs(1)).await {
                    Ok(reply) if reply.node_id != *id => {
                        return Err(StartError::Config(format!(
                            "peer address {peer_addr} of node {id} is answered by node {}",
                            reply.node_id
                        )));
                    }
                    Ok(reply) if reply.initialized => {
                        tracing::info!(
                            node = id,
                            "a member already belongs to a cluster; not bootstrapping"
                        );
                        return Ok(());
                    }
                    Ok(reply) => {
                        members.insert(
                            *id,
                            KeelNode {
                                client_addr: reply.client_addr,
                                peer_addr: peer_addr.clone(),
                            },
                        );
                    }
                    Err(_) => waiting_for.push(*id),
                }
            }
            if waiting_for.is_empty() {
                break;
            }
            tracing::info!(
                ?waiting_for,
                "waiting for every initial member before bootstrapping"
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        if self.is_initialized().await? {
            return Ok(());
        }
        tracing::info!(members = members.len(), "bootstrapping the cluster");
        self.mint_cluster_id()?;
        match self.raft.initialize(members).await {
            Ok(()) => Ok(()),
            Err(RaftError::APIError(e)) => {
                tracing::info!(error = %e, "not bootstrapping: already initialized");
                Ok(())
            }
            Err(e) => Err(StartError::Raft(e.to_string())),
        }
    }

    fn mint_cluster_id(&self) -> Result<String, StartError> {
        self.cluster_id
            .get_or_mint()
            .map_err(|e| StartError::Raft(format!("recording the cluster id: {e}")))
    }

    /// Proposes `mutation` (stamped now) and returns the engine's outcome once applied.
    pub async fn propose(
        &self,
        mut mutation: Mutation,
    ) -> Result<ApplyResult<Outcome>, ProposeError> {
        // A new leader's first entry, its namespaces and the cluster's level stay possible,
        // so leadership works.
        let essential = matches!(
            mutation.kind,
            Some(Kind::Noop(_))
                | Some(Kind::RegisterNamespace(_))
                | Some(Kind::RecordClusterLevel(_))
        );
        if self.handing_off.load(Ordering::SeqCst) {
            return Err(ProposeError::NotLeader { leader: None });
        }
        if let (Some(low), false) = (self.disk.low(), essential) {
            return Err(ProposeError::DiskFull(low));
        }
        if let Some(kind) = &mutation.kind {
            feature_level::admits(kind, self.cluster_level()).map_err(ProposeError::TooNew)?;
        }
        mutation.now = leader_now();
        self.proposer.propose(mutation).await
    }

    /// Waits until this node has applied everything committed before the call: a read after
    /// this is linearizable. The leader confirms with a quorum that it still leads; any other
    /// node (follower or learner) asks the leader for its read index and waits until it has
    /// applied that far (Raft's ReadIndex), so it serves the read from its own replica.
    pub async fn linearizable(&self) -> Result<(), ProposeError> {
        match tokio::time::timeout(PROPOSE_TIMEOUT, self.raft.ensure_linearizable()).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(RaftError::APIError(CheckIsLeaderError::ForwardToLeader(f)))) => {
                match (f.leader_id, f.leader_node) {
                    (Some(id), Some(node)) if id != self.node_id => {
                        self.read_from_replica(&node.peer_addr).await
                    }
                    _ => Err(ProposeError::NotLeader {
                        leader: f.leader_id,
                    }),
                }
            }
            Ok(Err(RaftError::APIError(CheckIsLeaderError::QuorumNotEnough(q)))) => {
                Err(ProposeError::NotLeader { leader: None })
                    .inspect_err(|_| tracing::debug!(%q, "no quorum confirmed leadership"))
            }
            Ok(Err(RaftError::Fatal(f))) => Err(ProposeError::Fatal(f.to_string())),
            Err(_) => Err(ProposeError::Timeout(PROPOSE_TIMEOUT)),
        }
    }

    /// The follower side of ReadIndex: the leader's read index, then this replica's apply.
    async fn read_from_replica(&self, leader_peer_addr: &str) -> Result<(), ProposeError> {
        let channel = {
            let mut channels = self.leader_channels.lock().expect("leader channels lock");
            match channels.get(leader_peer_addr) {
                Some(c) => c.clone(),
                None => {
                    let c = peer::connect(leader_peer_addr, &self.transport)
                        .map_err(|e| ProposeError::NoReadIndex(e.to_string()))?;
                    channels.insert(leader_peer_addr.to_string(), c.clone());
                    c
                }
            }
        };
        let index = peer::read_index(channel, PROPOSE_TIMEOUT)
            .await
            .map_err(|s| ProposeError::NoReadIndex(s.message().to_string()))?;
        self.raft
            .wait(Some(PROPOSE_TIMEOUT))
            .applied_index_at_least(index, "follower read")
            .await
            .map_err(|_| ProposeError::Timeout(PROPOSE_TIMEOUT))?;
        Ok(())
    }

    /// Adds a node: first as a learner (returns once it has caught up), then as a voter.
    /// A node whose build is below the cluster's recorded level is refused: it could not
    /// apply the log.
    pub async fn add_node(&self, id: NodeId, addrs: KeelNode) -> Result<(), ProposeError> {
        let recorded = self.recorded_level.load(Ordering::SeqCst);
        if recorded > 0 {
            let reply = peer::hello(&addrs.peer_addr, &self.transport, Duration::from_secs(5))
                .await
                .map_err(|s| {
                    ProposeError::Membership(format!(
                        "node {id} does not answer on {}: {}",
                        addrs.peer_addr,
                        s.message()
                    ))
                })?;
            if reply.node_id != id {
                return Err(ProposeError::Membership(format!(
                    "peer address {} is answered by node {}, not {id}",
                    addrs.peer_addr, reply.node_id
                )));
            }
            if reply.feature_level < recorded {
                return Err(ProposeError::Membership(format!(
                    "node {id} runs feature level {}, below the cluster's level {recorded}: \
                     start it with a build of level {recorded} or later",
                    reply.feature_level
                )));
            }
        }
        self.raft
            .add_learner(id, addrs, true)
            .await
            .map_err(write_error)?;
        self.raft
            .change_membership(ChangeMembers::AddVoterIds(BTreeSet::from([id])), false)
            .await
            .map_err(write_error)?;
        Ok(())
    }

    /// The level the cluster is at: the one recorded in the log, or the lowest among the
    /// members as last surveyed if that is higher (it is recorded by the next survey).
    pub fn cluster_level(&self) -> u32 {
        self.surveyed_level
            .load(Ordering::SeqCst)
            .max(self.recorded_level.load(Ordering::SeqCst))
    }

    /// The cluster's level as recorded in the log (0 before one is).
    pub fn recorded_level(&self) -> u32 {
        self.recorded_level.load(Ordering::SeqCst)
    }

    /// Asks every other member who it is (leader only): notes the lowest feature level
    /// among them (a member that does not answer counts as `BEFORE_LEVELS`, the safe guess)
    /// and records it in the log once it is above the recorded one; corrects addresses in
    /// the membership: this node's own, if it now listens elsewhere, and every blank client
    /// address (a restore from backup knows only peer addresses). `Ok(true)` once no address
    /// is missing.
    pub async fn survey_members(&self) -> Result<bool, ProposeError> {
        let membership = self.metrics().membership_config.membership().clone();
        let mut corrected = BTreeMap::new();
        let mut missing = false;
        let mut lowest = feature_level::LEVEL;
        for (id, node) in membership.nodes() {
            if *id == self.node_id {
                if node != &self.addrs {
                    corrected.insert(*id, self.addrs.clone());
                }
                continue;
            }
            match peer::hello(&node.peer_addr, &self.transport, Duration::from_secs(1)).await {
                Ok(reply) if reply.node_id == *id => {
                    let level = match reply.feature_level {
                        0 => feature_level::BEFORE_LEVELS,
                        level => level,
                    };
                    lowest = lowest.min(level);
                    if level < self.recorded_level() {
                        tracing::warn!(
                            node = id,
                            level,
                            cluster_level = self.recorded_level(),
                            "a member runs a build below the cluster's level: it stops at \
                             the first entry it cannot apply; upgrade it"
                        );
                    }
                    if node.client_addr.is_empty() && !reply.client_addr.is_empty() {
                        corrected.insert(
                            *id,
                            KeelNode {
                                client_addr: reply.client_addr,
                                peer_addr: node.peer_addr.clone(),
                            },
                        );
                    }
                }
                _ => {
                    lowest = lowest.min(feature_level::BEFORE_LEVELS);
                    missing |= node.client_addr.is_empty();
                }
            }
        }
        self.surveyed_level.store(lowest, Ordering::SeqCst);
        if !corrected.is_empty() {
            tracing::info!(?corrected, "recording members' current addresses");
            self.raft
                .change_membership(ChangeMembers::SetNodes(corrected), true)
                .await
                .map_err(write_error)?;
        }
        if lowest > self.recorded_level() && lowest >= feature_level::RELEASE_4 {
            tracing::info!(
                level = lowest,
                "every member runs this feature level: recording it as the cluster's"
            );
            let record = Kind::RecordClusterLevel(RecordClusterLevel { level: lowest });
            if let Err(rejection) = self
                .propose(Mutation {
                    now: 0,
                    kind: Some(record),
                })
                .await?
            {
                tracing::warn!(%rejection, "recording the cluster's feature level was refused");
            }
        }
        Ok(!missing)
    }

    /// Removes a node (voter or learner) from the membership.
    pub async fn remove_node(&self, id: NodeId) -> Result<(), ProposeError> {
        let metrics = self.metrics();
        let membership = metrics.membership_config.membership();
        if membership.get_node(&id).is_none() {
            return Err(ProposeError::Membership(format!(
                "node {id} is not a member"
            )));
        }
        let change = if membership.voter_ids().any(|v| v == id) {
            ChangeMembers::RemoveVoters(BTreeSet::from([id]))
        } else {
            ChangeMembers::RemoveNodes(BTreeSet::from([id]))
        };
        self.raft
            .change_membership(change, false)
            .await
            .map_err(write_error)?;
        Ok(())
    }

    /// Before this node stops: it no longer campaigns, and if it leads it takes no new
    /// proposals (they answer "not the leader", which clients retry), so its log stops
    /// growing; it asks its most up-to-date fellow voter (once that one has every entry, or
    /// when `wait` runs out) to campaign now (Raft's TimeoutNow), and waits until it no
    /// longer leads. The node asked, if the hand-off happened.
    pub async fn hand_off_leadership(&self, wait: Duration) -> Option<NodeId> {
        let deadline = tokio::time::Instant::now() + wait;
        self.raft.runtime_config().elect(false);
        let m = self.metrics();
        if m.state != ServerState::Leader {
            return None;
        }
        self.handing_off.store(true, Ordering::SeqCst);
        let membership = m.membership_config.membership().clone();
        let voters: Vec<NodeId> = membership
            .voter_ids()
            .filter(|v| *v != self.node_id)
            .collect();
        let target = loop {
            let m = self.metrics();
            let matched = |v: &NodeId| {
                m.replication
                    .as_ref()
                    .and_then(|r| r.get(v).cloned().flatten())
                    .map(|l| l.index)
            };
            let best = voters.iter().copied().max_by_key(|v| matched(v))?;
            if matched(&best) >= m.last_log_index || tokio::time::Instant::now() >= deadline {
                break best;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        };
        let peer_addr = membership.get_node(&target)?.peer_addr.clone();
        let asked = peer::timeout_now(
            &peer_addr,
            &self.transport,
            &self.cluster_id,
            self.node_id,
            target,
            Duration::from_secs(1),
        )
        .await;
        if let Err(e) = asked {
            tracing::warn!(node = target, error = %e.message(), "leadership hand-off refused");
            return None;
        }
        // Handed over once the target's higher term has made this node step down (the new
        // leader's first heartbeat may come later).
        let mut metrics = self.raft.metrics();
        let settled = tokio::time::timeout(
            wait.max(Duration::from_secs(1)),
            metrics.wait_for(|m| m.state != ServerState::Leader),
        )
        .await;
        matches!(settled, Ok(Ok(_))).then_some(target)
    }

    /// Starts an election on this node (how leadership is handed to it: it wins if its log
    /// is up to date).
    pub async fn campaign(&self) -> Result<(), ProposeError> {
        self.raft
            .trigger()
            .elect()
            .await
            .map_err(|e| ProposeError::Fatal(e.to_string()))
    }

    pub fn metrics(&self) -> RaftMetrics<NodeId, KeelNode> {
        self.raft.metrics().borrow().clone()
    }

    pub async fn shutdown(&self) {
        let _ = self.raft.shutdown().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use keel_engine::records::EngineMeta;
    use keel_engine::view::Writes;
    use prost::Message;

    fn options() -> NodeOptions {
        NodeOptions {
            node_id: 1,
            addrs: KeelNode {
                client_addr: "127.0.0.1:1".into(),
                peer_addr: "127.0.0.1:2".into(),
            },
            snapshot_every: 1_000,
            transport: PeerTransport::default(),
        }
    }

    #[tokio::test]
    async fn a_data_directory_of_a_cluster_at_a_later_level_refuses_this_build() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let meta = EngineMeta {
            cluster_level: feature_level::LEVEL + 1,
            ..Default::default()
        };
        let mut writes = Writes::new();
        writes.insert(keel_engine::keys::meta(), Some(meta.encode_to_vec()));
        store.commit_state(writes).unwrap();
        let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
        match RaftNode::start(store, options(), tx).await {
            Err(StartError::Config(message)) => {
                assert!(message.contains("cannot be downgraded"), "{message}")
            }
            Err(other) => panic!("refused for another reason: {other}"),
            Ok(_) => panic!("a build below the recorded level started"),
        }
    }
}
