//! Request checks shared by the frontend (before anything is proposed) and `apply` (so the
//! log can never carry something invalid into state). Each returns a message for
//! INVALID_ARGUMENT.

use prost::Message;
use temporalio_protos::temporal::api::{
    command::v1::{command::Attributes as C, Command},
    common::v1::RetryPolicy,
    enums::v1::{CommandType, WorkflowTaskFailedCause},
    workflowservice::v1 as ws,
};

/// Temporal's default limit on an id or name (workflow id, type, task queue, activity id).
pub const MAX_ID_LENGTH: usize = 1000;
/// Temporal's default blob size limit: a request carrying more payload bytes is rejected.
pub const MAX_PAYLOAD_BYTES: usize = 2 * 1024 * 1024;

pub fn id(what: &str, value: &str) -> Result<(), String> {
    if value.is_empty() {
        return Err(format!("{what} is not set on request."));
    }
    if value.len() > MAX_ID_LENGTH {
        return Err(format!("{what} exceeds length limit of {MAX_ID_LENGTH}."));
    }
    Ok(())
}

pub fn payload_size(what: &str, m: &impl Message) -> Result<(), String> {
    let size = m.encoded_len();
    if size > MAX_PAYLOAD_BYTES {
        return Err(format!(
            "{what} size {size} bytes exceeds the limit of {MAX_PAYLOAD_BYTES} bytes."
        ));
    }
    Ok(())
}

/// Temporal's checks of a retry policy (a single attempt needs no more checks).
pub fn retry_policy(p: &RetryPolicy) -> Result<(), String> {
    if p.maximum_attempts == 1 {
        return Ok(());
    }
    let initial = crate::time::nanos(&p.initial_interval);
    let maximum = crate::time::nanos(&p.maximum_interval);
    if initial < 0 {
        return Err("invalid InitialInterval set on retry policy: negative duration".into());
    }
    if p.backoff_coefficient < 1.0 {
        return Err("BackoffCoefficient cannot be less than 1 on retry policy.".into());
    }
    if maximum < 0 {
        return Err("invalid MaximumInterval set on retry policy: negative duration".into());
    }
    if maximum > 0 && maximum < initial {
        return Err("MaximumInterval cannot be less than InitialInterval on retry policy.".into());
    }
    if p.maximum_attempts < 0 {
        return Err("MaximumAttempts cannot be negative on retry policy.".into());
    }
    Ok(())
}

pub fn start_request(req: &ws::StartWorkflowExecutionRequest) -> Result<(), String> {
    id("WorkflowId", &req.workflow_id)?;
    id(
        "WorkflowType",
        req.workflow_type
            .as_ref()
            .map(|t| t.name.as_str())
            .unwrap_or(""),
    )?;
    id(
        "TaskQueue",
        req.task_queue
            .as_ref()
            .map(|t| t.name.as_str())
            .unwrap_or(""),
    )?;
    if req.request_id.len() > MAX_ID_LENGTH {
        return Err("RequestId exceeds length limit.".into());
    }
    for (name, d) in [
        ("WorkflowExecutionTimeout", &req.workflow_execution_timeout),
        ("WorkflowRunTimeout", &req.workflow_run_timeout),
        ("WorkflowTaskTimeout", &req.workflow_task_timeout),
    ] {
        if crate::time::nanos(d) < 0 {
            return Err(format!("Invalid {name}."));
        }
    }
    if !req.cron_schedule.is_empty() {
        crate::cron::parse(&req.cron_schedule)?;
        if crate::time::nanos(&req.workflow_start_delay) > 0 {
            return Err("CronSchedule and WorkflowStartDelay may not be used together.".into());
        }
    }
    if crate::time::nanos(&req.workflow_start_delay) < 0 {
        return Err("Invalid WorkflowStartDelay.".into());
    }
    if let Some(input) = &req.input {
        payload_size("Input", input)?;
    }
    Ok(())
}

