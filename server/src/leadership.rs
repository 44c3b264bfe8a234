//! Leader services follow Raft leadership. When this node becomes leader (of a new term) it
//! applies the log through that term (a no-op proposal), rebuilds task queues and the timer
//! heap from RocksDB, makes sure the configured namespaces exist, and starts firing timers;
//! timers that fell due during the election fire right away. When it stops leading it stops
//! the timer loop, drops the queues and ends waiting polls, so nothing is served from a stale
//! view. Apply keeps feeding the caches only while this node leads.

use crate::app::Keel;
use keel_engine::mutation::{Kind, Noop, RegisterNamespace};
use keel_engine::time::{duration, secs};
use openraft::ServerState;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use temporalio_protos::temporal::api::workflowservice::v1::RegisterNamespaceRequest;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::Instrument;

/// Namespaces created at bootstrap keep closed runs this long (Temporal's minimum).
const DEFAULT_RETENTION_SECS: i64 = 24 * 3600;

/// Watches Raft metrics for the life of the node. `ready` turns true once this node has
/// served as leader at least once (what `start-dev` waits for before announcing itself).
pub async fn follow(keel: Arc<Keel>, namespaces: Vec<String>, ready: watch::Sender<bool>) {
    let mut metrics = keel.node.raft.metrics();
    let mut leading_term: Option<u64> = None;
    let mut timer_task: Option<JoinHandle<()>> = None;
    loop {
        let (leads, term) = {
            let m = metrics.borrow_and_update();
            (
                m.state == ServerState::Leader && m.current_leader == Some(keel.node.node_id),
                m.current_term,
            )
        };
        if leading_term.is_some() && leading_term != Some(term).filter(|_| leads) {
            step_down(&keel, timer_task.take());
            leading_term = None;
        }
        if leads && leading_term.is_none() {
            let span = tracing::info_span!("take_over", node = keel.node.node_id, term);
            match take_over(&keel, &namespaces).instrument(span).await {
                Ok(task) => {
                    timer_task = Some(task);
                    leading_term = Some(term);
                    ready.send_replace(true);
                }
                Err(e) => {
                    tracing::warn!(error = %e, term, "taking over as leader failed");
                    step_down(&keel, None);
                }
            }
            // Leadership may have moved while taking over: look again before waiting.
            continue;
        }
        if metrics.changed().await.is_err() {
            break;
        }
    }
    step_down(&keel, timer_task.take());
}

async fn take_over(
    keel: &Arc<Keel>,
    namespaces: &[String],
) -> Result<JoinHandle<()>, tonic::Status> {
    let began = std::time::Instant::now();
    keel.leading.store(true, Ordering::SeqCst);
    keel.matching.clear();
    keel.timers.clear();
    keel.updates.clear();
    // Everything committed in earlier terms is applied once this term's first entry is.
    keel.propose(Kind::Noop(Noop {})).await?;
    let tasks = keel
        .matching
        .load(&keel.store)
        .map_err(crate::errors::internal)?;
    let timers = keel
        .timers
        .load(&keel.store)
        .map_err(crate::errors::internal)?;
    for name in namespaces {
        keel.propose(Kind::RegisterNamespace(RegisterNamespace {
            request: Some(RegisterNamespaceRequest {
                namespace: name.clone(),
                workflow_execution_retention_period: duration(secs(DEFAULT_RETENTION_SECS)),
                ..Default::default()
            }),
            namespace_id: uuid::Uuid::new_v4().to_string(),
            if_absent: true,
        }))
        .await?;
    }
    let batches = keel.batches.load(keel).map_err(crate::errors::internal)?;
    let alone = keel
        .node
        .metrics()
        .membership_config
        .membership()
        .nodes()
        .count()
        == 1;
    if alone {
        // Nobody to ask: the cluster's level is this build's, recorded before the first
        // request is served (what it records, such as priorities, is kept from the start).
        if let Err(e) = keel.node.survey_members().await {
            tracing::warn!(error = %e, "recording the cluster's level failed; the survey retries");
        }
    }
    tokio::spawn(survey_members(keel.clone()));
    let timer_keel = keel.clone();
    let task = tokio::spawn(async move {
        let (node, store) = (timer_keel.node.clone(), timer_keel.store.clone());
        timer_keel.timers.run(node, store).await
    });
    tracing::info!(
        ready_tasks = tasks,
        pending_timers = timers,
        running_batches = batches,
        ms = began.elapsed().as_millis() as u64,
        "leading: task queues and timers loaded"
    );
    Ok(task)
}

/// While this node leads, surveys the members (`RaftNode::survey_members`: their feature
/// levels, and their addresses, kept up to date): every second while an address is missing,
/// every five seconds after.
async fn survey_members(keel: Arc<Keel>) {
    while keel.leading.load(Ordering::SeqCst) {
        let complete = match keel.node.survey_members().await {
            Ok(complete) => complete,
            Err(e) => {
                tracing::debug!(error = %e, "surveying the members failed");
                false
            }
        };
        let pause = if complete { 5 } else { 1 };
        tokio::time::sleep(std::time::Duration::from_secs(pause)).await;
    }
}

fn step_down(keel: &Keel, timer_task: Option<JoinHandle<()>>) {
    keel.leading.store(false, Ordering::SeqCst);
    if let Some(task) = timer_task {
        task.abort();
    }
    keel.matching.clear();
    keel.timers.clear();
    keel.updates.clear();
    keel.batches.clear();
    tracing::info!(
        node = keel.node.node_id,
        "not leading: leader services stopped"
    );
}
