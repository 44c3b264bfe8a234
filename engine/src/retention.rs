//! Retention: a closed run stays readable for its namespace's retention period (as it was
//! when the run closed), then its retention timer deletes the run and its history, as
//! Temporal's does.

use crate::ctx::ApplyCtx;
use crate::delete;
use crate::error::ApplyResult;
use crate::execution::is_running;
use crate::records::{ExecutionRecord, TimerKind, TimerRecord};

/// A run just closed: arm its deletion.
pub(crate) fn schedule(ctx: &mut ApplyCtx, exec: &ExecutionRecord) {
    let Ok(namespace) = ctx.namespace(&exec.namespace) else {
        return;
    };
    if namespace.retention <= 0 {
        return;
    }
    let timer = TimerRecord::for_run(exec, TimerKind::Retention, 0, 0);
    ctx.schedule_timer(exec.close_time.saturating_add(namespace.retention), &timer);
}

/// The retention timer fired: the run goes, if it is still closed (a run is never reopened;
/// the check guards against a timer outliving its purpose).
pub(crate) fn expired(ctx: &mut ApplyCtx, exec: &ExecutionRecord) -> ApplyResult<()> {
    if is_running(exec) {
        return Ok(());
    }
    if exec.standalone {
        return crate::standalone::remove(ctx, exec);
    }
    delete::remove(ctx, exec)
}
