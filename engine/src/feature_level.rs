//! Feature levels, as etcd's cluster version: every mutation kind (and every field whose
//! presence changes what apply does) names the first level whose builds can apply it, and a leader proposes a kind only once every member runs a build of
//! at least that level (`RaftNode` learns the members' levels from their Hello replies). So in
//! a rolling upgrade no member is ever sent an entry it cannot read: the new kinds of a
//! release wait until the last member is upgraded.
//!
//! Level 1 is every kind up to and including the first release that had levels. A new kind
//! gets `LEVEL + 1` here and `LEVEL` moves up with it; the match below has no catch-all, so a
//! new kind cannot be added without choosing its level.

use crate::mutation::Kind;

/// The level of this build: every kind with `required(kind) <= LEVEL` is known to it.
pub const LEVEL: u32 = 3;

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

/// The level a member reports when it predates levels (its Hello has no level): it knows the
/// kinds of level 1.
pub const BEFORE_LEVELS: u32 = 1;

/// The first level whose builds can apply `kind`.
pub fn required(kind: &Kind) -> u32 {
    match kind {
        Kind::StartWorkflow(m) if m.eager || m.suggest.is_some() || m.record_user_metadata => {
            RELEASE_2
        }
        Kind::StartTask(m) if m.suggest.is_some() => RELEASE_2,
        Kind::CompleteWorkflowTask(m) if m.continue_as_new_min_interval > 0 => RELEASE_3,
        Kind::CompleteWorkflowTask(m) if !m.eager_activity_request_ids.is_empty() => RELEASE_2,
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
}
