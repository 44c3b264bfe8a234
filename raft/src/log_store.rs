//! The Raft log and vote on RocksDB (`raft_log`, `raft_meta`). Appends and votes are fsynced
//! before openraft is told they are done.

use crate::codec;
use crate::types::{Entry, LogId, StorageError, TypeConfig, Vote};
use keel_storage::Store;
use openraft::storage::{LogFlushed, LogState, RaftLogStorage};
use openraft::{ErrorSubject, ErrorVerb, RaftLogReader, StorageIOError};
use std::fmt::Debug;
use std::ops::{Bound, RangeBounds};

const VOTE: &str = "vote";
const LAST_PURGED: &str = "last_purged";

#[derive(Clone)]
pub struct LogStore {
    store: Store,
    group_commit: GroupCommit,
}

impl LogStore {
    pub fn new(store: Store) -> Self {
        LogStore {
            group_commit: GroupCommit::start(store.clone()),
            store,
        }
    }
}

/// Deferred fsync: appends are written to RocksDB at once (readable, so replication to
/// followers proceeds while the local fsync runs) without an fsync; one thread fsyncs the WAL
/// for everything written so far and only then tells openraft those appends are durable.
/// Appends that arrive while an fsync runs share the next one. (openraft 0.9 submits the next
/// append only after the previous one is reported, so on the leader this rarely merges two;
/// merging proposals into one entry is what cuts fsyncs per workflow.)
#[derive(Clone)]
struct GroupCommit {
    waiting: std::sync::mpsc::Sender<LogFlushed<TypeConfig>>,
}

impl GroupCommit {
    fn start(store: Store) -> Self {
        let (tx, rx) = std::sync::mpsc::channel::<LogFlushed<TypeConfig>>();
        std::thread::Builder::new()
            .name("keel-group-commit".into())
            .spawn(move || {
                // Ends when every LogStore (and so every sender) is gone.
                while let Ok(first) = rx.recv() {
                    let mut batch = vec![first];
                    batch.extend(rx.try_iter());
                    let began = std::time::Instant::now();
                    let synced = store.sync_wal().map_err(|e| e.to_string());
                    crate::metrics::get()
                        .wal_fsync
                        .observe(began.elapsed().as_secs_f64());
                    tracing::trace!(appends = batch.len(), "log fsynced");
                    for done in batch {
                        done.log_io_completed(synced.clone().map_err(std::io::Error::other));
                    }
                }
            })
            .expect("spawn the group-commit thread");
        GroupCommit { waiting: tx }
    }
}

/// Records `vote`, returning only once it is fsynced: a node must never vote twice in a term.
pub fn write_vote(store: &Store, vote: &Vote) -> keel_storage::Result<()> {
    store.meta_put_synced(VOTE, codec::encode_vote(vote))
}

fn io_err(
    subject: ErrorSubject<u64>,
    verb: ErrorVerb,
    e: impl std::error::Error + 'static,
) -> StorageError {
    StorageIOError::new(subject, verb, openraft::AnyError::new(&e)).into()
}

fn read_err(e: impl std::error::Error + 'static) -> StorageError {
    io_err(ErrorSubject::Logs, ErrorVerb::Read, e)
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + Send>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, StorageError> {
        let start = match range.start_bound() {
            Bound::Included(x) => *x,
            Bound::Excluded(x) => x + 1,
            Bound::Unbounded => 0,
        };
        let end = match range.end_bound() {
            Bound::Included(x) => x.saturating_add(1),
            Bound::Excluded(x) => *x,
            Bound::Unbounded => u64::MAX,
        };
        let raw = self.store.log_range(start, end).map_err(read_err)?;
        raw.iter()
            .map(|(_, bytes)| codec::decode_entry(bytes).map_err(read_err))
            .collect()
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError> {
        let last_purged_log_id = match self.store.meta_get(LAST_PURGED).map_err(read_err)? {
            Some(b) => Some(codec::decode_log_id(&b).map_err(read_err)?),
            None => None,
        };
        let last_log_id = match self.store.log_last().map_err(read_err)? {
            Some((_, bytes)) => Some(codec::decode_entry(&bytes).map_err(read_err)?.log_id),
            None => last_purged_log_id,
        };
        Ok(LogState {
            last_purged_log_id,
            last_log_id,
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote) -> Result<(), StorageError> {
        write_vote(&self.store, vote).map_err(|e| io_err(ErrorSubject::Vote, ErrorVerb::Write, e))
    }

    async fn read_vote(&mut self) -> Result<Option<Vote>, StorageError> {
        match self
            .store
            .meta_get(VOTE)
            .map_err(|e| io_err(ErrorSubject::Vote, ErrorVerb::Read, e))?
        {
            Some(b) => {
                Ok(Some(codec::decode_vote(&b).map_err(|e| {
                    io_err(ErrorSubject::Vote, ErrorVerb::Read, e)
                })?))
            }
            None => Ok(None),
        }
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<TypeConfig>,
    ) -> Result<(), StorageError>
    where
        I: IntoIterator<Item = Entry> + Send,
        I::IntoIter: Send,
    {
        let encoded: Vec<(u64, Vec<u8>)> = entries
            .into_iter()
            .map(|e| (e.log_id.index, codec::encode_entry(&e)))
            .collect();
        let _span = tracing::debug_span!("raft_append", entries = encoded.len()).entered();
        match self.store.log_append_unsynced(encoded) {
            Ok(()) => {
                // Durable (and reported so) with the next group fsync.
                if let Err(unsent) = self.group_commit.waiting.send(callback) {
                    unsent.0.log_io_completed(Err(std::io::Error::other(
                        "the group-commit thread stopped",
                    )));
                }
                Ok(())
            }
            Err(e) => {
                callback.log_io_completed(Err(std::io::Error::other(e.to_string())));
                Err(io_err(ErrorSubject::Logs, ErrorVerb::Write, e))
            }
        }
    }

    async fn truncate(&mut self, log_id: LogId) -> Result<(), StorageError> {
        self.store
            .log_truncate(log_id.index)
            .map_err(|e| io_err(ErrorSubject::Logs, ErrorVerb::Delete, e))
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), StorageError> {
        self.store
            .log_purge(log_id.index, (LAST_PURGED, codec::encode_log_id(&log_id)))
            .map_err(|e| io_err(ErrorSubject::Logs, ErrorVerb::Delete, e))
    }
}
