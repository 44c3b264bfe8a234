//! The replicated state machine: decode -> `keel_engine::apply` -> one WriteBatch per applied
//! batch (state writes and the last applied log id together) -> responses to proposers and
//! notifications to the leader's services. Also snapshots of the `state` column family.

use crate::codec;
use crate::snapshot::{SnapshotError, SnapshotFiles};
use crate::types::SnapshotMeta;
use crate::types::{Entry, LogId, Response, StorageError, StoredMembership, TypeConfig};
use keel_engine::feature_level;
use keel_engine::keys::apply_meta;
use keel_engine::mutation::Kind;
use keel_engine::view::{ReadError, StateView, Writes};
use keel_engine::{Notification, Outcome, Rejection};
use keel_storage::Store;
use openraft::storage::{RaftStateMachine, Snapshot};
use openraft::{EntryPayload, ErrorSubject, ErrorVerb, RaftSnapshotBuilder, StorageIOError};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use tokio::fs::File;
use tokio::sync::mpsc::UnboundedSender;
use tokio::task::JoinHandle;

const LAST_APPLIED: &str = "last_applied";
const MEMBERSHIP: &str = "membership";

/// Where `state` records the last applied log id (in the same batch as the state it covers).
pub fn last_applied_key() -> Vec<u8> {
    apply_meta(LAST_APPLIED)
}

/// Where `state` records the membership as of the last applied log id.
pub fn membership_key() -> Vec<u8> {
    apply_meta(MEMBERSHIP)
}

pub type NotificationSender = UnboundedSender<Vec<Notification>>;

pub struct StateMachine {
    store: Store,
    last_applied: Option<LogId>,
    membership: StoredMembership,
    notifications: NotificationSender,
    files: SnapshotFiles,
    /// The file an incoming snapshot is being written to.
    receiving: Option<PathBuf>,
    /// The cluster's feature level as recorded in `state` (`RecordClusterLevel`), shared
    /// with the node, which lets through what it admits.
    recorded_level: Arc<AtomicU32>,
}

fn sm_err(verb: ErrorVerb, e: impl std::error::Error + 'static) -> StorageError {
    StorageIOError::new(
        ErrorSubject::StateMachine,
        verb,
        openraft::AnyError::new(&e),
    )
    .into()
}

fn snap_err(verb: ErrorVerb, e: impl std::error::Error + 'static) -> StorageError {
    StorageIOError::new(
        ErrorSubject::Snapshot(None),
        verb,
        openraft::AnyError::new(&e),
    )
    .into()
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct Msg(String);

impl StateMachine {
    /// Opens the state machine on `store`; `recorded_level` is kept at the cluster's level
    /// as recorded in `state`.
    pub fn open(
        store: Store,
        notifications: NotificationSender,
        recorded_level: Arc<AtomicU32>,
    ) -> Result<Self, StorageError> {
        // Opening finishes an interrupted install, so `state` is read after it.
        let files = SnapshotFiles::open(store.clone()).map_err(|e| snap_err(ErrorVerb::Read, e))?;
        let (last_applied, membership) = read_applied(&store)?;
        let machine = StateMachine {
            store,
            last_applied,
            membership,
            notifications,
            files,
            receiving: None,
            recorded_level,
        };
        machine.reread_recorded_level()?;
        Ok(machine)
    }

    fn reread_recorded_level(&self) -> Result<(), StorageError> {
        let level = feature_level::recorded(&self.store).map_err(|e| sm_err(ErrorVerb::Read, e))?;
        self.recorded_level.store(level, Ordering::SeqCst);
        Ok(())
    }
}

fn read_applied(store: &Store) -> Result<(Option<LogId>, StoredMembership), StorageError> {
    let read = |name| {
        store
            .state_get(&apply_meta(name))
            .map_err(|e| sm_err(ErrorVerb::Read, e))
    };
    let last_applied = match read(LAST_APPLIED)? {
        Some(b) => Some(codec::decode_log_id(&b).map_err(|e| sm_err(ErrorVerb::Read, e))?),
        None => None,
    };
    let membership = match read(MEMBERSHIP)? {
        Some(b) => codec::decode_membership(&b).map_err(|e| sm_err(ErrorVerb::Read, e))?,
        None => StoredMembership::default(),
    };
    Ok((last_applied, membership))
}

/// The store with this batch's not-yet-written changes on top, so later entries of a batch
/// see what earlier ones did.
struct BatchView<'a> {
    store: &'a Store,
    pending: &'a Writes,
}

