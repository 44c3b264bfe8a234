//! Snapshot files: a consistent copy of the `state` column family written to disk while
//! apply goes on, sent to peers in chunks by openraft, and installed by replacing `state`.
//! Memory stays bounded on both sides: files are streamed, never held whole.
//!
//! Files live in `<data dir>/snapshots/`. `raft_meta` names the current snapshot (its meta and
//! file). An install first records itself under `installing`; a node that crashes mid-install
//! redoes it from the file when it opens, so `state` is never left half replaced.
//!
//! Format: `KEELSNP1`, then `[u32 BE key len][key][u32 BE value len][value]` per pair in key
//! order, then `u32::MAX` and the pair count as u64 BE (a truncated file is detected).

use crate::codec;
use crate::types::SnapshotMeta;
use keel_storage::{StorageError, Store};
use prost::Message;
use std::collections::BTreeSet;
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

const MAGIC: &[u8; 8] = b"KEELSNP1";
const END: u32 = u32::MAX;
const CURRENT: &str = "snapshot";
const INSTALLING: &str = "installing";

#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("snapshot file: {0}")]
    Io(#[from] io::Error),
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("corrupt snapshot file {0}")]
    Corrupt(String),
    #[error(transparent)]
    Decode(#[from] codec::DecodeError),
}

/// Which snapshot file a meta record belongs to.
#[derive(Clone, PartialEq, prost::Message)]
struct FileRecord {
    #[prost(bytes = "vec", tag = "1")]
    meta: Vec<u8>,
    #[prost(string, tag = "2")]
    file: String,
}

#[derive(Clone)]
pub struct SnapshotFiles {
    store: Store,
    dir: PathBuf,
    /// Files being written (a build and a receive may overlap); never deleted under a writer.
    in_progress: Arc<Mutex<BTreeSet<PathBuf>>>,
}

impl SnapshotFiles {
    /// Opens the snapshot directory beside the database, finishing an interrupted install and
    /// removing files nothing refers to.
    pub fn open(store: Store) -> Result<Self, SnapshotError> {
        let dir = store.dir().join("snapshots");
        std::fs::create_dir_all(&dir)?;
        let files = SnapshotFiles {
            store,
            dir,
            in_progress: Default::default(),
        };
        if let Some((meta, path)) = files.read_record(INSTALLING)? {
            tracing::warn!(file = %path.display(), "finishing an interrupted snapshot install");
            files.install(&meta, &path)?;
        }
        files.remove_all_but(files.current()?.map(|(_, p)| p).as_deref())?;
        Ok(files)
    }

    /// A fresh path in the snapshot directory, kept until `set_current` or `abandon`.
    pub fn new_path(&self, kind: &str) -> PathBuf {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let path = self.dir.join(format!("{kind}-{nanos}.data"));
        self.in_progress
            .lock()
            .expect("snapshot files lock")
            .insert(path.clone());
        path
    }

    /// Gives up a path from `new_path` (a failed build or receive) and deletes its file.
    pub fn abandon(&self, path: &Path) {
        self.in_progress
            .lock()
            .expect("snapshot files lock")
            .remove(path);
        let _ = std::fs::remove_file(path);
    }

    fn read_record(&self, name: &str) -> Result<Option<(SnapshotMeta, PathBuf)>, SnapshotError> {
        let Some(bytes) = self.store.meta_get(name)? else {
            return Ok(None);
        };
        let r = FileRecord::decode(bytes.as_slice())
            .map_err(|e| SnapshotError::Corrupt(e.to_string()))?;
        Ok(Some((
            codec::decode_snapshot_meta(&r.meta)?,
            self.dir.join(r.file),
        )))
    }

    fn write_record(
        &self,
        name: &str,
        meta: &SnapshotMeta,
        path: &Path,
    ) -> Result<(), SnapshotError> {
        let file = path
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default();
        let record = FileRecord {
            meta: codec::encode_snapshot_meta(meta),
            file,
        };
        self.store.meta_put_synced(name, record.encode_to_vec())?;
        Ok(())
    }

    /// The current snapshot's meta and file.
    pub fn current(&self) -> Result<Option<(SnapshotMeta, PathBuf)>, SnapshotError> {
        self.read_record(CURRENT)
    }

    /// Makes `path` the current snapshot, unless the current one is as new or newer (a
    /// build that finished after a newer snapshot was installed), and deletes the files no
    /// longer needed. Returns whether `path` became current.
    pub fn set_current(&self, meta: &SnapshotMeta, path: &Path) -> Result<bool, SnapshotError> {
        let mut in_progress = self.in_progress.lock().expect("snapshot files lock");
        in_progress.remove(path);
        let newer = match self.current()? {
            Some((current, _)) => current.last_log_id < meta.last_log_id,
            None => true,
        };
        if newer {
            self.write_record(CURRENT, meta, path)?;
        }
        let keep = self.current()?.map(|(_, p)| p);
        self.remove_unused(keep.as_deref(), &in_progress)?;
        Ok(newer)
    }

