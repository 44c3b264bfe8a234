//! Feature levels, as etcd's cluster version: every mutation kind (and every field whose
//! presence changes what apply does) names the first level whose builds can apply it, and a leader proposes a kind only once every member runs a build of
//! at least that level (`RaftNode` learns the members' levels from their Hello replies). So in
//! a rolling upgrade no member is ever sent an entry it cannot read: the new kinds of a
//! release wait until the last member is upgraded.
//!
//! Level 1 is every kind up to and including the first release that had levels. A new kind
//! gets `LEVEL + 1` here and `LEVEL` moves up with it; the match below has no catch-all, so a
//! new kind cannot be added without choosing its level.
//!
//! Once the leader sees every member at a level it records it in the log
//! (`RecordClusterLevel`, applied by `record`), as etcd records its cluster version: from then
//! on the cluster stays at that level while a member is down, a node below it cannot join, a
//! member restarted on an older build refuses to start, and a member that gets an entry it
//! cannot apply stops instead of diverging.

use crate::ctx::ApplyCtx;
use crate::error::{ApplyResult, Rejection};
use crate::mutation::{Kind, RecordClusterLevel};
use crate::outcome::Outcome;
use crate::records::EngineMeta;
use crate::view::{ReadError, StateView};
use prost::Message;

/// The level of this build: every kind with `required(kind) <= LEVEL` is known to it.
pub const LEVEL: u32 = 6;

/// What the second release with levels added to existing kinds: eager workflow start and
/// eager activity dispatch (`StartWorkflow.eager`, `CompleteWorkflowTask.
/// eager_activity_request_ids`), continue-as-new suggestions (`StartTask.suggest`,
/// `StartWorkflow.suggest`), the starter's user metadata in history
/// (`StartWorkflow.record_user_metadata`).
pub const RELEASE_2: u32 = 2;

/// The third release: the activity operations (PauseActivity, UnpauseActivity,
/// ResetActivity, UpdateActivityOptions) and the batch jobs that run them, and the minimal
/// interval between runs of a continue-as-new chain
/// (`CompleteWorkflowTask.continue_as_new_min_interval`).
pub const RELEASE_3: u32 = 3;

/// The fourth release: the cluster's level recorded in the log (`RecordClusterLevel`), and
/// what apply keeps once that recorded level is at least this one (task priorities, see
/// `priority`): that depends on replicated state, so every replica decides alike.
pub const RELEASE_4: u32 = 4;

/// The fifth release: standalone activities (StartActivityExecution and its siblings, and
/// the `standalone` marks on tasks, timers and tokens that only their runs write), and
/// UpdateWorkflowExecutionOptions (and the batch jobs that run it), Nexus endpoints and
/// operations (the ScheduleNexusOperation and RequestCancelNexusOperation commands, the
/// handler's answers).
pub const RELEASE_5: u32 = 5;

/// The sixth release: worker deployments (the deployment kinds, and workflow task
/// completions of versioned workers, which record the run's versioning).
pub const RELEASE_6: u32 = 6;

/// The level a member reports when it predates levels (its Hello has no level): it knows the
/// kinds of level 1.
pub const BEFORE_LEVELS: u32 = 1;

