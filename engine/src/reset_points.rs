//! Auto-reset points: the first workflow task each worker build completed in a run, kept on
//! the run (shown by DescribeWorkflowExecution) and carried to the next run of a chain with an
//! expiry, as Temporal keeps them for ResetWorkflowExecution.

use crate::ctx::ApplyCtx;
use crate::records::ExecutionRecord;
use crate::time::timestamp;
use temporalio_protos::temporal::api::workflow::v1::{ResetPointInfo, ResetPoints};

/// Temporal's default cap (`history.maxAutoResetPoints`): the oldest points go first.
const MAX_AUTO_RESET_POINTS: usize = 20;

/// A workflow task completed (event `completed_event_id`) by a worker of `build_id` (or, from
/// workers without one, the deprecated `binary_checksum`): the first completion of each build
/// becomes a reset point.
pub(crate) fn record_completion(
    ctx: &ApplyCtx,
    exec: &mut ExecutionRecord,
    build_id: &str,
    binary_checksum: &str,
    completed_event_id: i64,
) {
    // Temporal names a point by one of the two: the build id when the worker sent one.
    let binary_checksum = if build_id.is_empty() {
        binary_checksum
    } else {
        ""
    };
    // A worker that names neither still gets its point (Temporal records one, unnamed).
    let points = exec.auto_reset_points.get_or_insert_with(Default::default);
    let seen = points
        .points
        .iter()
        .any(|p| p.build_id == build_id && p.binary_checksum == binary_checksum);
    if seen {
        return;
    }
    points.points.push(ResetPointInfo {
        build_id: build_id.to_string(),
        binary_checksum: binary_checksum.to_string(),
        run_id: exec.run_id.clone(),
        first_workflow_task_completed_id: completed_event_id,
        create_time: timestamp(ctx.now),
        expire_time: None,
        resettable: true,
    });
    if points.points.len() > MAX_AUTO_RESET_POINTS {
        let excess = points.points.len() - MAX_AUTO_RESET_POINTS;
        points.points.drain(..excess);
    }
}

/// The points a run hands to the run that continues it: the same points, each expiring one
/// retention period after now unless it already has an expiry.
pub(crate) fn carried_to_next_run(
    exec: &ExecutionRecord,
    now: i64,
    retention: i64,
) -> Option<ResetPoints> {
    let mut points = exec.auto_reset_points.clone()?;
    for p in &mut points.points {
        if p.expire_time.is_none() {
            p.expire_time = timestamp(now.saturating_add(retention));
        }
    }
    Some(points)
}
