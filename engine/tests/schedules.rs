//! Schedules kept by `apply`: each due time starts its run once however often the wake-up is
//! proposed, the catch-up window drops what is too old after an outage, a buffered action
//! starts in the same apply as the close of the run it waited for, a paused schedule takes
//! nothing, deleting a schedule leaves its runs, and two replicas applying the same log end
//! byte-identical.

use keel_engine::mutation::*;
use keel_engine::records::{ExecutionRecord, ScheduleRecord};
use keel_engine::{apply, keys, MemState, Mutation, Outcome};
use prost::Message;
use temporalio_protos::temporal::api::{
    common::v1::{WorkflowExecution, WorkflowType},
    enums::v1::{ScheduleOverlapPolicy as Overlap, WorkflowExecutionStatus},
    schedule::v1::{
        schedule_action, IntervalSpec, Schedule, ScheduleAction, SchedulePatch, SchedulePolicies,
        ScheduleSpec,
    },
    taskqueue::v1::TaskQueue,
    workflow::v1::NewWorkflowExecutionInfo,
    workflowservice::v1 as ws,
};

const NS: &str = "default";
const SEC: i64 = 1_000_000_000;
/// 2023-11-14T22:13:20Z, a whole second.
const T0: i64 = 1_700_000_000 * SEC;

struct World {
    state: MemState,
    now: i64,
    log: Vec<Mutation>,
}

impl World {
    fn new() -> Self {
        let mut w = World {
            state: MemState::default(),
            now: T0,
            log: Vec::new(),
        };
        w.apply(Kind::RegisterNamespace(RegisterNamespace {
            request: Some(ws::RegisterNamespaceRequest {
                namespace: NS.into(),
                ..Default::default()
            }),
            namespace_id: "ns-id".into(),
            if_absent: false,
        }));
        w
    }

    fn apply(&mut self, kind: Kind) -> Outcome {
        let m = Mutation {
            now: self.now,
            kind: Some(kind),
        };
        let applied = apply(&self.state, &m);
        self.state.apply_writes(applied.writes);
        self.log.push(m);
        applied.outcome.expect("mutation applies")
    }

    /// Moves time on to `at` and fires every timer due by then, as the leader's timer service
    /// does (possibly in several proposals); returns the FireTimers mutations proposed.
    fn advance_to(&mut self, at: i64) -> Vec<Kind> {
        self.now = at;
        let mut fired = Vec::new();
        loop {
            let due: Vec<Vec<u8>> = self
                .state
                .scan(&keys::timer_prefix())
                .map(|(k, _)| k.clone())
                .filter(|k| keys::decode_timer(k).is_some_and(|t| t <= self.now))
                .collect();
            if due.is_empty() {
                return fired;
            }
            let kind = Kind::FireTimers(FireTimers {
                next_run_ids: due.iter().map(|_| String::new()).collect(),
                keys: due,
            });
            self.apply(kind.clone());
            fired.push(kind);
        }
    }

    fn schedule(&self, id: &str) -> Option<ScheduleRecord> {
        self.state
            .0
            .get(&keys::schedule(NS, id))
            .map(|b| ScheduleRecord::decode(b.as_slice()).unwrap())
    }

    /// The workflow ids of every run started with `prefix`.
    fn runs(&self, prefix: &str) -> Vec<String> {
        // The namespace's execution keys: the key of ("", "") without its two empty ids.
        let key = keys::execution(NS, "", "");
        let mut ids: Vec<String> = self
            .state
            .scan(&key[..key.len() - 8])
            .map(|(_, v)| ExecutionRecord::decode(v.as_slice()).unwrap())
            .filter(|e| e.workflow_id.starts_with(prefix))
            .map(|e| e.workflow_id)
            .collect();
        ids.sort();
        ids
    }
}

fn every(secs: i64, policy: Overlap, window_secs: i64) -> Schedule {
    Schedule {
        spec: Some(ScheduleSpec {
            interval: vec![IntervalSpec {
                interval: Some(prost_wkt_types::Duration {
                    seconds: secs,
                    nanos: 0,
                }),
                phase: None,
            }],
            ..Default::default()
        }),
        action: Some(ScheduleAction {
            action: Some(schedule_action::Action::StartWorkflow(
                NewWorkflowExecutionInfo {
                    workflow_id: "wf".into(),
                    workflow_type: Some(WorkflowType { name: "T".into() }),
                    task_queue: Some(TaskQueue {
                        name: "q".into(),
                        ..Default::default()
                    }),
                    ..Default::default()
                },
            )),
        }),
        policies: Some(SchedulePolicies {
            overlap_policy: policy as i32,
            catchup_window: (window_secs > 0).then_some(prost_wkt_types::Duration {
                seconds: window_secs,
                nanos: 0,
            }),
            ..Default::default()
        }),
        state: None,
    }
}

fn create(w: &mut World, id: &str, schedule: Schedule) {
    let out = w.apply(Kind::CreateSchedule(ws::CreateScheduleRequest {
        namespace: NS.into(),
        schedule_id: id.into(),
        schedule: Some(schedule),
        request_id: format!("req-{id}"),
        ..Default::default()
    }));
    assert_eq!(out, Outcome::Schedule { conflict_token: 1 });
}

