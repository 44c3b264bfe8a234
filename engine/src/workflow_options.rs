//! UpdateWorkflowExecutionOptions: a run's options changed by field mask, as Temporal merges
//! them (`priority` replaces the whole priority, `priority.priority_key` and its siblings one
//! field of it). A change is recorded as WorkflowExecutionOptionsUpdated (which workers may
//! ignore; no workflow task is scheduled for it); an update that changes nothing writes
//! nothing. The new priority orders the run's tasks from then on and is what its later
//! activities and children inherit. `versioning_override` sets or (absent) removes the run's
//! worker versioning override (see `versioning`), which routes its tasks queued from then on.

use crate::ctx::ApplyCtx;
use crate::error::{ApplyResult, Rejection};
use crate::execution;
use crate::history::{self, Attributes};
use crate::outcome::Outcome;
use crate::priority;
use crate::versioning;
use temporalio_protos::temporal::api::{
    common::v1::Priority, enums::v1::EventType,
    history::v1::WorkflowExecutionOptionsUpdatedEventAttributes,
    workflow::v1::WorkflowExecutionOptions, workflowservice::v1 as ws,
};

/// What a mask path names.
enum Path {
    VersioningOverride,
    Priority,
    PriorityKey,
    FairnessKey,
    FairnessWeight,
}

/// A mask path in either spelling (proto field names or their JSON names).
fn path(p: &str) -> Result<Path, String> {
    Ok(match p {
        "versioning_override" | "versioningOverride" => Path::VersioningOverride,
        "priority" => Path::Priority,
        "priority.priority_key" | "priority.priorityKey" => Path::PriorityKey,
        "priority.fairness_key" | "priority.fairnessKey" => Path::FairnessKey,
        "priority.fairness_weight" | "priority.fairnessWeight" => Path::FairnessWeight,
        _ => {
            return Err(format!(
                "error parsing UpdateMask: proto: invalid path \"{p}\" for message \
                 \"temporal.api.workflow.v1.WorkflowExecutionOptions\""
            ))
        }
    })
}

/// The run's priority with the mask's paths taken from `wanted`.
pub(crate) fn merged_priority(
    current: Option<Priority>,
    wanted: Option<&Priority>,
    paths: &[String],
) -> Result<Option<Priority>, String> {
    let mut merged = current;
    let from = wanted.cloned().unwrap_or_default();
    for p in paths {
        match path(p)? {
            Path::VersioningOverride => {}
            Path::Priority => merged = wanted.cloned(),
            Path::PriorityKey => {
                merged.get_or_insert_with(Default::default).priority_key = from.priority_key
            }
            Path::FairnessKey => {
                merged.get_or_insert_with(Default::default).fairness_key = from.fairness_key.clone()
            }
            Path::FairnessWeight => {
                merged.get_or_insert_with(Default::default).fairness_weight = from.fairness_weight
            }
        }
    }
    Ok(merged)
}

pub(crate) fn update(
    ctx: &mut ApplyCtx,
    req: ws::UpdateWorkflowExecutionOptionsRequest,
) -> ApplyResult<Outcome> {
    ctx.namespace(&req.namespace)?;
    if !priority::kept(ctx) {
        // Runs drop priorities until the cluster's level is recorded (see `priority`): an
        // update now would be lost, so it is refused rather than half-applied.
        return Err(Rejection::FailedPrecondition(
            "the cluster has not recorded the feature level that keeps priorities yet; retry"
                .into(),
        ));
    }
    let target = req.workflow_execution.clone().unwrap_or_default();
    let mut exec =
        execution::resolve_running(ctx, &req.namespace, &target.workflow_id, &target.run_id)?;
    let paths = req.update_mask.map(|m| m.paths).unwrap_or_default();
    let wanted = req
        .workflow_execution_options
        .as_ref()
        .and_then(|o| o.priority.as_ref());
    let merged = merged_priority(exec.priority.clone(), wanted, &paths)
        .map_err(Rejection::InvalidArgument)?;
    let merged = priority::checked(ctx, merged).map_err(Rejection::InvalidArgument)?;
    let current_override = exec
        .versioning
        .as_ref()
        .and_then(|v| v.versioning_override.clone());
    let new_override = if paths
        .iter()
        .any(|p| matches!(path(p), Ok(Path::VersioningOverride)))
    {
        let wanted = req
            .workflow_execution_options
            .as_ref()
            .and_then(|o| o.versioning_override.clone());
        wanted
    } else {
        current_override.clone()
    };
    if merged != exec.priority || new_override != current_override {
        exec.priority = merged.clone();
        versioning::set_override(&mut exec, new_override.clone());
        let e = history::event(
            ctx,
            EventType::WorkflowExecutionOptionsUpdated,
            Attributes::WorkflowExecutionOptionsUpdatedEventAttributes(
                WorkflowExecutionOptionsUpdatedEventAttributes {
                    unset_versioning_override: new_override.is_none(),
                    versioning_override: new_override.clone(),
                    identity: req.identity,
                    priority: merged.clone(),
                    ..Default::default()
                },
            ),
        );
        history::append_or_buffer(
            ctx,
            &mut exec,
            temporalio_protos::temporal::api::history::v1::HistoryEvent {
                worker_may_ignore: true,
                ..e
            },
        );
        execution::save(ctx, &mut exec);
    }
    Ok(Outcome::WorkflowOptions(Box::new(
        WorkflowExecutionOptions {
            priority: merged,
            versioning_override: new_override,
            ..Default::default()
        },
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(key: i32, fairness: &str, weight: f32) -> Priority {
        Priority {
            priority_key: key,
            fairness_key: fairness.into(),
            fairness_weight: weight,
        }
    }

    fn paths(ps: &[&str]) -> Vec<String> {
        ps.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_mask_replaces_the_priority_or_one_field_of_it_as_temporal_merges() {
        let current = Some(p(3, "a", 2.0));
        let wanted = p(1, "b", 0.5);
        assert_eq!(
            merged_priority(current.clone(), Some(&wanted), &paths(&["priority"])),
            Ok(Some(wanted.clone()))
        );
        assert_eq!(
            merged_priority(current.clone(), None, &paths(&["priority"])),
            Ok(None)
        );
        assert_eq!(
            merged_priority(
                current.clone(),
                Some(&wanted),
                &paths(&["priority.priority_key"])
            ),
            Ok(Some(p(1, "a", 2.0)))
        );
        assert_eq!(
            merged_priority(
                current.clone(),
                Some(&wanted),
                &paths(&["priority.fairnessKey", "priority.fairness_weight"])
            ),
            Ok(Some(p(3, "b", 0.5)))
        );
        assert_eq!(
            merged_priority(current.clone(), Some(&wanted), &[]),
            Ok(current.clone())
        );
        assert_eq!(
            merged_priority(None, Some(&wanted), &paths(&["priority.priority_key"])),
            Ok(Some(p(1, "", 0.0)))
        );
        assert!(
            merged_priority(current, Some(&wanted), &paths(&["priorityKey"]))
                .unwrap_err()
                .contains("invalid path \"priorityKey\"")
        );
    }
}
