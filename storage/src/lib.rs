//! keel-storage: the one RocksDB of a node. It owns the column families, the Raft log and
//! meta keys, atomic apply batches and reads of `state`; it knows nothing of Raft or gRPC
//! (the bytes it stores are opaque here). The `state` key layout is `keel_engine::keys`.
//!
//! Column families: `raft_log` (log index u64 BE -> entry bytes), `raft_meta` (fixed names ->
//! bytes: vote, last purged log id), `state` (engine tables and raft's apply metadata).

use keel_engine::view::{ReadError, StateView, Writes};
use rocksdb::{
    ColumnFamily, Direction, IteratorMode, Options, ReadOptions, WriteBatch, WriteOptions, DB,
};
use std::path::Path;
use std::sync::Arc;

const CF_RAFT_LOG: &str = "raft_log";
const CF_RAFT_META: &str = "raft_meta";
const CF_STATE: &str = "state";

/// The layout of a data directory (column families, key layouts of `keel_engine::keys`,
/// record encodings). Kept in `<data dir>/KEEL_FORMAT` and in every backup. A build opens
/// directories of its own format and older ones (migrating them forward, then recording
/// its own format), and refuses newer ones before RocksDB touches a file.
///
/// 1: the first recorded format (a directory without the file that holds a database is 1).
pub const FORMAT_VERSION: u32 = 1;

const FORMAT_FILE: &str = "KEEL_FORMAT";

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error(
        "the data directory {path} was written by a newer Keel (storage format {found}); this \
         build reads formats up to {supported}: run a newer keel, or restore a backup"
    )]
    NewerFormat {
        path: String,
        found: u32,
        supported: u32,
    },
    #[error("the data directory {path} has an unreadable {FORMAT_FILE} file: {detail}")]
    BadFormatFile { path: String, detail: String },
    #[error("data directory: {0}")]
    Io(#[from] std::io::Error),
    #[error(
        "the data directory {path} is in use by another Keel process (RocksDB lock held): {source}"
    )]
    Locked {
        path: String,
        source: rocksdb::Error,
    },
    #[error("rocksdb: {0}")]
    Rocks(#[from] rocksdb::Error),
}

pub type Result<T> = std::result::Result<T, StorageError>;

#[derive(Clone)]
pub struct Store {
    db: Arc<DB>,
}

impl Store {
    /// Opens (creating if needed) the node's database under `path`, after checking the
    /// directory's storage format (a newer one is refused with nothing written).
    pub fn open(path: &Path) -> Result<Self> {
        let found = read_format(path)?;
        let store = Self::open_db(path)?;
        if found != Found::Recorded(FORMAT_VERSION) {
            // Migrations from older formats go here, each a step from N to N + 1.
            write_format(path)?;
        }
        Ok(store)
    }

    fn open_db(path: &Path) -> Result<Self> {
        let mut opts = Options::default();
        opts.create_if_missing(true);
        opts.create_missing_column_families(true);
        // Small, write-heavy records: keep memtables moderate and compress only the lower
        // levels; the log is written once and read back rarely.
        opts.set_max_background_jobs(2);
        opts.set_bytes_per_sync(1 << 20);
        // Memtables are flushed once the WAL passes this size, which bounds how much WAL a
        // restart replays (start-up time) whatever the write rate.
        opts.set_max_total_wal_size(64 << 20);
        let mut state_opts = Options::default();
        state_opts.set_compression_type(rocksdb::DBCompressionType::Lz4);
        let cfs = vec![
            rocksdb::ColumnFamilyDescriptor::new(CF_RAFT_LOG, Options::default()),
            rocksdb::ColumnFamilyDescriptor::new(CF_RAFT_META, Options::default()),
            rocksdb::ColumnFamilyDescriptor::new(CF_STATE, state_opts),
        ];
        let db = DB::open_cf_descriptors(&opts, path, cfs).map_err(|e| {
            if e.to_string().contains("lock") {
                StorageError::Locked {
                    path: path.display().to_string(),
                    source: e,
                }
            } else {
                StorageError::Rocks(e)
            }
        })?;
        Ok(Store { db: Arc::new(db) })
    }

    fn cf(&self, name: &str) -> &ColumnFamily {
        self.db
            .cf_handle(name)
            .expect("column families are created at open")
    }

