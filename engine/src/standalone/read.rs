//! Reading standalone activities: DescribeActivityExecution's info, and
//! ListActivityExecutions / CountActivityExecutions over the namespace's activity runs with
//! the visibility query language (`ActivityId` and `ActivityType` are its columns here).
//!
//! List and Count walk every activity run of the namespace (there is no index yet) and keep
//! Temporal's order: open runs first, then by close time and start time, latest first. The
//! answers are exact: they read the same snapshot as every other read.

use super::TARGET;
use crate::keys;
use crate::query::eval::{eval, Row};
use crate::query::plan::{compile_for, status_name, Subject};
use crate::query::{QueryError, System, Value};
use crate::records::{ActivityInfo, ExecutionRecord};
use crate::time::{duration, explicit_duration, timestamp};
use crate::view::ReadError;
use crate::visibility::read::{keyword_payload, ScanView};
use crate::visibility::row::payload_values;
use prost::Message;
use std::cmp::Reverse;
use std::collections::BTreeMap;
use temporalio_protos::temporal::api::{
    activity::v1::{ActivityExecutionInfo, ActivityExecutionListInfo},
    common::v1::{ActivityType, Payload, SearchAttributes},
    enums::v1::{
        ActivityExecutionStatus, IndexedValueType as T, PendingActivityState,
        WorkflowExecutionStatus as Status,
    },
};

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ActivityListError {
    #[error(transparent)]
    Query(#[from] QueryError),
    #[error("invalid page token")]
    BadToken,
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error("undecodable activity record: {0}")]
    Corrupt(String),
}

/// The API's status of a standalone run (kept as the workflow status of the same name).
pub fn status(exec: &ExecutionRecord) -> ActivityExecutionStatus {
    match Status::try_from(exec.status).unwrap_or(Status::Unspecified) {
        Status::Running => ActivityExecutionStatus::Running,
        Status::Completed => ActivityExecutionStatus::Completed,
        Status::Failed => ActivityExecutionStatus::Failed,
        Status::Canceled => ActivityExecutionStatus::Canceled,
        Status::Terminated => ActivityExecutionStatus::Terminated,
        Status::TimedOut => ActivityExecutionStatus::TimedOut,
        Status::ContinuedAsNew | Status::Paused | Status::Unspecified => {
            ActivityExecutionStatus::Unspecified
        }
    }
}

fn running(exec: &ExecutionRecord) -> bool {
    exec.status == Status::Running as i32
}

fn the_activity(exec: &ExecutionRecord) -> ActivityInfo {
    exec.activities
        .iter()
        .find(|a| a.scheduled_event_id == TARGET)
        .cloned()
        .unwrap_or_default()
}

/// Where an open run stands: a cancel request first, then whether an attempt runs.
fn run_state(exec: &ExecutionRecord, a: &ActivityInfo) -> PendingActivityState {
    if !running(exec) {
        PendingActivityState::Unspecified
    } else if exec.cancel_requested {
        PendingActivityState::CancelRequested
    } else if a.started_time != 0 {
        PendingActivityState::Started
    } else {
        PendingActivityState::Scheduled
    }
}

fn execution_duration(exec: &ExecutionRecord) -> Option<prost_wkt_types::Duration> {
    (!running(exec)).then(|| duration(exec.close_time - exec.start_time).unwrap_or_default())
}

/// The search attributes as the dev server shows them: always present, maybe empty.
fn search_attributes(exec: &ExecutionRecord) -> Option<SearchAttributes> {
    Some(exec.search_attributes.clone().unwrap_or_default())
}

