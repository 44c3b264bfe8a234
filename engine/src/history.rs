//! Appending history events: event ids, times, buffering while a workflow task runs, and the
//! id fix-ups buffered events get when they are flushed into history.

use crate::canonical;
use crate::ctx::ApplyCtx;
use crate::keys;
use crate::outcome::Notification;
use crate::records::ExecutionRecord;
use crate::time::timestamp;
use std::collections::BTreeMap;
use temporalio_protos::temporal::api::{enums::v1::EventType, history::v1 as history};

pub(crate) use history::history_event::Attributes;

/// A new event without an id (ids are given when it enters history).
pub(crate) fn event(
    ctx: &mut ApplyCtx,
    event_type: EventType,
    attributes: Attributes,
) -> history::HistoryEvent {
    history::HistoryEvent {
        event_id: 0,
        event_time: timestamp(ctx.now),
        event_type: event_type as i32,
        version: 0,
        task_id: ctx.next_id() as i64,
        attributes: Some(attributes),
        ..Default::default()
    }
}

/// Writes `event` as the run's next event and returns its id.
pub(crate) fn append(
    ctx: &mut ApplyCtx,
    exec: &mut ExecutionRecord,
    mut event: history::HistoryEvent,
) -> i64 {
    let id = exec.next_event_id;
    debug_assert!(id >= 1, "event ids start at 1");
    event.event_id = id;
    if let Some(marks) = ctx.command_marks.take() {
        event.user_metadata = marks.user_metadata;
        event.event_group_markers = marks.event_group_markers;
    }
    exec.next_event_id += 1;
    let bytes = canonical::encode(&event, canonical::HISTORY_EVENT);
    exec.history_size_bytes += bytes.len() as i64;
    ctx.state.put(
        keys::history_event(&exec.namespace, &exec.workflow_id, &exec.run_id, id),
        bytes,
    );
    ctx.notify(Notification::HistoryAppended {
        namespace: exec.namespace.clone(),
        workflow_id: exec.workflow_id.clone(),
        run_id: exec.run_id.clone(),
    });
    id
}

/// Appends now, or buffers until the running workflow task completes (as Temporal does).
pub(crate) fn append_or_buffer(
    ctx: &mut ApplyCtx,
    exec: &mut ExecutionRecord,
    event: history::HistoryEvent,
) {
    if workflow_task_running(exec) {
        exec.buffered_events.push(event);
    } else {
        // The task that will deliver this event can no longer vanish from history.
        crate::workflow_task::record_speculative(ctx, exec);
        append(ctx, exec, event);
    }
}

pub(crate) fn workflow_task_running(exec: &ExecutionRecord) -> bool {
    exec.workflow_task
        .as_ref()
        .is_some_and(|wt| wt.started_event_id != 0)
}

/// Moves buffered events into history. A buffered activity outcome refers to its
/// ActivityTaskStarted event, whose id is only known now.
pub(crate) fn flush_buffered(ctx: &mut ApplyCtx, exec: &mut ExecutionRecord) -> bool {
    let buffered = std::mem::take(&mut exec.buffered_events);
    let any = !buffered.is_empty();
    let mut started_ids: BTreeMap<i64, i64> = BTreeMap::new();
    for mut e in buffered {
        let next_id = exec.next_event_id;
        match &mut e.attributes {
            Some(Attributes::ActivityTaskStartedEventAttributes(a)) => {
                started_ids.insert(a.scheduled_event_id, next_id);
            }
            Some(Attributes::ActivityTaskCompletedEventAttributes(a)) => {
                fix(&started_ids, a.scheduled_event_id, &mut a.started_event_id)
            }
            Some(Attributes::ActivityTaskFailedEventAttributes(a)) => {
                fix(&started_ids, a.scheduled_event_id, &mut a.started_event_id)
            }
            Some(Attributes::ActivityTaskTimedOutEventAttributes(a)) => {
                fix(&started_ids, a.scheduled_event_id, &mut a.started_event_id)
            }
            Some(Attributes::ActivityTaskCanceledEventAttributes(a)) => {
                fix(&started_ids, a.scheduled_event_id, &mut a.started_event_id)
            }
            _ => {}
        }
        append(ctx, exec, e);
    }
    any
}

fn fix(started_ids: &BTreeMap<i64, i64>, scheduled: i64, started: &mut i64) {
    if let Some(id) = started_ids.get(&scheduled) {
        *started = *id;
    }
}
