//! Queries: not replicated state but requests in flight, lost with a leader change (the
//! caller retries, as with Temporal). A query of a run with a workflow task scheduled rides
//! on that task (`queries` in the poll response, answered in RespondWorkflowTaskCompleted's
//! `query_results`), so it sees the events that task delivers; a run with no task pending
//! gets a query-only task through matching (the full history with `query` set), answered by
//! RespondQueryTaskCompleted. Either way the caller waits here.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use temporalio_protos::temporal::api::{
    query::v1::WorkflowQuery, workflowservice::v1::RespondQueryTaskCompletedRequest,
};
use tokio::sync::oneshot;

/// A query waiting for a worker.
#[derive(Debug, Clone)]
pub struct QueryTask {
    pub id: u64,
    pub namespace: String,
    pub workflow_id: String,
    pub run_id: String,
    pub query: WorkflowQuery,
}

type RunKey = (String, String, String);

#[derive(Default)]
pub struct Queries {
    next_id: AtomicU64,
    waiting: Mutex<HashMap<u64, oneshot::Sender<RespondQueryTaskCompletedRequest>>>,
    /// Queries to deliver with the run's next workflow task.
    riding: Mutex<HashMap<RunKey, Vec<(u64, WorkflowQuery)>>>,
}

/// Removes the waiter when the query is answered, times out or its caller goes away.
pub struct PendingQuery<'a> {
    queries: &'a Queries,
    pub id: u64,
    pub answer: oneshot::Receiver<RespondQueryTaskCompletedRequest>,
}

impl Drop for PendingQuery<'_> {
    fn drop(&mut self) {
        self.queries
            .waiting
            .lock()
            .expect("queries lock")
            .remove(&self.id);
    }
}

impl Queries {
    pub fn register(&self) -> PendingQuery<'_> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed) + 1;
        let (tx, rx) = oneshot::channel();
        self.waiting.lock().expect("queries lock").insert(id, tx);
        PendingQuery {
            queries: self,
            id,
            answer: rx,
        }
    }

    /// Attaches a query to the run's next workflow task.
    pub fn ride(&self, task: &QueryTask) {
        let key = (
            task.namespace.clone(),
            task.workflow_id.clone(),
            task.run_id.clone(),
        );
        let mut riding = self.riding.lock().expect("queries lock");
        riding
            .entry(key)
            .or_default()
            .push((task.id, task.query.clone()));
    }

    /// Takes a query back if no workflow task has taken it yet; false if one has.
    pub fn unride(&self, task: &QueryTask) -> bool {
        let key = (
            task.namespace.clone(),
            task.workflow_id.clone(),
            task.run_id.clone(),
        );
        let mut riding = self.riding.lock().expect("queries lock");
        let Some(list) = riding.get_mut(&key) else {
            return false;
        };
        let before = list.len();
        list.retain(|(id, _)| *id != task.id);
        let removed = list.len() != before;
        if list.is_empty() {
            riding.remove(&key);
        }
        removed
    }

    /// The queries a workflow task of this run carries, keyed as the poll response wants.
    pub fn take_riding(
        &self,
        namespace: &str,
        workflow_id: &str,
        run_id: &str,
    ) -> HashMap<String, WorkflowQuery> {
        let key = (
            namespace.to_string(),
            workflow_id.to_string(),
            run_id.to_string(),
        );
        let taken = self
            .riding
            .lock()
            .expect("queries lock")
            .remove(&key)
            .unwrap_or_default();
        taken
            .into_iter()
            .map(|(id, q)| (id.to_string(), q))
            .collect()
    }

    /// Delivers a worker's answer; false if nobody waits for it any more.
    pub fn answer(&self, id: u64, response: RespondQueryTaskCompletedRequest) -> bool {
        match self.waiting.lock().expect("queries lock").remove(&id) {
            Some(tx) => tx.send(response).is_ok(),
            None => false,
        }
    }
}