/// DescribeActivityExecution's `info`, as the dev server fills it.
pub fn describe(exec: &ExecutionRecord) -> ActivityExecutionInfo {
    let a = the_activity(exec);
    let open = running(exec);
    let waiting = open && a.started_time == 0;
    let retrying = waiting && a.attempt > 1;
    ActivityExecutionInfo {
        activity_id: exec.workflow_id.clone(),
        run_id: exec.run_id.clone(),
        activity_type: Some(ActivityType {
            name: a.activity_type.clone(),
        }),
        status: status(exec) as i32,
        run_state: run_state(exec, &a) as i32,
        task_queue: a.task_queue.clone(),
        schedule_to_close_timeout: explicit_duration(a.schedule_to_close_timeout),
        schedule_to_start_timeout: explicit_duration(a.schedule_to_start_timeout),
        start_to_close_timeout: explicit_duration(a.start_to_close_timeout),
        heartbeat_timeout: explicit_duration(a.heartbeat_timeout),
        retry_policy: a.retry_policy.clone(),
        heartbeat_details: a.heartbeat_details.clone(),
        last_heartbeat_time: timestamp(a.last_heartbeat_time),
        last_started_time: timestamp(exec.last_started_time),
        attempt: a.attempt,
        execution_duration: execution_duration(exec),
        schedule_time: timestamp(exec.start_time),
        expiration_time: (a.schedule_to_close_timeout > 0)
            .then(|| timestamp(exec.start_time + a.schedule_to_close_timeout))
            .flatten(),
        close_time: (!open).then(|| timestamp(exec.close_time)).flatten(),
        last_failure: a.last_failure.clone(),
        last_worker_identity: if a.started_identity.is_empty() {
            a.last_worker_identity.clone()
        } else {
            a.started_identity.clone()
        },
        current_retry_interval: retrying
            .then(|| duration(a.current_attempt_scheduled_time - exec.last_attempt_complete_time))
            .flatten(),
        last_attempt_complete_time: timestamp(exec.last_attempt_complete_time),
        next_attempt_schedule_time: (retrying || (waiting && exec.start_delay > 0))
            .then(|| timestamp(a.current_attempt_scheduled_time))
            .flatten(),
        priority: a.priority.clone(),
        state_transition_count: exec.state_transitions,
        state_size_bytes: exec.encoded_len() as i64,
        search_attributes: search_attributes(exec),
        user_metadata: exec.user_metadata.clone(),
        canceled_reason: exec.cancel_reason.clone(),
        total_heartbeat_count: exec.heartbeat_count,
        start_delay: (exec.start_delay > 0)
            .then(|| duration(exec.start_delay))
            .flatten(),
        execution_time: timestamp(exec.start_time + exec.start_delay),
        ..Default::default()
    }
}

/// A run's entry in ListActivityExecutions.
pub fn list_info(exec: &ExecutionRecord) -> ActivityExecutionListInfo {
    let a = the_activity(exec);
    let open = running(exec);
    ActivityExecutionListInfo {
        activity_id: exec.workflow_id.clone(),
        run_id: exec.run_id.clone(),
        activity_type: Some(ActivityType {
            name: a.activity_type,
        }),
        schedule_time: timestamp(exec.start_time),
        close_time: (!open).then(|| timestamp(exec.close_time)).flatten(),
        status: status(exec) as i32,
        search_attributes: search_attributes(exec),
        task_queue: a.task_queue,
        state_transition_count: if open { 0 } else { exec.state_transitions },
        execution_duration: execution_duration(exec),
        execution_time: timestamp(exec.start_time + exec.start_delay),
        ..Default::default()
    }
}

/// A standalone run as the query language sees it.
struct ActivityRow<'a>(&'a ExecutionRecord);

impl Row for ActivityRow<'_> {
    fn system(&self, column: System) -> Option<Value> {
        let exec = self.0;
        let nonempty = |s: &str| (!s.is_empty()).then(|| Value::Str(s.to_string()));
        let closed = !running(exec);
        match column {
            System::WorkflowId => nonempty(&exec.workflow_id),
            System::RunId => nonempty(&exec.run_id),
            System::ActivityType => exec
                .activities
                .first()
                .and_then(|a| nonempty(&a.activity_type)),
            System::TaskQueue => nonempty(&exec.task_queue),
            System::ExecutionStatus => Some(Value::Status(exec.status)),
            System::StartTime => Some(Value::Time(exec.start_time)),
            System::ExecutionTime => Some(Value::Time(exec.start_time + exec.start_delay)),
            System::CloseTime => closed.then_some(Value::Time(exec.close_time)),
            System::ExecutionDuration => {
                closed.then_some(Value::Int(exec.close_time - exec.start_time))
            }
            System::StateTransitionCount => Some(Value::Int(exec.state_transitions)),
            System::WorkflowType
            | System::HistoryLength
            | System::HistorySizeBytes
            | System::ParentWorkflowId
            | System::ParentRunId
            | System::RootWorkflowId
            | System::RootRunId => None,
        }
    }

    fn attribute(&self, name: &str, ty: T) -> Vec<Value> {
        self.0
            .search_attributes
            .as_ref()
            .and_then(|sa| sa.indexed_fields.get(name))
            .map(|p| payload_values(p, ty))
            .unwrap_or_default()
    }
}

/// Temporal's list order: open first, then latest close, then latest start, then run id.
type Order = (bool, Reverse<i64>, Reverse<i64>, String, String);

