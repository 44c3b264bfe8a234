//! Watchers: long polls on a run's history (`wait_new_event`, waiting for a result) wait on
//! an in-memory notification raised when apply appends to that run.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::Notify;

type RunKey = (String, String, String);

#[derive(Default)]
pub struct Watchers {
    runs: Mutex<HashMap<RunKey, Arc<Notify>>>,
}

impl Watchers {
    /// The notifier of a run; enable a `notified()` future before checking state.
    pub fn watch(&self, namespace: &str, workflow_id: &str, run_id: &str) -> Arc<Notify> {
        let mut runs = self.runs.lock().expect("watchers lock");
        runs.entry((
            namespace.to_string(),
            workflow_id.to_string(),
            run_id.to_string(),
        ))
        .or_default()
        .clone()
    }

    pub fn notify(&self, namespace: &str, workflow_id: &str, run_id: &str) {
        let mut runs = self.runs.lock().expect("watchers lock");
        let key = (
            namespace.to_string(),
            workflow_id.to_string(),
            run_id.to_string(),
        );
        if let Some(n) = runs.get(&key) {
            n.notify_waiters();
            // Nobody else holds it: no one is waiting, drop the entry.
            if Arc::strong_count(n) == 1 {
                runs.remove(&key);
            }
        }
    }
}
