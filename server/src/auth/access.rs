//! What each client-port method needs, as Temporal's method table has it
//! (`common/api/metadata.go`): its scope (one namespace, or the whole cluster) and its access
//! (read, write, admin). Keel's admin API is cluster-scoped: its reads need a system reader,
//! its changes a system admin. A method missing here is refused to everyone but the
//! always-open health checks.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Namespace,
    Cluster,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    ReadOnly,
    Write,
    Admin,
}

/// Calls anyone may make, with or without credentials (Temporal's `IsHealthCheckAPI`), and
/// Raft's own RPCs, served only on the peer port, which its mutual TLS guards.
pub fn is_open(path: &str) -> bool {
    path.starts_with("/grpc.health.v1.Health/")
        || path.starts_with("/keel.raft.v1.")
        || path == "/temporal.api.workflowservice.v1.WorkflowService/GetSystemInfo"
}

/// The methods a worker runs: a `worker` role may call these in its namespace (Temporal's
/// default authorizer, whose Worker bit ranks below Reader, lets a lone `worker` do nothing;
/// Keel gives the role its name's meaning and nothing more: no starts, signals or reads).
pub fn is_worker_call(path: &str) -> bool {
    let Some(method) = path.strip_prefix("/temporal.api.workflowservice.v1.WorkflowService/")
    else {
        return false;
    };
    matches!(
        method,
        "DescribeNamespace"
            | "PollWorkflowTaskQueue"
            | "PollActivityTaskQueue"
            | "PollNexusTaskQueue"
            | "RespondWorkflowTaskCompleted"
            | "RespondWorkflowTaskFailed"
            | "RespondQueryTaskCompleted"
            | "RespondActivityTaskCompleted"
            | "RespondActivityTaskCompletedById"
            | "RespondActivityTaskFailed"
            | "RespondActivityTaskFailedById"
            | "RespondActivityTaskCanceled"
            | "RespondActivityTaskCanceledById"
            | "RespondNexusTaskCompleted"
            | "RespondNexusTaskFailed"
            | "RecordActivityTaskHeartbeat"
            | "RecordActivityTaskHeartbeatById"
            | "ResetStickyTaskQueue"
            | "ShutdownWorker"
            | "RecordWorkerHeartbeat"
            | "FetchWorkerConfig"
    )
}

/// The scope and access of a method by its gRPC path; `None` for an unknown one.
pub fn of(path: &str) -> Option<(Scope, Access)> {
    use Access::*;
    use Scope::*;
    if let Some(m) = path.strip_prefix("/temporal.api.workflowservice.v1.WorkflowService/") {
        return Some(match m {
            "ListNamespaces" | "GetSearchAttributes" | "GetClusterInfo" | "GetSystemInfo" => {
                (Cluster, ReadOnly)
            }
            "RegisterNamespace" | "UpdateNamespace" | "DeprecateNamespace" => (Namespace, Admin),
            _ if is_read(m) => (Namespace, ReadOnly),
            _ if WRITES.contains(&m) || is_worker_call(path) => (Namespace, Write),
            _ => return None,
        });
    }
    if let Some(m) = path.strip_prefix("/temporal.api.operatorservice.v1.OperatorService/") {
        return Some(match m {
            "ListSearchAttributes" => (Namespace, ReadOnly),
            "AddSearchAttributes" | "RemoveSearchAttributes" | "DeleteNamespace" => {
                (Namespace, Admin)
            }
            "AddOrUpdateRemoteCluster"
            | "RemoveRemoteCluster"
            | "ListClusters"
            | "CreateNexusEndpoint"
            | "UpdateNexusEndpoint"
            | "DeleteNexusEndpoint"
            | "GetNexusEndpoint"
            | "ListNexusEndpoints" => (Cluster, Admin),
            _ => return None,
        });
    }
    if let Some(m) = path.strip_prefix("/keel.admin.v1.KeelAdmin/") {
        return Some(match m {
            "NodeStatus" | "StateChecksum" => (Cluster, ReadOnly),
            _ => (Cluster, Admin),
        });
    }
    None
}

/// Namespace reads: Temporal's Describe/List/Count/Get families, history, queries and the
/// polls that only wait for a result.
fn is_read(method: &str) -> bool {
    const READS: &[&str] = &[
        "GetWorkflowExecutionHistory",
        "GetWorkflowExecutionHistoryReverse",
        "QueryWorkflow",
        "ScanWorkflowExecutions",
        "PollWorkflowExecutionUpdate",
        "PollWorkflowExecutionTimeSkipping",
        "PollActivityExecution",
        "PollNexusOperationExecution",
        "ListScheduleMatchingTimes",
        "ValidateWorkerDeploymentVersionComputeConfig",
        "FetchWorkerConfig",
    ];
    READS.contains(&method)
        || [
            "Describe",
            "List",
            "Count",
            "GetWorker",
            "GetDeployment",
            "GetCurrent",
        ]
        .iter()
        .any(|p| method.starts_with(p))
}

