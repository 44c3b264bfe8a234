//! Reading a run's whole history through the public API, for assertions on event sequences.

use keel_server::proto::workflowservice::workflow_service_client::WorkflowServiceClient;
use temporalio_protos::temporal::api::{
    common::v1::WorkflowExecution, enums::v1::EventType, history::v1::HistoryEvent,
    workflowservice::v1::GetWorkflowExecutionHistoryRequest,
};
use tonic::transport::Channel;

/// Every event of a run (current run when `run_id` is empty), following page tokens.
pub async fn fetch(
    client: &mut WorkflowServiceClient<Channel>,
    namespace: &str,
    workflow_id: &str,
    run_id: &str,
) -> anyhow::Result<Vec<HistoryEvent>> {
    let mut events = Vec::new();
    let mut token = Vec::new();
    loop {
        let resp = client
            .get_workflow_execution_history(GetWorkflowExecutionHistoryRequest {
                namespace: namespace.into(),
                execution: Some(WorkflowExecution {
                    workflow_id: workflow_id.into(),
                    run_id: run_id.into(),
                }),
                next_page_token: token,
                ..Default::default()
            })
            .await?
            .into_inner();
        events.extend(resp.history.map(|h| h.events).unwrap_or_default());
        if resp.next_page_token.is_empty() {
            break;
        }
        token = resp.next_page_token;
    }
    for (i, e) in events.iter().enumerate() {
        anyhow::ensure!(
            e.event_id == i as i64 + 1,
            "event ids not contiguous at {i}: {}",
            e.event_id
        );
    }
    Ok(events)
}

pub fn types(events: &[HistoryEvent]) -> Vec<EventType> {
    events
        .iter()
        .map(|e| EventType::try_from(e.event_type).unwrap_or(EventType::Unspecified))
        .collect()
}
