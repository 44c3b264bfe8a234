//! Backups (`keel snapshot save | status | restore`, as etcd's): one file holding a node's
//! whole `state` at one applied log index, taken from a live node while apply goes on, with
//! a SHA-256 checksum; and the restore that turns it into a new cluster's data directory.
//!
//! Format: `KEELBAK1`, then the pairs in the snapshot file format (`snapshot::PairWriter`:
//! key order, end marker and pair count), then `[u32 BE len][BackupInfo]`, then the SHA-256
//! of every byte before it. Raft's apply metadata (last applied log id, membership) travels
//! in the pairs, so the file is exactly one applied index.
//!
//! A restore writes the pairs as the node's current snapshot with the new cluster's
//! membership in place of the old one, a vote one term past the backup's, and a new cluster
//! id: openraft opens it as a node that installed a snapshot and purged its log, and the
//! restored members elect a leader among themselves, never with a node of the old cluster.

use crate::cluster_id::ClusterId;
use crate::codec;
use crate::log_store;
use crate::snapshot::{PairReader, PairWriter, SnapshotError, SnapshotFiles};
use crate::state_machine::{last_applied_key, membership_key};
use crate::types::{KeelNode, LogId, Membership, NodeId, SnapshotMeta, StoredMembership, Vote};
use keel_storage::{StorageError, Store};
use prost::Message;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

const MAGIC: &[u8; 8] = b"KEELBAK1";

/// What a backup says about itself (written after its pairs).
#[derive(Clone, PartialEq, prost::Message)]
pub struct BackupInfo {
    /// The storage format of the pairs (`keel_storage::FORMAT_VERSION` of the writer).
    #[prost(uint32, tag = "1")]
    pub storage_format: u32,
    /// The cluster the backup was taken from ("" for a cluster older than cluster ids).
    #[prost(string, tag = "2")]
    pub cluster_id: String,
    /// The node that wrote it.
    #[prost(uint64, tag = "3")]
    pub node_id: u64,
    #[prost(uint64, tag = "4")]
    pub applied_term: u64,
    #[prost(uint64, tag = "5")]
    pub applied_index: u64,
    #[prost(int64, tag = "6")]
    pub created_unix_millis: i64,
    /// The Keel release that wrote it.
    #[prost(string, tag = "7")]
    pub keel_version: String,
    #[prost(uint64, tag = "8")]
    pub pairs: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("backup file: {0}")]
    Io(#[from] io::Error),
    #[error(transparent)]
    Snapshot(#[from] SnapshotError),
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("{0} is not a Keel backup")]
    NotABackup(String),
    #[error("{0} is damaged: its checksum does not match (truncated or altered)")]
    Checksum(String),
    #[error("{0}")]
    Invalid(String),
}

/// Hashes every byte that passes through.
struct Hashing<T> {
    inner: T,
    hash: Sha256,
}

impl<T> Hashing<T> {
    fn new(inner: T) -> Self {
        Hashing {
            inner,
            hash: Sha256::new(),
        }
    }
    fn finish(self) -> (T, [u8; 32]) {
        (self.inner, self.hash.finalize().into())
    }
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hash.update(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hash.update(&buf[..n]);
        Ok(n)
    }
}

fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn decode_applied(bytes: &[u8]) -> Result<LogId, BackupError> {
    codec::decode_log_id(bytes).map_err(|e| BackupError::Invalid(e.to_string()))
}

/// Writes a backup of `store`'s `state` as of one moment to `out` (a RocksDB snapshot: apply
/// goes on meanwhile), naming `node_id` as its writer. Returns the output and the info.
pub fn write<W: Write>(
    store: &Store,
    out: W,
    node_id: NodeId,
) -> Result<(W, BackupInfo), BackupError> {
    let cluster_id = ClusterId::load(store.clone())?.get().unwrap_or_default();
    let mut hashed = Hashing::new(out);
    hashed.write_all(MAGIC)?;
    let mut pairs = PairWriter::new(hashed)?;
    let applied_key = last_applied_key();
    let mut applied = None;
    store.state_snapshot_for_each(
        || {},
        |k, v| -> Result<(), BackupError> {
            if k == applied_key.as_slice() {
                applied = Some(decode_applied(v)?);
            }
            Ok(pairs.pair(k, v)?)
        },
    )?;
    let (mut hashed, count) = pairs.finish()?;
    let applied =
        applied.ok_or_else(|| BackupError::Invalid("this node has applied nothing yet".into()))?;
    let info = BackupInfo {
        storage_format: keel_storage::FORMAT_VERSION,
        cluster_id,
        node_id,
        applied_term: applied.leader_id.term,
        applied_index: applied.index,
        created_unix_millis: now_millis(),
        keel_version: env!("CARGO_PKG_VERSION").to_string(),
        pairs: count,
    };
    let bytes = info.encode_to_vec();
    hashed.write_all(&(bytes.len() as u32).to_be_bytes())?;
    hashed.write_all(&bytes)?;
    let (mut out, digest) = hashed.finish();
    out.write_all(&digest)?;
    out.flush()?;
    Ok((out, info))
}

