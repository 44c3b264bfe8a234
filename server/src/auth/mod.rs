//! Authorization on the client port, as Temporal's default claim mapper and authorizer
//! decide it (applied by `admission`, in front of forwarding, so a follower decides before it
//! forwards and the leader is never asked to trust a header). The caller's claims come from its
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

/// The message a refused caller gets, whatever the reason (Temporal's `errUnauthorized`).
pub const UNAUTHORIZED: &str = "Request unauthorized.";

pub fn required_role(access: Access) -> Role {
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
