//! A run's visibility row: the `WorkflowExecutionInfo` List returns (Temporal's fields; the
//! counters that change with every event, history length and size, state transitions and the
//! execution duration, only once the run is closed, as Temporal lists them), and the values a
//! query filter reads from it.

use crate::query::eval::Row;
use crate::query::{System, Value};
use crate::records::ExecutionRecord;
use crate::time::{duration, parse_rfc3339, timestamp, timestamp_nanos};
use temporalio_protos::temporal::api::{
    common::v1::{Payload, WorkflowExecution, WorkflowType},
    enums::v1::{IndexedValueType as T, WorkflowExecutionStatus},
    workflow::v1::WorkflowExecutionInfo,
};

/// The info of a run as List shows it (`for_describe`: with the running counters too).
pub fn execution_info(exec: &ExecutionRecord, for_describe: bool) -> WorkflowExecutionInfo {
    let closed = exec.status != WorkflowExecutionStatus::Running as i32;
    let counters = closed || for_describe;
    WorkflowExecutionInfo {
        execution: Some(WorkflowExecution {
            workflow_id: exec.workflow_id.clone(),
            run_id: exec.run_id.clone(),
        }),
        r#type: Some(WorkflowType {
            name: exec.workflow_type.clone(),
        }),
        start_time: timestamp(exec.start_time),
        close_time: timestamp(exec.close_time),
        status: exec.status,
        history_length: if counters { exec.next_event_id - 1 } else { 0 },
        // A retried run executes after its backoff.
        execution_time: timestamp(exec.start_time.max(exec.first_task_not_before)),
        memo: exec.memo.clone(),
        search_attributes: exec.search_attributes.clone(),
        task_queue: exec.task_queue.clone(),
        state_transition_count: if counters { exec.state_transitions } else { 0 },
        history_size_bytes: if counters { exec.history_size_bytes } else { 0 },
        execution_duration: if closed {
            duration(exec.close_time - exec.start_time)
        } else {
            None
        },
        first_run_id: exec.first_execution_run_id.clone(),
        parent_execution: exec.parent.as_ref().map(|p| WorkflowExecution {
            workflow_id: p.workflow_id.clone(),
            run_id: p.run_id.clone(),
        }),
        root_execution: Some(match &exec.parent {
            Some(p) => WorkflowExecution {
                workflow_id: p.root_workflow_id.clone(),
                run_id: p.root_run_id.clone(),
            },
            None => WorkflowExecution {
                workflow_id: exec.workflow_id.clone(),
                run_id: exec.first_execution_run_id.clone(),
            },
        }),
        auto_reset_points: if for_describe {
            exec.auto_reset_points.clone()
        } else {
            None
        },
        priority: if for_describe {
            exec.priority.clone()
        } else {
            None
        },
        ..Default::default()
    }
}

/// A search attribute payload's values as the given type (JSON, as the SDKs encode them).
pub fn payload_values(p: &Payload, ty: T) -> Vec<Value> {
    let Ok(json) = serde_json::from_slice::<serde_json::Value>(&p.data) else {
        return Vec::new();
    };
    let one = |v: &serde_json::Value| -> Option<Value> {
        match ty {
            T::Keyword | T::KeywordList | T::Text => v.as_str().map(|s| Value::Str(s.into())),
            T::Int => v.as_i64().map(Value::Int),
            T::Double => v.as_f64().map(Value::Double),
            T::Bool => v.as_bool().map(Value::Bool),
            T::Datetime => v.as_str().and_then(parse_rfc3339).map(Value::Time),
            T::Unspecified => None,
        }
    };
    match &json {
        serde_json::Value::Array(items) => items.iter().filter_map(one).collect(),
        v => one(v).into_iter().collect(),
    }
}

impl Row for WorkflowExecutionInfo {
    fn system(&self, column: System) -> Option<Value> {
        let exec = self.execution.as_ref();
        let nonempty = |s: &str| (!s.is_empty()).then(|| Value::Str(s.to_string()));
        let closed = self.status != WorkflowExecutionStatus::Running as i32;
        match column {
            System::WorkflowId => exec.and_then(|e| nonempty(&e.workflow_id)),
            System::RunId => exec.and_then(|e| nonempty(&e.run_id)),
            System::WorkflowType => self.r#type.as_ref().and_then(|t| nonempty(&t.name)),
            System::TaskQueue => nonempty(&self.task_queue),
            System::ExecutionStatus => Some(Value::Status(self.status)),
            System::StartTime => timestamp_nanos(&self.start_time).map(Value::Time),
            System::ExecutionTime => timestamp_nanos(&self.execution_time).map(Value::Time),
            System::CloseTime => timestamp_nanos(&self.close_time).map(Value::Time),
            System::ExecutionDuration => self
                .execution_duration
                .as_ref()
                .map(|d| Value::Int(d.seconds * 1_000_000_000 + d.nanos as i64)),
            System::HistoryLength => closed.then_some(Value::Int(self.history_length)),
            System::HistorySizeBytes => closed.then_some(Value::Int(self.history_size_bytes)),
            System::StateTransitionCount => {
                closed.then_some(Value::Int(self.state_transition_count))
            }
            System::ParentWorkflowId => self
                .parent_execution
                .as_ref()
                .and_then(|p| nonempty(&p.workflow_id)),
            System::ParentRunId => self
                .parent_execution
                .as_ref()
                .and_then(|p| nonempty(&p.run_id)),
            System::RootWorkflowId => self
                .root_execution
                .as_ref()
                .and_then(|p| nonempty(&p.workflow_id)),
            System::RootRunId => self
                .root_execution
                .as_ref()
                .and_then(|p| nonempty(&p.run_id)),
            System::ActivityType => None,
        }
    }

    fn attribute(&self, name: &str, ty: T) -> Vec<Value> {
        self.search_attributes
            .as_ref()
            .and_then(|sa| sa.indexed_fields.get(name))
            .map(|p| payload_values(p, ty))
            .unwrap_or_default()
    }
}
