//! The one dispatcher: `apply(view, mutation)` decides what a mutation does to replicated
//! state, reading only the view and the mutation. Same log, same state, on every replica.

use crate::activity;
use crate::activity_ops;
use crate::batch;
use crate::cancel_terminate;
use crate::ctx::ApplyCtx;
use crate::delete;
use crate::deployments;
use crate::error::{ApplyResult, Rejection};
use crate::feature_level;
use crate::keys;
use crate::mutation::{Kind, Mutation, StartTask};
use crate::namespace;
use crate::nexus;
use crate::nexus_endpoints;
use crate::outcome::{Notification, Outcome};
use crate::records::{TaskKind, TaskRecord};
use crate::reset;
use crate::schedules;
use crate::search_attributes;
use crate::signal;
use crate::standalone;
use crate::start;
use crate::sticky;
use crate::timers;
use crate::updates;
use crate::view::{StateView, Writes};
use crate::visibility;
use crate::workflow_options;
use crate::workflow_task;

/// The result of applying one mutation. A rejection carries no writes, except the clock
/// advance, so the replicated clock never depends on whether a request was valid.
#[derive(Debug)]
pub struct Applied {
    pub writes: Writes,
    pub outcome: ApplyResult<Outcome>,
    pub notifications: Vec<Notification>,
}

pub fn apply(view: &dyn StateView, mutation: &Mutation) -> Applied {
    if let Some(too_new) = mutation
        .kind
        .as_ref()
        .and_then(feature_level::beyond_this_build)
    {
        // Stops this member (see `None` in `dispatch`).
        return Applied {
            writes: Writes::new(),
            outcome: Err(Rejection::Internal(too_new.to_string())),
            notifications: Vec::new(),
        };
    }
    let mut ctx = match ApplyCtx::new(view, mutation.now) {
        Ok(ctx) => ctx,
        Err(e) => {
            return Applied {
                writes: Writes::new(),
                outcome: Err(e),
                notifications: Vec::new(),
            }
        }
    };
    let outcome = dispatch(&mut ctx, mutation.kind.clone())
        .and_then(|outcome| visibility::flush(&mut ctx).map(|()| outcome));
    match outcome {
        Ok(outcome) => {
            let (writes, notifications) = ctx.finish();
            Applied {
                writes,
                outcome: Ok(outcome),
                notifications,
            }
        }
        Err(rejection) => rejected(view, mutation, rejection),
    }
}

/// A rejected mutation keeps none of its writes: it starts over from the view, keeping the
/// clock advance. A workflow task completion refused for a bad command then fails that task
/// instead, as Temporal does.
fn rejected(view: &dyn StateView, mutation: &Mutation, rejection: Rejection) -> Applied {
    let mut ctx = match ApplyCtx::new(view, mutation.now) {
        Ok(ctx) => ctx,
        Err(_) => {
            return Applied {
                writes: Writes::new(),
                outcome: Err(rejection),
                notifications: Vec::new(),
            }
        }
    };
    if let (Rejection::BadCommand { cause, message }, Some(Kind::CompleteWorkflowTask(m))) =
        (&rejection, &mutation.kind)
    {
        // It finds the task before writing anything, and the completion it replaces found
        // it too; were the task gone, the context would hold only the clock.
        let _task_gone = workflow_task::fail_for_bad_command(&mut ctx, m, *cause, message);
    }
    if let Some(Kind::BatchStep(m)) = &mutation.kind {
        // The target's operation was refused: the job counts it as failed and goes on.
        let _ = batch::step_failed(&mut ctx, m);
    }
    if visibility::flush(&mut ctx).is_err() {
        return Applied {
            writes: Writes::new(),
            outcome: Err(rejection),
            notifications: Vec::new(),
        };
    }
    let (writes, notifications) = ctx.finish();
    Applied {
        writes,
        outcome: Err(rejection),
        notifications,
    }
}

