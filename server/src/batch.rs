//! The batch runner, a leader service like matching and timers: for each running batch job
//! it walks the targets from where the job's record says it stopped and proposes one
//! `BatchStep` per target at the job's rate (Temporal's default and cap: 50 per second),
//! then `FinishBatch`. Progress lives in the record (each step records it in the same apply
//! that acts on the target), so a new leader simply starts the runners again: nothing is
//! lost, and a step proposed twice changes nothing the second time.

use crate::app::Keel;
use keel_engine::keys;
use keel_engine::mutation::{BatchStep, FinishBatch, Kind};
use keel_engine::records::BatchJobRecord;
use keel_engine::visibility;
use prost::Message;
use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use temporalio_protos::temporal::api::enums::v1::BatchOperationState;
use tokio::task::JoinHandle;

/// Temporal's `worker.batcherRPS`: the default rate and the most a job may ask for.
const MAX_RATE: f32 = 50.0;
/// Targets read from the visibility index at a time.
const PAGE: usize = 100;

#[derive(Default)]
pub struct Batches {
    running: Mutex<BTreeMap<(String, String), JoinHandle<()>>>,
}

impl Batches {
    /// Starts the runner of a job unless one runs already.
    pub fn spawn(&self, keel: &Arc<Keel>, namespace: &str, job_id: &str) {
        let mut running = self.running.lock().expect("batches lock");
        running.retain(|_, task| !task.is_finished());
        let key = (namespace.to_string(), job_id.to_string());
        if running.contains_key(&key) {
            return;
        }
        let span = tracing::info_span!("batch", namespace, job_id);
        let task = tokio::spawn(tracing::Instrument::instrument(
            run(keel.clone(), key.0.clone(), key.1.clone()),
            span,
        ));
        running.insert(key, task);
    }

    /// Starts a runner for every running job (on becoming leader).
    pub fn load(&self, keel: &Arc<Keel>) -> Result<usize, keel_storage::StorageError> {
        let prefix = keys::batch_job_prefix_all();
        let mut from: Option<Vec<u8>> = None;
        let mut count = 0;
        loop {
            let page = keel.store.state_scan(&prefix, from.as_deref(), 256)?;
            let Some((last, _)) = page.last() else { break };
            let mut next = last.clone();
            next.push(0);
            for (_, value) in &page {
                if let Ok(job) = BatchJobRecord::decode(value.as_slice()) {
                    if job.state == BatchOperationState::Running as i32 {
                        self.spawn(keel, &job.namespace, &job.job_id);
                        count += 1;
                    }
                }
            }
            from = Some(next);
        }
        Ok(count)
    }

    /// Stops every runner (on losing leadership); the next leader resumes them.
    pub fn clear(&self) {
        for (_, task) in std::mem::take(&mut *self.running.lock().expect("batches lock")) {
            task.abort();
        }
    }
}

fn read_job(keel: &Keel, namespace: &str, job_id: &str) -> Option<BatchJobRecord> {
    let bytes = keel
        .store
        .state_get(&keys::batch_job(namespace, job_id))
        .ok()??;
    BatchJobRecord::decode(bytes.as_slice()).ok()
}

/// The next targets of a job: (workflow id, run id, order or empty, index).
fn next_targets(keel: &Keel, job: &BatchJobRecord) -> Result<Vec<BatchStep>, String> {
    let request = job.request.clone().unwrap_or_default();
    #[allow(deprecated)]
    let listed: Vec<(String, String)> = if !request.target_executions.is_empty() {
        request
            .target_executions
            .iter()
            .map(|e| (e.business_id.clone(), e.run_id.clone()))
            .collect()
    } else {
        request
            .executions
            .iter()
            .map(|e| (e.workflow_id.clone(), e.run_id.clone()))
            .collect()
    };
    let step = |wf: String, run: String, order: Vec<u8>, index: i32| BatchStep {
        namespace: job.namespace.clone(),
        job_id: job.job_id.clone(),
        workflow_id: wf,
        run_id: run,
        order,
        index,
    };
    if !listed.is_empty() {
        return Ok(listed
            .into_iter()
            .enumerate()
            .skip(job.next_execution.max(0) as usize)
            .take(PAGE)
            .map(|(i, (wf, run))| step(wf, run, Vec::new(), i as i32))
            .collect());
    }
    let ns = keel
        .namespace(&job.namespace)
        .map_err(|s| s.message().to_string())?;
    let after = (!job.cursor.is_empty()).then_some(job.cursor.as_slice());
    let page = visibility::read::targets_after(
        &keel.store,
        &job.namespace,
        &ns.search_attributes,
        &job.query,
        PAGE,
        after,
    )
    .map_err(|e| e.to_string())?;
    Ok(page
        .into_iter()
        .map(|(info, order)| {
            let e = info.execution.unwrap_or_default();
            step(e.workflow_id, e.run_id, order, -1)
        })
        .collect())
}

async fn run(keel: Arc<Keel>, namespace: String, job_id: String) {
    loop {
        if !keel.leading.load(Ordering::SeqCst) {
            return;
        }
        let Some(job) = read_job(&keel, &namespace, &job_id) else {
            return;
        };
        if job.state != BatchOperationState::Running as i32 {
            return;
        }
        let requested = job
            .request
            .as_ref()
            .map_or(0.0, |r| r.max_operations_per_second);
        let rate = if requested > 0.0 {
            requested.min(MAX_RATE)
        } else {
            MAX_RATE
        };
        let pause = Duration::from_secs_f32(1.0 / rate);
        let targets = match next_targets(&keel, &job) {
            Ok(t) => t,
            Err(e) => {
                tracing::warn!(error = %e, "batch targets unreadable; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        if targets.is_empty() {
            let finish = Kind::FinishBatch(FinishBatch {
                namespace: namespace.clone(),
                job_id: job_id.clone(),
            });
            match keel.propose(finish).await {
                Ok(_) => tracing::info!(
                    complete = job.complete_count,
                    failed = job.failure_count,
                    "batch operation completed"
                ),
                Err(e) => tracing::warn!(error = %e, "finishing the batch failed"),
            }
            return;
        }
        for step in targets {
            if !keel.leading.load(Ordering::SeqCst) {
                return;
            }
            let target = format!("{}/{}", step.workflow_id, step.run_id);
            match keel.propose(Kind::BatchStep(step)).await {
                Ok(_) => {}
                Err(status) if status.code() == tonic::Code::Unavailable => return,
                // Refused for this target (recorded as a failure by apply): go on.
                Err(status) => tracing::debug!(%target, %status, "batch step refused"),
            }
            tokio::time::sleep(pause).await;
        }
    }
}
