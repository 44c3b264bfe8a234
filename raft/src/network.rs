//! Raft networking. A single-node group has no peers: every RPC to another node reports it
//! unreachable. The tonic peer transport comes with multi-node clusters.

use crate::types::{NodeId, TypeConfig};
use openraft::error::{InstallSnapshotError, RPCError, RaftError, Unreachable};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use openraft::BasicNode;

#[derive(Debug, thiserror::Error)]
#[error("node {0} is not reachable: this node runs a single-node group")]
struct NoPeers(NodeId);

pub struct NoPeersFactory;

pub struct NoPeersClient(NodeId);

impl RaftNetworkFactory<TypeConfig> for NoPeersFactory {
    type Network = NoPeersClient;
    async fn new_client(&mut self, target: NodeId, _node: &BasicNode) -> Self::Network {
        NoPeersClient(target)
    }
}

impl NoPeersClient {
    fn unreachable<E: std::error::Error>(&self) -> RPCError<NodeId, BasicNode, E> {
        RPCError::Unreachable(Unreachable::new(&NoPeers(self.0)))
    }
}

impl RaftNetwork<TypeConfig> for NoPeersClient {
    async fn append_entries(
        &mut self,
        _rpc: AppendEntriesRequest<TypeConfig>,
        _option: RPCOption,
    ) -> Result<AppendEntriesResponse<NodeId>, RPCError<NodeId, BasicNode, RaftError<NodeId>>> {
        Err(self.unreachable())
    }

    async fn install_snapshot(
        &mut self,
        _rpc: InstallSnapshotRequest<TypeConfig>,
        _option: RPCOption,
    ) -> Result<
        InstallSnapshotResponse<NodeId>,
        RPCError<NodeId, BasicNode, RaftError<NodeId, InstallSnapshotError>>,
    > {
        Err(self.unreachable())
    }

    async fn vote(
        &mut self,
        _rpc: VoteRequest<NodeId>,
        _option: RPCOption,
    ) -> Result<VoteResponse<NodeId>, RPCError<NodeId, BasicNode, RaftError<NodeId>>> {
        Err(self.unreachable())
    }
}
