//! Workflow updates waiting on the leader: requests admitted but not yet accepted or
//! rejected by the workflow. Like queries they are not replicated (Temporal keeps them in
//! memory too): a leader change drops them and their callers get UNAVAILABLE, which the
//! SDKs retry. Every workflow task of the run carries all of them as protocol messages; the
//! task's completion settles each one (accepted: from then on history has it, see
//! `keel_engine::records::UpdateInfo`; rejected; or, if the worker ignored it, rejected on
//! its behalf as Temporal does).

use prost::Message as _;
use std::collections::HashMap;
use std::sync::Mutex;
use temporalio_protos::temporal::api::{
    failure::v1::Failure,
    protocol::v1::{message::SequencingId, Message},
    update::v1 as u,
};
use tokio::sync::watch;

/// Temporal's limit on updates neither completed nor rejected, per run.
pub const MAX_IN_FLIGHT: usize = 10;

/// Where an admitted update stands, as its callers see it.
#[derive(Debug, Clone, PartialEq)]
pub enum Settled {
    /// Waiting for a workflow task to deliver it and the worker to answer.
    No,
    /// The workflow accepted it: history has it now.
    Accepted,
    Rejected(Box<Failure>),
    /// Dropped without an answer (the run closed, or this node stopped leading).
    Dropped,
}

struct Admitted {
    request: u::Request,
    /// The workflow task (sequence, attempt) that last carried it.
    sent_on: Option<(i64, i32)>,
    settled: watch::Sender<Settled>,
}

type RunKey = (String, String, String);

#[derive(Default)]
pub struct Updates {
    runs: Mutex<HashMap<RunKey, Vec<Admitted>>>,
}

fn key(namespace: &str, workflow_id: &str, run_id: &str) -> RunKey {
    (
        namespace.to_string(),
        workflow_id.to_string(),
        run_id.to_string(),
    )
}

fn update_id(request: &u::Request) -> &str {
    request.meta.as_ref().map_or("", |m| m.update_id.as_str())
}

const TYPE_PREFIX: &str = "type.googleapis.com/temporal.api.update.v1.";

/// Whether this node admitted a new update or found the same id waiting.
pub enum Admission {
    New(watch::Receiver<Settled>),
    Existing(watch::Receiver<Settled>),
    /// `MAX_IN_FLIGHT` reached.
    Full,
}

impl Updates {
    /// Admits `request` to run `run` (or joins the waiting update with its id). `accepted_open`
    /// counts the run's accepted, not yet completed updates, which are in flight too.
    pub fn admit(
        &self,
        (namespace, workflow_id, run_id): (&str, &str, &str),
        request: u::Request,
        accepted_open: usize,
    ) -> Admission {
        let mut runs = self.runs.lock().expect("updates lock");
        let waiting = runs.entry(key(namespace, workflow_id, run_id)).or_default();
        if let Some(a) = waiting
            .iter()
            .find(|a| update_id(&a.request) == update_id(&request))
        {
            return Admission::Existing(a.settled.subscribe());
        }
        if waiting.len() + accepted_open >= MAX_IN_FLIGHT {
            return Admission::Full;
        }
        let (settled, rx) = watch::channel(Settled::No);
        waiting.push(Admitted {
            request,
            sent_on: None,
            settled,
        });
        Admission::New(rx)
    }

    /// A caller of PollWorkflowExecutionUpdate joins a waiting update, if there is one.
    pub fn join(
        &self,
        (namespace, workflow_id, run_id): (&str, &str, &str),
        id: &str,
    ) -> Option<watch::Receiver<Settled>> {
        let runs = self.runs.lock().expect("updates lock");
        runs.get(&key(namespace, workflow_id, run_id))?
            .iter()
            .find(|a| update_id(&a.request) == id)
            .map(|a| a.settled.subscribe())
    }

