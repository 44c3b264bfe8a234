//! SignalWorkflowExecution and SignalWithStartWorkflowExecution: WorkflowExecutionSignaled
//! (buffered while a workflow task runs), request-id deduplication, and signal-with-start
//! starting a new run when none is open.

use crate::ctx::ApplyCtx;
use crate::error::{ApplyResult, Rejection};
use crate::execution::{self, is_running};
use crate::history::{self, Attributes};
use crate::keys;
use crate::mutation::SignalWithStart;
use crate::outcome::Outcome;
use crate::records::{CurrentRun, ExecutionRecord};
use crate::start;
use crate::validate;
use crate::workflow_task;
use temporalio_protos::temporal::api::{
    common::v1::{Header, Payloads, WorkflowExecution},
    enums::v1::EventType,
    history::v1 as h,
    workflowservice::v1 as ws,
};

/// Temporal's default limit on signals per run.
pub(crate) const MAX_SIGNALS_PER_RUN: usize = 10_000;

pub(crate) struct Signal {
    pub name: String,
    pub input: Option<Payloads>,
    pub identity: String,
    pub header: Option<Header>,
    pub request_id: String,
    /// The workflow that sent it (SignalExternalWorkflowExecution), if one did.
    pub sender: Option<WorkflowExecution>,
}

/// Appends the signal (or buffers it) and makes sure a workflow task will deliver it; a run
/// at its signal limit refuses it (InvalidArgument).
pub(crate) fn deliver(
    ctx: &mut ApplyCtx,
    exec: &mut ExecutionRecord,
    s: Signal,
) -> ApplyResult<()> {
    if exec.signal_request_ids.len() >= MAX_SIGNALS_PER_RUN {
        return Err(Rejection::InvalidArgument(format!(
            "The workflow has received the maximum of {MAX_SIGNALS_PER_RUN} signals."
        )));
    }
    if !s.request_id.is_empty() {
        exec.signal_request_ids.push(s.request_id.clone());
    }
    let e = history::event(
        ctx,
        EventType::WorkflowExecutionSignaled,
        Attributes::WorkflowExecutionSignaledEventAttributes(
            h::WorkflowExecutionSignaledEventAttributes {
                signal_name: s.name,
                input: s.input,
                identity: s.identity,
                header: s.header,
                request_id: s.request_id,
                external_workflow_execution: s.sender,
                ..Default::default()
            },
        ),
    );
    history::append_or_buffer(ctx, exec, e);
    workflow_task::ensure_scheduled(ctx, exec);
    Ok(())
}

fn already_delivered(exec: &ExecutionRecord, request_id: &str) -> bool {
    !request_id.is_empty() && exec.signal_request_ids.iter().any(|r| r == request_id)
}

pub(crate) fn signal(
    ctx: &mut ApplyCtx,
    req: ws::SignalWorkflowExecutionRequest,
) -> ApplyResult<Outcome> {
    ctx.namespace(&req.namespace)?;
    validate::id("SignalName", &req.signal_name).map_err(Rejection::InvalidArgument)?;
    let target = req.workflow_execution.unwrap_or_default();
    let mut exec =
        execution::resolve_running(ctx, &req.namespace, &target.workflow_id, &target.run_id)?;
    if already_delivered(&exec, &req.request_id) {
        return Ok(Outcome::Done);
    }
    deliver(
        ctx,
        &mut exec,
        Signal {
            name: req.signal_name,
            input: req.input,
            identity: req.identity,
            header: req.header,
            request_id: req.request_id,
            sender: None,
        },
    )?;
    execution::save(ctx, &mut exec);
    Ok(Outcome::Done)
}

pub(crate) fn signal_with_start(ctx: &mut ApplyCtx, m: SignalWithStart) -> ApplyResult<Outcome> {
    let req = m.request.unwrap_or_default();
    ctx.namespace(&req.namespace)?;
    validate::id("SignalName", &req.signal_name).map_err(Rejection::InvalidArgument)?;
    let signal = Signal {
        name: req.signal_name.clone(),
        input: req.signal_input.clone(),
        identity: req.identity.clone(),
        header: req.header.clone(),
        request_id: req.request_id.clone(),
        sender: None,
    };
    let current: Option<CurrentRun> =
        ctx.get(&keys::current_run(&req.namespace, &req.workflow_id))?;
    if let Some(current) = current {
        let mut exec = execution::load(ctx, &req.namespace, &req.workflow_id, &current.run_id)?;
        if is_running(&exec) {
            if !already_delivered(&exec, &req.request_id) {
                deliver(ctx, &mut exec, signal)?;
                execution::save(ctx, &mut exec);
            }
            return Ok(Outcome::WorkflowStarted {
                run_id: exec.run_id,
                started: false,
            });
        }
    }
    let start = ws::StartWorkflowExecutionRequest {
        namespace: req.namespace,
        workflow_id: req.workflow_id,
        workflow_type: req.workflow_type,
        task_queue: req.task_queue,
        input: req.input,
        workflow_execution_timeout: req.workflow_execution_timeout,
        workflow_run_timeout: req.workflow_run_timeout,
        workflow_task_timeout: req.workflow_task_timeout,
        identity: req.identity,
        request_id: req.request_id,
        workflow_id_reuse_policy: req.workflow_id_reuse_policy,
        retry_policy: req.retry_policy,
        cron_schedule: req.cron_schedule,
        workflow_start_delay: req.workflow_start_delay,
        memo: req.memo,
        search_attributes: req.search_attributes,
        header: req.header,
        priority: req.priority,
        ..Default::default()
    };
    start::start_with(ctx, start, m.run_id, None, |ctx, exec| {
        deliver(ctx, exec, signal)
    })
}
