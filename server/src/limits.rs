//! Per-namespace limits on the client port, as Temporal's frontend applies them: a request
//! rate per namespace (`frontend.namespaceRPS`, a token bucket with a burst of twice the
//! rate; off unless `--namespace-rps` is given) and a cap on concurrent long-running calls
//! per namespace and method (`frontend.namespaceCount`, 1,200 as Temporal's: polls, queries,
//! updates). Over either, RESOURCE_EXHAUSTED with Temporal's message, cause and scope, which
//! the SDKs back off and retry.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;
use temporalio_protos::temporal::api::enums::v1::{ResourceExhaustedCause, ResourceExhaustedScope};
use temporalio_protos::temporal::api::errordetails::v1 as details;
use tonic::Status;

/// Temporal's `frontend.namespaceCount` default.
pub const DEFAULT_LONG_POLL_LIMIT: usize = 1200;

/// Namespaces tracked before idle ones are forgotten (a caller naming random namespaces
/// must not grow the tables without bound).
const MAX_TRACKED: usize = 10_000;

/// Methods that wait (for a task, a query's or an update's workflow task): each holds one of
/// its namespace's long-running slots while it waits (Temporal's
/// `ExecutionAPICountLimitOverride`).
const LONG_RUNNING: &[&str] = &[
    "PollWorkflowTaskQueue",
    "PollActivityTaskQueue",
    "PollNexusTaskQueue",
    "PollWorkflowExecutionUpdate",
    "PollNexusOperationExecution",
    "PollWorkflowExecutionTimeSkipping",
    "PollActivityExecution",
    "QueryWorkflow",
    "UpdateWorkflowExecution",
    "ExecuteMultiOperation",
];

fn long_running(path: &str) -> Option<&'static str> {
    let method = path.strip_prefix("/temporal.api.workflowservice.v1.WorkflowService/")?;
    LONG_RUNNING.iter().find(|m| **m == method).copied()
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LimitSettings {
    /// Requests per second per namespace; `None`: no rate limit.
    pub namespace_rps: Option<f64>,
    /// Concurrent long-running calls per namespace and method.
    pub long_poll_limit: usize,
}

impl Default for LimitSettings {
    fn default() -> Self {
        LimitSettings {
            namespace_rps: None,
            long_poll_limit: DEFAULT_LONG_POLL_LIMIT,
        }
    }
}

struct Bucket {
    tokens: f64,
    refilled: Instant,
}

pub struct Limits {
    settings: LimitSettings,
    buckets: Mutex<HashMap<String, Bucket>>,
    waiting: Mutex<HashMap<(String, &'static str), usize>>,
}

/// A long-running call's slot, given back when dropped.
pub struct Slot {
    limits: Arc<Limits>,
    key: (String, &'static str),
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut waiting = self
            .limits
            .waiting
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if let Some(n) = waiting.get_mut(&self.key) {
            *n -= 1;
            if *n == 0 {
                waiting.remove(&self.key);
            }
        }
    }
}

/// RESOURCE_EXHAUSTED with Temporal's `ResourceExhaustedFailure` detail.
pub fn exhausted(
    message: &str,
    cause: ResourceExhaustedCause,
    scope: ResourceExhaustedScope,
) -> Status {
    crate::errors::with_detail(
        tonic::Code::ResourceExhausted,
        message.to_string(),
        "temporal.api.errordetails.v1.ResourceExhaustedFailure",
        details::ResourceExhaustedFailure {
            cause: cause as i32,
            scope: scope as i32,
        },
    )
}

impl Limits {
    pub fn new(settings: LimitSettings) -> Arc<Limits> {
        Arc::new(Limits {
            settings,
            buckets: Mutex::default(),
            waiting: Mutex::default(),
        })
    }

    /// Whether `path` is limited at all (and so needs its namespace read).
    pub fn applies_to(&self, path: &str) -> bool {
        self.settings.namespace_rps.is_some() || long_running(path).is_some()
    }

