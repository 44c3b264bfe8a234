//! Workflow updates as history sees them. An update request lives on the leader until a
//! worker accepts it (no trace in history if it is rejected); it reaches the worker as a
//! protocol message on a workflow task, a *speculative* one if the run had none scheduled
//! (`ScheduleUpdateTask`). The worker answers with messages: an Acceptance writes
//! WorkflowExecutionUpdateAccepted (with the request), a Response writes
//! WorkflowExecutionUpdateCompleted, a Rejection writes nothing. `ExecutionRecord.updates`
//! points at those events, for deduplication and for callers waiting on an outcome.

use crate::ctx::ApplyCtx;
use crate::error::{ApplyResult, Rejection};
use crate::execution::{self, is_running};
use crate::history::{self, Attributes};
use crate::mutation::ScheduleUpdateTask;
use crate::outcome::Outcome;
use crate::records::{ExecutionRecord, UpdateInfo};
use crate::workflow_task;
use prost::Message as _;
use temporalio_protos::temporal::api::{
    enums::v1::{EventType, WorkflowTaskFailedCause},
    history::v1 as h,
    protocol::v1::Message,
    update::v1 as u,
};

const TYPE_PREFIX: &str = "type.googleapis.com/";

/// What a protocol message from a worker carries.
enum Body {
    Acceptance(u::Acceptance),
    Rejection,
    Response(u::Response),
}

fn bad_message(message: String) -> Rejection {
    Rejection::BadCommand {
        cause: WorkflowTaskFailedCause::BadUpdateWorkflowExecutionMessage,
        message,
    }
}

fn decode(msg: &Message) -> ApplyResult<Body> {
    let any = msg
        .body
        .as_ref()
        .ok_or_else(|| bad_message(format!("message {} has no body", msg.id)))?;
    let type_name = any
        .type_url
        .strip_prefix(TYPE_PREFIX)
        .unwrap_or(&any.type_url);
    let undecodable = |e: prost::DecodeError| bad_message(format!("message {}: {e}", msg.id));
    Ok(match type_name {
        "temporal.api.update.v1.Acceptance" => {
            Body::Acceptance(u::Acceptance::decode(any.value.as_slice()).map_err(undecodable)?)
        }
        "temporal.api.update.v1.Rejection" => Body::Rejection,
        "temporal.api.update.v1.Response" => {
            Body::Response(u::Response::decode(any.value.as_slice()).map_err(undecodable)?)
        }
        other => return Err(bad_message(format!("unknown message type {other}"))),
    })
}

/// The messages of one completion, taken one by one as commands name them.
pub(crate) struct Messages(Vec<Message>);

impl Messages {
    pub fn new(messages: Vec<Message>) -> Self {
        Messages(messages)
    }

    pub fn take(&mut self, id: &str) -> Option<Message> {
        let at = self.0.iter().position(|m| m.id == id)?;
        Some(self.0.remove(at))
    }

    /// The messages no ProtocolMessage command named, in the order the worker sent them.
    pub fn take_remaining(&mut self) -> Vec<Message> {
        std::mem::take(&mut self.0)
    }
}

/// Whether a completion says nothing history must keep: no commands, and no messages but
/// rejections. A speculative task answered so leaves no events at all.
pub(crate) fn leaves_no_trace(
    req: &temporalio_protos::temporal::api::workflowservice::v1::RespondWorkflowTaskCompletedRequest,
) -> bool {
    req.commands.is_empty()
        && !req.force_create_new_workflow_task
        && req
            .messages
            .iter()
            .all(|m| matches!(decode(m), Ok(Body::Rejection)))
}

/// Carries out one message of a completion: the events of an acceptance or a response.
pub(crate) fn apply_message(
    ctx: &mut ApplyCtx,
    exec: &mut ExecutionRecord,
    msg: Message,
) -> ApplyResult<()> {
    let update_id = msg.protocol_instance_id.clone();
    match decode(&msg)? {
        Body::Rejection => Ok(()),
        Body::Acceptance(acceptance) => {
            if exec.updates.contains_key(&update_id) {
                return Err(bad_message(format!(
                    "update {update_id} was already accepted"
                )));
            }
            // The leader fills in the request it holds when the worker did not send it back.
            let Some(request) = acceptance.accepted_request else {
                return Err(bad_message(format!(
                    "the acceptance of update {update_id} carries no request and the server no longer holds it"
                )));
            };
            let e = history::event(
                ctx,
                EventType::WorkflowExecutionUpdateAccepted,
                Attributes::WorkflowExecutionUpdateAcceptedEventAttributes(
                    h::WorkflowExecutionUpdateAcceptedEventAttributes {
                        protocol_instance_id: update_id.clone(),
                        accepted_request_message_id: acceptance.accepted_request_message_id,
                        accepted_request_sequencing_event_id: acceptance
                            .accepted_request_sequencing_event_id,
                        accepted_request: Some(request),
                    },
                ),
            );
            let accepted_event_id = history::append(ctx, exec, e);
            exec.updates.insert(
                update_id,
                UpdateInfo {
                    accepted_event_id,
                    completed_event_id: 0,
                },
            );
            Ok(())
        }
        Body::Response(response) => {
            let Some(info) = exec
                .updates
                .get(&update_id)
                .filter(|i| i.completed_event_id == 0)
                .cloned()
            else {
                return Err(bad_message(format!(
                    "response to update {update_id}, which is not accepted or already completed"
                )));
            };
            let e = history::event(
                ctx,
                EventType::WorkflowExecutionUpdateCompleted,
                Attributes::WorkflowExecutionUpdateCompletedEventAttributes(
                    h::WorkflowExecutionUpdateCompletedEventAttributes {
                        meta: response.meta,
                        accepted_event_id: info.accepted_event_id,
                        outcome: response.outcome,
                    },
                ),
            );
            let completed_event_id = history::append(ctx, exec, e);
            exec.updates.insert(
                update_id,
                UpdateInfo {
                    completed_event_id,
                    ..info
                },
            );
            Ok(())
        }
    }
}

/// ScheduleUpdateTask: a speculative workflow task for a run that has none.
pub(crate) fn schedule_task(ctx: &mut ApplyCtx, m: ScheduleUpdateTask) -> ApplyResult<Outcome> {
    let mut exec = execution::load(ctx, &m.namespace, &m.workflow_id, &m.run_id)?;
    if !is_running(&exec) {
        return Err(Rejection::NotFound(
            "workflow execution already completed".into(),
        ));
    }
    // A run waiting for its first task (a start delay, a cron or retry backoff) takes the
    // update with that task.
    if exec.workflow_task.is_none() && exec.first_task_not_before <= ctx.now {
        workflow_task::schedule_speculative(ctx, &mut exec);
        execution::save(ctx, &mut exec);
    }
    Ok(Outcome::Done)
}