    fn synced() -> WriteOptions {
        let mut w = WriteOptions::default();
        w.set_sync(true);
        w
    }

    // ---- raft log -------------------------------------------------------------------------

    /// Appends log entries, readable at once but durable only after the next `sync_wal`
    /// (group commit: one fsync for every append made before it).
    pub fn log_append_unsynced(
        &self,
        entries: impl IntoIterator<Item = (u64, Vec<u8>)>,
    ) -> Result<()> {
        let mut batch = WriteBatch::default();
        let cf = self.cf(CF_RAFT_LOG);
        for (index, bytes) in entries {
            batch.put_cf(cf, index.to_be_bytes(), bytes);
        }
        self.db.write(batch)?;
        Ok(())
    }

    /// Fsyncs the write-ahead log: every write made before the call is durable after it.
    pub fn sync_wal(&self) -> Result<()> {
        self.db.flush_wal(true)?;
        Ok(())
    }

    /// Entries with `start <= index < end`, in order.
    pub fn log_range(&self, start: u64, end: u64) -> Result<Vec<(u64, Vec<u8>)>> {
        let mut out = Vec::new();
        let iter = self.db.iterator_cf(
            self.cf(CF_RAFT_LOG),
            IteratorMode::From(&start.to_be_bytes(), Direction::Forward),
        );
        for item in iter {
            let (k, v) = item?;
            let index = u64::from_be_bytes(k.as_ref().try_into().unwrap_or([0xff; 8]));
            if index >= end {
                break;
            }
            out.push((index, v.to_vec()));
        }
        Ok(out)
    }

    pub fn log_last(&self) -> Result<Option<(u64, Vec<u8>)>> {
        let mut iter = self.db.iterator_cf(self.cf(CF_RAFT_LOG), IteratorMode::End);
        match iter.next() {
            Some(item) => {
                let (k, v) = item?;
                let index = u64::from_be_bytes(k.as_ref().try_into().unwrap_or([0; 8]));
                Ok(Some((index, v.to_vec())))
            }
            None => Ok(None),
        }
    }

    /// Deletes entries with index >= `from` (conflicting suffix), fsynced.
    pub fn log_truncate(&self, from: u64) -> Result<()> {
        let mut batch = WriteBatch::default();
        batch.delete_range_cf(
            self.cf(CF_RAFT_LOG),
            from.to_be_bytes(),
            u64::MAX.to_be_bytes(),
        );
        batch.delete_cf(self.cf(CF_RAFT_LOG), u64::MAX.to_be_bytes());
        self.db.write_opt(batch, &Self::synced())?;
        Ok(())
    }

    /// Deletes entries with index <= `upto` and records `meta` in the same write.
    pub fn log_purge(&self, upto: u64, meta: (&str, Vec<u8>)) -> Result<()> {
        let mut batch = WriteBatch::default();
        batch.delete_range_cf(
            self.cf(CF_RAFT_LOG),
            0u64.to_be_bytes(),
            (upto + 1).to_be_bytes(),
        );
        batch.put_cf(self.cf(CF_RAFT_META), meta.0, meta.1);
        self.db.write_opt(batch, &Self::synced())?;
        Ok(())
    }

    pub fn meta_get(&self, name: &str) -> Result<Option<Vec<u8>>> {
        Ok(self.db.get_cf(self.cf(CF_RAFT_META), name)?)
    }

    /// Writes a meta value and returns once it is fsynced (votes must survive a crash).
    pub fn meta_put_synced(&self, name: &str, value: Vec<u8>) -> Result<()> {
        let mut batch = WriteBatch::default();
        batch.put_cf(self.cf(CF_RAFT_META), name, value);
        self.db.write_opt(batch, &Self::synced())?;
        Ok(())
    }

    // ---- state ----------------------------------------------------------------------------

    /// Writes one applied batch to `state` atomically. Not fsynced: after a crash the log is
    /// replayed from the last applied id written here, so state can lag but never tear.
    pub fn commit_state(&self, writes: Writes) -> Result<()> {
        let mut batch = WriteBatch::default();
        let cf = self.cf(CF_STATE);
        for (k, v) in writes {
            match v {
                Some(v) => batch.put_cf(cf, k, v),
                None => batch.delete_cf(cf, k),
            }
        }
        self.db.write(batch)?;
        Ok(())
    }

