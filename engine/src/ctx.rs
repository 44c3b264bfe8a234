//! The context one mutation is applied in: its overlay of writes, the replicated clock, the
//! id sequence and the notifications it raises. Typed record access lives here so every
//! handler reads and writes state the same way.

use crate::error::{ApplyResult, Rejection};
use crate::history::Attributes;
use crate::keys;
use crate::outcome::Notification;
use crate::priority::TaskPriority;
use crate::records::{EngineMeta, NamespaceRecord, TaskKind, TaskRecord, TimerRecord};
use crate::view::{Overlay, ReadError, StateView, Writes};
use prost::Message;
use std::collections::BTreeMap;

pub struct ApplyCtx<'a> {
    pub(crate) state: Overlay<'a>,
    /// Replicated time for this mutation: `max(clock so far, leader's stamp)`.
    pub(crate) now: i64,
    meta: EngineMeta,
    notifications: Vec<Notification>,
    /// The same, for a lookup in log time (a mutation may raise thousands).
    notified: std::collections::BTreeSet<Notification>,
    /// Execution keys of runs closing in this mutation whose record is not saved yet: a child
    /// closed by their parent close policy must not write to them.
    closing: Vec<Vec<u8>>,
    /// The run a handler holds in memory while it starts children, and the outcomes of its
    /// children that closed meanwhile (initiated event id, event), for it to record.
    in_hand: Option<Vec<u8>>,
    deferred_child_outcomes: Vec<(i64, Attributes)>,
    /// What the command being applied asks its first event to carry (its user metadata and
    /// event group markers, as Temporal copies them); taken by `history::append`.
    pub(crate) command_marks: Option<CommandMarks>,
    /// Runs whose visibility row changed (row key -> namespace, new row or `None` when the
    /// run was removed), written by `visibility::flush` when the mutation is done.
    visibility: BTreeMap<Vec<u8>, (String, Option<Vec<u8>>)>,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct CommandMarks {
    pub user_metadata: Option<temporalio_protos::temporal::api::sdk::v1::UserMetadata>,
    pub event_group_markers: Vec<temporalio_protos::temporal::api::sdk::v1::EventGroupMarker>,
}

impl<'a> ApplyCtx<'a> {
    pub(crate) fn new(view: &'a dyn StateView, stamped_now: i64) -> ApplyResult<Self> {
        let state = Overlay::new(view);
        let mut meta: EngineMeta = decode_opt(state.get(&keys::meta()))?.unwrap_or_default();
        meta.clock = meta.clock.max(stamped_now);
        Ok(ApplyCtx {
            now: meta.clock,
            state,
            meta,
            notifications: Vec::new(),
            notified: Default::default(),
            closing: Vec::new(),
            in_hand: None,
            deferred_child_outcomes: Vec::new(),
            command_marks: None,
            visibility: BTreeMap::new(),
        })
    }

    pub(crate) fn finish(mut self) -> (Writes, Vec<Notification>) {
        let meta = self.meta.encode_to_vec();
        self.state.put(keys::meta(), meta);
        (self.state.into_writes(), self.notifications)
    }

    /// The cluster's feature level as recorded in the log (0 before one is).
    pub(crate) fn cluster_level(&self) -> u32 {
        self.meta.cluster_level
    }

    /// Raises the cluster's recorded feature level (`feature_level::record`); never lowers it.
    pub(crate) fn raise_cluster_level(&mut self, level: u32) {
        self.meta.cluster_level = self.meta.cluster_level.max(level);
    }

    /// Next value of the replicated id sequence (task ids, timer sequence, event task ids).
    pub(crate) fn next_id(&mut self) -> u64 {
        self.meta.next_id += 1;
        self.meta.next_id
    }

    /// A UUID-shaped id derived from `seed` and the next value of the id sequence (so unique):
    /// the run ids apply makes itself (a schedule's runs, a batch reset's new runs), since
    /// apply draws no random numbers.
    pub(crate) fn derived_uuid(&mut self, seed: &str) -> String {
        use crate::visibility::index::fnv1a;
        let base = format!("{seed}\u{0}{}", self.next_id());
        let hi = fnv1a(format!("{base}\u{0}hi").as_bytes());
        let lo = fnv1a(format!("{base}\u{0}lo").as_bytes());
        // Version 8 (custom), RFC 4122 variant.
        let hi = (hi & !0xf000) | 0x8000;
        let lo = (lo & !(0b11 << 62)) | (0b10 << 62);
        format!(
            "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
            hi >> 32,
            (hi >> 16) & 0xffff,
            hi & 0xffff,
            lo >> 48,
            lo & 0xffff_ffff_ffff
        )
    }

