//! The one place where Keel's errors become gRPC statuses, with the `google.rpc.Status`
//! details (`temporal.api.errordetails.v1.*`) the SDKs decode.

use keel_engine::Rejection;
use keel_raft::ProposeError;
use prost::Message;
use temporalio_protos::google::rpc::Status as RpcStatus;
use temporalio_protos::temporal::api::enums::v1::{ResourceExhaustedCause, ResourceExhaustedScope};
use temporalio_protos::temporal::api::errordetails::v1 as details;
use tonic::{Code, Status};

pub(crate) fn with_detail(
    code: Code,
    message: String,
    type_name: &str,
    detail: impl Message,
) -> Status {
    let rpc = RpcStatus {
        code: code as i32,
        message: message.clone(),
        details: vec![prost_wkt_types::Any {
            type_url: format!("type.googleapis.com/{type_name}"),
            value: detail.encode_to_vec(),
        }],
    };
    Status::with_details(code, message, rpc.encode_to_vec().into())
}

pub fn invalid_argument(message: impl Into<String>) -> Status {
    Status::invalid_argument(message)
}

pub fn namespace_not_found(namespace: &str) -> Status {
    with_detail(
        Code::NotFound,
        format!("Namespace {namespace} is not found."),
        "temporal.api.errordetails.v1.NamespaceNotFoundFailure",
        details::NamespaceNotFoundFailure {
            namespace: namespace.to_string(),
        },
    )
}

pub fn not_found(message: impl Into<String>) -> Status {
    let message = message.into();
    with_detail(
        Code::NotFound,
        message,
        "temporal.api.errordetails.v1.NotFoundFailure",
        details::NotFoundFailure::default(),
    )
}

/// PERMISSION_DENIED with `PermissionDeniedFailure`, as Temporal refuses a request it never serves.
pub fn permission_denied(message: impl Into<String>) -> Status {
    with_detail(
        Code::PermissionDenied,
        message.into(),
        "temporal.api.errordetails.v1.PermissionDeniedFailure",
        details::PermissionDeniedFailure::default(),
    )
}

/// RESOURCE_EXHAUSTED for a per-workflow concurrency limit, as Temporal reports it.
pub fn resource_exhausted(message: impl Into<String>) -> Status {
    with_detail(
        Code::ResourceExhausted,
        message.into(),
        "temporal.api.errordetails.v1.ResourceExhaustedFailure",
        details::ResourceExhaustedFailure {
            cause:
                temporalio_protos::temporal::api::enums::v1::ResourceExhaustedCause::ConcurrentLimit
                    as i32,
            scope: temporalio_protos::temporal::api::enums::v1::ResourceExhaustedScope::Namespace
                as i32,
        },
    )
}

/// One operation of an ExecuteMultiOperation failed with `status`: the call fails with its
/// code, Temporal's message, and a `MultiOperationExecutionFailure` giving that status for
/// the operation at `failed` and ABORTED for the others (of the two Temporal allows).
pub fn multi_operation_failed(failed: usize, status: Status) -> Status {
    use details::multi_operation_execution_failure::OperationStatus;
    let own_details = RpcStatus::decode(status.details())
        .map(|s| s.details)
        .unwrap_or_default();
    let aborted = || OperationStatus {
        code: Code::Aborted as i32,
        message: "Operation was aborted.".into(),
        details: vec![prost_wkt_types::Any {
            type_url: "type.googleapis.com/temporal.api.failure.v1.MultiOperationExecutionAborted"
                .into(),
            value: Vec::new(),
        }],
    };
    let mut own = Some(OperationStatus {
        code: status.code() as i32,
        message: status.message().to_string(),
        details: own_details,
    });
    let statuses = (0..2)
        .map(|i| {
            if i == failed {
                own.take().unwrap_or_else(aborted)
            } else {
                aborted()
            }
        })
        .collect();
    with_detail(
        status.code(),
        "Update-with-Start could not be executed.".into(),
        "temporal.api.errordetails.v1.MultiOperationExecutionFailure",
        details::MultiOperationExecutionFailure { statuses },
    )
}

/// The worker's query handler failed: INVALID_ARGUMENT with `QueryFailedFailure`, as Temporal.
pub fn query_failed(
    message: String,
    failure: Option<temporalio_protos::temporal::api::failure::v1::Failure>,
) -> Status {
    with_detail(
        Code::InvalidArgument,
        message,
        "temporal.api.errordetails.v1.QueryFailedFailure",
        details::QueryFailedFailure { failure },
    )
}

pub fn internal(e: impl std::fmt::Display) -> Status {
    Status::internal(e.to_string())
}

pub fn rejection(r: Rejection) -> Status {
    let message = r.to_string();
    match r {
        Rejection::NamespaceNotFound(ns) => namespace_not_found(&ns),
        Rejection::NamespaceAlreadyExists(_) => with_detail(
            Code::AlreadyExists,
            message,
            "temporal.api.errordetails.v1.NamespaceAlreadyExistsFailure",
            details::NamespaceAlreadyExistsFailure::default(),
        ),
        Rejection::WorkflowAlreadyStarted {
            run_id,
            start_request_id,
            ..
        } => with_detail(
            Code::AlreadyExists,
            message,
            "temporal.api.errordetails.v1.WorkflowExecutionAlreadyStartedFailure",
            details::WorkflowExecutionAlreadyStartedFailure {
                start_request_id,
                first_execution_run_id: run_id.clone(),
                run_id,
            },
        ),
        Rejection::NotFound(m) => not_found(m),
        Rejection::ActivityAlreadyStarted {
            run_id,
            start_request_id,
        } => with_detail(
            Code::AlreadyExists,
            message,
            "temporal.api.errordetails.v1.ActivityExecutionAlreadyStartedFailure",
            details::ActivityExecutionAlreadyStartedFailure {
                start_request_id,
                run_id,
            },
        ),
        Rejection::ScheduleAlreadyRunning { request_id, .. } => with_detail(
            Code::AlreadyExists,
            message,
            "temporal.api.errordetails.v1.WorkflowExecutionAlreadyStartedFailure",
            details::WorkflowExecutionAlreadyStartedFailure {
                start_request_id: request_id,
                ..Default::default()
            },
        ),
        Rejection::AlreadyExists(m) => Status::already_exists(m),
        Rejection::FailedPrecondition(m) => Status::failed_precondition(m),
        Rejection::InvalidArgument(m) | Rejection::BadCommand { message: m, .. } => {
            Status::invalid_argument(m)
        }
        Rejection::ResourceExhausted(m) => resource_exhausted(m),
        Rejection::Internal(m) => Status::internal(m),
    }
}

pub fn propose(e: ProposeError) -> Status {
    match e {
        ProposeError::NotLeader { .. } | ProposeError::Timeout(_) => {
            Status::unavailable(format!("{e}; retry"))
        }
        ProposeError::Membership(_) | ProposeError::TooNew(_) => {
            Status::failed_precondition(e.to_string())
        }
        ProposeError::Fatal(_) | ProposeError::NoReadIndex(_) => {
            Status::unavailable(format!("{e}; retry"))
        }
        ProposeError::DiskFull(_) => crate::limits::exhausted(
            &e.to_string(),
            ResourceExhaustedCause::PersistenceStorageLimit,
            ResourceExhaustedScope::System,
        ),
    }
}

/// A long poll on a node that stopped leading.
pub fn leadership_lost() -> Status {
    Status::unavailable("this node stopped leading; retry (the request will reach the new leader)")
}
