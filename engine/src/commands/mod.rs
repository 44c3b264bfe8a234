//! The commands a workflow task completion carries, one file per command; this is the thin
//! dispatcher. Each command turns into history events and pending state.

mod cancel_timer;
mod cancel_workflow;
mod complete_workflow;
mod continue_as_new;
mod fail_workflow;
mod modify_workflow_properties;
mod record_marker;
mod request_cancel_activity;
mod request_cancel_external;
mod request_cancel_nexus_operation;
pub(crate) mod schedule_activity;
mod schedule_nexus_operation;
mod signal_external;
mod start_child;
mod start_timer;
mod upsert_search_attributes;

use crate::children::InitiatedChild;
use crate::ctx::{ApplyCtx, CommandMarks};
use crate::error::{ApplyResult, Rejection};
use crate::external::InitiatedExternal;
use crate::history;
use crate::records::ExecutionRecord;
use crate::updates;
use crate::validate;
use temporalio_protos::temporal::api::{
    command::v1::{command::Attributes as A, Command},
    history::v1 as h,
};

/// Whether a completion carries Nexus commands (which only builds of feature level
/// `RELEASE_5` know).
pub fn schedules_nexus(m: &crate::mutation::CompleteWorkflowTask) -> bool {
    m.request.as_ref().is_some_and(|r| {
        r.commands.iter().any(|c| {
            matches!(
                c.attributes,
                Some(A::ScheduleNexusOperationCommandAttributes(_))
                    | Some(A::RequestCancelNexusOperationCommandAttributes(_))
            )
        })
    })
}

/// Does this command close the workflow?
pub(crate) fn closes_workflow(c: &Command) -> bool {
    matches!(
        c.attributes,
        Some(A::CompleteWorkflowExecutionCommandAttributes(_))
            | Some(A::FailWorkflowExecutionCommandAttributes(_))
            | Some(A::CancelWorkflowExecutionCommandAttributes(_))
            | Some(A::ContinueAsNewWorkflowExecutionCommandAttributes(_))
    )
}

/// What every command handler gets besides its attributes.
pub(crate) struct CommandCtx<'e> {
    pub exec: &'e mut ExecutionRecord,
    /// The WorkflowTaskCompleted event the command's events refer to.
    pub completed_event_id: i64,
    pub identity: &'e str,
    /// The run id a retry of this workflow gets (stamped by the leader).
    pub next_run_id: &'e str,
    /// See `CompleteWorkflowTask::continue_as_new_min_interval`.
    pub continue_as_new_min_interval: i64,
    /// A command wrote an event the workflow must see (an activity canceled at once).
    pub new_events_for_workflow: bool,
    /// The run ids the leader stamped for this completion's child workflows, in order.
    pub child_run_ids: &'e mut std::vec::IntoIter<String>,
    /// Children initiated by this completion, started after its last command.
    pub initiated_children: &'e mut Vec<InitiatedChild>,
    /// Signals and cancellation requests to other workflows, made after its last command.
    pub initiated_external: &'e mut Vec<InitiatedExternal>,
    /// The request ids the leader stamped for activities to dispatch eagerly, in order.
    pub eager_request_ids: &'e mut std::vec::IntoIter<String>,
    /// Activities to start for the completing worker after the last command.
    pub eager_activities: &'e mut Vec<EagerActivity>,
}

/// An activity scheduled for eager dispatch: (its scheduled event id, the request id).
pub(crate) type EagerActivity = (i64, String);

impl CommandCtx<'_> {
    /// The namespace a command names for another workflow: its own when it names none.
    pub fn target_namespace(&self, named: &str) -> String {
        if named.is_empty() {
            self.exec.namespace.clone()
        } else {
            named.to_string()
        }
    }

    /// Writes a signal's or cancellation request's Initiated event and queues the request for
    /// after the completion's last command (see `external`).
    pub fn initiate_external(
        &mut self,
        ctx: &mut ApplyCtx,
        initiated: h::HistoryEvent,
        mut request: InitiatedExternal,
    ) {
        request.initiated_event_id = history::append(ctx, self.exec, initiated);
        self.initiated_external.push(request);
    }
}

