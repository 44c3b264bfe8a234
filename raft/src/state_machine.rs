//! The replicated state machine: decode -> `keel_engine::apply` -> one WriteBatch per applied
//! batch (state writes and the last applied log id together) -> responses to proposers and
//! notifications to the leader's services. Also snapshots of the `state` column family.

use crate::codec;
use crate::types::{Entry, LogId, Response, StorageError, StoredMembership, TypeConfig};
use keel_engine::keys::apply_meta;
use keel_engine::view::{ReadError, StateView, Writes};
use keel_engine::{Notification, Outcome, Rejection};
use keel_storage::Store;
use openraft::storage::{RaftStateMachine, Snapshot};
use openraft::{
    EntryPayload, ErrorSubject, ErrorVerb, RaftSnapshotBuilder, SnapshotMeta, StorageIOError,
};
use std::io::Cursor;
use tokio::sync::mpsc::UnboundedSender;

const LAST_APPLIED: &str = "last_applied";
const MEMBERSHIP: &str = "membership";

pub type NotificationSender = UnboundedSender<Vec<Notification>>;

pub struct StateMachine {
    store: Store,
    last_applied: Option<LogId>,
    membership: StoredMembership,
    notifications: NotificationSender,
    current_snapshot: Option<(SnapshotMeta<u64, openraft::BasicNode>, Vec<u8>)>,
}

fn sm_err(verb: ErrorVerb, e: impl std::error::Error + 'static) -> StorageError {
    StorageIOError::new(
        ErrorSubject::StateMachine,
        verb,
        openraft::AnyError::new(&e),
    )
    .into()
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct Msg(String);

impl StateMachine {
    pub fn open(store: Store, notifications: NotificationSender) -> Result<Self, StorageError> {
        let (last_applied, membership) = read_applied(&store)?;
        Ok(StateMachine {
            store,
            last_applied,
            membership,
            notifications,
            current_snapshot: None,
        })
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
        for entry in entries {
            self.last_applied = Some(entry.log_id);
            match entry.payload {
                EntryPayload::Blank => responses.push(Response(Ok(Outcome::Done))),
                EntryPayload::Normal(mutation) => {
                    let applied = keel_engine::apply(
                        &BatchView {
                            store: &self.store,
                            pending: &pending,
                        },
                        &mutation,
                    );
                    if let Err(Rejection::Internal(msg)) = &applied.outcome {
                        // Storage failed or state is corrupt: stop rather than diverge.
                        return Err(sm_err(ErrorVerb::Write, Msg(msg.clone())));
                    }
                    pending.extend(applied.writes);
                    notifications.extend(applied.notifications);
                    responses.push(Response(applied.outcome));
                }
                EntryPayload::Membership(m) => {
                    self.membership = StoredMembership::new(Some(entry.log_id), m);
                    pending.insert(
                        apply_meta(MEMBERSHIP),
                        Some(codec::encode_membership(&self.membership)),
                    );
                    responses.push(Response(Ok(Outcome::Done)));
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
        if !notifications.is_empty() {
            // Nobody listening (shutting down) is fine: the services are caches.
            let _ = self.notifications.send(notifications);
        }
        Ok(responses)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        // Dumped here, on the apply path, so the data matches `last_applied` exactly.
        let data = dump_state(&self.store);
        SnapshotBuilder {
            data,
            last_applied: self.last_applied,
            membership: self.membership.clone(),
        }
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<Cursor<Vec<u8>>>, StorageError> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta<u64, openraft::BasicNode>,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), StorageError> {
        let bytes = snapshot.into_inner();
        let entries = decode_dump(&bytes)
            .ok_or_else(|| sm_err(ErrorVerb::Read, Msg("corrupt snapshot".into())))?;
        self.store
            .replace_state(entries)
            .map_err(|e| sm_err(ErrorVerb::Write, e))?;
        let (last_applied, membership) = read_applied(&self.store)?;
        self.last_applied = last_applied.or(meta.last_log_id);
        self.membership = membership;
        self.current_snapshot = Some((meta.clone(), bytes));
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot<TypeConfig>>, StorageError> {
        Ok(self.current_snapshot.as_ref().map(|(meta, data)| Snapshot {
            meta: meta.clone(),
            snapshot: Box::new(Cursor::new(data.clone())),
        }))
    }
}

pub struct SnapshotBuilder {
    data: Result<Vec<u8>, String>,
    last_applied: Option<LogId>,
    membership: StoredMembership,
}

impl RaftSnapshotBuilder<TypeConfig> for SnapshotBuilder {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, StorageError> {
        let data = self
            .data
            .clone()
            .map_err(|e| sm_err(ErrorVerb::Read, Msg(e)))?;
        let snapshot_id = match &self.last_applied {
            Some(id) => format!("{}-{}", id.leader_id.term, id.index),
            None => "empty".to_string(),
        };
        Ok(Snapshot {
            meta: SnapshotMeta {
                last_log_id: self.last_applied,
                last_membership: self.membership.clone(),
                snapshot_id,
            },
            snapshot: Box::new(Cursor::new(data)),
        })
    }
}

/// `state` as `[u32 BE key len][key][u32 BE value len][value]...`.
fn dump_state(store: &Store) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    store
        .state_for_each(|k, v| {
            out.extend_from_slice(&(k.len() as u32).to_be_bytes());
            out.extend_from_slice(k);
            out.extend_from_slice(&(v.len() as u32).to_be_bytes());
            out.extend_from_slice(v);
        })
        .map_err(|e| e.to_string())?;
    Ok(out)
}

fn decode_dump(mut bytes: &[u8]) -> Option<Vec<(Vec<u8>, Vec<u8>)>> {
    let mut out = Vec::new();
    let take = |b: &mut &[u8]| -> Option<Vec<u8>> {
        let len = u32::from_be_bytes(b.get(..4)?.try_into().ok()?) as usize;
        let v = b.get(4..4 + len)?.to_vec();
        *b = &b[4 + len..];
        Some(v)
    };
    while !bytes.is_empty() {
        let k = take(&mut bytes)?;
        let v = take(&mut bytes)?;
        out.push((k, v));
    }
    Some(out)
}