/// Namespace writes (every other namespace method Temporal lists is a read).
const WRITES: &[&str] = &[
    "StartWorkflowExecution",
    "SignalWorkflowExecution",
    "SignalWithStartWorkflowExecution",
    "RequestCancelWorkflowExecution",
    "ResetWorkflowExecution",
    "TerminateWorkflowExecution",
    "DeleteWorkflowExecution",
    "ExecuteMultiOperation",
    "UpdateWorkflowExecution",
    "UpdateWorkflowExecutionOptions",
    "PauseWorkflowExecution",
    "UnpauseWorkflowExecution",
    "CreateSchedule",
    "UpdateSchedule",
    "PatchSchedule",
    "DeleteSchedule",
    "StartBatchOperation",
    "StopBatchOperation",
    "UpdateWorkerBuildIdCompatibility",
    "UpdateWorkerVersioningRules",
    "UpdateActivityOptions",
    "PauseActivity",
    "UnpauseActivity",
    "ResetActivity",
    "UpdateActivityExecutionOptions",
    "PauseActivityExecution",
    "UnpauseActivityExecution",
    "ResetActivityExecution",
    "StartActivityExecution",
    "RequestCancelActivityExecution",
    "TerminateActivityExecution",
    "DeleteActivityExecution",
    "StartNexusOperationExecution",
    "RequestCancelNexusOperationExecution",
    "TerminateNexusOperationExecution",
    "DeleteNexusOperationExecution",
    "SetCurrentDeployment",
    "SetWorkerDeploymentCurrentVersion",
    "SetWorkerDeploymentRampingVersion",
    "SetWorkerDeploymentManager",
    "CreateWorkerDeployment",
    "DeleteWorkerDeployment",
    "CreateWorkerDeploymentVersion",
    "UpdateWorkerDeploymentVersionComputeConfig",
    "DeleteWorkerDeploymentVersion",
    "UpdateWorkerDeploymentVersionMetadata",
    "CreateWorkflowRule",
    "DeleteWorkflowRule",
    "TriggerWorkflowRule",
    "UpdateTaskQueueConfig",
    "UpdateWorkerConfig",
];

#[cfg(test)]
mod tests {
    use super::*;

    const WS: &str = "/temporal.api.workflowservice.v1.WorkflowService/";

    #[test]
    fn every_served_method_has_temporals_scope_and_access() {
        for (service, method) in crate::http_api::GRPC_METHODS {
            let path = format!("/{service}/{method}");
            assert!(of(&path).is_some(), "{path} has no access rule");
        }
        let cases = [
            ("StartWorkflowExecution", Scope::Namespace, Access::Write),
            (
                "TerminateWorkflowExecution",
                Scope::Namespace,
                Access::Write,
            ),
            ("PollWorkflowTaskQueue", Scope::Namespace, Access::Write),
            ("RespondQueryTaskCompleted", Scope::Namespace, Access::Write),
            (
                "DescribeWorkflowExecution",
                Scope::Namespace,
                Access::ReadOnly,
            ),
            (
                "CountWorkflowExecutions",
                Scope::Namespace,
                Access::ReadOnly,
            ),
            (
                "PollWorkflowExecutionUpdate",
                Scope::Namespace,
                Access::ReadOnly,
            ),
            (
                "GetWorkerBuildIdCompatibility",
                Scope::Namespace,
                Access::ReadOnly,
            ),
            ("FetchWorkerConfig", Scope::Namespace, Access::ReadOnly),
            ("RegisterNamespace", Scope::Namespace, Access::Admin),
            ("ListNamespaces", Scope::Cluster, Access::ReadOnly),
        ];
        for (method, scope, access) in cases {
            assert_eq!(
                of(&format!("{WS}{method}")),
                Some((scope, access)),
                "{method}"
            );
        }
        assert_eq!(
            of("/temporal.api.operatorservice.v1.OperatorService/ListNexusEndpoints"),
            Some((Scope::Cluster, Access::Admin))
        );
        assert_eq!(
            of("/keel.admin.v1.KeelAdmin/AddNode"),
            Some((Scope::Cluster, Access::Admin))
        );
        assert_eq!(of("/nope.Service/Method"), None);
        assert!(is_open("/grpc.health.v1.Health/Check"));
        assert!(is_open(&format!("{WS}GetSystemInfo")));
        assert!(!is_open(&format!("{WS}ListNamespaces")));
    }
}