/// The first level whose builds can apply `kind`.
pub fn required(kind: &Kind) -> u32 {
    match kind {
        Kind::RecordClusterLevel(m) => m.level.max(RELEASE_4),
        Kind::StartWorkflow(m)
            if m.request
                .as_ref()
                .is_some_and(|r| !r.completion_callbacks.is_empty()) =>
        {
            RELEASE_5
        }
        Kind::StartWorkflow(m) if m.eager || m.suggest.is_some() || m.record_user_metadata => {
            RELEASE_2
        }
        Kind::StartTask(m) if m.suggest.is_some() => RELEASE_2,
        Kind::CompleteWorkflowTask(m) if crate::versioning::completed_versioned(m) => RELEASE_6,
        Kind::UpdateWorkflowOptions(m)
            if m.workflow_execution_options
                .as_ref()
                .is_some_and(|o| o.versioning_override.is_some()) =>
        {
            RELEASE_6
        }
        Kind::CompleteWorkflowTask(m) if crate::commands::schedules_nexus(m) => RELEASE_5,
        Kind::CompleteWorkflowTask(m) if m.continue_as_new_min_interval > 0 => RELEASE_3,
        Kind::CompleteWorkflowTask(m) if !m.eager_activity_request_ids.is_empty() => RELEASE_2,
        Kind::StartBatch(m)
            if m.request
                .as_ref()
                .is_some_and(crate::batch::sets_versioning_override) =>
        {
            RELEASE_6
        }
        Kind::StartBatch(m)
            if m.request
                .as_ref()
                .is_some_and(crate::batch::updates_workflow_options) =>
        {
            RELEASE_5
        }
        Kind::StartBatch(m)
            if m.request
                .as_ref()
                .is_some_and(crate::batch::acts_on_activities) =>
        {
            RELEASE_3
        }
        Kind::RegisterNamespace(_)
        | Kind::UpdateNamespace(_)
        | Kind::StartWorkflow(_)
        | Kind::StartTask(_)
        | Kind::CompleteWorkflowTask(_)
        | Kind::FailWorkflowTask(_)
        | Kind::CompleteActivityTask(_)
        | Kind::FailActivityTask(_)
        | Kind::CancelActivityTask(_)
        | Kind::RecordHeartbeat(_)
        | Kind::FireTimers(_)
        | Kind::Noop(_)
        | Kind::SignalWorkflow(_)
        | Kind::SignalWithStart(_)
        | Kind::TerminateWorkflow(_)
        | Kind::RequestCancelWorkflow(_)
        | Kind::DeleteWorkflow(_)
        | Kind::ResetStickyTaskQueue(_)
        | Kind::StickyWorkerGone(_)
        | Kind::AddSearchAttributes(_)
        | Kind::RemoveSearchAttributes(_)
        | Kind::ScheduleUpdateTask(_)
        | Kind::ResetWorkflow(_)
        | Kind::StartBatch(_)
        | Kind::BatchStep(_)
        | Kind::FinishBatch(_)
        | Kind::StopBatch(_)
        | Kind::CreateSchedule(_)
        | Kind::UpdateSchedule(_)
        | Kind::PatchSchedule(_)
        | Kind::DeleteSchedule(_) => 1,
        Kind::PauseActivity(_)
        | Kind::UnpauseActivity(_)
        | Kind::ResetActivity(_)
        | Kind::UpdateActivityOptions(_) => RELEASE_3,
        Kind::StartActivityExecution(_)
        | Kind::RequestCancelActivityExecution(_)
        | Kind::TerminateActivityExecution(_)
        | Kind::DeleteActivityExecution(_)
        | Kind::UpdateWorkflowOptions(_)
        | Kind::CreateNexusEndpoint(_)
        | Kind::UpdateNexusEndpoint(_)
        | Kind::DeleteNexusEndpoint(_)
        | Kind::CompleteNexusTask(_)
        | Kind::FailNexusTask(_) => RELEASE_5,
        Kind::RegisterDeploymentVersion(_)
        | Kind::SetCurrentVersion(_)
        | Kind::SetRampingVersion(_)
        | Kind::DeleteDeploymentVersion(_)
        | Kind::DeleteDeployment(_)
        | Kind::UpdateVersionMetadata(_)
        | Kind::SetDeploymentManager(_) => RELEASE_6,
    }
}

/// A kind the cluster cannot take yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "this request needs every member at feature level {needed}, but a member runs level \
     {cluster}: finish upgrading the cluster first"
)]
pub struct TooNew {
    pub needed: u32,
    pub cluster: u32,
}

/// An entry this build cannot apply: a kind (or a recorded level) of a later level.
pub fn beyond_this_build(kind: &Kind) -> Option<TooNew> {
    let needed = required(kind);
    (needed > LEVEL).then_some(TooNew {
        needed,
        cluster: LEVEL,
    })
}

/// The cluster's level as recorded in `view` (0 when none is).
pub fn recorded(view: &dyn StateView) -> Result<u32, ReadError> {
    let meta = match view.get(&crate::keys::meta())? {
        Some(bytes) => EngineMeta::decode(bytes.as_slice())
            .map_err(|e| ReadError(format!("engine meta: {e}")))?,
        None => EngineMeta::default(),
    };
    Ok(meta.cluster_level)
}

/// Applies `RecordClusterLevel`: the recorded level only ever goes up.
pub(crate) fn record(ctx: &mut ApplyCtx, m: RecordClusterLevel) -> ApplyResult<Outcome> {
    if m.level == 0 {
        return Err(Rejection::InvalidArgument("a cluster level of 0".into()));
    }
    ctx.raise_cluster_level(m.level);
    Ok(Outcome::Done)
}