    fn remove_all_but(&self, keep: Option<&Path>) -> Result<(), SnapshotError> {
        let in_progress = self.in_progress.lock().expect("snapshot files lock");
        self.remove_unused(keep, &in_progress)
    }

    fn remove_unused(
        &self,
        keep: Option<&Path>,
        in_progress: &BTreeSet<PathBuf>,
    ) -> Result<(), SnapshotError> {
        for entry in std::fs::read_dir(&self.dir)? {
            let path = entry?.path();
            if Some(path.as_path()) != keep && !in_progress.contains(&path) {
                std::fs::remove_file(&path)?;
            }
        }
        Ok(())
    }

    /// Writes `state` as of the moment `on_taken` runs into `path` (fsynced).
    pub fn write_dump(&self, path: &Path, on_taken: impl FnOnce()) -> Result<u64, SnapshotError> {
        let mut pairs = PairWriter::new(BufWriter::with_capacity(1 << 20, File::create(path)?))?;
        self.store
            .state_snapshot_for_each(on_taken, |k, v| -> Result<(), SnapshotError> {
                Ok(pairs.pair(k, v)?)
            })?;
        let (out, count) = pairs.finish()?;
        let file = out.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        Ok(count)
    }

    /// Replaces `state` with the snapshot in `path` and makes it current. Restartable: the
    /// install is recorded first and redone by `open` if the node dies before it finishes.
    pub fn install(&self, meta: &SnapshotMeta, path: &Path) -> Result<(), SnapshotError> {
        File::open(path)?.sync_all()?;
        // Check the whole file before touching `state`.
        let mut check = PairReader::open(path)?;
        check.by_ref().for_each(drop);
        check.finish()?;
        self.write_record(INSTALLING, meta, path)?;
        let mut pairs = PairReader::open(path)?;
        self.store.replace_state(pairs.by_ref())?;
        pairs.finish()?;
        self.set_current(meta, path)?;
        self.store.meta_delete_synced(INSTALLING)?;
        Ok(())
    }
}

/// A key and its value.
pub(crate) type Pair = (Vec<u8>, Vec<u8>);

/// Writes pairs in the snapshot file format; `finish` writes the end marker.
pub(crate) struct PairWriter<W: Write> {
    out: W,
    count: u64,
}

impl<W: Write> PairWriter<W> {
    pub(crate) fn new(mut out: W) -> io::Result<Self> {
        out.write_all(MAGIC)?;
        Ok(PairWriter { out, count: 0 })
    }

    pub(crate) fn pair(&mut self, key: &[u8], value: &[u8]) -> io::Result<()> {
        self.out.write_all(&(key.len() as u32).to_be_bytes())?;
        self.out.write_all(key)?;
        self.out.write_all(&(value.len() as u32).to_be_bytes())?;
        self.out.write_all(value)?;
        self.count += 1;
        Ok(())
    }

    /// The output and the number of pairs written.
    pub(crate) fn finish(mut self) -> io::Result<(W, u64)> {
        self.out.write_all(&END.to_be_bytes())?;
        self.out.write_all(&self.count.to_be_bytes())?;
        Ok((self.out, self.count))
    }
}

/// Reads pairs in the snapshot file format one at a time; `finish` reports a bad or
/// truncated stream (and hands back the input, positioned just after the end marker).
pub(crate) struct PairReader<R: Read> {
    input: R,
    name: String,
    count: u64,
    outcome: Option<Result<(), SnapshotError>>,
}

impl PairReader<BufReader<File>> {
    fn open(path: &Path) -> Result<Self, SnapshotError> {
        let input = BufReader::with_capacity(1 << 20, File::open(path)?);
        PairReader::new(input, path.display().to_string())
    }
}

impl<R: Read> PairReader<R> {
    /// Reads the magic; `name` names the input in errors.
    pub(crate) fn new(mut input: R, name: String) -> Result<Self, SnapshotError> {
        let mut magic = [0u8; 8];
        input.read_exact(&mut magic)?;
        if &magic != MAGIC {
            return Err(SnapshotError::Corrupt(name));
        }
        Ok(PairReader {
            input,
            name,
            count: 0,
            outcome: None,
        })
    }

    fn read_u32(&mut self) -> io::Result<u32> {
        let mut b = [0u8; 4];
        self.input.read_exact(&mut b)?;
        Ok(u32::from_be_bytes(b))
    }