    /// Takes one request of `namespace` to `path`: a token of the namespace's rate, and a
    /// slot if the call is long-running (held by the returned `Slot`).
    pub fn admit(self: &Arc<Self>, namespace: &str, path: &str) -> Result<Option<Slot>, Status> {
        if let Some(rps) = self.settings.namespace_rps {
            let burst = (rps * 2.0).max(1.0);
            let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
            let now = Instant::now();
            if buckets.len() >= MAX_TRACKED && !buckets.contains_key(namespace) {
                // Forget the namespaces whose buckets have refilled: they are idle.
                buckets.retain(|_, b| {
                    b.tokens + now.duration_since(b.refilled).as_secs_f64() * rps < burst
                });
                if buckets.len() >= MAX_TRACKED {
                    buckets.clear();
                }
            }
            let bucket = buckets.entry(namespace.to_string()).or_insert(Bucket {
                tokens: burst,
                refilled: now,
            });
            let elapsed = now.duration_since(bucket.refilled).as_secs_f64();
            bucket.tokens = (bucket.tokens + elapsed * rps).min(burst);
            bucket.refilled = now;
            if bucket.tokens < 1.0 {
                return Err(exhausted(
                    "namespace rate limit exceeded",
                    ResourceExhaustedCause::RpsLimit,
                    ResourceExhaustedScope::Namespace,
                ));
            }
            bucket.tokens -= 1.0;
        }
        let Some(method) = long_running(path) else {
            return Ok(None);
        };
        let key = (namespace.to_string(), method);
        let mut waiting = self.waiting.lock().unwrap_or_else(|p| p.into_inner());
        let n = waiting.entry(key.clone()).or_insert(0);
        if *n >= self.settings.long_poll_limit {
            if *n == 0 {
                waiting.remove(&key);
            }
            return Err(exhausted(
                "namespace concurrent poller limit exceeded",
                ResourceExhaustedCause::ConcurrentLimit,
                ResourceExhaustedScope::Namespace,
            ));
        }
        *n += 1;
        Ok(Some(Slot {
            limits: self.clone(),
            key,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLL: &str = "/temporal.api.workflowservice.v1.WorkflowService/PollActivityTaskQueue";
    const START: &str = "/temporal.api.workflowservice.v1.WorkflowService/StartWorkflowExecution";

    fn code_and_cause(s: &Status) -> (tonic::Code, &str) {
        (s.code(), s.message())
    }

    #[test]
    fn long_polls_are_capped_per_namespace_and_method_and_slots_come_back() {
        let limits = Limits::new(LimitSettings {
            namespace_rps: None,
            long_poll_limit: 2,
        });
        let a = limits.admit("a", POLL).unwrap();
        let b = limits.admit("a", POLL).unwrap();
        assert!(a.is_some() && b.is_some());
        let refused = limits.admit("a", POLL).err().unwrap();
        assert_eq!(
            code_and_cause(&refused),
            (
                tonic::Code::ResourceExhausted,
                "namespace concurrent poller limit exceeded"
            )
        );
        // Another namespace, another method, and short calls are not held up.
        assert!(limits.admit("b", POLL).unwrap().is_some());
        assert!(limits.admit("a", START).unwrap().is_none());
        drop(a);
        assert!(limits.admit("a", POLL).unwrap().is_some());
        drop(b);
        assert!(
            limits.waiting.lock().unwrap().is_empty(),
            "every slot given back"
        );
    }

    #[test]
    fn the_rate_allows_a_burst_then_refuses_and_refills() {
        let limits = Limits::new(LimitSettings {
            namespace_rps: Some(5.0),
            long_poll_limit: 100,
        });
        let admitted = (0..30).filter(|_| limits.admit("a", START).is_ok()).count();
        assert_eq!(admitted, 10, "a burst of twice the rate");
        let refused = limits.admit("a", START).err().unwrap();
        assert_eq!(refused.message(), "namespace rate limit exceeded");
        assert!(limits.admit("other", START).is_ok(), "per namespace");
        std::thread::sleep(std::time::Duration::from_millis(450));
        assert!(limits.admit("a", START).is_ok(), "refilled at the rate");
    }

    #[test]
    fn random_namespaces_do_not_grow_the_tables_without_bound() {
        let limits = Limits::new(LimitSettings {
            namespace_rps: Some(1000.0),
            long_poll_limit: 1,
        });
        for i in 0..(MAX_TRACKED * 2) {
            let _ = limits.admit(&format!("ns-{i}"), START);
        }
        assert!(limits.buckets.lock().unwrap().len() <= MAX_TRACKED + 1);
    }
}