    pub fn state_get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        Ok(self.db.get_cf(self.cf(CF_STATE), key)?)
    }

    /// Up to `limit` entries under `prefix`, starting at `from` (inclusive) if given.
    pub fn state_scan(
        &self,
        prefix: &[u8],
        from: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let start = from.unwrap_or(prefix);
        let mut ro = ReadOptions::default();
        ro.set_iterate_lower_bound(prefix.to_vec());
        if let Some(upper) = prefix_upper_bound(prefix) {
            ro.set_iterate_upper_bound(upper);
        }
        let iter = self.db.iterator_cf_opt(
            self.cf(CF_STATE),
            ro,
            IteratorMode::From(start, Direction::Forward),
        );
        let mut out = Vec::new();
        for item in iter {
            let (k, v) = item?;
            if !k.starts_with(prefix) || out.len() >= limit {
                break;
            }
            out.push((k.to_vec(), v.to_vec()));
        }
        Ok(out)
    }

    /// The last entry under `prefix`.
    pub fn state_last(&self, prefix: &[u8]) -> Result<Option<(Vec<u8>, Vec<u8>)>> {
        let mut ro = ReadOptions::default();
        ro.set_iterate_lower_bound(prefix.to_vec());
        if let Some(upper) = prefix_upper_bound(prefix) {
            ro.set_iterate_upper_bound(upper);
        }
        let mut iter = self
            .db
            .iterator_cf_opt(self.cf(CF_STATE), ro, IteratorMode::End);
        match iter.next() {
            Some(item) => {
                let (k, v) = item?;
                Ok(Some((k.to_vec(), v.to_vec())))
            }
            None => Ok(None),
        }
    }

    /// Every `state` key and value of one consistent point in time: a RocksDB snapshot is
    /// taken, `on_taken` runs (writers may go on from here), then `f` sees each pair in order.
    /// Stops at the first error `f` returns.
    pub fn state_snapshot_for_each<E: From<StorageError>>(
        &self,
        on_taken: impl FnOnce(),
        mut f: impl FnMut(&[u8], &[u8]) -> std::result::Result<(), E>,
    ) -> std::result::Result<(), E> {
        let snapshot = self.db.snapshot();
        on_taken();
        for item in snapshot.iterator_cf(self.cf(CF_STATE), IteratorMode::Start) {
            let (k, v) = item.map_err(StorageError::from)?;
            f(&k, &v)?;
        }
        Ok(())
    }

    /// Replaces all of `state` with `entries` (snapshot install), writing in bounded batches
    /// and fsyncing at the end. Not atomic on its own: the caller records that an install is
    /// under way and redoes it after a crash.
    pub fn replace_state(
        &self,
        entries: impl IntoIterator<Item = (Vec<u8>, Vec<u8>)>,
    ) -> Result<()> {
        let cf = self.cf(CF_STATE);
        let mut batch = WriteBatch::default();
        if let Some(item) = self.db.iterator_cf(cf, IteratorMode::End).next() {
            let last = item?.0.to_vec();
            batch.delete_range_cf(cf, Vec::<u8>::new(), last.clone());
            batch.delete_cf(cf, last);
        }
        for (k, v) in entries {
            batch.put_cf(cf, k, v);
            if batch.size_in_bytes() >= REPLACE_BATCH_BYTES {
                self.db.write(std::mem::take(&mut batch))?;
            }
        }
        self.db.write_opt(batch, &Self::synced())?;
        Ok(())
    }

    pub fn meta_delete_synced(&self, name: &str) -> Result<()> {
        let mut batch = WriteBatch::default();
        batch.delete_cf(self.cf(CF_RAFT_META), name);
        self.db.write_opt(batch, &Self::synced())?;
        Ok(())
    }

    /// Writes memtables to SST files so the next open replays no WAL (clean shutdown).
    pub fn flush(&self) -> Result<()> {
        for name in [CF_RAFT_LOG, CF_RAFT_META, CF_STATE] {
            self.db.flush_cf(self.cf(name))?;
        }
        Ok(())
    }

    /// The directory the database lives in (snapshot files are kept beside it).
    /// A RocksDB integer property (e.g. `rocksdb.estimate-live-data-size`) summed over the
    /// column families; 0 where RocksDB does not know it.
    pub fn property_sum(&self, name: &str) -> u64 {
        [CF_RAFT_LOG, CF_RAFT_META, CF_STATE]
            .iter()
            .filter_map(|cf| self.db.cf_handle(cf))
            .filter_map(|cf| self.db.property_int_value_cf(cf, name).ok().flatten())
            .sum()
    }

    /// Compacts every column family fully (what `keel cluster compact` asks for): deleted
    /// and overwritten records are dropped and the files rewritten. Blocks until done.
    pub fn compact(&self) {
        for name in [CF_RAFT_LOG, CF_RAFT_META, CF_STATE] {
            self.db
                .compact_range_cf(self.cf(name), None::<&[u8]>, None::<&[u8]>);
        }
    }

    /// The bytes the data directory takes on disk (`disk_usage`).
    pub fn disk_size(&self) -> u64 {
        disk_usage(self.dir())
    }

    pub fn dir(&self) -> &Path {
        self.db.path()
    }
}