    pub(crate) fn get<M: Message + Default>(&self, key: &[u8]) -> ApplyResult<Option<M>> {
        decode_opt(self.state.get(key))
    }

    /// A value's bytes as stored (for values that are not prost records).
    pub(crate) fn get_raw(&self, key: &[u8]) -> ApplyResult<Option<Vec<u8>>> {
        self.state
            .get(key)
            .map_err(|e| Rejection::Internal(e.to_string()))
    }

    pub(crate) fn queue_visibility(&mut self, row_key: Vec<u8>, change: (String, Option<Vec<u8>>)) {
        self.visibility.insert(row_key, change);
    }

    pub(crate) fn take_visibility(&mut self) -> BTreeMap<Vec<u8>, (String, Option<Vec<u8>>)> {
        std::mem::take(&mut self.visibility)
    }

    pub(crate) fn put<M: Message>(&mut self, key: Vec<u8>, record: &M) {
        self.state.put(key, record.encode_to_vec());
    }

    pub(crate) fn delete(&mut self, key: Vec<u8>) {
        self.state.delete(key);
    }

    /// Raises `n` once per mutation (a run appending many events is one HistoryAppended),
    /// in the order first raised.
    pub(crate) fn notify(&mut self, n: Notification) {
        if self.notified.insert(n.clone()) {
            self.notifications.push(n);
        }
    }

    pub(crate) fn mark_closing(&mut self, execution_key: Vec<u8>) {
        self.closing.push(execution_key);
    }

    pub(crate) fn is_closing(&self, execution_key: &[u8]) -> bool {
        self.closing.iter().any(|k| k == execution_key)
    }

    pub(crate) fn hold(&mut self, execution_key: Option<Vec<u8>>) {
        self.in_hand = execution_key;
    }

    pub(crate) fn is_in_hand(&self, execution_key: &[u8]) -> bool {
        self.in_hand.as_deref() == Some(execution_key)
    }

    pub(crate) fn defer_child_outcome(&mut self, initiated_event_id: i64, event: Attributes) {
        self.deferred_child_outcomes
            .push((initiated_event_id, event));
    }

    pub(crate) fn take_deferred_child_outcomes(&mut self) -> Vec<(i64, Attributes)> {
        std::mem::take(&mut self.deferred_child_outcomes)
    }

    pub(crate) fn namespace(&self, name: &str) -> ApplyResult<NamespaceRecord> {
        self.get(&keys::namespace(name))?
            .ok_or_else(|| Rejection::NamespaceNotFound(name.to_string()))
    }

    /// Puts a ready task in a queue and tells matching.
    pub(crate) fn enqueue_task(
        &mut self,
        namespace: &str,
        queue: &str,
        kind: TaskKind,
        record: &TaskRecord,
    ) {
        let key = keys::task(namespace, queue, kind, self.next_id());
        self.put(key.clone(), record);
        self.notify(Notification::TaskAdded {
            namespace: namespace.to_string(),
            queue: queue.to_string(),
            kind,
            task_key: key,
            priority: TaskPriority::of(record.priority.as_ref()),
            routing: crate::deployments::TaskRouting::of(record),
        });
    }

    /// Takes back the task this mutation last queued in (namespace, queue, kind): deleted
    /// again, matching never told. Whether there was one.
    pub(crate) fn withdraw_queued_task(
        &mut self,
        namespace: &str,
        queue: &str,
        kind: TaskKind,
    ) -> bool {
        let queued = self.notifications.iter().rposition(|n| {
            matches!(n, Notification::TaskAdded { namespace: ns, queue: q, kind: k, .. }
                if ns == namespace && q == queue && *k == kind)
        });
        let Some(at) = queued else {
            return false;
        };
        let n = self.notifications.remove(at);
        self.notified.remove(&n);
        if let Notification::TaskAdded { task_key, .. } = n {
            self.state.delete(task_key);
        }
        true
    }

    /// Records a due time and tells the timer service; returns the timer's key.
    pub(crate) fn schedule_timer(&mut self, fire_at: i64, record: &TimerRecord) -> Vec<u8> {
        let key = keys::timer(fire_at, self.next_id());
        self.put(key.clone(), record);
        self.notify(Notification::TimerAdded {
            fire_at,
            key: key.clone(),
        });
        key
    }
}

fn decode_opt<M: Message + Default>(
    bytes: Result<Option<Vec<u8>>, ReadError>,
) -> ApplyResult<Option<M>> {
    bytes
        .map_err(|e| Rejection::Internal(e.to_string()))?
        .map(|b| M::decode(b.as_slice()))
        .transpose()
        .map_err(|e| Rejection::Internal(format!("undecodable record: {e}")))
}
