//! GetWorkflowExecutionHistory: pages straight from the history table, the `wait_new_event`
//! long poll, and the close-event filter SDK clients use to wait for a result. Events are
//! returned as stored (see `stored_history`). GetWorkflowExecutionHistoryReverse: the same
//! events newest first.

use super::stored_history::{StoredEvents, WithHistory};
use super::{long_poll_deadline, page_size, Frontend, Res};
use crate::errors;
use keel_engine::keys;
use prost::Message;
use temporalio_protos::temporal::api::{
    enums::v1::HistoryEventFilterType,
    history::v1::{History, HistoryEvent},
    workflowservice::v1::*,
};
use tonic::{Request, Response, Status};

/// Page tokens are the next event id to return, 8 bytes big-endian.
fn decode_token(token: &[u8]) -> Result<i64, Status> {
    if token.is_empty() {
        return Ok(1);
    }
    let bytes: [u8; 8] = token
        .try_into()
        .map_err(|_| Status::invalid_argument("Invalid NextPageToken."))?;
    Ok(i64::from_be_bytes(bytes).max(1))
}

pub(super) async fn get(
    f: &Frontend,
    req: Request<GetWorkflowExecutionHistoryRequest>,
) -> Res<WithHistory<GetWorkflowExecutionHistoryResponse>> {
    let deadline = long_poll_deadline(&req);
    let req = req.into_inner();
    let keel = &f.keel;
    keel.linearizable().await?;
    keel.namespace(&req.namespace)?;
    let execution = req.execution.clone().unwrap_or_default();
    let mut exec = keel.execution(&req.namespace, &execution.workflow_id, &execution.run_id)?;
    let (ns, wf, run) = (
        exec.namespace.clone(),
        exec.workflow_id.clone(),
        exec.run_id.clone(),
    );
    let close_only = req.history_event_filter_type == HistoryEventFilterType::CloseEvent as i32;
    let page_size = page_size(req.maximum_page_size);
    let from = decode_token(&req.next_page_token)?;
    let watch = keel.watchers.watch(&ns, &wf, &run);
    loop {
        let changed = watch.notified();
        tokio::pin!(changed);
        changed.as_mut().enable();
        let running = exec.close_event_id == 0;
        let (first, events) = if close_only {
            if running {
                (from, StoredEvents::default())
            } else {
                let close = exec.close_event_id;
                (close, read_events(f, &ns, &wf, &run, close, 1)?)
            }
        } else {
            (from, read_events(f, &ns, &wf, &run, from, page_size)?)
        };
        // Stored events are contiguous from `first`.
        let last_id = (!events.is_empty()).then(|| first + events.len() as i64 - 1);
        let waiting = req.wait_new_event && events.is_empty() && running;
        if !waiting || tokio::time::Instant::now() >= deadline {
            let next_page_token = match last_id {
                _ if close_only && running => from.to_be_bytes().to_vec(),
                _ if close_only => Vec::new(),
                Some(last) if last < exec.next_event_id - 1 || (running && req.wait_new_event) => {
                    (last + 1).to_be_bytes().to_vec()
                }
                None if running && req.wait_new_event => from.to_be_bytes().to_vec(),
                _ => Vec::new(),
            };
            let page = GetWorkflowExecutionHistoryResponse {
                next_page_token,
                archived: false,
                ..Default::default()
            };
            return Ok(Response::new(WithHistory::page(page, events)));
        }
        tokio::select! {
            _ = &mut changed => {}
            _ = tokio::time::sleep_until(deadline) => {}
        }
        exec = keel.execution(&ns, &wf, &run)?;
    }
}

/// Up to `limit` events of a run starting at event id `from`, as stored.
pub(crate) fn read_events(
    f: &Frontend,
    ns: &str,
    wf: &str,
    run: &str,
    from: i64,
    limit: usize,
) -> Result<StoredEvents, Status> {
    let prefix = keys::history_prefix(ns, wf, run);
    let start = keys::history_event(ns, wf, run, from);
    let rows = f
        .keel
        .store
        .state_scan(&prefix, Some(&start), limit)
        .map_err(errors::internal)?;
    Ok(StoredEvents(rows.into_iter().map(|(_, v)| v).collect()))
}

/// GetWorkflowExecutionHistoryReverse: the run's events newest first, in pages; the page
/// token is the event id to continue below (8 bytes big-endian).
pub(super) async fn get_reverse(
    f: &Frontend,
    req: Request<GetWorkflowExecutionHistoryReverseRequest>,
) -> Res<GetWorkflowExecutionHistoryReverseResponse> {
    let req = req.into_inner();
    let keel = &f.keel;
    keel.linearizable().await?;
    keel.namespace(&req.namespace)?;
    let execution = req.execution.unwrap_or_default();
    let exec = keel.execution(&req.namespace, &execution.workflow_id, &execution.run_id)?;
    let last = exec.next_event_id - 1;
    let page_size = page_size(req.maximum_page_size);
    let from = if req.next_page_token.is_empty() {
        last
    } else {
        decode_token(&req.next_page_token)?.min(last)
    };
    let low = (from - page_size as i64 + 1).max(1);
    let stored = read_events(
        f,
        &exec.namespace,
        &exec.workflow_id,
        &exec.run_id,
        low,
        (from - low + 1).max(0) as usize,
    )?;
    let mut events = stored
        .0
        .iter()
        .map(|bytes| HistoryEvent::decode(bytes.as_slice()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(errors::internal)?;
    events.reverse();
    Ok(Response::new(GetWorkflowExecutionHistoryReverseResponse {
        history: Some(History { events }),
        next_page_token: if low > 1 {
            (low - 1).to_be_bytes().to_vec()
        } else {
            Vec::new()
        },
    }))
}