/// What a data directory says of its storage format.
#[derive(Debug, PartialEq, Eq)]
enum Found {
    /// A new directory.
    Nothing,
    /// A database from before the format file: format 1.
    Unrecorded,
    Recorded(u32),
}

fn read_format(dir: &Path) -> Result<Found> {
    let bad = |detail: String| StorageError::BadFormatFile {
        path: dir.display().to_string(),
        detail,
    };
    match std::fs::read_to_string(dir.join(FORMAT_FILE)) {
        Ok(text) => {
            let found: u32 = text
                .trim()
                .parse()
                .map_err(|_| bad(format!("{:?} is not a format number", text.trim())))?;
            if found > FORMAT_VERSION {
                return Err(StorageError::NewerFormat {
                    path: dir.display().to_string(),
                    found,
                    supported: FORMAT_VERSION,
                });
            }
            Ok(Found::Recorded(found))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(if dir.join("CURRENT").exists() {
            Found::Unrecorded
        } else {
            Found::Nothing
        }),
        Err(e) => Err(bad(e.to_string())),
    }
}

/// Records this build's format in `dir` (written to a temporary file, fsynced, renamed).
fn write_format(dir: &Path) -> Result<()> {
    use std::io::Write;
    let tmp = dir.join(format!("{FORMAT_FILE}.tmp"));
    let mut f = std::fs::File::create(&tmp)?;
    writeln!(f, "{FORMAT_VERSION}")?;
    f.sync_all()?;
    std::fs::rename(&tmp, dir.join(FORMAT_FILE))?;
    std::fs::File::open(dir)?.sync_all()?;
    Ok(())
}

/// The bytes the files under `dir` take on disk, as allocated (for a data directory:
/// RocksDB's files, the space it preallocates for its write-ahead log, snapshot files).
pub fn disk_usage(dir: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .filter_map(|e| e.ok())
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => disk_usage(&e.path()),
            Ok(m) => m.blocks() * 512,
            Err(_) => 0,
        })
        .sum()
}

/// A snapshot install writes `state` in batches of about this size.
const REPLACE_BATCH_BYTES: usize = 4 << 20;

/// The smallest key greater than every key with this prefix, if there is one.
fn prefix_upper_bound(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut upper = prefix.to_vec();
    while let Some(last) = upper.pop() {
        if last < 0xff {
            upper.push(last + 1);
            return Some(upper);
        }
    }
    None
}

/// Visibility reads go straight to the live database: an index key whose row a concurrent
/// apply just removed is skipped by the reader, and each page is one short walk.
impl keel_engine::visibility::ScanView for Store {
    fn scan(
        &self,
        prefix: &[u8],
        from: &[u8],
        limit: usize,
    ) -> std::result::Result<keel_engine::visibility::read::Entries, ReadError> {
        self.state_scan(prefix, Some(from), limit)
            .map_err(|e| ReadError(e.to_string()))
    }
    fn get(&self, key: &[u8]) -> std::result::Result<Option<Vec<u8>>, ReadError> {
        self.state_get(key).map_err(|e| ReadError(e.to_string()))
    }
}

impl StateView for Store {
    fn get(&self, key: &[u8]) -> std::result::Result<Option<Vec<u8>>, ReadError> {
        self.state_get(key).map_err(|e| ReadError(e.to_string()))
    }
}

#[cfg(test)]
mod tests;
