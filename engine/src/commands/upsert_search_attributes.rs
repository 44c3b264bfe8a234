//! UpsertWorkflowSearchAttributes: the attributes are checked against the namespace, recorded
//! in an UpsertWorkflowSearchAttributes event and merged into the run (null values remove).

use super::CommandCtx;
use crate::ctx::ApplyCtx;
use crate::error::{ApplyResult, Rejection};
use crate::history::{self, Attributes};
use crate::search_attributes;
use temporalio_protos::temporal::api::{
    command::v1::UpsertWorkflowSearchAttributesCommandAttributes, enums::v1::EventType,
    history::v1 as h,
};

pub(super) fn apply(
    ctx: &mut ApplyCtx,
    c: &mut CommandCtx,
    a: UpsertWorkflowSearchAttributesCommandAttributes,
) -> ApplyResult<()> {
    let Some(mut attributes) = a.search_attributes.filter(|s| !s.indexed_fields.is_empty()) else {
        return Err(Rejection::InvalidArgument(
            "SearchAttributes is not set on UpsertWorkflowSearchAttributesCommand.".into(),
        ));
    };
    let ns = ctx.namespace(&c.exec.namespace)?;
    search_attributes::check(&ns, &mut attributes).map_err(Rejection::InvalidArgument)?;
    search_attributes::merge_search_attributes(&mut c.exec.search_attributes, &attributes);
    let e = history::event(
        ctx,
        EventType::UpsertWorkflowSearchAttributes,
        Attributes::UpsertWorkflowSearchAttributesEventAttributes(
            h::UpsertWorkflowSearchAttributesEventAttributes {
                workflow_task_completed_event_id: c.completed_event_id,
                search_attributes: Some(attributes),
            },
        ),
    );
    history::append(ctx, c.exec, e);
    Ok(())
}