/// Reads a whole backup, handing each pair to `on_pair`, and checks its checksum at the end:
/// act on the pairs only once this returns `Ok`.
pub fn read(
    path: &Path,
    mut on_pair: impl FnMut(&[u8], &[u8]) -> Result<(), BackupError>,
) -> Result<(BackupInfo, [u8; 32]), BackupError> {
    let name = path.display().to_string();
    let mut input = Hashing::new(BufReader::with_capacity(1 << 20, File::open(path)?));
    let mut magic = [0u8; 8];
    if input.read_exact(&mut magic).is_err() || &magic != MAGIC {
        return Err(BackupError::NotABackup(name));
    }
    let damaged = || BackupError::Checksum(name.clone());
    let mut pairs = PairReader::new(input, name.clone()).map_err(|_| damaged())?;
    for (k, v) in pairs.by_ref() {
        on_pair(&k, &v)?;
    }
    let mut input = pairs.finish().map_err(|_| damaged())?;
    let mut len = [0u8; 4];
    input.read_exact(&mut len).map_err(|_| damaged())?;
    let mut info = Vec::new();
    (&mut input)
        .take(u64::from(u32::from_be_bytes(len)))
        .read_to_end(&mut info)?;
    let (mut rest, digest) = input.finish();
    let mut stored = [0u8; 32];
    rest.read_exact(&mut stored).map_err(|_| damaged())?;
    if stored != digest || rest.read(&mut [0u8; 1])? != 0 {
        return Err(damaged());
    }
    let info = BackupInfo::decode(info.as_slice()).map_err(|_| damaged())?;
    Ok((info, digest))
}

/// A checked backup: its info, size, checksum and how many records each table holds.
#[derive(Debug, Clone)]
pub struct Summary {
    pub info: BackupInfo,
    pub size: u64,
    pub sha256: String,
    pub tables: BTreeMap<&'static str, u64>,
}

/// The table a `state` key belongs to, named for people.
fn table_name(key: &[u8]) -> &'static str {
    use keel_engine::keys::table;
    match key.get(4).copied() {
        Some(table::NAMESPACE) => "namespaces",
        Some(table::EXECUTION) => "workflow runs",
        Some(table::HISTORY) => "history events",
        Some(table::TASK) => "queued tasks",
        Some(table::TIMER) => "timers",
        Some(table::SCHEDULE) => "schedules",
        Some(table::BATCH_JOB) => "batch jobs",
        _ => "other records",
    }
}

/// Reads and checks a whole backup.
pub fn verify(path: &Path) -> Result<Summary, BackupError> {
    let mut tables = BTreeMap::new();
    let (info, digest) = read(path, |k, _| {
        *tables.entry(table_name(k)).or_insert(0) += 1;
        Ok(())
    })?;
    Ok(Summary {
        info,
        size: std::fs::metadata(path)?.len(),
        sha256: digest.iter().map(|b| format!("{b:02x}")).collect(),
        tables,
    })
}

/// Where and as what a backup is restored: a new data directory for one member of the new
/// cluster, whose members (all voters) are `members`.
#[derive(Debug, Clone)]
pub struct RestoreTarget {
    pub data_dir: PathBuf,
    pub node_id: NodeId,
    pub members: BTreeMap<NodeId, KeelNode>,
}

/// What a restore made.
#[derive(Debug, Clone)]
pub struct Restored {
    pub summary: Summary,
    pub cluster_id: String,
}

/// The new cluster's id: the same for every member restored from one file into one member
/// set (so they agree without talking), never the id of the cluster the backup came from.
fn restored_cluster_id(summary: &Summary, members: &BTreeMap<NodeId, KeelNode>) -> String {
    let mut hash = Sha256::new();
    hash.update(b"keel restore\0");
    hash.update(summary.sha256.as_bytes());
    for (id, node) in members {
        hash.update(id.to_be_bytes());
        hash.update(node.peer_addr.as_bytes());
        hash.update([0]);
    }
    let d: [u8; 32] = hash.finalize().into();
    uuid::Builder::from_random_bytes(d[..16].try_into().expect("16 bytes"))
        .into_uuid()
        .to_string()
}