fn at(secs_after_t0: i64) -> String {
    keel_engine::time::format_rfc3339(T0 + secs_after_t0 * SEC)
}

#[test]
fn each_due_time_starts_once_however_often_the_wake_up_is_proposed() {
    let mut w = World::new();
    create(&mut w, "s", every(10, Overlap::AllowAll, 0));
    let fired = w.advance_to(T0 + 35 * SEC);
    assert_eq!(
        w.runs("wf-"),
        [at(10), at(20), at(30)].map(|t| format!("wf-{t}"))
    );
    // The same proposals again (a leader that retried them) change nothing.
    let before = w.state.clone();
    for kind in fired {
        w.apply(kind);
    }
    assert_eq!(w.state.0.len(), before.0.len());
    assert_eq!(w.runs("wf-").len(), 3);
    let rec = w.schedule("s").unwrap();
    assert_eq!(rec.action_count, 3);
    assert_eq!(rec.recent_actions.len(), 3);
    assert!(rec.running.is_empty(), "ALLOW_ALL runs are not tracked");
    // A retried create (same request id) is answered with the record's token.
    create(&mut w, "s", every(10, Overlap::AllowAll, 0));
}

#[test]
fn the_catch_up_window_drops_what_is_too_old_after_an_outage() {
    let mut w = World::new();
    create(&mut w, "s", every(1, Overlap::AllowAll, 10));
    // Nothing fired for a minute (the cluster was down), then the leader wakes it.
    w.advance_to(T0 + 60 * SEC);
    let rec = w.schedule("s").unwrap();
    assert_eq!(rec.missed_catchup_window, 49);
    assert_eq!(rec.action_count, 11);
    assert_eq!(w.runs("wf-").first().unwrap(), &format!("wf-{}", at(50)));
}

#[test]
fn a_buffered_action_starts_in_the_apply_that_closes_the_run_it_waited_for() {
    let mut w = World::new();
    create(&mut w, "s", every(10, Overlap::BufferOne, 0));
    w.advance_to(T0 + 25 * SEC);
    let rec = w.schedule("s").unwrap();
    assert_eq!(rec.action_count, 1);
    assert_eq!(rec.buffer.len(), 1, "the second time waits");
    let first = rec.running[0].clone();
    w.apply(Kind::TerminateWorkflow(
        ws::TerminateWorkflowExecutionRequest {
            namespace: NS.into(),
            workflow_execution: Some(WorkflowExecution {
                workflow_id: first.workflow_id.clone(),
                run_id: String::new(),
            }),
            reason: "done".into(),
            ..Default::default()
        },
    ));
    let rec = w.schedule("s").unwrap();
    assert_eq!(rec.action_count, 2);
    assert!(rec.buffer.is_empty());
    assert_eq!(rec.running[0].workflow_id, format!("wf-{}", at(20)));
    assert_eq!(
        rec.recent_actions[0].start_workflow_status,
        WorkflowExecutionStatus::Terminated as i32
    );
}

#[test]
fn paused_takes_nothing_and_unpause_does_not_catch_up() {
    let mut w = World::new();
    create(&mut w, "s", every(1, Overlap::AllowAll, 0));
    let pause = |w: &mut World, pause: &str, unpause: &str| {
        w.apply(Kind::PatchSchedule(ws::PatchScheduleRequest {
            namespace: NS.into(),
            schedule_id: "s".into(),
            patch: Some(SchedulePatch {
                pause: pause.into(),
                unpause: unpause.into(),
                ..Default::default()
            }),
            ..Default::default()
        }))
    };
    w.advance_to(T0 + 2 * SEC);
    pause(&mut w, "stop", "");
    w.advance_to(T0 + 30 * SEC);
    assert_eq!(w.schedule("s").unwrap().action_count, 2);
    pause(&mut w, "", "go");
    w.advance_to(T0 + 32 * SEC);
    let rec = w.schedule("s").unwrap();
    assert_eq!(rec.action_count, 4);
    assert_eq!(rec.conflict_token, 3);
}

#[test]
fn deleting_a_schedule_leaves_its_runs_and_replicas_agree() {
    let mut w = World::new();
    create(&mut w, "s", every(5, Overlap::Skip, 0));
    w.advance_to(T0 + 12 * SEC);
    w.apply(Kind::DeleteSchedule(ws::DeleteScheduleRequest {
        namespace: NS.into(),
        schedule_id: "s".into(),
        ..Default::default()
    }));
    assert!(w.schedule("s").is_none());
    assert_eq!(w.runs("wf-").len(), 1);
    w.advance_to(T0 + 60 * SEC);
    assert_eq!(w.runs("wf-").len(), 1, "nothing fires after delete");
    // Another replica applying the same log ends byte-identical.
    let mut replica = MemState::default();
    for m in &w.log {
        replica.apply_writes(apply(&replica, m).writes);
    }
    assert_eq!(replica, w.state);
}