/// Whether a cluster whose lowest member level is `cluster` may be sent `kind`.
pub fn admits(kind: &Kind, cluster: u32) -> Result<(), TooNew> {
    let needed = required(kind);
    if needed > cluster {
        return Err(TooNew { needed, cluster });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mutation::Noop;

    #[test]
    fn every_kind_of_this_build_is_within_its_level_and_a_lower_cluster_is_refused() {
        let noop = Kind::Noop(Noop {});
        assert!(required(&noop) <= LEVEL);
        assert_eq!(admits(&noop, LEVEL), Ok(()));
        assert_eq!(admits(&noop, BEFORE_LEVELS), Ok(()));
        assert_eq!(
            admits(&noop, 0),
            Err(TooNew {
                needed: 1,
                cluster: 0
            })
        );
    }

    #[test]
    fn eager_dispatch_waits_for_every_member_at_its_level() {
        use crate::mutation::{
            CompleteWorkflowTask, StartTask, StartWorkflow, SuggestContinueAsNew,
        };
        let plain = Kind::StartWorkflow(StartWorkflow::default());
        let eager = Kind::StartWorkflow(StartWorkflow {
            eager: true,
            ..Default::default()
        });
        assert_eq!(admits(&plain, BEFORE_LEVELS), Ok(()));
        assert_eq!(
            admits(&eager, BEFORE_LEVELS),
            Err(TooNew {
                needed: RELEASE_2,
                cluster: BEFORE_LEVELS
            })
        );
        assert_eq!(admits(&eager, RELEASE_2), Ok(()));
        let suggesting = Kind::StartTask(StartTask {
            suggest: Some(SuggestContinueAsNew::default()),
            ..Default::default()
        });
        assert_eq!(required(&suggesting), RELEASE_2);
        assert_eq!(required(&Kind::StartTask(StartTask::default())), 1);
        let eager_activities = Kind::CompleteWorkflowTask(CompleteWorkflowTask {
            eager_activity_request_ids: vec!["r".into()],
            ..Default::default()
        });
        assert_eq!(required(&eager_activities), RELEASE_2);
        const { assert!(RELEASE_2 <= LEVEL) };
    }

    #[test]
    fn activity_operations_wait_for_the_third_release() {
        use crate::mutation::{ResetActivity, UnpauseActivity};
        for kind in [
            Kind::PauseActivity(Default::default()),
            Kind::UnpauseActivity(UnpauseActivity::default()),
            Kind::ResetActivity(ResetActivity::default()),
            Kind::UpdateActivityOptions(Default::default()),
        ] {
            assert_eq!(
                admits(&kind, RELEASE_2),
                Err(TooNew {
                    needed: RELEASE_3,
                    cluster: RELEASE_2
                })
            );
            assert_eq!(admits(&kind, RELEASE_3), Ok(()));
        }
        use crate::mutation::StartBatch;
        use temporalio_protos::temporal::api::workflowservice::v1::{
            start_batch_operation_request::Operation, StartBatchOperationRequest,
        };
        let batch = |operation| {
            Kind::StartBatch(StartBatch {
                request: Some(StartBatchOperationRequest {
                    operation: Some(operation),
                    ..Default::default()
                }),
                ..Default::default()
            })
        };
        let unpause_batch = batch(Operation::UnpauseActivitiesOperation(Default::default()));
        assert_eq!(required(&unpause_batch), RELEASE_3);
        let signal_batch = batch(Operation::SignalOperation(Default::default()));
        assert_eq!(required(&signal_batch), 1);
        const { assert!(RELEASE_3 <= LEVEL) };
    }

    #[test]
    fn the_recorded_level_only_rises_and_an_entry_beyond_this_build_stops_it() {
        use crate::mutation::Mutation;
        use crate::view::MemState;
        let mut state = MemState::default();
        fn apply(state: &mut MemState, kind: Option<Kind>) -> ApplyResult<Outcome> {
            let applied = crate::apply(state, &Mutation { now: 1, kind });
            if !matches!(applied.outcome, Err(Rejection::Internal(_))) {
                state.apply_writes(applied.writes); // as the state machine, which stops on Internal
            }
            applied.outcome
        }
        let record = |level| Some(Kind::RecordClusterLevel(RecordClusterLevel { level }));
        assert_eq!(recorded(&MemState::default()), Ok(0));
        apply(&mut state, record(RELEASE_4)).unwrap();
        apply(&mut state, record(RELEASE_3)).unwrap();
        assert!(matches!(
            apply(&mut state, record(0)),
            Err(Rejection::InvalidArgument(_))
        ));
        // A level above this build's, or a kind it decodes to nothing: the member stops
        // (Internal), the recorded level unchanged.
        assert!(matches!(
            apply(&mut state, record(LEVEL + 1)),
            Err(Rejection::Internal(_))
        ));
        assert!(matches!(
            apply(&mut state, None),
            Err(Rejection::Internal(_))
        ));
        assert_eq!(recorded(&state), Ok(RELEASE_4));
        // Recording a level needs every member at it, and at least the release that has it.
        assert_eq!(required(&record(2).unwrap()), RELEASE_4);
        assert_eq!(required(&record(LEVEL + 2).unwrap()), LEVEL + 2);
        assert_eq!(
            beyond_this_build(&record(LEVEL + 1).unwrap()),
            Some(TooNew {
                needed: LEVEL + 1,
                cluster: LEVEL
            })
        );
        assert_eq!(beyond_this_build(&record(LEVEL).unwrap()), None);
    }
}
