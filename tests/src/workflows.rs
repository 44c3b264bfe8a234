//! Workflows more than one test file runs through the Rust SDK.

use temporalio_macros::{workflow, workflow_methods};
use temporalio_sdk::{SyncWorkflowContext, WorkflowContext, WorkflowContextView, WorkflowResult};

/// Collects the values signalled to it (`push`) until it has `count`, and returns them;
/// `current` answers what it has so far.
#[workflow]
#[derive(Default)]
pub struct CollectWorkflow {
    values: Vec<String>,
}

#[workflow_methods]
impl CollectWorkflow {
    #[run]
    pub async fn run(ctx: &mut WorkflowContext<Self>, count: u32) -> WorkflowResult<Vec<String>> {
        ctx.wait_condition(|s| s.values.len() >= count as usize)
            .await?;
        Ok(ctx.state(|s| s.values.clone()))
    }

    #[signal]
    pub fn push(&mut self, _ctx: &mut SyncWorkflowContext<Self>, value: String) {
        self.values.push(value);
    }

    #[query]
    pub fn current(&self, _ctx: &WorkflowContextView) -> Vec<String> {
        self.values.clone()
    }
}
