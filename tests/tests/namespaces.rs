//! Namespace calls against a real `keel` process: the bootstrap namespaces, register,
//! describe (by name and id), list with paging, update, and the errors Temporal gives.

use keel_tests::{raw_client, KeelProcess};
use std::process::{Command, Stdio};
use temporalio_protos::temporal::api::{
    namespace::v1::{NamespaceConfig, UpdateNamespaceInfo},
    workflowservice::v1::*,
};
use tonic::Code;

fn day(days: i64) -> Option<prost_wkt_types::Duration> {
    Some(prost_wkt_types::Duration {
        seconds: days * 86_400,
        nanos: 0,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namespaces_register_describe_list_update() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let keel = KeelProcess::start(dir.path())?;
    let mut c = raw_client(&keel.url()).await?;

    let default = c
        .describe_namespace(DescribeNamespaceRequest {
            namespace: "default".into(),
            ..Default::default()
        })
        .await?
        .into_inner();
    let info = default.namespace_info.unwrap();
    assert_eq!(info.name, "default");
    let by_id = c
        .describe_namespace(DescribeNamespaceRequest {
            id: info.id.clone(),
            ..Default::default()
        })
        .await?
        .into_inner();
    assert_eq!(by_id.namespace_info.unwrap().name, "default");

    c.register_namespace(RegisterNamespaceRequest {
        namespace: "orders".into(),
        description: "order processing".into(),
        workflow_execution_retention_period: day(3),
        ..Default::default()
    })
    .await?;
    let e = c
        .register_namespace(RegisterNamespaceRequest {
            namespace: "orders".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::AlreadyExists);
    let e = c
        .register_namespace(RegisterNamespaceRequest {
            namespace: "short".into(),
            workflow_execution_retention_period: Some(prost_wkt_types::Duration {
                seconds: 60,
                nanos: 0,
            }),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);

    let updated = c
        .update_namespace(UpdateNamespaceRequest {
            namespace: "orders".into(),
            update_info: Some(UpdateNamespaceInfo {
                description: "orders v2".into(),
                ..Default::default()
            }),
            config: Some(NamespaceConfig {
                workflow_execution_retention_ttl: day(7),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await?
        .into_inner();
    assert_eq!(updated.namespace_info.unwrap().description, "orders v2");
    assert_eq!(
        updated.config.unwrap().workflow_execution_retention_ttl,
        day(7)
    );

    let mut names = Vec::new();
    let mut token = Vec::new();
    loop {
        let page = c
            .list_namespaces(ListNamespacesRequest {
                page_size: 1,
                next_page_token: token,
                ..Default::default()
            })
            .await?
            .into_inner();
        names.extend(
            page.namespaces
                .into_iter()
                .map(|n| n.namespace_info.unwrap().name),
        );
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(names, vec!["default", "orders"]);

    let e = c
        .update_namespace(UpdateNamespaceRequest {
            namespace: "missing".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::NotFound);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namespace_flags_create_namespaces_at_first_start() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let addr = keel_tests::reserve_addr();
    let mut child = Command::new(keel_tests::keel_binary())
        .args([
            "server",
            "start-dev",
            "--listen",
            &addr.to_string(),
            "--namespace",
            "billing",
            "--data-dir",
        ])
        .arg(dir.path())
        .stdout(Stdio::null())
        .spawn()?;
    let result = async {
        let mut c = raw_client(&format!("http://{addr}")).await?;
        for ns in ["default", "billing"] {
            c.describe_namespace(DescribeNamespaceRequest {
                namespace: ns.into(),
                ..Default::default()
            })
            .await?;
        }
        anyhow::Ok(())
    }
    .await;
    child.kill()?;
    child.wait()?;
    result
}
