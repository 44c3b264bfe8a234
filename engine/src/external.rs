//! Signals and cancellation requests one workflow sends another (the
//! SignalExternalWorkflowExecution and RequestCancelExternalWorkflowExecution commands):
//! carried out once the whole completion is applied, as Temporal's transfer tasks do, and
//! answered in the sender's history with ExternalWorkflowExecutionSignaled /
//! ExternalWorkflowExecutionCancelRequested or the matching Failed event.

use crate::cancel_terminate;
use crate::ctx::ApplyCtx;
use crate::error::{ApplyResult, Rejection};
use crate::execution::{self, is_running};
use crate::history::{self, Attributes};
use crate::records::ExecutionRecord;
use crate::signal::{self, Signal};
use temporalio_protos::temporal::api::{
    common::v1::{Header, Payloads, WorkflowExecution},
    enums::v1::{
        CancelExternalWorkflowExecutionFailedCause as CancelFailed, EventType,
        SignalExternalWorkflowExecutionFailedCause as SignalFailed,
    },
    history::v1 as h,
};

/// Temporal's per-workflow limits on signals and cancellation requests in flight.
pub(crate) const MAX_PENDING_SIGNALS: usize = 2000;
pub(crate) const MAX_PENDING_CANCEL_REQUESTS: usize = 2000;

/// The identity Temporal gives the events it writes in the target on the sender's behalf.
const IDENTITY: &str = "history-service";

/// What the sender asks of the target.
pub(crate) enum Request {
    Signal {
        name: String,
        input: Option<Payloads>,
        header: Option<Header>,
    },
    Cancel {
        reason: String,
    },
}

/// An initiated signal or cancellation request, waiting for the completion's last command.
pub(crate) struct InitiatedExternal {
    pub initiated_event_id: i64,
    /// The target's namespace (the sender's when the command named none).
    pub namespace: String,
    pub target: WorkflowExecution,
    pub control: String,
    pub child_workflow_only: bool,
    pub request: Request,
}

impl InitiatedExternal {
    pub(crate) fn is_signal(&self) -> bool {
        matches!(self.request, Request::Signal { .. })
    }
}

/// How delivering to the target went, in Temporal's terms.
enum Delivery {
    Done,
    NotFound,
    NamespaceNotFound,
    SignalLimitReached,
}

/// Carries out the requests `sender` initiated in this completion and writes each outcome
/// in its history. Returns whether any event was written (the sender needs a workflow task).
pub(crate) fn deliver_initiated(
    ctx: &mut ApplyCtx,
    sender: &mut ExecutionRecord,
    initiated: Vec<InitiatedExternal>,
) -> ApplyResult<bool> {
    let any = !initiated.is_empty();
    for request in initiated {
        let delivery = deliver(ctx, sender, &request)?;
        let namespace_id = ctx
            .namespace(&request.namespace)
            .map(|n| n.id)
            .unwrap_or_default();
        let e = outcome_event(ctx, request, namespace_id, delivery);
        history::append(ctx, sender, e);
    }
    Ok(any)
}