    fn read_bytes(&mut self, len: u32) -> io::Result<Vec<u8>> {
        // Grown as bytes arrive, so a forged length cannot allocate more than the input holds.
        let mut v = Vec::new();
        self.input
            .by_ref()
            .take(u64::from(len))
            .read_to_end(&mut v)?;
        if v.len() != len as usize {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        Ok(v)
    }

    fn next_pair(&mut self) -> Result<Option<Pair>, SnapshotError> {
        let klen = self.read_u32()?;
        if klen == END {
            let mut b = [0u8; 8];
            self.input.read_exact(&mut b)?;
            if u64::from_be_bytes(b) != self.count {
                return Err(SnapshotError::Corrupt(self.name.clone()));
            }
            return Ok(None);
        }
        let key = self.read_bytes(klen)?;
        let vlen = self.read_u32()?;
        let value = self.read_bytes(vlen)?;
        self.count += 1;
        Ok(Some((key, value)))
    }

    pub(crate) fn finish(self) -> Result<R, SnapshotError> {
        match self.outcome {
            Some(Ok(())) => Ok(self.input),
            Some(Err(e)) => Err(e),
            None => Err(SnapshotError::Corrupt(self.name)),
        }
    }
}

impl<R: Read> Iterator for PairReader<R> {
    type Item = Pair;
    fn next(&mut self) -> Option<Self::Item> {
        if self.outcome.is_some() {
            return None;
        }
        match self.next_pair() {
            Ok(Some(pair)) => Some(pair),
            Ok(None) => {
                self.outcome = Some(Ok(()));
                None
            }
            Err(e) => {
                self.outcome = Some(Err(e));
                None
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::types::{LogId, StoredMembership};
    use keel_engine::view::Writes;
    use openraft::CommittedLeaderId;

    fn put(store: &Store, pairs: &[(&str, &str)]) {
        let mut w = Writes::new();
        for (k, v) in pairs {
            w.insert(k.as_bytes().to_vec(), Some(v.as_bytes().to_vec()));
        }
        store.commit_state(w).unwrap();
    }

    /// Every pair of `store`'s `state`, in order.
    pub(crate) fn state(store: &Store) -> Vec<Pair> {
        let mut out = Vec::new();
        store
            .state_snapshot_for_each(
                || {},
                |k, v| -> Result<(), StorageError> {
                    out.push((k.to_vec(), v.to_vec()));
                    Ok(())
                },
            )
            .unwrap();
        out
    }

    fn meta(index: u64) -> SnapshotMeta {
        SnapshotMeta {
            last_log_id: Some(LogId::new(CommittedLeaderId::new(1, 1), index)),
            last_membership: StoredMembership::default(),
            snapshot_id: format!("1-{index}"),
        }
    }

    #[test]
    fn a_dump_is_a_point_in_time_and_installs_elsewhere_replacing_everything() {
        let (a_dir, b_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let a = Store::open(a_dir.path()).unwrap();
        put(&a, &[("k1", "v1"), ("k2", "v2")]);
        let files_a = SnapshotFiles::open(a.clone()).unwrap();
        let path = files_a.new_path("build");
        // A write after the snapshot is taken is not in the dump.
        let count = files_a
            .write_dump(&path, || put(&a, &[("k3", "late")]))
            .unwrap();
        assert_eq!(count, 2);

        let b = Store::open(b_dir.path()).unwrap();
        put(&b, &[("old", "gone")]);
        let files_b = SnapshotFiles::open(b.clone()).unwrap();
        let incoming = files_b.new_path("incoming");
        std::fs::copy(&path, &incoming).unwrap();
        files_b.install(&meta(7), &incoming).unwrap();
        assert_eq!(
            state(&b),
            vec![
                (b"k1".to_vec(), b"v1".to_vec()),
                (b"k2".to_vec(), b"v2".to_vec())
            ]
        );
        let (current, current_path) = files_b.current().unwrap().unwrap();
        assert_eq!(current, meta(7));
        assert_eq!(current_path, incoming);
    }

    #[test]
    fn a_truncated_file_is_refused_before_state_is_touched() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        put(&store, &[("a", "1"), ("b", "2")]);
        let files = SnapshotFiles::open(store.clone()).unwrap();
        let path = files.new_path("build");
        files.write_dump(&path, || {}).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() - 3]).unwrap();
        put(&store, &[("c", "3")]);
        assert!(files.install(&meta(3), &path).is_err());
        assert_eq!(state(&store).len(), 3, "state untouched");
    }

    #[test]
    fn an_interrupted_install_is_redone_when_the_node_opens() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        put(&store, &[("a", "1")]);
        let files = SnapshotFiles::open(store.clone()).unwrap();
        let path = files.new_path("incoming");
        files.write_dump(&path, || {}).unwrap();
        // The node dies after recording the install and wiping part of `state`.
        files.write_record(INSTALLING, &meta(9), &path).unwrap();
        store.replace_state(Vec::new()).unwrap();
        put(&store, &[("half", "written")]);
        drop(files);
        let files = SnapshotFiles::open(store.clone()).unwrap();
        assert_eq!(state(&store), vec![(b"a".to_vec(), b"1".to_vec())]);
        assert_eq!(files.current().unwrap().unwrap().0, meta(9));
        assert!(store.meta_get(INSTALLING).unwrap().is_none());
    }

    #[test]
    fn an_older_build_never_replaces_a_newer_current_snapshot() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let files = SnapshotFiles::open(store.clone()).unwrap();
        let newer = files.new_path("incoming");
        files.write_dump(&newer, || {}).unwrap();
        let older = files.new_path("build");
        files.write_dump(&older, || {}).unwrap();
        assert!(files.set_current(&meta(10), &newer).unwrap());
        assert!(!files.set_current(&meta(5), &older).unwrap());
        assert_eq!(files.current().unwrap().unwrap(), (meta(10), newer));
        assert!(!older.exists());
    }
}
