//! Search attributes and memo through the official Rust SDK against a real `keel`: custom
//! attributes registered with the OperatorService, a workflow upserting an attribute and
//! its memo, and Describe showing the merged values.

use keel_server::proto::operatorservice::operator_service_client::OperatorServiceClient;
use keel_server::proto::workflowservice::workflow_service_client::WorkflowServiceClient;
use keel_tests::{history, raw_client, sdk, sdk_client, KeelProcess};
use std::time::Duration;
use temporalio_client::{WorkflowGetResultOptions, WorkflowStartOptions};
use temporalio_macros::{workflow, workflow_methods};
use temporalio_protos::temporal::api::{
    common::v1::WorkflowExecution,
    enums::v1::{EventType, IndexedValueType},
    operatorservice::v1::{AddSearchAttributesRequest, ListSearchAttributesRequest},
    workflowservice::v1::DescribeWorkflowExecutionRequest,
};
use temporalio_sdk::{MemoValue, WorkerOptions, WorkflowContext, WorkflowResult};
use temporalio_workflow::common::search_attributes::SearchAttributeKey;

const STATUS: SearchAttributeKey<String> = SearchAttributeKey::keyword("OrderStatus");

#[workflow]
#[derive(Default)]
pub struct OrderWorkflow;

#[workflow_methods]
impl OrderWorkflow {
    #[run]
    pub async fn run(ctx: &mut WorkflowContext<Self>, _unused: ()) -> WorkflowResult<String> {
        ctx.upsert_search_attributes([STATUS.value_set("paid".to_string())]);
        ctx.upsert_memo([("customer", Some(MemoValue::new("ada".to_string())))])?;
        ctx.timer(Duration::from_millis(10)).await;
        ctx.upsert_search_attributes([STATUS.value_set("shipped".to_string())]);
        Ok("done".into())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_workflow_upserts_a_registered_attribute_and_its_memo() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let keel = KeelProcess::start(dir.path())?;
    let url = keel.url();
    let mut operator = OperatorServiceClient::connect(url.clone()).await?;
    operator
        .add_search_attributes(AddSearchAttributesRequest {
            namespace: "default".into(),
            search_attributes: [("OrderStatus".to_string(), IndexedValueType::Keyword as i32)]
                .into(),
        })
        .await?;
    let listed = operator
        .list_search_attributes(ListSearchAttributesRequest {
            namespace: "default".into(),
        })
        .await?
        .into_inner();
    assert_eq!(
        listed.custom_attributes.get("OrderStatus"),
        Some(&(IndexedValueType::Keyword as i32))
    );
    let options = WorkerOptions::new("orders-q")
        .register_workflow::<OrderWorkflow>()?
        .build();
    let result = sdk::with_worker(&url, options, async {
        let client = sdk_client(&url, "default").await?;
        let handle = client
            .start_workflow(
                OrderWorkflow::run,
                (),
                WorkflowStartOptions::new("orders-q", "order-1").build(),
            )
            .await?;
        Ok(handle
            .get_result(WorkflowGetResultOptions::default())
            .await?)
    })
    .await?;
    assert_eq!(result, "done");
    let mut raw: WorkflowServiceClient<_> = raw_client(&url).await?;
    let types = history::types(&history::fetch(&mut raw, "default", "order-1", "").await?);
    let upserts = types
        .iter()
        .filter(|t| **t == EventType::UpsertWorkflowSearchAttributes)
        .count();
    assert_eq!(upserts, 2);
    assert!(types.contains(&EventType::WorkflowPropertiesModified));
    let info = raw
        .describe_workflow_execution(DescribeWorkflowExecutionRequest {
            namespace: "default".into(),
            execution: Some(WorkflowExecution {
                workflow_id: "order-1".into(),
                run_id: String::new(),
            }),
        })
        .await?
        .into_inner()
        .workflow_execution_info
        .unwrap_or_default();
    let status = &info.search_attributes.unwrap_or_default().indexed_fields["OrderStatus"];
    assert_eq!(status.data, br#""shipped""#, "the last upsert wins");
    let customer = &info.memo.unwrap_or_default().fields["customer"];
    assert_eq!(customer.data, br#""ada""#);
    Ok(())
}