fn deliver(
    ctx: &mut ApplyCtx,
    sender: &ExecutionRecord,
    r: &InitiatedExternal,
) -> ApplyResult<Delivery> {
    if ctx.namespace(&r.namespace).is_err() {
        return Ok(Delivery::NamespaceNotFound);
    }
    // A workflow cannot signal or cancel itself through these commands: Temporal answers
    // "not found" (the run is in hand here, not in the store).
    let is_sender = r.namespace == sender.namespace
        && r.target.workflow_id == sender.workflow_id
        && (r.target.run_id.is_empty() || r.target.run_id == sender.run_id);
    if is_sender {
        return Ok(Delivery::NotFound);
    }
    let mut target =
        match execution::resolve(ctx, &r.namespace, &r.target.workflow_id, &r.target.run_id) {
            Ok(run) => run,
            Err(Rejection::NotFound(_)) => return Ok(Delivery::NotFound),
            Err(other) => return Err(other),
        };
    let is_our_child = target
        .parent
        .as_ref()
        .is_some_and(|p| p.workflow_id == sender.workflow_id && p.run_id == sender.run_id);
    if r.child_workflow_only && !is_our_child {
        return Ok(Delivery::NotFound);
    }
    let source = Some(WorkflowExecution {
        workflow_id: sender.workflow_id.clone(),
        run_id: sender.run_id.clone(),
    });
    match &r.request {
        Request::Signal {
            name,
            input,
            header,
        } => {
            if !is_running(&target) {
                return Ok(Delivery::NotFound);
            }
            let delivered = signal::deliver(
                ctx,
                &mut target,
                Signal {
                    name: name.clone(),
                    input: input.clone(),
                    identity: IDENTITY.into(),
                    header: header.clone(),
                    request_id: format!("{}/{}", sender.run_id, r.initiated_event_id),
                    sender: source,
                },
            );
            if let Err(Rejection::InvalidArgument(_)) = delivered {
                return Ok(Delivery::SignalLimitReached);
            }
            delivered?;
        }
        Request::Cancel { reason } => {
            // A closed target, or one asked already, is not an error: the request is done.
            if !is_running(&target) || target.cancel_requested {
                return Ok(Delivery::Done);
            }
            cancel_terminate::request_cancel_run(
                ctx,
                &mut target,
                h::WorkflowExecutionCancelRequestedEventAttributes {
                    cause: reason.clone(),
                    external_initiated_event_id: r.initiated_event_id,
                    external_workflow_execution: source,
                    identity: IDENTITY.into(),
                },
            );
        }
    }
    execution::save(ctx, &mut target);
    Ok(Delivery::Done)
}

/// The event that tells the sender how its request went.
fn outcome_event(
    ctx: &mut ApplyCtx,
    r: InitiatedExternal,
    namespace_id: String,
    delivery: Delivery,
) -> h::HistoryEvent {
    let execution = Some(r.target);
    let (event_type, attributes) = match (r.request, delivery) {
        (Request::Signal { .. }, Delivery::Done) => (
            EventType::ExternalWorkflowExecutionSignaled,
            Attributes::ExternalWorkflowExecutionSignaledEventAttributes(
                h::ExternalWorkflowExecutionSignaledEventAttributes {
                    initiated_event_id: r.initiated_event_id,
                    namespace: r.namespace,
                    namespace_id,
                    workflow_execution: execution,
                    control: r.control,
                },
            ),
        ),
        (Request::Signal { .. }, failed) => (
            EventType::SignalExternalWorkflowExecutionFailed,
            Attributes::SignalExternalWorkflowExecutionFailedEventAttributes(
                h::SignalExternalWorkflowExecutionFailedEventAttributes {
                    cause: match failed {
                        Delivery::NamespaceNotFound => SignalFailed::NamespaceNotFound,
                        Delivery::SignalLimitReached => SignalFailed::SignalCountLimitExceeded,
                        _ => SignalFailed::ExternalWorkflowExecutionNotFound,
                    } as i32,
                    workflow_task_completed_event_id: 0,
                    namespace: r.namespace,
                    namespace_id,
                    workflow_execution: execution,
                    initiated_event_id: r.initiated_event_id,
                    control: r.control,
                },
            ),
        ),
        (Request::Cancel { .. }, Delivery::Done) => (
            EventType::ExternalWorkflowExecutionCancelRequested,
            Attributes::ExternalWorkflowExecutionCancelRequestedEventAttributes(
                h::ExternalWorkflowExecutionCancelRequestedEventAttributes {
                    initiated_event_id: r.initiated_event_id,
                    namespace: r.namespace,
                    namespace_id,
                    workflow_execution: execution,
                },
            ),
        ),
        (Request::Cancel { .. }, failed) => (
            EventType::RequestCancelExternalWorkflowExecutionFailed,
            Attributes::RequestCancelExternalWorkflowExecutionFailedEventAttributes(
                h::RequestCancelExternalWorkflowExecutionFailedEventAttributes {
                    cause: match failed {
                        Delivery::NamespaceNotFound => CancelFailed::NamespaceNotFound,
                        _ => CancelFailed::ExternalWorkflowExecutionNotFound,
                    } as i32,
                    workflow_task_completed_event_id: 0,
                    namespace: r.namespace,
                    namespace_id,
                    workflow_execution: execution,
                    initiated_event_id: r.initiated_event_id,
                    control: r.control,
                },
            ),
        ),
    };
    history::event(ctx, event_type, attributes)
}
