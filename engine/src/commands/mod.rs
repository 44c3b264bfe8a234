//! The commands a workflow task completion carries, one file per command; this is the thin
//! dispatcher. Each command turns into history events and pending state.

mod cancel_timer;
mod complete_workflow;
mod fail_workflow;
mod record_marker;
mod schedule_activity;
mod start_timer;

use crate::ctx::ApplyCtx;
use crate::error::{ApplyResult, Rejection};
use crate::records::ExecutionRecord;
use crate::validate;
use temporalio_protos::temporal::api::command::v1::{command::Attributes as A, Command};

/// Does this command close the workflow?
pub(crate) fn closes_workflow(c: &Command) -> bool {
    matches!(
        c.attributes,
        Some(A::CompleteWorkflowExecutionCommandAttributes(_))
            | Some(A::FailWorkflowExecutionCommandAttributes(_))
    )
}

/// What every command handler gets besides its attributes.
pub(crate) struct CommandCtx<'e> {
    pub exec: &'e mut ExecutionRecord,
    /// The WorkflowTaskCompleted event the command's events refer to.
    pub completed_event_id: i64,
    pub identity: &'e str,
}

pub(crate) fn apply(
    ctx: &mut ApplyCtx,
    exec: &mut ExecutionRecord,
    completed_event_id: i64,
    identity: &str,
    command: Command,
) -> ApplyResult<()> {
    validate::command(&command).map_err(Rejection::InvalidArgument)?;
    let mut c = CommandCtx {
        exec,
        completed_event_id,
        identity,
    };
    match command.attributes {
        Some(A::ScheduleActivityTaskCommandAttributes(a)) => {
            schedule_activity::apply(ctx, &mut c, a)
        }
        Some(A::StartTimerCommandAttributes(a)) => start_timer::apply(ctx, &mut c, a),
        Some(A::CancelTimerCommandAttributes(a)) => cancel_timer::apply(ctx, &mut c, a),
        Some(A::RecordMarkerCommandAttributes(a)) => record_marker::apply(ctx, &mut c, a),
        Some(A::CompleteWorkflowExecutionCommandAttributes(a)) => {
            complete_workflow::apply(ctx, &mut c, a)
        }
        Some(A::FailWorkflowExecutionCommandAttributes(a)) => fail_workflow::apply(ctx, &mut c, a),
        _ => Err(Rejection::InvalidArgument("unsupported command".into())),
    }
}
