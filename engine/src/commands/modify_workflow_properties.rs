//! ModifyWorkflowProperties: the memo update is recorded in a WorkflowPropertiesModified event
//! and merged into the run's memo (null values remove keys).

use super::CommandCtx;
use crate::ctx::ApplyCtx;
use crate::error::{ApplyResult, Rejection};
use crate::history::{self, Attributes};
use crate::search_attributes;
use crate::validate;
use temporalio_protos::temporal::api::{
    command::v1::ModifyWorkflowPropertiesCommandAttributes, enums::v1::EventType, history::v1 as h,
};

pub(super) fn apply(
    ctx: &mut ApplyCtx,
    c: &mut CommandCtx,
    a: ModifyWorkflowPropertiesCommandAttributes,
) -> ApplyResult<()> {
    let Some(memo) = a.upserted_memo else {
        return Err(Rejection::InvalidArgument(
            "UpsertedMemo is not set on ModifyWorkflowPropertiesCommand.".into(),
        ));
    };
    validate::payload_size("Memo", &memo).map_err(Rejection::InvalidArgument)?;
    search_attributes::merge_memo(&mut c.exec.memo, &memo);
    let e = history::event(
        ctx,
        EventType::WorkflowPropertiesModified,
        Attributes::WorkflowPropertiesModifiedEventAttributes(
            h::WorkflowPropertiesModifiedEventAttributes {
                workflow_task_completed_event_id: c.completed_event_id,
                upserted_memo: Some(memo),
            },
        ),
    );
    history::append(ctx, c.exec, e);
    Ok(())
}