fn dispatch(ctx: &mut ApplyCtx, kind: Option<Kind>) -> ApplyResult<Outcome> {
    match kind {
        Some(Kind::RegisterNamespace(m)) => namespace::register(ctx, m),
        Some(Kind::UpdateNamespace(m)) => namespace::update(ctx, m),
        Some(Kind::StartWorkflow(m)) => start::start(ctx, m),
        Some(Kind::StartTask(m)) => start_task(ctx, m),
        Some(Kind::CompleteWorkflowTask(m)) => workflow_task::complete(ctx, m),
        Some(Kind::FailWorkflowTask(m)) => workflow_task::fail(ctx, m),
        Some(Kind::CompleteActivityTask(m)) => activity::complete(ctx, m),
        Some(Kind::FailActivityTask(m)) => activity::fail(ctx, m),
        Some(Kind::CancelActivityTask(m)) => activity::cancel(ctx, m),
        Some(Kind::RecordHeartbeat(m)) => activity::heartbeat(ctx, m),
        Some(Kind::FireTimers(m)) => timers::fire(ctx, m),
        Some(Kind::Noop(_)) => Ok(Outcome::Done),
        Some(Kind::SignalWorkflow(m)) => signal::signal(ctx, m),
        Some(Kind::SignalWithStart(m)) => signal::signal_with_start(ctx, m),
        Some(Kind::TerminateWorkflow(m)) => cancel_terminate::terminate(ctx, m),
        Some(Kind::RequestCancelWorkflow(m)) => cancel_terminate::request_cancel(ctx, m),
        Some(Kind::DeleteWorkflow(m)) => delete::delete(ctx, m),
        Some(Kind::ResetStickyTaskQueue(m)) => sticky::reset(ctx, m),
        Some(Kind::StickyWorkerGone(m)) => sticky::worker_gone(ctx, m),
        Some(Kind::AddSearchAttributes(m)) => search_attributes::add(ctx, m),
        Some(Kind::RemoveSearchAttributes(m)) => search_attributes::remove(ctx, m),
        Some(Kind::ScheduleUpdateTask(m)) => updates::schedule_task(ctx, m),
        Some(Kind::ResetWorkflow(m)) => reset::reset(ctx, m),
        Some(Kind::StartBatch(m)) => batch::start(ctx, m),
        Some(Kind::BatchStep(m)) => batch::step(ctx, m),
        Some(Kind::FinishBatch(m)) => batch::finish(ctx, m),
        Some(Kind::StopBatch(m)) => batch::stop(ctx, m),
        Some(Kind::CreateSchedule(m)) => schedules::create(ctx, m),
        Some(Kind::UpdateSchedule(m)) => schedules::update(ctx, m),
        Some(Kind::PatchSchedule(m)) => schedules::patch(ctx, m),
        Some(Kind::DeleteSchedule(m)) => schedules::delete(ctx, m),
        Some(Kind::PauseActivity(m)) => activity_ops::pause(ctx, m),
        Some(Kind::UnpauseActivity(m)) => activity_ops::unpause(ctx, m),
        Some(Kind::ResetActivity(m)) => activity_ops::reset(ctx, m),
        Some(Kind::UpdateActivityOptions(m)) => activity_ops::update_options(ctx, m),
        Some(Kind::RecordClusterLevel(m)) => feature_level::record(ctx, m),
        Some(Kind::StartActivityExecution(m)) => standalone::start(ctx, m),
        Some(Kind::RequestCancelActivityExecution(m)) => standalone::request_cancel(ctx, m),
        Some(Kind::TerminateActivityExecution(m)) => standalone::terminate(ctx, m),
        Some(Kind::DeleteActivityExecution(m)) => standalone::delete(ctx, m),
        Some(Kind::UpdateWorkflowOptions(m)) => workflow_options::update(ctx, m),
        Some(Kind::CreateNexusEndpoint(m)) => nexus_endpoints::create(ctx, m),
        Some(Kind::UpdateNexusEndpoint(m)) => nexus_endpoints::update(ctx, m),
        Some(Kind::DeleteNexusEndpoint(m)) => nexus_endpoints::delete(ctx, m),
        Some(Kind::RegisterDeploymentVersion(m)) => deployments::register(ctx, m),
        Some(Kind::SetCurrentVersion(m)) => deployments::set_current(ctx, m),
        Some(Kind::SetRampingVersion(m)) => deployments::set_ramping(ctx, m),
        Some(Kind::DeleteDeploymentVersion(m)) => deployments::delete_version(ctx, m),
        Some(Kind::DeleteDeployment(m)) => deployments::delete(ctx, m),
        Some(Kind::UpdateVersionMetadata(m)) => deployments::update_metadata(ctx, m),
        Some(Kind::SetDeploymentManager(m)) => deployments::set_manager(ctx, m),
        Some(Kind::CompleteNexusTask(m)) => nexus::complete(ctx, m),
        Some(Kind::FailNexusTask(m)) => nexus::fail(ctx, m),
        // What this build decodes from a kind it does not know. Only a build of a later
        // level writes one, and only once this member reported that level, so this is a
        // member downgraded under a cluster that moved on: it stops rather than diverge.
        None => Err(Rejection::Internal(format!(
            "an entry of a kind this build (feature level {}) does not know: run a build of \
             the cluster's level",
            feature_level::LEVEL
        ))),
    }
}

/// A poller takes a task from a queue: the task leaves the queue in the same write that
/// starts it, so it is handed out at most once.
fn start_task(ctx: &mut ApplyCtx, m: StartTask) -> ApplyResult<Outcome> {
    let gone = || Rejection::NotFound("task not found".into());
    let (namespace, _queue, kind, _id) = keys::decode_task(&m.task_key).ok_or_else(gone)?;
    let task: TaskRecord = ctx.get(&m.task_key)?.ok_or_else(gone)?;
    ctx.delete(m.task_key.clone());
    let started = match kind {
        TaskKind::Workflow => workflow_task::start(ctx, &namespace, task, m),
        TaskKind::Activity => activity::start(ctx, &namespace, task, m),
        TaskKind::Nexus => nexus::start(ctx, task, m),
        TaskKind::Unspecified | TaskKind::Query => Err(gone()),
    };
    match started {
        // A stale task is consumed (the delete above is all that is written): it can never
        // become valid again. The start functions reject before they write anything.
        Err(Rejection::NotFound(_)) => Ok(Outcome::TaskStale),
        other => other,
    }
}