fn order_of(exec: &ExecutionRecord) -> Order {
    let closed = !running(exec);
    (
        closed,
        Reverse(if closed { exec.close_time } else { 0 }),
        Reverse(exec.start_time),
        exec.run_id.clone(),
        exec.workflow_id.clone(),
    )
}

/// Where a page ended: the order of its last run.
#[derive(Clone, PartialEq, prost::Message)]
struct PageToken {
    #[prost(bool, tag = "1")]
    closed: bool,
    #[prost(int64, tag = "2")]
    close_time: i64,
    #[prost(int64, tag = "3")]
    start_time: i64,
    #[prost(string, tag = "4")]
    run_id: String,
    #[prost(string, tag = "5")]
    activity_id: String,
}

/// Every activity run of the namespace the query matches, in list order.
fn matching(
    view: &dyn ScanView,
    namespace: &str,
    custom: &BTreeMap<String, i32>,
    query: &str,
) -> Result<Vec<ExecutionRecord>, ActivityListError> {
    let plan = compile_for(query, custom, Subject::Activities)?;
    let prefix = keys::activity_execution_prefix(namespace);
    let mut from = prefix.clone();
    let mut out = Vec::new();
    loop {
        let batch = view.scan(&prefix, &from, 256)?;
        for (_, v) in &batch {
            let exec = ExecutionRecord::decode(v.as_slice())
                .map_err(|e| ActivityListError::Corrupt(e.to_string()))?;
            let keep = match &plan.filter {
                Some(f) => eval(f, &ActivityRow(&exec)) == Some(true),
                None => true,
            };
            if keep {
                out.push(exec);
            }
        }
        match batch.last() {
            Some((last, _)) if batch.len() == 256 => {
                from = last.clone();
                from.push(0);
            }
            _ => break,
        }
    }
    out.sort_by_key(order_of);
    Ok(out)
}

pub struct ActivityPage {
    pub executions: Vec<ActivityExecutionListInfo>,
    pub next_page_token: Vec<u8>,
}

/// One page of ListActivityExecutions (`page_size` in 1..=1000).
pub fn list(
    view: &dyn ScanView,
    namespace: &str,
    custom: &BTreeMap<String, i32>,
    query: &str,
    page_size: usize,
    token: &[u8],
) -> Result<ActivityPage, ActivityListError> {
    let after = if token.is_empty() {
        None
    } else {
        let t = PageToken::decode(token).map_err(|_| ActivityListError::BadToken)?;
        Some((
            t.closed,
            Reverse(t.close_time),
            Reverse(t.start_time),
            t.run_id,
            t.activity_id,
        ))
    };
    let runs: Vec<ExecutionRecord> = matching(view, namespace, custom, query)?
        .into_iter()
        .filter(|e| after.as_ref().is_none_or(|a| order_of(e) > *a))
        .take(page_size)
        .collect();
    let next_page_token = match runs.last() {
        Some(last) if runs.len() == page_size => {
            let (closed, Reverse(close_time), Reverse(start_time), run_id, activity_id) =
                order_of(last);
            PageToken {
                closed,
                close_time,
                start_time,
                run_id,
                activity_id,
            }
            .encode_to_vec()
        }
        _ => Vec::new(),
    };
    Ok(ActivityPage {
        executions: runs.iter().map(list_info).collect(),
        next_page_token,
    })
}

/// CountActivityExecutions: the total and, with `GROUP BY ExecutionStatus`, per status
/// (largest first).
pub fn count(
    view: &dyn ScanView,
    namespace: &str,
    custom: &BTreeMap<String, i32>,
    query: &str,
) -> Result<(i64, Vec<(Payload, i64)>), ActivityListError> {
    let plan = compile_for(query, custom, Subject::Activities)?;
    let runs = matching(view, namespace, custom, query)?;
    let Some(group) = plan.group_by else {
        return Ok((runs.len() as i64, Vec::new()));
    };
    let mut groups: BTreeMap<String, i64> = BTreeMap::new();
    for exec in &runs {
        let value = if group.is_status() {
            status_name(exec.status).to_string()
        } else {
            match ActivityRow(exec).attribute(&group.name, T::Keyword).first() {
                Some(Value::Str(s)) => s.clone(),
                _ => String::new(),
            }
        };
        *groups.entry(value).or_default() += 1;
    }
    let mut groups: Vec<(String, i64)> = groups.into_iter().collect();
    groups.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    Ok((
        runs.len() as i64,
        groups
            .into_iter()
            .map(|(v, n)| (keyword_payload(&v), n))
            .collect(),
    ))
}
