//! Request metrics: a tower layer in front of the client port's services (and the HTTP API,
//! which calls the same stack) counting each gRPC method's requests, errors by code and
//! latency to the response's head, under Temporal's names. The `operation` label is the
//! method's name for Keel's own services and `unknown` for anything else, so a client cannot
//! grow the label set.

use crate::app::Keel;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;
use tonic::body::Body;
use tower::{Layer, Service};

/// gRPC health's methods and Keel's admin methods (the Temporal services' come from the
/// protos, in `http_api::GRPC_METHODS`).
const HEALTH_METHODS: &[&str] = &["Check", "Watch"];
const ADMIN_METHODS: &[&str] = &[
    "NodeStatus",
    "StateChecksum",
    "Campaign",
    "AddNode",
    "RemoveNode",
    "SnapshotSave",
    "Compact",
];

/// The bounded operation label of a gRPC path: a method the protos define, or `unknown`.
fn operation(path: &str) -> String {
    let Some((service, method)) = path.strip_prefix('/').and_then(|p| p.split_once('/')) else {
        return "unknown".to_string();
    };
    let known = match service {
        "keel.admin.v1.KeelAdmin" => ADMIN_METHODS.contains(&method),
        "grpc.health.v1.Health" => HEALTH_METHODS.contains(&method),
        // Not the descriptor pool: loading it costs tens of megabytes a node without the
        // HTTP API never needs.
        _ => crate::http_api::GRPC_METHODS
            .binary_search(&(service, method))
            .is_ok(),
    };
    if known {
        method.to_string()
    } else {
        "unknown".to_string()
    }
}

/// A gRPC status code's name, as Temporal's `error_type` tag has it.
fn code_name(code: &str) -> &'static str {
    match code.parse::<i32>().map(tonic::Code::from) {
        Ok(tonic::Code::Cancelled) => "Canceled",
        Ok(tonic::Code::InvalidArgument) => "InvalidArgument",
        Ok(tonic::Code::DeadlineExceeded) => "DeadlineExceeded",
        Ok(tonic::Code::NotFound) => "NotFound",
        Ok(tonic::Code::AlreadyExists) => "AlreadyExists",
        Ok(tonic::Code::PermissionDenied) => "PermissionDenied",
        Ok(tonic::Code::ResourceExhausted) => "ResourceExhausted",
        Ok(tonic::Code::FailedPrecondition) => "FailedPrecondition",
        Ok(tonic::Code::Aborted) => "Aborted",
        Ok(tonic::Code::OutOfRange) => "OutOfRange",
        Ok(tonic::Code::Unimplemented) => "Unimplemented",
        Ok(tonic::Code::Internal) => "Internal",
        Ok(tonic::Code::Unavailable) => "Unavailable",
        Ok(tonic::Code::DataLoss) => "DataLoss",
        Ok(tonic::Code::Unauthenticated) => "Unauthenticated",
        _ => "Unknown",
    }
}

#[derive(Clone)]
pub struct RequestMetricsLayer {
    keel: Arc<Keel>,
}

impl RequestMetricsLayer {
    pub fn new(keel: Arc<Keel>) -> Self {
        RequestMetricsLayer { keel }
    }
}

impl<S> Layer<S> for RequestMetricsLayer {
    type Service = RequestMetrics<S>;
    fn layer(&self, inner: S) -> Self::Service {
        RequestMetrics {
            inner,
            keel: self.keel.clone(),
        }
    }
}

#[derive(Clone)]
pub struct RequestMetrics<S> {
    inner: S,
    keel: Arc<Keel>,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S> Service<http::Request<Body>> for RequestMetrics<S>
where
    S: Service<http::Request<Body>, Response = http::Response<Body>> + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        let op = operation(request.uri().path());
        let keel = self.keel.clone();
        let began = Instant::now();
        let call = self.inner.call(request);
        Box::pin(async move {
            let response = call.await;
            let m = &keel.metrics;
            m.requests.with_label_values(&[&op]).inc();
            m.latency
                .with_label_values(&[&op])
                .observe(began.elapsed().as_secs_f64());
            // An error answered at once carries its status in the head (trailers-only).
            let code = response.as_ref().ok().and_then(|r| {
                r.headers()
                    .get("grpc-status")
                    .and_then(|v| v.to_str().ok())
                    .filter(|c| *c != "0")
                    .map(str::to_string)
            });
            if let Some(code) = code {
                let name = code_name(&code);
                m.errors.with_label_values(&[&op]).inc();
                m.errors_with_type.with_label_values(&[&op, name]).inc();
                match name {
                    "ResourceExhausted" => m.resource_exhausted.with_label_values(&[&op]).inc(),
                    "PermissionDenied" => m.unauthorized.with_label_values(&[&op]).inc(),
                    _ => {}
                }
            }
            response
        })
    }
}

#[cfg(test)]
mod tests {
    use super::operation;

    #[test]
    fn the_method_table_is_sorted_for_binary_search() {
        let m = crate::http_api::GRPC_METHODS;
        assert!(m.windows(2).all(|w| w[0] < w[1]));
        assert!(m.len() > 100);
    }

    #[test]
    fn operations_are_bounded() {
        assert_eq!(
            operation("/temporal.api.workflowservice.v1.WorkflowService/StartWorkflowExecution"),
            "StartWorkflowExecution"
        );
        assert_eq!(operation("/grpc.health.v1.Health/Check"), "Check");
        assert_eq!(operation("/evil.Service/Anything"), "unknown");
        assert_eq!(
            operation("/temporal.api.workflowservice.v1.WorkflowService/NoSuchMethod1"),
            "unknown"
        );
        assert_eq!(
            operation("/keel.admin.v1.KeelAdmin/NodeStatus"),
            "NodeStatus"
        );
    }
}
