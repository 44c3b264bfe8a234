//! The one place where Keel's errors become gRPC statuses, with the `google.rpc.Status`
//! details (`temporal.api.errordetails.v1.*`) the SDKs decode.

use keel_engine::Rejection;
use keel_raft::ProposeError;
use prost::Message;
use temporalio_protos::google::rpc::Status as RpcStatus;
use temporalio_protos::temporal::api::errordetails::v1 as details;
use tonic::{Code, Status};

fn with_detail(code: Code, message: String, type_name: &str, detail: impl Message) -> Status {
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
        Rejection::InvalidArgument(m) | Rejection::BadCommand { message: m, .. } => {
            Status::invalid_argument(m)
        }
        Rejection::Internal(m) => Status::internal(m),
    }
}

pub fn propose(e: ProposeError) -> Status {
    match e {
        ProposeError::NotLeader { .. } | ProposeError::Timeout(_) => {
            Status::unavailable(format!("{e}; retry"))
        }
        ProposeError::Membership(_) => Status::failed_precondition(e.to_string()),
        ProposeError::Fatal(_) => Status::unavailable(e.to_string()),
    }
}

/// A long poll on a node that stopped leading.
pub fn leadership_lost() -> Status {
    Status::unavailable("this node stopped leading; retry (the request will reach the new leader)")
}