    /// The request messages a workflow task of the run carries: every waiting update, in
    /// the order they were admitted, sequenced after the task's scheduled event.
    pub fn deliver(
        &self,
        (namespace, workflow_id, run_id): (&str, &str, &str),
        task: (i64, i32),
        scheduled_event_id: i64,
    ) -> Vec<Message> {
        let mut runs = self.runs.lock().expect("updates lock");
        let Some(waiting) = runs.get_mut(&key(namespace, workflow_id, run_id)) else {
            return Vec::new();
        };
        waiting
            .iter_mut()
            .map(|a| {
                a.sent_on = Some(task);
                let id = update_id(&a.request).to_string();
                Message {
                    id: format!("{id}/request"),
                    protocol_instance_id: id,
                    body: Some(prost_wkt_types::Any {
                        type_url: format!("{TYPE_PREFIX}Request"),
                        value: a.request.encode_to_vec(),
                    }),
                    sequencing_id: Some(SequencingId::EventId(scheduled_event_id)),
                }
            })
            .collect()
    }

    /// Puts the request the leader holds into acceptances that do not carry it back.
    pub fn fill_acceptances(
        &self,
        (namespace, workflow_id, run_id): (&str, &str, &str),
        messages: &mut [Message],
    ) {
        let runs = self.runs.lock().expect("updates lock");
        let Some(waiting) = runs.get(&key(namespace, workflow_id, run_id)) else {
            return;
        };
        for m in messages {
            let Some(body) = m
                .body
                .as_mut()
                .filter(|b| b.type_url == format!("{TYPE_PREFIX}Acceptance"))
            else {
                continue;
            };
            let Ok(mut acceptance) = u::Acceptance::decode(body.value.as_slice()) else {
                continue;
            };
            if acceptance.accepted_request.is_some() {
                continue;
            }
            let held = waiting
                .iter()
                .find(|a| update_id(&a.request) == m.protocol_instance_id);
            if let Some(a) = held {
                acceptance.accepted_request = Some(a.request.clone());
                body.value = acceptance.encode_to_vec();
            }
        }
    }

    /// A completion of workflow task `task` was applied: settles the updates it answered,
    /// rejects the ones it carried and ignored, and says whether updates still wait for a
    /// task (admitted after it started).
    pub fn completed(
        &self,
        (namespace, workflow_id, run_id): (&str, &str, &str),
        task: (i64, i32),
        messages: &[Message],
    ) -> bool {
        let mut runs = self.runs.lock().expect("updates lock");
        let run = key(namespace, workflow_id, run_id);
        let Some(waiting) = runs.get_mut(&run) else {
            return false;
        };
        waiting.retain(|a| {
            let id = update_id(&a.request);
            let answer = messages.iter().find(|m| m.protocol_instance_id == id);
            let settled = match answer.and_then(|m| m.body.as_ref()) {
                Some(b) if b.type_url == format!("{TYPE_PREFIX}Rejection") => {
                    let failure = u::Rejection::decode(b.value.as_slice())
                        .ok()
                        .and_then(|r| r.failure)
                        .unwrap_or_default();
                    Settled::Rejected(Box::new(failure))
                }
                Some(_) => Settled::Accepted,
                None if a.sent_on == Some(task) => {
                    Settled::Rejected(Box::new(unprocessed_failure()))
                }
                None => return true,
            };
            a.settled.send_replace(settled);
            false
        });
        let more = !waiting.is_empty();
        if !more {
            runs.remove(&run);
        }
        more
    }

    /// The run closed: its waiting updates will never be delivered.
    pub fn drop_run(&self, namespace: &str, workflow_id: &str, run_id: &str) {
        let dropped =
            self.runs
                .lock()
                .expect("updates lock")
                .remove(&key(namespace, workflow_id, run_id));
        for a in dropped.into_iter().flatten() {
            a.settled.send_replace(Settled::Dropped);
        }
    }

    /// This node stopped leading: every waiting update is dropped.
    pub fn clear(&self) {
        let all = std::mem::take(&mut *self.runs.lock().expect("updates lock"));
        for a in all.into_values().flatten() {
            a.settled.send_replace(Settled::Dropped);
        }
    }
}

/// Temporal's rejection of an update a worker received and did not answer (an SDK that does
/// not know updates).
fn unprocessed_failure() -> Failure {
    Failure {
        message: "Workflow Update is rejected because it wasn't processed by worker. Probably, Workflow Update is not supported by the worker.".into(),
        source: "Server".into(),
        ..Default::default()
    }
}