/// What the commands of one completion share: the ids the leader stamped and the children
/// they initiate.
pub(crate) struct Completion<'e> {
    pub completed_event_id: i64,
    pub identity: &'e str,
    pub next_run_id: &'e str,
    pub continue_as_new_min_interval: i64,
    pub child_run_ids: std::vec::IntoIter<String>,
    pub initiated_children: Vec<InitiatedChild>,
    pub initiated_external: Vec<InitiatedExternal>,
    pub eager_request_ids: std::vec::IntoIter<String>,
    pub eager_activities: Vec<EagerActivity>,
    /// The completion's protocol messages not yet placed by a ProtocolMessage command.
    pub messages: updates::Messages,
}

/// Applies one command; returns whether it wrote events the workflow must be told about.
/// A command with bad attributes is a `Rejection::BadCommand` naming the cause.
pub(crate) fn apply(
    ctx: &mut ApplyCtx,
    exec: &mut ExecutionRecord,
    completion: &mut Completion,
    command: Command,
) -> ApplyResult<bool> {
    // A command without attributes is refused without failing the task (the frontend's
    // check refuses it first).
    let Some((_, bad_attributes)) = command.attributes.as_ref().map(validate::kind_of) else {
        return Err(Rejection::InvalidArgument(
            "a command without attributes".into(),
        ));
    };
    let as_bad_command = |r: Rejection| match r {
        Rejection::InvalidArgument(message) => Rejection::BadCommand {
            cause: bad_attributes,
            message,
        },
        other => other,
    };
    validate::command(&command).map_err(|m| as_bad_command(Rejection::InvalidArgument(m)))?;
    if let Some(A::ProtocolMessageCommandAttributes(a)) = &command.attributes {
        // Places one of the completion's messages (an update's acceptance or response) here.
        let message = completion.messages.take(&a.message_id).ok_or_else(|| {
            as_bad_command(Rejection::InvalidArgument(format!(
                "ProtocolMessageCommand referenced absent message ID {}.",
                a.message_id
            )))
        })?;
        updates::apply_message(ctx, exec, message)?;
        return Ok(false);
    }
    if command.user_metadata.is_some() || !command.event_group_markers.is_empty() {
        ctx.command_marks = Some(CommandMarks {
            user_metadata: command.user_metadata,
            event_group_markers: command.event_group_markers,
        });
    }
    let mut c = CommandCtx {
        exec,
        completed_event_id: completion.completed_event_id,
        identity: completion.identity,
        next_run_id: completion.next_run_id,
        continue_as_new_min_interval: completion.continue_as_new_min_interval,
        new_events_for_workflow: false,
        child_run_ids: &mut completion.child_run_ids,
        initiated_children: &mut completion.initiated_children,
        initiated_external: &mut completion.initiated_external,
        eager_request_ids: &mut completion.eager_request_ids,
        eager_activities: &mut completion.eager_activities,
    };
    let applied = match command.attributes {
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
        Some(A::CancelWorkflowExecutionCommandAttributes(a)) => {
            cancel_workflow::apply(ctx, &mut c, a)
        }
        Some(A::RequestCancelActivityTaskCommandAttributes(a)) => {
            request_cancel_activity::apply(ctx, &mut c, a)
        }
        Some(A::ContinueAsNewWorkflowExecutionCommandAttributes(a)) => {
            continue_as_new::apply(ctx, &mut c, a)
        }
        Some(A::StartChildWorkflowExecutionCommandAttributes(a)) => {
            start_child::apply(ctx, &mut c, a)
        }
        Some(A::SignalExternalWorkflowExecutionCommandAttributes(a)) => {
            signal_external::apply(ctx, &mut c, a)
        }
        Some(A::RequestCancelExternalWorkflowExecutionCommandAttributes(a)) => {
            request_cancel_external::apply(ctx, &mut c, a)
        }
        Some(A::UpsertWorkflowSearchAttributesCommandAttributes(a)) => {
            upsert_search_attributes::apply(ctx, &mut c, a)
        }
        Some(A::ModifyWorkflowPropertiesCommandAttributes(a)) => {
            modify_workflow_properties::apply(ctx, &mut c, a)
        }
        Some(A::ScheduleNexusOperationCommandAttributes(a)) => {
            schedule_nexus_operation::apply(ctx, &mut c, a)
        }
        Some(A::RequestCancelNexusOperationCommandAttributes(a)) => {
            request_cancel_nexus_operation::apply(ctx, &mut c, a)
        }
        _ => Err(Rejection::InvalidArgument("unsupported command".into())),
    };
    ctx.command_marks = None;
    applied
        .map(|()| c.new_events_for_workflow)
        .map_err(as_bad_command)
}
