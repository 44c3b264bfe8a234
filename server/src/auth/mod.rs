//! Authorization on the client port, as Temporal's default claim mapper and authorizer
//! decide it: a tower layer in front of forwarding (so a follower decides before it forwards
//! and the leader is never asked to trust a header). The caller's claims come from its
//! credentials (`claims`); the method's scope and access from Temporal's table (`access`);
//! the namespace from the request body (`namespace`). A call is allowed when the caller's
//! roles (system roles, plus its roles in the namespace for a namespace call) rank at least
//! as high as the access needs (Reader for reads, Writer for writes, Admin otherwise), or
//! when a `worker` calls a worker method in its namespace. Health checks and GetSystemInfo
//! are open. A refusal is PERMISSION_DENIED "Request unauthorized." (the reason goes to the
//! log only), answered before anything is read or written.

pub mod access;
pub mod claims;
pub mod namespace;

use access::{Access, Scope};
pub use claims::{AuthSettings, ClaimMapper, Claims, Role};
use http_body_util::BodyExt;
use keel_client::tls::PeerInfo;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tonic::body::Body;
use tower::{Layer, Service};

/// The message a refused caller gets, whatever the reason (Temporal's `errUnauthorized`).
pub const UNAUTHORIZED: &str = "Request unauthorized.";

/// The largest request body read to find its namespace (larger ones are refused; the
/// frontend's own limit is lower).
const MAX_BODY: usize = 64 * 1024 * 1024;

fn required_role(access: Access) -> Role {
    match access {
        Access::ReadOnly => Role::READER,
        Access::Write => Role::WRITER,
        Access::Admin => Role::ADMIN,
    }
}

/// Whether `claims` may call `path` in `namespace` (ignored for cluster-scoped calls).
pub fn allows(claims: &Claims, path: &str, scope: Scope, access: Access, namespace: &str) -> bool {
    let held = match scope {
        Scope::Cluster => claims.system,
        Scope::Namespace => claims.in_namespace(namespace),
    };
    held >= required_role(access)
        || (scope == Scope::Namespace && held.has(Role::WORKER) && access::is_worker_call(path))
}

/// The layer; with no mapper (authorization off) it passes every request on.
#[derive(Clone)]
pub struct AuthorizeLayer {
    mapper: Option<Arc<ClaimMapper>>,
}

impl AuthorizeLayer {
    pub fn new(mapper: Option<Arc<ClaimMapper>>) -> Self {
        AuthorizeLayer { mapper }
    }
}

impl<S> Layer<S> for AuthorizeLayer {
    type Service = Authorize<S>;
    fn layer(&self, inner: S) -> Authorize<S> {
        Authorize {
            inner,
            mapper: self.mapper.clone(),
        }
    }
}

#[derive(Clone)]
pub struct Authorize<S> {
    inner: S,
    mapper: Option<Arc<ClaimMapper>>,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

fn refuse(path: &str, reason: &dyn std::fmt::Display) -> http::Response<Body> {
    tracing::info!(method = path, %reason, "request unauthorized");
    crate::errors::permission_denied(UNAUTHORIZED).into_http()
}

impl<S> Service<http::Request<Body>> for Authorize<S>
where
    S: Service<http::Request<Body>, Response = http::Response<Body>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = S::Error;
    type Future = BoxFuture<Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        let Some(mapper) = self.mapper.clone() else {
            return Box::pin(self.inner.call(request));
        };
        // The service that was made ready serves this call; a fresh clone waits for the next.
        let ready = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, ready);
        Box::pin(async move {
            let path = request.uri().path().to_string();
            if access::is_open(&path) {
                return inner.call(request).await;
            }
            let Some((scope, access)) = access::of(&path) else {
                return Ok(refuse(&path, &"method not in the access table"));
            };
            let authorization = request.headers().get(http::header::AUTHORIZATION);
            let cn =
                (request.extensions().get::<PeerInfo>()).and_then(|p| p.client_cert_cn.as_deref());
            let claims = match mapper.claims(authorization.map(|v| v.as_bytes()), cn) {
                Ok(c) => c,
                Err(reason) => return Ok(refuse(&path, &reason)),
            };
            // A system role high enough decides without reading the body.
            let needed = required_role(access);
            if scope == Scope::Cluster || claims.system >= needed {
                return if allows(&claims, &path, scope, access, "") {
                    inner.call(request).await
                } else {
                    Ok(refuse(&path, &format!("{} lacks the role", claims.subject)))
                };
            }
            let (parts, body) = request.into_parts();
            let bytes = match http_body_util::Limited::new(body, MAX_BODY).collect().await {
                Ok(b) => b.to_bytes(),
                Err(e) => return Ok(refuse(&path, &format!("unreadable body: {e}"))),
            };
            let encoding = (parts.headers.get("grpc-encoding")).and_then(|v| v.to_str().ok());
            let namespace = namespace::field_of(&path)
                .and_then(|field| namespace::of_body(&bytes, encoding, field))
                .unwrap_or_default();
            if !allows(&claims, &path, scope, access, &namespace) {
                let reason = format!("{} lacks the role in {namespace:?}", claims.subject);
                return Ok(refuse(&path, &reason));
            }
            let body = Body::new(http_body_util::Full::new(bytes));
            inner.call(http::Request::from_parts(parts, body)).await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WS: &str = "/temporal.api.workflowservice.v1.WorkflowService/";

    fn decide(permissions: &[&str], method: &str, namespace: &str) -> bool {
        let path = format!("{WS}{method}");
        let (scope, access) = access::of(&path).unwrap();
        let claims = Claims::from_permissions("t", permissions.iter().copied());
        allows(&claims, &path, scope, access, namespace)
    }

    #[test]
    fn roles_rank_as_temporals_and_workers_only_run_tasks() {
        assert!(decide(&["a:read"], "DescribeWorkflowExecution", "a"));
        assert!(!decide(&["a:read"], "TerminateWorkflowExecution", "a"));
        assert!(decide(&["a:write"], "TerminateWorkflowExecution", "a"));
        assert!(!decide(&["a:write"], "TerminateWorkflowExecution", "b"));
        assert!(!decide(&["a:write"], "RegisterNamespace", "a"));
        assert!(decide(&["a:admin"], "RegisterNamespace", "a"));
        assert!(decide(
            &["temporal-system:write"],
            "StartWorkflowExecution",
            "any"
        ));
        assert!(
            !decide(&["a:admin"], "ListNamespaces", ""),
            "cluster scope needs a system role"
        );
        assert!(decide(&["temporal-system:read"], "ListNamespaces", ""));
        assert!(decide(&["a:worker"], "PollWorkflowTaskQueue", "a"));
        assert!(decide(&["a:worker"], "RespondActivityTaskCompleted", "a"));
        assert!(!decide(&["a:worker"], "PollWorkflowTaskQueue", "b"));
        assert!(!decide(&["a:worker"], "StartWorkflowExecution", "a"));
        assert!(!decide(&["a:worker"], "GetWorkflowExecutionHistory", "a"));
        assert!(!decide(&[], "DescribeNamespace", "a"));
    }
}
