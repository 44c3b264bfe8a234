//! RecordMarker: a MarkerRecorded event (local activities, side effects, versions).

use super::CommandCtx;
use crate::ctx::ApplyCtx;
use crate::error::{ApplyResult, Rejection};
use crate::history::{self, Attributes};
use crate::validate;
use temporalio_protos::temporal::api::{
    command::v1::RecordMarkerCommandAttributes, enums::v1::EventType, history::v1 as h,
};

pub(super) fn apply(
    ctx: &mut ApplyCtx,
    c: &mut CommandCtx,
    a: RecordMarkerCommandAttributes,
) -> ApplyResult<()> {
    validate::id("MarkerName", &a.marker_name).map_err(Rejection::InvalidArgument)?;
    let e = history::event(
        ctx,
        EventType::MarkerRecorded,
        Attributes::MarkerRecordedEventAttributes(h::MarkerRecordedEventAttributes {
            marker_name: a.marker_name,
            details: a.details,
            workflow_task_completed_event_id: c.completed_event_id,
            header: a.header,
            failure: a.failure,
        }),
    );
    history::append(ctx, c.exec, e);
    Ok(())
}