/// Makes `target.data_dir` (which must be empty or absent) a member of a new cluster holding
/// the backup's state. Every member of the new cluster is restored from the same file with
/// the same `members`.
pub fn restore(path: &Path, target: &RestoreTarget) -> Result<Restored, BackupError> {
    let summary = verify(path)?;
    if summary.info.storage_format > keel_storage::FORMAT_VERSION {
        return Err(BackupError::Invalid(format!(
            "{} was written by Keel {} in storage format {}; this build reads formats up to {}",
            path.display(),
            summary.info.keel_version,
            summary.info.storage_format,
            keel_storage::FORMAT_VERSION
        )));
    }
    if !target.members.contains_key(&target.node_id) {
        return Err(BackupError::Invalid(format!(
            "the new cluster's members do not include this node's id {}",
            target.node_id
        )));
    }
    let dir = &target.data_dir;
    if dir.exists() && std::fs::read_dir(dir)?.next().is_some() {
        return Err(BackupError::Invalid(format!(
            "{} is not empty: a restore makes a new data directory",
            dir.display()
        )));
    }
    std::fs::create_dir_all(dir)?;
    let store = Store::open(dir)?;
    let files = SnapshotFiles::open(store.clone())?;
    let file = files.new_path("restored");
    let written = write_restored_pairs(path, &file, target);
    let (applied, membership) = match written {
        Ok(Some(found)) => found,
        Ok(None) => {
            files.abandon(&file);
            return Err(BackupError::Invalid(
                "the backup holds no applied log id or membership".into(),
            ));
        }
        Err(e) => {
            files.abandon(&file);
            return Err(e);
        }
    };
    let meta = SnapshotMeta {
        last_log_id: Some(applied),
        last_membership: membership,
        snapshot_id: format!("restored-{}-{}", applied.leader_id.term, applied.index),
    };
    files.install(&meta, &file)?;
    // A vote past every term of the old cluster: the first election here starts above it.
    log_store::write_vote(
        &store,
        &Vote::new(applied.leader_id.term + 1, target.node_id),
    )?;
    let cluster_id = restored_cluster_id(&summary, &target.members);
    ClusterId::load(store.clone())?.set(&cluster_id)?;
    store.flush()?;
    Ok(Restored {
        summary,
        cluster_id,
    })
}

