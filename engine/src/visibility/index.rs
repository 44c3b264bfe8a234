//! Keeping the visibility row, index keys and per-status counts of each run in step with the
//! run, inside `apply` (key layouts: `keys`, tables 10-12).
//!
//! `execution::save` calls `note_saved` with the run as it is about to be stored: the row is
//! rebuilt and hashed, and only when the hash differs from the one the run last recorded is
//! the run queued for `flush` (most saves, an activity scheduled or a task started, change
//! nothing a list shows, and cost no read). `note_removed` queues a deleted run. `flush`,
//! run once per mutation before its writes are handed back, replaces each queued run's old
//! index keys with the new ones, writes the row and moves the counts.

use super::row::execution_info;
use crate::canonical;
use crate::ctx::ApplyCtx;
use crate::error::ApplyResult;
use crate::keys::{self, visibility_index as ix};
use crate::query::plan::NAMESPACE_DIVISION;
use crate::records::ExecutionRecord;
use prost::Message;
use temporalio_protos::temporal::api::workflow::v1::WorkflowExecutionInfo;

pub(crate) const ROW_TYPE: &str = "temporal.api.workflow.v1.WorkflowExecutionInfo";

/// FNV-1a: a fixed, deterministic hash (the same on every replica and every build).
pub(crate) fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

pub(crate) fn note_saved(ctx: &mut ApplyCtx, exec: &mut ExecutionRecord) {
    let row = canonical::encode(&execution_info(exec, false), ROW_TYPE);
    let hash = fnv1a(&row);
    if hash != exec.visibility_hash {
        exec.visibility_hash = hash;
        ctx.queue_visibility(
            keys::visibility_row(&exec.namespace, &exec.workflow_id, &exec.run_id),
            (exec.namespace.clone(), Some(row)),
        );
    }
}

pub(crate) fn note_removed(ctx: &mut ApplyCtx, exec: &ExecutionRecord) {
    ctx.queue_visibility(
        keys::visibility_row(&exec.namespace, &exec.workflow_id, &exec.run_id),
        (exec.namespace.clone(), None),
    );
}

/// Writes the rows, index keys and counts of every run this mutation changed.
pub fn flush(ctx: &mut ApplyCtx) -> ApplyResult<()> {
    for (row_key, (namespace, new)) in ctx.take_visibility() {
        let old: Option<WorkflowExecutionInfo> = ctx.get(&row_key)?;
        let new_info =
            match &new {
                Some(bytes) => Some(WorkflowExecutionInfo::decode(bytes.as_slice()).map_err(
                    |e| crate::error::Rejection::Internal(format!("visibility row: {e}")),
                )?),
                None => None,
            };
        if let Some(old) = &old {
            for key in index_keys(&namespace, old) {
                ctx.delete(key);
            }
            count(ctx, &namespace, old, -1)?;
        }
        match (new, &new_info) {
            (Some(bytes), Some(info)) => {
                for key in index_keys(&namespace, info) {
                    ctx.state.put(key, Vec::new());
                }
                count(ctx, &namespace, info, 1)?;
                ctx.state.put(row_key, bytes);
            }
            _ => ctx.delete(row_key),
        }
    }
    Ok(())
}

/// Hidden records (a schedule's or batch job's own) are not in the per-status counts, which
/// answer only queries that hide them.
fn hidden(info: &WorkflowExecutionInfo) -> bool {
    info.search_attributes
        .as_ref()
        .is_some_and(|sa| sa.indexed_fields.contains_key(NAMESPACE_DIVISION))
}

fn count(
    ctx: &mut ApplyCtx,
    namespace: &str,
    info: &WorkflowExecutionInfo,
    delta: i64,
) -> ApplyResult<()> {
    if hidden(info) {
        return Ok(());
    }
    let key = keys::visibility_count(namespace, info.status);
    let current = ctx
        .get_raw(&key)?
        .and_then(|b| b.try_into().ok().map(u64::from_be_bytes))
        .unwrap_or(0);
    let next = (current as i64 + delta).max(0) as u64;
    if next == 0 {
        ctx.delete(key);
    } else {
        ctx.state.put(key, next.to_be_bytes().to_vec());
    }
    Ok(())
}

/// The order a run lists in (the tail of each of its index keys).
pub fn order_of(info: &WorkflowExecutionInfo) -> Vec<u8> {
    let nanos = |t: &Option<prost_wkt_types::Timestamp>| {
        t.as_ref()
            .map_or(0, |t| t.seconds * 1_000_000_000 + t.nanos as i64)
    };
    let (wf, run) = info
        .execution
        .as_ref()
        .map_or(("", ""), |e| (e.workflow_id.as_str(), e.run_id.as_str()));
    keys::visibility_order(nanos(&info.close_time), nanos(&info.start_time), run, wf)
}

/// Keyword and keyword-list attributes of a row, each value once: (name, value).
pub fn keyword_values(info: &WorkflowExecutionInfo) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let Some(sa) = &info.search_attributes else {
        return out;
    };
    let mut names: Vec<&String> = sa.indexed_fields.keys().collect();
    names.sort();
    for name in names {
        let payload = &sa.indexed_fields[name];
        let ty = payload.metadata.get("type").map(Vec::as_slice);
        if !matches!(ty, Some(b"Keyword") | Some(b"KeywordList")) {
            continue;
        }
        use temporalio_protos::temporal::api::enums::v1::IndexedValueType as T;
        let mut values: Vec<String> = super::row::payload_values(payload, T::KeywordList)
            .into_iter()
            .filter_map(|v| match v {
                crate::query::Value::Str(s) => Some(s),
                _ => None,
            })
            .collect();
        values.sort();
        values.dedup();
        out.extend(values.into_iter().map(|v| (name.clone(), v)));
    }
    out
}

/// Every index key of a row.
pub fn index_keys(namespace: &str, info: &WorkflowExecutionInfo) -> Vec<Vec<u8>> {
    let order = order_of(info);
    let with_order = |mut prefix: Vec<u8>| {
        prefix.extend_from_slice(&order);
        prefix
    };
    let (wf, _) = info
        .execution
        .as_ref()
        .map_or(("", ""), |e| (e.workflow_id.as_str(), e.run_id.as_str()));
    let workflow_type = info.r#type.as_ref().map_or("", |t| t.name.as_str());
    let mut keys_out = vec![
        with_order(keys::visibility_index_prefix(namespace, ix::ALL, &[])),
        with_order(keys::visibility_status_prefix(namespace, info.status)),
        with_order(keys::visibility_index_prefix(
            namespace,
            ix::WORKFLOW_TYPE,
            &[workflow_type],
        )),
        with_order(keys::visibility_index_prefix(
            namespace,
            ix::WORKFLOW_ID,
            &[wf],
        )),
        with_order(keys::visibility_index_prefix(
            namespace,
            ix::TASK_QUEUE,
            &[&info.task_queue],
        )),
    ];
    for (name, value) in keyword_values(info) {
        keys_out.push(with_order(keys::visibility_index_prefix(
            namespace,
            ix::KEYWORD,
            &[&name, &value],
        )));
    }
    keys_out
}