/// Every command, by its attributes: its command type, and the cause a workflow task fails
/// with when the attributes are bad.
pub(crate) fn kind_of(attributes: &C) -> (CommandType, WorkflowTaskFailedCause) {
    use CommandType as T;
    use WorkflowTaskFailedCause as F;
    match attributes {
        C::ScheduleActivityTaskCommandAttributes(_) => {
            (T::ScheduleActivityTask, F::BadScheduleActivityAttributes)
        }
        C::StartTimerCommandAttributes(_) => (T::StartTimer, F::BadStartTimerAttributes),
        C::CancelTimerCommandAttributes(_) => (T::CancelTimer, F::BadCancelTimerAttributes),
        C::RecordMarkerCommandAttributes(_) => (T::RecordMarker, F::BadRecordMarkerAttributes),
        C::CompleteWorkflowExecutionCommandAttributes(_) => (
            T::CompleteWorkflowExecution,
            F::BadCompleteWorkflowExecutionAttributes,
        ),
        C::FailWorkflowExecutionCommandAttributes(_) => (
            T::FailWorkflowExecution,
            F::BadFailWorkflowExecutionAttributes,
        ),
        C::CancelWorkflowExecutionCommandAttributes(_) => (
            T::CancelWorkflowExecution,
            F::BadCancelWorkflowExecutionAttributes,
        ),
        C::RequestCancelActivityTaskCommandAttributes(_) => (
            T::RequestCancelActivityTask,
            F::BadRequestCancelActivityAttributes,
        ),
        C::ContinueAsNewWorkflowExecutionCommandAttributes(_) => (
            T::ContinueAsNewWorkflowExecution,
            F::BadContinueAsNewAttributes,
        ),
        C::StartChildWorkflowExecutionCommandAttributes(_) => (
            T::StartChildWorkflowExecution,
            F::BadStartChildExecutionAttributes,
        ),
        C::SignalExternalWorkflowExecutionCommandAttributes(_) => (
            T::SignalExternalWorkflowExecution,
            F::BadSignalWorkflowExecutionAttributes,
        ),
        C::RequestCancelExternalWorkflowExecutionCommandAttributes(_) => (
            T::RequestCancelExternalWorkflowExecution,
            F::BadRequestCancelExternalWorkflowExecutionAttributes,
        ),
        C::UpsertWorkflowSearchAttributesCommandAttributes(_) => {
            (T::UpsertWorkflowSearchAttributes, F::BadSearchAttributes)
        }
        C::ModifyWorkflowPropertiesCommandAttributes(_) => (
            T::ModifyWorkflowProperties,
            F::BadModifyWorkflowPropertiesAttributes,
        ),
        C::ScheduleNexusOperationCommandAttributes(_) => (
            T::ScheduleNexusOperation,
            F::BadScheduleNexusOperationAttributes,
        ),
        C::RequestCancelNexusOperationCommandAttributes(_) => (
            T::RequestCancelNexusOperation,
            F::BadRequestCancelNexusOperationAttributes,
        ),
        C::ProtocolMessageCommandAttributes(_) => {
            (T::ProtocolMessage, F::BadUpdateWorkflowExecutionMessage)
        }
    }
}

/// A command whose type Keel knows and whose attributes match its type.
pub fn command(c: &Command) -> Result<(), String> {
    let ty = CommandType::try_from(c.command_type).unwrap_or(CommandType::Unspecified);
    if ty == CommandType::Unspecified {
        return Err(format!("Unknown command type: {}.", c.command_type));
    }
    match c.attributes.as_ref().map(kind_of) {
        Some((expected, _)) if expected == ty => Ok(()),
        _ => Err(format!(
            "Command {} has missing or mismatched attributes.",
            ty.as_str_name()
        )),
    }
}

pub fn completion_request(req: &ws::RespondWorkflowTaskCompletedRequest) -> Result<(), String> {
    for c in &req.commands {
        command(c)?;
    }
    payload_size("Workflow task completion", req)
}