/// Copies the backup's pairs to a snapshot file at `file`, with the new membership in place
/// of the old one; the applied log id and the new membership, if the backup had both.
fn write_restored_pairs(
    backup: &Path,
    file: &Path,
    target: &RestoreTarget,
) -> Result<Option<(LogId, StoredMembership)>, BackupError> {
    let voters: BTreeSet<NodeId> = target.members.keys().copied().collect();
    let (membership_key, applied_key) = (membership_key(), last_applied_key());
    let mut membership = None;
    let mut applied = None;
    let mut pairs = PairWriter::new(BufWriter::with_capacity(1 << 20, File::create(file)?))?;
    read(backup, |k, v| {
        if k == membership_key.as_slice() {
            let old =
                codec::decode_membership(v).map_err(|e| BackupError::Invalid(e.to_string()))?;
            let new = StoredMembership::new(
                *old.log_id(),
                Membership::new(vec![voters.clone()], target.members.clone()),
            );
            pairs.pair(k, &codec::encode_membership(&new))?;
            membership = Some(new);
            return Ok(());
        }
        if k == applied_key.as_slice() {
            applied = Some(decode_applied(v)?);
        }
        Ok(pairs.pair(k, v)?)
    })?;
    let (out, _) = pairs.finish()?;
    out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
    Ok(applied.zip(membership))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::tests::state;
    use keel_engine::view::Writes;
    use openraft::CommittedLeaderId;

    fn node(peer: &str) -> KeelNode {
        KeelNode {
            client_addr: format!("client-of-{peer}"),
            peer_addr: peer.to_string(),
        }
    }

    /// A store as a running node leaves it: some engine records and raft's apply metadata.
    fn source() -> (tempfile::TempDir, Store, LogId) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let applied = LogId::new(CommittedLeaderId::new(7, 1), 42);
        let old = StoredMembership::new(
            Some(LogId::new(CommittedLeaderId::new(1, 1), 1)),
            Membership::new(
                vec![BTreeSet::from([1])],
                BTreeMap::from([(1, node("old:1"))]),
            ),
        );
        let mut w = Writes::new();
        w.insert(
            keel_engine::keys::namespace("default"),
            Some(b"ns".to_vec()),
        );
        w.insert(
            keel_engine::keys::execution("default", "wf", "run"),
            Some(b"run".to_vec()),
        );
        w.insert(last_applied_key(), Some(codec::encode_log_id(&applied)));
        w.insert(membership_key(), Some(codec::encode_membership(&old)));
        store.commit_state(w).unwrap();
        ClusterId::load(store.clone())
            .unwrap()
            .set("old-cluster")
            .unwrap();
        (dir, store, applied)
    }

    fn saved(store: &Store, dir: &Path) -> PathBuf {
        let path = dir.join("backup.keel");
        let (_, info) = write(store, File::create(&path).unwrap(), 1).unwrap();
        assert_eq!(
            (info.applied_term, info.applied_index, info.pairs),
            (7, 42, 4)
        );
        path
    }

    #[test]
    fn a_backup_is_verified_and_counted() {
        let (dir, store, _) = source();
        let path = saved(&store, dir.path());
        let summary = verify(&path).unwrap();
        assert_eq!(summary.info.cluster_id, "old-cluster");
        assert_eq!(summary.info.storage_format, keel_storage::FORMAT_VERSION);
        assert_eq!(summary.tables.get("namespaces"), Some(&1));
        assert_eq!(summary.tables.get("workflow runs"), Some(&1));
        assert_eq!(summary.size, std::fs::metadata(&path).unwrap().len());
        assert_eq!(summary.sha256.len(), 64);
    }

    #[test]
    fn a_damaged_truncated_or_foreign_file_is_refused() {
        let (dir, store, _) = source();
        let path = saved(&store, dir.path());
        let bytes = std::fs::read(&path).unwrap();
        for at in [12, bytes.len() / 2, bytes.len() - 40, bytes.len() - 1] {
            let mut flipped = bytes.clone();
            flipped[at] ^= 0x01;
            std::fs::write(&path, &flipped).unwrap();
            assert!(
                matches!(verify(&path), Err(BackupError::Checksum(_))),
                "a flipped bit at {at} is caught"
            );
        }
        for len in [9, bytes.len() / 2, bytes.len() - 1] {
            std::fs::write(&path, &bytes[..len]).unwrap();
            assert!(verify(&path).is_err(), "truncated to {len} is refused");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        std::fs::write(&path, &longer).unwrap();
        assert!(verify(&path).is_err(), "trailing bytes are refused");
        std::fs::write(&path, b"KEELSNP1 not a backup").unwrap();
        assert!(matches!(verify(&path), Err(BackupError::NotABackup(_))));
    }

    #[test]
    fn a_restore_keeps_the_state_and_replaces_membership_vote_and_cluster_id() {
        let (dir, store, applied) = source();
        let path = saved(&store, dir.path());
        let members = BTreeMap::from([(1, node("new:1")), (2, node("new:2")), (3, node("new:3"))]);
        let mut ids = Vec::new();
        for node_id in [1, 2] {
            let target = RestoreTarget {
                data_dir: dir.path().join(format!("restored-{node_id}")),
                node_id,
                members: members.clone(),
            };
            let restored = restore(&path, &target).unwrap();
            assert_ne!(restored.cluster_id, "old-cluster");
            ids.push(restored.cluster_id.clone());
            let new = Store::open(&target.data_dir).unwrap();
            let (old_state, new_state) = (state(&store), state(&new));
            assert_eq!(old_state.len(), new_state.len());
            for ((ok, ov), (nk, nv)) in old_state.iter().zip(&new_state) {
                assert_eq!(ok, nk);
                if *nk == membership_key() {
                    let m = codec::decode_membership(nv).unwrap();
                    assert_eq!(
                        m.membership().voter_ids().collect::<Vec<_>>(),
                        vec![1, 2, 3]
                    );
                    assert_eq!(m.membership().get_node(&2), Some(&node("new:2")));
                } else {
                    assert_eq!(ov, nv, "every other record is the backup's");
                }
            }
            let vote = codec::decode_vote(&new.meta_get("vote").unwrap().unwrap()).unwrap();
            assert_eq!(vote, Vote::new(applied.leader_id.term + 1, node_id));
            assert_eq!(
                ClusterId::load(new.clone()).unwrap().get(),
                Some(restored.cluster_id)
            );
            let files = SnapshotFiles::open(new).unwrap();
            assert_eq!(
                files.current().unwrap().unwrap().0.last_log_id,
                Some(applied)
            );
        }
        assert_eq!(ids[0], ids[1], "members restored alike agree on the new id");
    }

    #[test]
    fn a_restore_refuses_a_used_directory_and_a_node_outside_the_members() {
        let (dir, store, _) = source();
        let path = saved(&store, dir.path());
        let members = BTreeMap::from([(1, node("new:1"))]);
        let used = dir.path().join("used");
        std::fs::create_dir_all(&used).unwrap();
        std::fs::write(used.join("something"), b"x").unwrap();
        let err = restore(
            &path,
            &RestoreTarget {
                data_dir: used,
                node_id: 1,
                members: members.clone(),
            },
        )
        .unwrap_err();
        assert!(err.to_string().contains("is not empty"), "{err}");
        let err = restore(
            &path,
            &RestoreTarget {
                data_dir: dir.path().join("fresh"),
                node_id: 5,
                members,
            },
        )
        .unwrap_err();
        assert!(err.to_string().contains("do not include"), "{err}");
    }
}
