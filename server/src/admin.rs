//! Keel's admin API on the client port: a node's own status and state checksum, leadership
//! transfer to a node (it campaigns), and membership changes (forwarded to the leader by
//! `forward`).

use crate::app::Keel;
use crate::errors;
use keel_client::messages::*;
use keel_client::proto::keel_admin_server::KeelAdmin;
use keel_raft::KeelNode;
use openraft::ServerState;
use std::sync::Arc;
use tonic::{Request, Response, Status};

pub struct AdminService {
    pub keel: Arc<Keel>,
}

fn role(state: ServerState) -> &'static str {
    match state {
        ServerState::Leader => "leader",
        ServerState::Follower => "follower",
        ServerState::Candidate => "candidate",
        ServerState::Learner => "learner",
        ServerState::Shutdown => "shutdown",
    }
}

/// FNV-1a, 64 bits: stable across builds and machines, which is all a replica comparison needs.
struct Fnv(u64);

impl Fnv {
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }
}

/// This node's view of itself and its cluster (answered from its own Raft metrics).
pub fn node_status(keel: &Keel) -> NodeStatus {
    let node = &keel.node;
    let m = node.metrics();
    let membership = m.membership_config.membership();
    let members = membership
        .nodes()
        .map(|(id, n)| Member {
            node_id: *id,
            client_addr: n.client_addr.clone(),
            peer_addr: n.peer_addr.clone(),
            voter: membership.voter_ids().any(|v| v == *id),
        })
        .collect();
    NodeStatus {
        node_id: node.node_id,
        client_addr: node.addrs.client_addr.clone(),
        peer_addr: node.addrs.peer_addr.clone(),
        role: role(m.state).into(),
        term: m.current_term,
        last_log_index: m.last_log_index,
        applied_index: m.last_applied.map(|l| l.index),
        snapshot_index: m.snapshot.map(|l| l.index),
        leader_id: m.current_leader,
        members,
        purged_index: m.purged.map(|l| l.index),
        version: env!("CARGO_PKG_VERSION").to_string(),
        storage_format: keel_storage::FORMAT_VERSION,
        data_size_bytes: keel.store.property_sum("rocksdb.estimate-live-data-size"),
        disk_size_bytes: keel.store.disk_size(),
        cluster_id: node.cluster_id.get().unwrap_or_default(),
        feature_level: keel_engine::feature_level::LEVEL,
        cluster_level: (m.state == ServerState::Leader).then(|| node.cluster_level()),
    }
}

/// How many backup chunks may wait for the client: memory stays bounded at this many MiB
/// whatever the size of the state.
const BACKUP_CHUNKS_IN_FLIGHT: usize = 4;
const BACKUP_CHUNK_BYTES: usize = 1 << 20;

/// A `Write` that sends what it is given to a stream in chunks of `BACKUP_CHUNK_BYTES`,
/// waiting while the client is behind.
struct ChunkSink {
    buf: Vec<u8>,
    tx: tokio::sync::mpsc::Sender<Result<SnapshotChunk, Status>>,
}

impl ChunkSink {
    fn send(&mut self) -> std::io::Result<()> {
        let data = std::mem::replace(&mut self.buf, Vec::with_capacity(BACKUP_CHUNK_BYTES));
        self.tx
            .blocking_send(Ok(SnapshotChunk { data }))
            .map_err(|_| std::io::Error::other("the client went away"))
    }
}

impl std::io::Write for ChunkSink {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        let room = BACKUP_CHUNK_BYTES - self.buf.len();
        let n = room.min(bytes.len());
        self.buf.extend_from_slice(&bytes[..n]);
        if self.buf.len() == BACKUP_CHUNK_BYTES {
            self.send()?;
        }
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        if !self.buf.is_empty() {
            self.send()?;
        }
        Ok(())
    }
}

#[tonic::async_trait]
impl KeelAdmin for AdminService {
    type SnapshotSaveStream = tokio_stream::wrappers::ReceiverStream<Result<SnapshotChunk, Status>>;