impl StateView for BatchView<'_> {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, ReadError> {
        match self.pending.get(key) {
            Some(v) => Ok(v.clone()),
            None => StateView::get(self.store, key),
        }
    }
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotBuilder = SnapshotBuilder;

    async fn applied_state(&mut self) -> Result<(Option<LogId>, StoredMembership), StorageError> {
        Ok((self.last_applied, self.membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<Response>, StorageError>
    where
        I: IntoIterator<Item = Entry> + Send,
        I::IntoIter: Send,
    {
        let mut pending = Writes::new();
        let mut responses = Vec::new();
        let mut notifications = Vec::new();
        let span = tracing::debug_span!(
            "raft_apply",
            entries = tracing::field::Empty,
            last = tracing::field::Empty
        );
        let _guard = span.enter();
        let began = std::time::Instant::now();
        let mut records_level = false;
        for entry in entries {
            self.last_applied = Some(entry.log_id);
            match entry.payload {
                EntryPayload::Blank => responses.push(Response(vec![Ok(Outcome::Done)])),
                EntryPayload::Normal(proposal) => {
                    let mut outcomes = Vec::with_capacity(proposal.mutations.len());
                    for mutation in &proposal.mutations {
                        records_level |= matches!(mutation.kind, Some(Kind::RecordClusterLevel(_)));
                        let applied = keel_engine::apply(
                            &BatchView {
                                store: &self.store,
                                pending: &pending,
                            },
                            mutation,
                        );
                        if let Err(Rejection::Internal(msg)) = &applied.outcome {
                            // Storage failed or state is corrupt: stop rather than diverge.
                            return Err(sm_err(ErrorVerb::Write, Msg(msg.clone())));
                        }
                        pending.extend(applied.writes);
                        notifications.extend(applied.notifications);
                        outcomes.push(applied.outcome);
                    }
                    responses.push(Response(outcomes));
                }
                EntryPayload::Membership(m) => {
                    self.membership = StoredMembership::new(Some(entry.log_id), m);
                    pending.insert(
                        apply_meta(MEMBERSHIP),
                        Some(codec::encode_membership(&self.membership)),
                    );
                    responses.push(Response(vec![Ok(Outcome::Done)]));
                }
            }
        }
        span.record("entries", responses.len());
        if let Some(last) = &self.last_applied {
            span.record("last", last.index);
            pending.insert(apply_meta(LAST_APPLIED), Some(codec::encode_log_id(last)));
        }
        self.store
            .commit_state(pending)
            .map_err(|e| sm_err(ErrorVerb::Write, e))?;
        if records_level {
            self.reread_recorded_level()?;
        }
        let metrics = crate::metrics::get();
        metrics.apply_entries.observe(responses.len() as f64);
        metrics
            .apply_duration
            .observe(began.elapsed().as_secs_f64());
        if !notifications.is_empty() {
            // Nobody listening (shutting down) is fine: the services are caches.
            let _ = self.notifications.send(notifications);
        }
        Ok(responses)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        // The RocksDB snapshot is taken here, on the apply path, so it matches
        // `last_applied` exactly; writing the file runs beside apply.
        let (taken_tx, taken_rx) = tokio::sync::oneshot::channel();
        let files = self.files.clone();
        let path = files.new_path("build");
        let job_path = path.clone();
        let job = tokio::task::spawn_blocking(move || {
            files.write_dump(&job_path, move || {
                let _ = taken_tx.send(());
            })
        });
        let _ = taken_rx.await;
        SnapshotBuilder {
            job: Some(job),
            path,
            files: self.files.clone(),
            last_applied: self.last_applied,
            membership: self.membership.clone(),
        }
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<File>, StorageError> {
        if let Some(earlier) = self.receiving.take() {
            // A transfer that restarted from the beginning.
            self.files.abandon(&earlier);
        }
        let path = self.files.new_path("incoming");
        let file = File::options()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
            .await
            .map_err(|e| snap_err(ErrorVerb::Write, e))?;
        self.receiving = Some(path);
        Ok(Box::new(file))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta,
        snapshot: Box<File>,
    ) -> Result<(), StorageError> {
        let path = self
            .receiving
            .take()
            .ok_or_else(|| snap_err(ErrorVerb::Write, Msg("no snapshot being received".into())))?;
        drop(snapshot);
        let span = tracing::info_span!("install_snapshot", id = %meta.snapshot_id);
        let files = self.files.clone();
        let owned_meta = meta.clone();
        let began = std::time::Instant::now();
        let job_path = path.clone();
        let installed = tokio::task::spawn_blocking(move || files.install(&owned_meta, &job_path))
            .await
            .map_err(|e| snap_err(ErrorVerb::Write, e))?;
        if let Err(e) = installed {
            self.files.abandon(&path);
            return Err(snap_err(ErrorVerb::Write, e));
        }
        let (last_applied, membership) = read_applied(&self.store)?;
        self.last_applied = last_applied.or(meta.last_log_id);
        self.membership = membership;
        self.reread_recorded_level()?;
        span.in_scope(|| {
            tracing::info!(
                ms = began.elapsed().as_millis() as u64,
                "installed a snapshot from the leader"
            )
        });
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot<TypeConfig>>, StorageError> {
        let Some((meta, path)) = self
            .files
            .current()
            .map_err(|e| snap_err(ErrorVerb::Read, e))?
        else {
            return Ok(None);
        };
        let file = File::open(&path)
            .await
            .map_err(|e| snap_err(ErrorVerb::Read, e))?;
        Ok(Some(Snapshot {
            meta,
            snapshot: Box::new(file),
        }))
    }
}

pub struct SnapshotBuilder {
    job: Option<JoinHandle<Result<u64, SnapshotError>>>,
    path: PathBuf,
    files: SnapshotFiles,
    last_applied: Option<LogId>,
    membership: StoredMembership,
}

impl RaftSnapshotBuilder<TypeConfig> for SnapshotBuilder {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, StorageError> {
        let job = self
            .job
            .take()
            .ok_or_else(|| snap_err(ErrorVerb::Write, Msg("snapshot already built".into())))?;
        let began = std::time::Instant::now();
        let pairs = match job.await {
            Ok(Ok(pairs)) => pairs,
            Ok(Err(e)) => {
                self.files.abandon(&self.path);
                return Err(snap_err(ErrorVerb::Write, e));
            }
            Err(e) => {
                self.files.abandon(&self.path);
                return Err(snap_err(ErrorVerb::Write, e));
            }
        };
        let snapshot_id = match &self.last_applied {
            Some(id) => format!("{}-{}", id.leader_id.term, id.index),
            None => "empty".to_string(),
        };
        let meta = SnapshotMeta {
            last_log_id: self.last_applied,
            last_membership: self.membership.clone(),
            snapshot_id,
        };
        // Opened before it may be superseded (and unlinked) by a newer installed snapshot.
        let file = File::open(&self.path)
            .await
            .map_err(|e| snap_err(ErrorVerb::Read, e))?;
        let current = self
            .files
            .set_current(&meta, &self.path)
            .map_err(|e| snap_err(ErrorVerb::Write, e))?;
        tracing::info!(
            id = %meta.snapshot_id,
            pairs,
            current,
            ms = began.elapsed().as_millis() as u64,
            "snapshot built"
        );
        let metrics = crate::metrics::get();
        metrics
            .snapshot_duration
            .observe(began.elapsed().as_secs_f64());
        if let Ok(m) = file.metadata().await {
            metrics.snapshot_bytes.set(m.len() as i64);
        }
        Ok(Snapshot {
            meta,
            snapshot: Box::new(file),
        })
    }
}
