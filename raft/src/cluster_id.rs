//! The cluster id: minted when a cluster is bootstrapped or restored from a backup, kept in
//! `raft_meta`, sent with every Raft RPC (the `keel-cluster-id` header) and checked by the
//! receiver, so the nodes of two clusters (a restored one and the one its backup came from)
//! never exchange a vote, an entry or a snapshot.
//!
//! A node without an id (it is joining, or it is an initial member the bootstrapper has not
//! reached yet) adopts the first id it is sent. A message without an id comes from a build
//! older than cluster ids and is let through, so such a cluster can be upgraded node by node.

use keel_storage::{StorageError, Store};
use std::sync::{Arc, RwLock};

const KEY: &str = "cluster_id";

/// The gRPC metadata key a peer RPC carries the sender's cluster id in.
pub const HEADER: &str = "keel-cluster-id";

/// A message from another cluster.
#[derive(Debug, Clone, thiserror::Error)]
#[error("this node belongs to cluster {ours}; the request comes from cluster {theirs}")]
pub struct Mismatch {
    pub ours: String,
    pub theirs: String,
}

#[derive(Clone)]
pub struct ClusterId {
    store: Store,
    current: Arc<RwLock<Option<String>>>,
}

/// A fresh random id (UUID v4 text).
pub fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

impl ClusterId {
    pub fn load(store: Store) -> Result<Self, StorageError> {
        let current = store
            .meta_get(KEY)?
            .map(|b| String::from_utf8_lossy(&b).into_owned());
        Ok(ClusterId {
            store,
            current: Arc::new(RwLock::new(current)),
        })
    }

    pub fn get(&self) -> Option<String> {
        self.current.read().expect("cluster id lock").clone()
    }

    /// Records `id` as this node's cluster id (fsynced).
    pub fn set(&self, id: &str) -> Result<(), StorageError> {
        let mut current = self.current.write().expect("cluster id lock");
        self.store.meta_put_synced(KEY, id.as_bytes().to_vec())?;
        *current = Some(id.to_string());
        Ok(())
    }

    /// This node's id, minting one first if it has none (a bootstrap).
    pub fn get_or_mint(&self) -> Result<String, StorageError> {
        if let Some(id) = self.get() {
            return Ok(id);
        }
        let id = new_id();
        self.set(&id)?;
        tracing::info!(cluster_id = %id, "minted a cluster id");
        Ok(id)
    }

    /// Whether a message from a node of cluster `theirs` ("" when the sender predates
    /// cluster ids) may be handled here; a node with no id yet adopts `theirs`.
    pub fn admit(&self, theirs: &str) -> Result<(), AdmitError> {
        if theirs.is_empty() {
            return Ok(());
        }
        match self.get() {
            Some(ours) if ours == theirs => Ok(()),
            Some(ours) => Err(AdmitError::Mismatch(Mismatch {
                ours,
                theirs: theirs.to_string(),
            })),
            None => {
                tracing::info!(cluster_id = theirs, "adopted the cluster id of a peer");
                self.set(theirs).map_err(AdmitError::Storage)
            }
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AdmitError {
    #[error(transparent)]
    Mismatch(Mismatch),
    #[error("recording the cluster id: {0}")]
    Storage(StorageError),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_node_adopts_the_first_id_refuses_others_and_remembers_it_across_restarts() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let id = ClusterId::load(store.clone()).unwrap();
        assert_eq!(id.get(), None);
        id.admit("").unwrap();
        assert_eq!(id.get(), None, "an old sender's empty id is not adopted");
        id.admit("a").unwrap();
        id.admit("a").unwrap();
        let refused = id.admit("b").unwrap_err();
        assert!(matches!(refused, AdmitError::Mismatch(ref m) if m.ours == "a" && m.theirs == "b"));
        drop(id);
        let reopened = ClusterId::load(store).unwrap();
        assert_eq!(reopened.get().as_deref(), Some("a"));
        assert_eq!(reopened.get_or_mint().unwrap(), "a");
    }
}