    async fn snapshot_save(
        &self,
        _: Request<SnapshotSaveRequest>,
    ) -> Result<Response<Self::SnapshotSaveStream>, Status> {
        // Everything acknowledged before this call is applied here before the copy is taken.
        self.keel
            .node
            .linearizable()
            .await
            .map_err(errors::propose)?;
        let (tx, rx) = tokio::sync::mpsc::channel(BACKUP_CHUNKS_IN_FLIGHT);
        let store = self.keel.store.clone();
        let node_id = self.keel.node.node_id;
        let span = tracing::info_span!("snapshot_save", node = node_id);
        tokio::task::spawn_blocking(move || {
            let _enter = span.enter();
            let began = std::time::Instant::now();
            let sink = ChunkSink {
                buf: Vec::with_capacity(BACKUP_CHUNK_BYTES),
                tx: tx.clone(),
            };
            match keel_raft::backup::write(&store, sink, node_id) {
                Ok((_, info)) => tracing::info!(
                    index = info.applied_index,
                    pairs = info.pairs,
                    took_ms = began.elapsed().as_millis() as u64,
                    "backup streamed"
                ),
                Err(e) => {
                    tracing::warn!(error = %e, "backup failed");
                    let _ = tx.blocking_send(Err(Status::internal(format!("backup failed: {e}"))));
                }
            }
        });
        Ok(Response::new(tokio_stream::wrappers::ReceiverStream::new(
            rx,
        )))
    }

    async fn compact(&self, _: Request<CompactRequest>) -> Result<Response<CompactReply>, Status> {
        let store = self.keel.store.clone();
        let span = tracing::info_span!("compact", node = self.keel.node.node_id);
        tokio::task::spawn_blocking(move || {
            let _enter = span.enter();
            let before = store.disk_size();
            store.compact();
            let after = store.disk_size();
            tracing::info!(before, after, "compacted");
            Response::new(CompactReply {
                disk_bytes_before: before,
                disk_bytes_after: after,
            })
        })
        .await
        .map_err(errors::internal)
    }

    async fn node_status(
        &self,
        _: Request<NodeStatusRequest>,
    ) -> Result<Response<NodeStatus>, Status> {
        Ok(Response::new(node_status(&self.keel)))
    }

    async fn state_checksum(
        &self,
        _: Request<StateChecksumRequest>,
    ) -> Result<Response<StateChecksum>, Status> {
        let store = self.keel.store.clone();
        let span = tracing::info_span!("state_checksum");
        tokio::task::spawn_blocking(move || {
            let _enter = span.enter();
            let mut hash = Fnv(0xcbf2_9ce4_8422_2325);
            let mut keys = 0u64;
            let mut applied = None;
            let applied_key = keel_raft::state_machine::last_applied_key();
            store
                .state_snapshot_for_each(
                    || {},
                    |k, v| -> Result<(), keel_storage::StorageError> {
                        if k == applied_key.as_slice() {
                            applied = keel_raft::codec::decode_log_id(v).ok().map(|l| l.index);
                        }
                        hash.write(&(k.len() as u32).to_be_bytes());
                        hash.write(k);
                        hash.write(&(v.len() as u32).to_be_bytes());
                        hash.write(v);
                        keys += 1;
                        Ok(())
                    },
                )
                .map_err(errors::internal)?;
            Ok(Response::new(StateChecksum {
                applied_index: applied,
                checksum: hash.0,
                keys,
            }))
        })
        .await
        .map_err(errors::internal)?
    }

    async fn campaign(
        &self,
        _: Request<CampaignRequest>,
    ) -> Result<Response<CampaignReply>, Status> {
        tracing::info!(
            node = self.keel.node.node_id,
            "campaigning for leadership on request"
        );
        self.keel.node.campaign().await.map_err(errors::propose)?;
        Ok(Response::new(CampaignReply {}))
    }

    async fn add_node(
        &self,
        request: Request<AddNodeRequest>,
    ) -> Result<Response<AddNodeReply>, Status> {
        let r = request.into_inner();
        if r.node_id == 0 || r.client_addr.is_empty() || r.peer_addr.is_empty() {
            return Err(Status::invalid_argument(
                "AddNode needs a non-zero node_id, a client_addr and a peer_addr",
            ));
        }
        tracing::info!(node = r.node_id, client = %r.client_addr, peer = %r.peer_addr, "adding a node");
        self.keel
            .node
            .add_node(
                r.node_id,
                KeelNode {
                    client_addr: r.client_addr,
                    peer_addr: r.peer_addr,
                },
            )
            .await
            .map_err(errors::propose)?;
        Ok(Response::new(AddNodeReply {}))
    }

    async fn remove_node(
        &self,
        request: Request<RemoveNodeRequest>,
    ) -> Result<Response<RemoveNodeReply>, Status> {
        let id = request.into_inner().node_id;
        tracing::info!(node = id, "removing a node");
        self.keel
            .node
            .remove_node(id)
            .await
            .map_err(errors::propose)?;
        Ok(Response::new(RemoveNodeReply {}))
    }
}
