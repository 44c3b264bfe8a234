//! ScheduleNexusOperation: Temporal's checks of the command (the endpoint registered, names,
//! timeouts, headers, the pending limit), the NexusOperationScheduled event, and the
//! operation's first attempt in the queue its endpoint targets (see `nexus`).

use super::CommandCtx;
use crate::ctx::ApplyCtx;
use crate::error::{ApplyResult, Rejection};
use crate::history::{self, Attributes};
use crate::nexus::{self, MAX_PENDING_OPERATIONS};
use crate::nexus_endpoints;
use crate::records::NexusOperationInfo;
use crate::time::{duration, nanos};
use crate::validate;
use std::collections::BTreeMap;
use temporalio_protos::temporal::api::{
    command::v1::ScheduleNexusOperationCommandAttributes,
    enums::v1::{EventType, WorkflowTaskFailedCause},
    history::v1 as h,
    nexus::v1::endpoint_target,
};

/// Temporal's limits on service and operation names and on the caller's headers.
const MAX_NAME_LENGTH: usize = 1000;
const MAX_HEADER_BYTES: usize = 8192;
/// Headers the caller may not set (Temporal's `component.nexusoperations.disallowedHeaders`,
/// the one of them a caller could mean).
const DISALLOWED_HEADERS: &[&str] = &["request-timeout"];

fn bad(message: impl Into<String>) -> Rejection {
    Rejection::BadCommand {
        cause: WorkflowTaskFailedCause::BadScheduleNexusOperationAttributes,
        message: message.into(),
    }
}

pub(super) fn apply(
    ctx: &mut ApplyCtx,
    c: &mut CommandCtx,
    a: ScheduleNexusOperationCommandAttributes,
) -> ApplyResult<()> {
    let endpoint = nexus_endpoints::by_name(ctx, &a.endpoint)?
        .ok_or_else(|| bad(format!("endpoint {:?} not found", a.endpoint)))?;
    let (target_namespace, target_queue) = match endpoint
        .spec
        .as_ref()
        .and_then(|s| s.target.as_ref())
        .and_then(|t| t.variant.as_ref())
    {
        Some(endpoint_target::Variant::Worker(w)) => (w.namespace.clone(), w.task_queue.clone()),
        _ => {
            return Err(bad(format!(
                "endpoint {:?} targets an external URL, which Keel does not call",
                a.endpoint
            )))
        }
    };
    for (what, name) in [("Service", &a.service), ("Operation", &a.operation)] {
        if name.len() > MAX_NAME_LENGTH {
            return Err(bad(format!(
                "ScheduleNexusOperationCommandAttributes.{what} exceeds length limit of {MAX_NAME_LENGTH}"
            )));
        }
    }
    for (what, d) in [
        ("ScheduleToCloseTimeout", &a.schedule_to_close_timeout),
        ("ScheduleToStartTimeout", &a.schedule_to_start_timeout),
        ("StartToCloseTimeout", &a.start_to_close_timeout),
    ] {
        if nanos(d) < 0 {
            return Err(bad(format!(
                "ScheduleNexusOperationCommandAttributes.{what} is invalid: negative duration"
            )));
        }
    }
    if let Some(input) = &a.input {
        validate::payload_size("ScheduleNexusOperationCommandAttributes.Input", input)
            .map_err(|_| bad("ScheduleNexusOperationCommandAttributes.Input exceeds size limit"))?;
    }
    let mut header = BTreeMap::new();
    let mut header_bytes = 0;
    for (key, value) in &a.nexus_header {
        let key_lower = key.to_lowercase();
        if DISALLOWED_HEADERS.contains(&key_lower.as_str()) {
            return Err(bad(format!(
                "ScheduleNexusOperationCommandAttributes.NexusHeader contains a disallowed header key: {key:?}"
            )));
        }
        header_bytes += key_lower.len() + value.len();
        header.insert(key_lower, value.clone());
    }
    if header_bytes > MAX_HEADER_BYTES {
        return Err(bad(
            "ScheduleNexusOperationCommandAttributes.NexusHeader exceeds size limit",
        ));
    }
    if c.exec.nexus_operations.len() >= MAX_PENDING_OPERATIONS {
        return Err(Rejection::BadCommand {
            cause: WorkflowTaskFailedCause::PendingNexusOperationsLimitExceeded,
            message: format!(
                "workflow has reached the pending nexus operation limit of {MAX_PENDING_OPERATIONS} for this namespace"
            ),
        });
    }
    // Bounded by the run's timeout, and the other two by the whole, as Temporal trims them.
    let run_timeout = c.exec.run_timeout;
    let mut schedule_to_close = nanos(&a.schedule_to_close_timeout);
    if run_timeout > 0 && (schedule_to_close == 0 || schedule_to_close > run_timeout) {
        schedule_to_close = run_timeout;
    }
    let trim = |t: i64| {
        if schedule_to_close > 0 && t > schedule_to_close {
            schedule_to_close
        } else {
            t
        }
    };
    let schedule_to_start = trim(nanos(&a.schedule_to_start_timeout));
    let start_to_close = trim(nanos(&a.start_to_close_timeout));
    let request_id = ctx.derived_uuid("nexus operation request");
    let optional = |t: i64| (t > 0).then(|| duration(t)).flatten();
    let e = history::event(
        ctx,
        EventType::NexusOperationScheduled,
        Attributes::NexusOperationScheduledEventAttributes(
            h::NexusOperationScheduledEventAttributes {
                endpoint: a.endpoint.clone(),
                service: a.service.clone(),
                operation: a.operation.clone(),
                input: a.input.clone(),
                schedule_to_close_timeout: optional(schedule_to_close),
                nexus_header: header.clone().into_iter().collect(),
                workflow_task_completed_event_id: c.completed_event_id,
                request_id: request_id.clone(),
                endpoint_id: endpoint.id.clone(),
                schedule_to_start_timeout: optional(schedule_to_start),
                start_to_close_timeout: optional(start_to_close),
            },
        ),
    );
    let scheduled_event_id = history::append(ctx, c.exec, e);
    let mut op = NexusOperationInfo {
        scheduled_event_id,
        endpoint: a.endpoint,
        endpoint_id: endpoint.id,
        service: a.service,
        operation: a.operation,
        request_id,
        input: a.input,
        header,
        schedule_to_close_timeout: schedule_to_close,
        scheduled_time: ctx.now,
        attempt: 1,
        target_namespace,
        target_queue,
        ..Default::default()
    };
    nexus::schedule(ctx, c.exec, &mut op);
    c.exec.nexus_operations.push(op);
    Ok(())
}
