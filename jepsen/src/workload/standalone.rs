//! The standalone activity part of the workload: clients start standalone activities (each
//! id used once, start-to-close 2 s, retried), activity workers of their own queue
//! (`activity_worker` with `standalone`) complete them with the activity's id as the result,
//! one attempt in eight after its timeout (that completion must be refused). After healing every acknowledged one must complete; then each is
//! described and the namespace's activities listed.

use super::Client;
use super::{payload_text, payloads, request, Workload, ACTIVITY_TIMEOUT, CALL_TIMEOUT, NAMESPACE};
use crate::checker::FinalStandalone;
use crate::nemesis::Rng;
use crate::op::{OpKind, Outcome};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use temporalio_protos::temporal::api::{
    activity::v1::activity_execution_outcome::Value, common::v1::ActivityType,
    enums::v1::ActivityExecutionStatus, taskqueue::v1::TaskQueue, workflowservice::v1::*,
};
use tonic::Code;

/// The standalone activities' own task queue.
pub const STANDALONE_QUEUE: &str = "jepsen-standalone";

pub(super) fn queue() -> Option<TaskQueue> {
    Some(TaskQueue {
        name: STANDALONE_QUEUE.into(),
        ..Default::default()
    })
}

impl Workload {
    /// Every standalone activity id a client tried to start, whatever the answer.
    pub fn standalone_ids(&self) -> Vec<String> {
        self.ops
            .lock()
            .expect("ops")
            .iter()
            .filter_map(|op| match &op.kind {
                OpKind::StartActivity { activity_id, .. } => Some(activity_id.clone()),
                _ => None,
            })
            .collect()
    }

    pub(super) async fn start_standalone(
        &self,
        rng: &mut Rng,
        process: &str,
        activity_id: String,
    ) -> Outcome {
        let invoke = self.now_ms();
        let req = StartActivityExecutionRequest {
            namespace: NAMESPACE.into(),
            identity: process.to_string(),
            request_id: format!("{process}-{invoke}-{}", rng.next_u64()),
            activity_id: activity_id.clone(),
            activity_type: Some(ActivityType {
                name: "jepsen-standalone".into(),
            }),
            task_queue: queue(),
            start_to_close_timeout: super::duration(ACTIVITY_TIMEOUT),
            ..Default::default()
        };
        let (run_id, outcome) = match self
            .client(rng)
            .start_activity_execution(request(req, CALL_TIMEOUT))
            .await
        {
            Ok(r) => (Some(r.into_inner().run_id), Outcome::Ok),
            Err(s) => (None, Outcome::from_status(&s)),
        };
        let kind = OpKind::StartActivity {
            activity_id,
            run_id,
        };
        self.record(process, kind, invoke, outcome)
    }

    pub(super) async fn complete_standalone(
        &self,
        process: &str,
        mut client: Client,
        task: PollActivityTaskQueueResponse,
    ) {
        let kind = OpKind::CompleteStandalone {
            activity_id: task.activity_id.clone(),
            run_id: task.activity_run_id.clone(),
            attempt: task.attempt,
        };
        let invoke = self.now_ms();
        let done = RespondActivityTaskCompletedRequest {
            namespace: NAMESPACE.into(),
            task_token: task.task_token,
            result: payloads(&task.activity_id),
            identity: process.to_string(),
            ..Default::default()
        };
        let outcome = match client
            .respond_activity_task_completed(request(done, CALL_TIMEOUT))
            .await
        {
            Ok(_) => Outcome::Ok,
            Err(s) => Outcome::from_status(&s),
        };
        self.record(process, kind, invoke, outcome);
    }

    /// After healing, with the workers still running: waits until every standalone activity
    /// the cluster has is closed, or `within` has passed.
    pub async fn wait_standalone_closed(&self, via: SocketAddr, within: Duration) {
        let Ok(mut via) = super::connect(via) else {
            return;
        };
        let began = Instant::now();
        let mut open = self.standalone_ids();
        while !open.is_empty() && began.elapsed() < within {
            let mut still = Vec::new();
            for id in open {
                match describe(&mut via, &id).await {
                    Ok(Some(a)) if a.status != ActivityExecutionStatus::Running as i32 => {}
                    Ok(None) => {}
                    _ => still.push(id),
                }
            }
            open = still;
            if !open.is_empty() {
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        }
    }
}

async fn describe(client: &mut Client, id: &str) -> Result<Option<FinalStandalone>, tonic::Status> {
    let req = DescribeActivityExecutionRequest {
        namespace: NAMESPACE.into(),
        activity_id: id.to_string(),
        include_outcome: true,
        ..Default::default()
    };
    match client
        .describe_activity_execution(request(req, CALL_TIMEOUT))
        .await
    {
        Ok(r) => {
            let r = r.into_inner();
            let info = r.info.unwrap_or_default();
            let result = match r.outcome.and_then(|o| o.value) {
                Some(Value::Result(p)) => Some(payload_text(&Some(p))),
                _ => None,
            };
            Ok(Some(FinalStandalone {
                run_id: r.run_id,
                status: info.status,
                result,
            }))
        }
        Err(s) if s.code() == Code::NotFound => Ok(None),
        Err(s) => Err(s),
    }
}

/// Every standalone activity the clients tried to start, as the cluster has it at the end,
/// and the ids ListActivityExecutions returns (every page), in order.
pub async fn final_standalone(
    client: &mut Client,
    ids: &[String],
) -> anyhow::Result<(BTreeMap<String, FinalStandalone>, Vec<String>)> {
    let mut found = BTreeMap::new();
    for id in ids {
        let mut tries = 0;
        loop {
            match describe(client, id).await {
                Ok(Some(a)) => {
                    found.insert(id.clone(), a);
                    break;
                }
                Ok(None) => break,
                Err(s) if tries >= 20 => anyhow::bail!("describing activity {id} at the end: {s}"),
                Err(_) => {
                    tries += 1;
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
            }
        }
    }
    let mut listed = Vec::new();
    let mut token = Vec::new();
    loop {
        let req = ListActivityExecutionsRequest {
            namespace: NAMESPACE.into(),
            page_size: 100,
            next_page_token: token,
            query: String::new(),
        };
        let page = client
            .list_activity_executions(request(req, CALL_TIMEOUT))
            .await?
            .into_inner();
        listed.extend(page.executions.into_iter().map(|a| a.activity_id));
        if page.next_page_token.is_empty() {
            return Ok((found, listed));
        }
        token = page.next_page_token;
    }
}
