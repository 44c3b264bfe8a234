//! Unit tests of `apply` against the in-memory state: every command and event path of
//! workflows with activities and timers, stale tokens, rejections, and determinism.

#![allow(deprecated)] // worker-version stamps are deprecated in the API, still recorded

use keel_engine::mutation::*;
use keel_engine::records::{ExecutionRecord, TaskKind};
use keel_engine::{apply, keys, MemState, Mutation, Notification, Outcome, Rejection, TaskToken};
use prost::Message;
use temporalio_protos::temporal::api::{
    command::v1::{command::Attributes as A, *},
    common::v1::{
        ActivityType, Payload, Payloads, RetryPolicy, SearchAttributes, WorkerVersionStamp,
        WorkflowExecution, WorkflowType,
    },
    enums::v1::{
        CommandType, ContinueAsNewInitiator, EventType, IndexedValueType, RetryState,
        SignalExternalWorkflowExecutionFailedCause, TaskQueueKind, TimeoutType,
        WorkflowExecutionStatus, WorkflowIdReusePolicy, WorkflowTaskFailedCause,
    },
    failure::v1::{failure::FailureInfo, ApplicationFailureInfo, Failure},
    history::v1::{
        history_event::Attributes as EA, HistoryEvent, WorkflowExecutionStartedEventAttributes,
    },
    protocol::v1::Message as ProtocolMessage,
    taskqueue::v1::{StickyExecutionAttributes, TaskQueue},
    update::v1 as update,
    workflowservice::v1 as ws,
};

const SEC: i64 = 1_000_000_000;
const NS: &str = "default";

struct Harness {
    state: MemState,
    now: i64,
    tasks: Vec<(TaskKind, Vec<u8>)>,
    timers: Vec<(i64, Vec<u8>)>,
    log: Vec<Mutation>,
}

impl Harness {
    fn new() -> Self {
        let mut h = Harness {
            state: MemState::default(),
            now: 1_700_000_000 * SEC,
            tasks: vec![],
            timers: vec![],
            log: vec![],
        };
        h.apply(Kind::RegisterNamespace(RegisterNamespace {
            request: Some(ws::RegisterNamespaceRequest {
                namespace: NS.into(),
                ..Default::default()
            }),
            namespace_id: "ns-id".into(),
            if_absent: false,
        }))
        .unwrap();
        h
    }

    fn advance(&mut self, nanos: i64) {
        self.now += nanos;
    }

    fn apply(&mut self, kind: Kind) -> Result<Outcome, Rejection> {
        self.now += 1_000;
        let m = Mutation {
            now: self.now,
            kind: Some(kind),
        };
        self.log.push(m.clone());
        let applied = apply(&self.state, &m);
        if applied
            .outcome
            .as_ref()
            .is_err_and(|e| !matches!(e, Rejection::BadCommand { .. }))
        {
            // Only the clock may move on a rejection (a bad command fails its task instead).
            assert!(
                applied.writes.keys().all(|k| *k == keys::meta()),
                "rejection wrote state"
            );
        }
        self.state.apply_writes(applied.writes);
        for n in applied.notifications {
            match n {
                Notification::TaskAdded { kind, task_key, .. } => self.tasks.push((kind, task_key)),
                Notification::TimerAdded { fire_at, key } => self.timers.push((fire_at, key)),
                Notification::HistoryAppended { .. }
                | Notification::BatchStarted { .. }
                | Notification::RunClosed { .. }
                | Notification::DeploymentChanged { .. }
                | Notification::ActivityExecutionChanged { .. } => {}
            }
        }
        applied.outcome
    }

    fn start(&mut self, wf: &str, request_id: &str) -> Result<Outcome, Rejection> {
        self.start_with(greet_start(wf, request_id))
    }

    fn start_with(&mut self, req: ws::StartWorkflowExecutionRequest) -> Result<Outcome, Rejection> {
        let run_id = format!("run-{}", self.log.len());
        self.apply(Kind::StartWorkflow(StartWorkflow {
            request: Some(req),
            run_id,
            ..Default::default()
        }))
    }

    fn run_id(outcome: Outcome) -> String {
        match outcome {
            Outcome::WorkflowStarted { run_id, .. } => run_id,
            o => panic!("not started: {o:?}"),
        }
    }

    fn take_task(&mut self, kind: TaskKind) -> Vec<u8> {
        let i = self
            .tasks
            .iter()
            .position(|(k, _)| *k == kind)
            .expect("a task of that kind");
        self.tasks.remove(i).1
    }

    fn poll(&mut self, kind: TaskKind) -> Outcome {
        let key = self.take_task(kind);
        self.apply(Kind::StartTask(StartTask {
            task_key: key,
            identity: "worker".into(),
            request_id: "poll".into(),
            worker_version: Some(WorkerVersionStamp {
                build_id: "build-7".into(),
                use_versioning: false,
            }),
            ..Default::default()
        }))
        .unwrap()
    }

    fn poll_workflow(&mut self) -> (TaskToken, i64) {
        match self.poll(TaskKind::Workflow) {
            Outcome::WorkflowTaskStarted(s) => (
                TaskToken::from_bytes(&s.response.task_token).unwrap(),
                s.response.started_event_id,
            ),
            o => panic!("{o:?}"),
        }
    }

    fn poll_activity(&mut self) -> (TaskToken, ws::PollActivityTaskQueueResponse) {
        match self.poll(TaskKind::Activity) {
            Outcome::ActivityTaskStarted(r) => (TaskToken::from_bytes(&r.task_token).unwrap(), *r),
            o => panic!("{o:?}"),
        }
    }

    fn complete_workflow_task(
        &mut self,
        token: &TaskToken,
        commands: Vec<Command>,
    ) -> Result<Outcome, Rejection> {
        let next_run_id = format!("next-run-{}", self.log.len());
        let child_run_ids = (0..commands.len())
            .map(|i| format!("child-run-{}-{i}", self.log.len()))
            .collect();
        self.apply(Kind::CompleteWorkflowTask(CompleteWorkflowTask {
            next_run_id,
            child_run_ids,
            token: Some(token.clone()),
            request: Some(ws::RespondWorkflowTaskCompletedRequest {
                commands,
                identity: "worker".into(),
                ..Default::default()
            }),
            ..Default::default()
        }))
    }

    fn complete_activity(&mut self, token: &TaskToken, result: &str) -> Result<Outcome, Rejection> {
        self.apply(Kind::CompleteActivityTask(CompleteActivityTask {
            token: Some(token.clone()),
            request: Some(ws::RespondActivityTaskCompletedRequest {
                result: Some(payloads(result)),
                identity: "worker".into(),
                ..Default::default()
            }),
        }))
    }

    /// Fires every timer due by now (what the leader's timer service does).
    fn fire_due(&mut self) -> usize {
        let now = self.now + 1_000;
        let (due, rest): (Vec<_>, Vec<_>) = self.timers.drain(..).partition(|(t, _)| *t <= now);
        self.timers = rest;
        let n = due.len();
        let next_run_ids = due.iter().map(|(t, _)| format!("retry-run-{t}")).collect();
        self.apply(Kind::FireTimers(FireTimers {
            keys: due.into_iter().map(|(_, k)| k).collect(),
            next_run_ids,
        }))
        .unwrap();
        n
    }

    fn execution(&self, wf: &str, run: &str) -> ExecutionRecord {
        ExecutionRecord::decode(self.state.0[&keys::execution(NS, wf, run)].as_slice()).unwrap()
    }

    fn history(&self, wf: &str, run: &str) -> Vec<HistoryEvent> {
        let prefix = keys::history_prefix(NS, wf, run);
        let events: Vec<HistoryEvent> = self
            .state
            .scan(&prefix)
            .map(|(_, v)| HistoryEvent::decode(v.as_slice()).unwrap())
            .collect();
        for (i, e) in events.iter().enumerate() {
            assert_eq!(e.event_id, i as i64 + 1, "event ids are contiguous from 1");
        }
        events
    }

    fn types(&self, wf: &str, run: &str) -> Vec<EventType> {
        self.history(wf, run)
            .iter()
            .map(|e| EventType::try_from(e.event_type).unwrap())
            .collect()
    }
}

fn payloads(s: &str) -> Payloads {
    // Several metadata entries: a HashMap whose iteration order differs between processes
    // and between map instances, which replicas must still write as the same bytes.
    let metadata = ["encoding", "messageType", "codec", "checksum"]
        .iter()
        .map(|k| (k.to_string(), format!("{k}-value").into_bytes()))
        .collect();
    Payloads {
        payloads: vec![Payload {
            metadata,
            data: s.as_bytes().to_vec(),
            ..Default::default()
        }],
    }
}

fn schedule_activity(id: &str, retry: Option<RetryPolicy>) -> Command {
    Command {
        command_type: CommandType::ScheduleActivityTask as i32,
        attributes: Some(A::ScheduleActivityTaskCommandAttributes(
            ScheduleActivityTaskCommandAttributes {
                activity_id: id.into(),
                activity_type: Some(ActivityType { name: "act".into() }),
                start_to_close_timeout: Some(prost_wkt_types::Duration {
                    seconds: 10,
                    nanos: 0,
                }),
                retry_policy: retry,
                ..Default::default()
            },
        )),
        ..Default::default()
    }
}

fn start_timer(id: &str, secs: i64) -> Command {
    Command {
        command_type: CommandType::StartTimer as i32,
        attributes: Some(A::StartTimerCommandAttributes(
            StartTimerCommandAttributes {
                timer_id: id.into(),
                start_to_fire_timeout: Some(prost_wkt_types::Duration {
                    seconds: secs,
                    nanos: 0,
                }),
            },
        )),
        ..Default::default()
    }
}

fn complete_workflow(result: &str) -> Command {
    Command {
        command_type: CommandType::CompleteWorkflowExecution as i32,
        attributes: Some(A::CompleteWorkflowExecutionCommandAttributes(
            CompleteWorkflowExecutionCommandAttributes {
                result: Some(payloads(result)),
            },
        )),
        ..Default::default()
    }
}

fn app_failure(message: &str, non_retryable: bool) -> Failure {
    Failure {
        message: message.into(),
        failure_info: Some(FailureInfo::ApplicationFailureInfo(
            ApplicationFailureInfo {
                r#type: "Boom".into(),
                non_retryable,
                ..Default::default()
            },
        )),
        ..Default::default()
    }
}

use EventType::*;

#[test]
fn start_writes_started_and_first_workflow_task() {
    let mut h = Harness::new();
    let run = Harness::run_id(h.start("wf", "r1").unwrap());
    assert_eq!(
        h.types("wf", &run),
        vec![WorkflowExecutionStarted, WorkflowTaskScheduled]
    );
    let exec = h.execution("wf", &run);
    assert_eq!(
        exec.task_timeout,
        10 * SEC,
        "Temporal's default workflow task timeout"
    );
    assert_eq!(exec.status, WorkflowExecutionStatus::Running as i32);
}

#[test]
fn start_is_idempotent_by_request_id_and_rejects_a_second_run() {
    let mut h = Harness::new();
    let run = Harness::run_id(h.start("wf", "r1").unwrap());
    assert_eq!(Harness::run_id(h.start("wf", "r1").unwrap()), run);
    match h.start("wf", "r2") {
        Err(Rejection::WorkflowAlreadyStarted {
            run_id,
            start_request_id,
            ..
        }) => {
            assert_eq!(run_id, run);
            assert_eq!(start_request_id, "r1");
        }
        o => panic!("{o:?}"),
    }
}

#[test]
fn unknown_namespace_and_bad_ids_are_rejected() {
    let mut h = Harness::new();
    let mut req = ws::StartWorkflowExecutionRequest {
        namespace: "nope".into(),
        workflow_id: "wf".into(),
        workflow_type: Some(WorkflowType { name: "T".into() }),
        task_queue: Some(TaskQueue {
            name: "q".into(),
            ..Default::default()
        }),
        ..Default::default()
    };
    assert_eq!(
        h.start_with(req.clone()),
        Err(Rejection::NamespaceNotFound("nope".into()))
    );
    req.namespace = NS.into();
    req.workflow_id = String::new();
    assert!(matches!(
        h.start_with(req.clone()),
        Err(Rejection::InvalidArgument(_))
    ));
    req.workflow_id = "x".repeat(1001);
    assert!(matches!(
        h.start_with(req),
        Err(Rejection::InvalidArgument(_))
    ));
}

#[test]
fn activity_round_trip_writes_temporals_event_sequence() {
    let mut h = Harness::new();
    let run = Harness::run_id(h.start("wf", "r").unwrap());
    let (wt, started) = h.poll_workflow();
    assert_eq!(started, 3);
    h.complete_workflow_task(&wt, vec![schedule_activity("1", None)])
        .unwrap();
    let (at, resp) = h.poll_activity();
    assert_eq!(resp.attempt, 1);
    assert_eq!(resp.activity_type.unwrap().name, "act");
    h.complete_activity(&at, "done").unwrap();
    let (wt2, started2) = h.poll_workflow();
    assert_eq!(started2, 9);
    h.complete_workflow_task(&wt2, vec![complete_workflow("ok")])
        .unwrap();
    assert_eq!(
        h.types("wf", &run),
        vec![
            WorkflowExecutionStarted,
            WorkflowTaskScheduled,
            WorkflowTaskStarted,
            WorkflowTaskCompleted,
            ActivityTaskScheduled,
            ActivityTaskStarted,
            ActivityTaskCompleted,
            WorkflowTaskScheduled,
            WorkflowTaskStarted,
            WorkflowTaskCompleted,
            WorkflowExecutionCompleted,
        ]
    );
    let history = h.history("wf", &run);
    match &history[4].attributes {
        Some(EA::ActivityTaskScheduledEventAttributes(a)) => {
            assert_eq!(a.workflow_task_completed_event_id, 4);
            let p = a.retry_policy.as_ref().unwrap();
            assert_eq!(p.backoff_coefficient, 2.0, "default retry policy filled in");
        }
        o => panic!("{o:?}"),
    }
    match &history[6].attributes {
        Some(EA::ActivityTaskCompletedEventAttributes(a)) => {
            assert_eq!((a.scheduled_event_id, a.started_event_id), (5, 6));
        }
        o => panic!("{o:?}"),
    }
    for i in [2, 5] {
        let stamp = match &history[i].attributes {
            Some(EA::WorkflowTaskStartedEventAttributes(a)) => a.worker_version.clone(),
            Some(EA::ActivityTaskStartedEventAttributes(a)) => a.worker_version.clone(),
            o => panic!("{o:?}"),
        };
        assert_eq!(
            stamp.unwrap().build_id,
            "build-7",
            "started events carry the poller's build id"
        );
    }
    assert_eq!(
        h.execution("wf", &run).status,
        WorkflowExecutionStatus::Completed as i32
    );
}

#[test]
fn completion_while_a_workflow_task_runs_is_buffered_and_ids_fixed_up() {
    let mut h = Harness::new();
    let run = Harness::run_id(h.start("wf", "r").unwrap());
    let (wt, _) = h.poll_workflow();
    h.complete_workflow_task(
        &wt,
        vec![schedule_activity("1", None), schedule_activity("2", None)],
    )
    .unwrap();
    let (a1, _) = h.poll_activity();
    let (a2, _) = h.poll_activity();
    h.complete_activity(&a1, "one").unwrap();
    let (wt2, _) = h.poll_workflow(); // running now
    h.complete_activity(&a2, "two").unwrap(); // buffered
    assert_eq!(
        h.history("wf", &run).len(),
        10,
        "the second completion waits in the buffer"
    );
    h.complete_workflow_task(&wt2, vec![]).unwrap();
    let history = h.history("wf", &run);
    let types: Vec<_> = history
        .iter()
        .map(|e| EventType::try_from(e.event_type).unwrap())
        .collect();
    assert_eq!(
        &types[9..],
        &[
            WorkflowTaskStarted,
            WorkflowTaskCompleted,
            ActivityTaskStarted,
            ActivityTaskCompleted,
            WorkflowTaskScheduled
        ]
    );
    match &history[12].attributes {
        Some(EA::ActivityTaskCompletedEventAttributes(a)) => assert_eq!(a.started_event_id, 12),
        o => panic!("{o:?}"),
    }
}

#[test]
fn close_command_with_buffered_events_fails_the_task_as_unhandled_command() {
    let mut h = Harness::new();
    let run = Harness::run_id(h.start("wf", "r").unwrap());
    let (wt, _) = h.poll_workflow();
    h.complete_workflow_task(
        &wt,
        vec![schedule_activity("1", None), schedule_activity("2", None)],
    )
    .unwrap();
    let (a1, _) = h.poll_activity();
    let (a2, _) = h.poll_activity();
    h.complete_activity(&a1, "one").unwrap();
    let (wt2, _) = h.poll_workflow();
    h.complete_activity(&a2, "two").unwrap(); // arrives while the worker decides to close
    h.complete_workflow_task(&wt2, vec![complete_workflow("early")])
        .unwrap();
    assert_eq!(
        h.types("wf", &run)[9..],
        [
            WorkflowTaskStarted,
            WorkflowTaskFailed,
            ActivityTaskStarted,
            ActivityTaskCompleted,
            WorkflowTaskScheduled
        ]
    );
    assert_eq!(
        h.execution("wf", &run).status,
        WorkflowExecutionStatus::Running as i32
    );
    let (wt3, _) = h.poll_workflow();
    h.complete_workflow_task(&wt3, vec![complete_workflow("done")])
        .unwrap();
    assert_eq!(
        h.execution("wf", &run).status,
        WorkflowExecutionStatus::Completed as i32
    );
}

#[test]
fn cancelled_timer_never_fires() {
    let mut h = Harness::new();
    let run = Harness::run_id(h.start("wf", "r").unwrap());
    let (wt, _) = h.poll_workflow();
    h.complete_workflow_task(
        &wt,
        vec![start_timer("t1", 10), schedule_activity("1", None)],
    )
    .unwrap();
    let (at, _) = h.poll_activity();
    h.complete_activity(&at, "x").unwrap();
    let (wt2, _) = h.poll_workflow();
    let cancel = Command {
        command_type: CommandType::CancelTimer as i32,
        attributes: Some(A::CancelTimerCommandAttributes(
            CancelTimerCommandAttributes {
                timer_id: "t1".into(),
            },
        )),
        ..Default::default()
    };
    h.complete_workflow_task(&wt2, vec![cancel]).unwrap();
    assert_eq!(h.types("wf", &run).last(), Some(&TimerCanceled));
    h.advance(20 * SEC);
    h.fire_due();
    assert_eq!(
        h.types("wf", &run).last(),
        Some(&TimerCanceled),
        "a cancelled timer adds nothing"
    );
}

#[test]
fn timer_fires_only_when_due_and_not_after_cancel() {
    let mut h = Harness::new();
    let run = Harness::run_id(h.start("wf", "r").unwrap());
    let (wt, _) = h.poll_workflow();
    h.complete_workflow_task(&wt, vec![start_timer("t1", 2)])
        .unwrap();
    // The user timer is the last due time added (the workflow task's own timeout came first).
    let (fire_at, key) = h.timers.last().cloned().unwrap();
    // Proposed early (a skewed leader): apply refuses by the replicated clock.
    h.apply(Kind::FireTimers(FireTimers {
        keys: vec![key.clone()],
        next_run_ids: vec![],
    }))
    .unwrap();
    assert_eq!(h.types("wf", &run).last(), Some(&TimerStarted));
    assert!(
        h.state.0.contains_key(&key),
        "an early fire leaves the timer in place"
    );
    h.now = fire_at;
    assert_eq!(h.fire_due(), 1);
    let history = h.history("wf", &run);
    assert_eq!(
        EventType::try_from(history[5].event_type).unwrap(),
        TimerFired
    );
    match &history[5].attributes {
        Some(EA::TimerFiredEventAttributes(a)) => {
            assert_eq!((a.timer_id.as_str(), a.started_event_id), ("t1", 5))
        }
        o => panic!("{o:?}"),
    }
    assert_eq!(
        EventType::try_from(history[6].event_type).unwrap(),
        WorkflowTaskScheduled
    );
    assert!(
        !h.state.0.contains_key(&key),
        "fired timers leave the table"
    );
}

#[test]
fn a_completed_task_token_cannot_complete_twice() {
    let mut h = Harness::new();
    let run = Harness::run_id(h.start("wf", "r").unwrap());
    let (wt, _) = h.poll_workflow();
    h.complete_workflow_task(&wt, vec![schedule_activity("1", None)])
        .unwrap();
    let before = h.history("wf", &run).len();
    assert!(matches!(
        h.complete_workflow_task(&wt, vec![]),
        Err(Rejection::NotFound(_))
    ));
    let (at, _) = h.poll_activity();
    h.complete_activity(&at, "x").unwrap();
    assert!(matches!(
        h.complete_activity(&at, "again"),
        Err(Rejection::NotFound(_))
    ));
    assert_eq!(h.history("wf", &run).len(), before + 3);
    let mut forged = at.clone();
    forged.run_id = "other".into();
    assert!(matches!(
        h.complete_activity(&forged, "x"),
        Err(Rejection::NotFound(_))
    ));
}

#[test]
fn unknown_command_type_is_rejected_and_writes_nothing() {
    let mut h = Harness::new();
    let run = Harness::run_id(h.start("wf", "r").unwrap());
    let (wt, _) = h.poll_workflow();
    let bad = Command {
        command_type: 999,
        ..Default::default()
    };
    let before = h.state.clone();
    assert!(matches!(
        h.complete_workflow_task(&wt, vec![bad]),
        Err(Rejection::InvalidArgument(_))
    ));
    // Only the clock moved.
    let mut a = before.0.clone();
    let mut b = h.state.0.clone();
    a.remove(&keys::meta());
    b.remove(&keys::meta());
    assert_eq!(a, b);
    // The task is still valid afterwards.
    h.complete_workflow_task(&wt, vec![complete_workflow("ok")])
        .unwrap();
    assert_eq!(
        h.types("wf", &run).last(),
        Some(&WorkflowExecutionCompleted)
    );
}

/// The WorkflowTaskFailed event's cause and failure message.
fn task_failure(h: &Harness, wf: &str, run: &str) -> (i32, String) {
    h.history(wf, run)
        .iter()
        .find_map(|e| match &e.attributes {
            Some(EA::WorkflowTaskFailedEventAttributes(a)) => {
                Some((a.cause, a.failure.clone().unwrap_or_default().message))
            }
            _ => None,
        })
        .expect("a WorkflowTaskFailed event")
}

#[test]
fn a_bad_command_fails_the_workflow_task_and_keeps_nothing_of_the_completion() {
    let mut h = Harness::new();
    let run = Harness::run_id(h.start("wf", "r").unwrap());
    let (wt, _) = h.poll_workflow();
    let timers_before = h.timers.len();
    let refused = h.complete_workflow_task(&wt, vec![start_timer("t", 5), start_timer("t", 5)]);
    assert!(
        matches!(
            &refused,
            Err(Rejection::BadCommand {
                cause: WorkflowTaskFailedCause::StartTimerDuplicateId,
                ..
            })
        ),
        "{refused:?}"
    );
    use EventType::*;
    assert_eq!(
        h.types("wf", &run),
        vec![
            WorkflowExecutionStarted,
            WorkflowTaskScheduled,
            WorkflowTaskStarted,
            WorkflowTaskFailed
        ]
    );
    assert_eq!(
        task_failure(&h, "wf", &run),
        (
            WorkflowTaskFailedCause::StartTimerDuplicateId as i32,
            "StartTimerDuplicateId: Timer t is already pending.".to_string()
        )
    );
    // The valid first command was not kept either.
    assert!(h.execution("wf", &run).timers.is_empty());
    assert_eq!(h.timers.len(), timers_before);
    // The refused token is spent; the next attempt is queued at once, outside history.
    assert!(h.complete_workflow_task(&wt, vec![]).is_err());
    let (retry, _) = h.poll_workflow();
    assert_eq!(retry.attempt, 2);
    assert_eq!(h.types("wf", &run).len(), 4);
    h.complete_workflow_task(&retry, vec![complete_workflow("ok")])
        .unwrap();
    assert_eq!(
        h.types("wf", &run)[4..],
        [
            WorkflowTaskScheduled,
            WorkflowTaskStarted,
            WorkflowTaskCompleted,
            WorkflowExecutionCompleted
        ]
    );
}

#[test]
fn one_activity_past_the_pending_limit_fails_the_task_with_temporals_cause() {
    let mut h = Harness::new();
    let run = Harness::run_id(h.start("wf", "r").unwrap());
    let (wt, _) = h.poll_workflow();
    let too_many = (0..=2000)
        .map(|i| schedule_activity(&i.to_string(), None))
        .collect();
    assert!(matches!(
        h.complete_workflow_task(&wt, too_many),
        Err(Rejection::BadCommand {
            cause: WorkflowTaskFailedCause::PendingActivitiesLimitExceeded,
            ..
        })
    ));
    assert_eq!(
        task_failure(&h, "wf", &run).1,
        "PendingActivitiesLimitExceeded: the number of pending activities, 2000, has reached the per-workflow limit of 2000"
    );
    assert!(h.execution("wf", &run).activities.is_empty());
    assert!(!h.tasks.iter().any(|(k, _)| *k == TaskKind::Activity));
    // Exactly the limit is fine.
    let (retry, _) = h.poll_workflow();
    let at_limit = (0..2000)
        .map(|i| schedule_activity(&i.to_string(), None))
        .collect();
    h.complete_workflow_task(&retry, at_limit).unwrap();
    assert_eq!(h.execution("wf", &run).activities.len(), 2000);
}

#[test]
fn failing_activity_retries_without_history_then_fails_at_max_attempts() {
    let mut h = Harness::new();
    let run = Harness::run_id(h.start("wf", "r").unwrap());
    let (wt, _) = h.poll_workflow();
    let policy = RetryPolicy {
        maximum_attempts: 2,
        initial_interval: Some(prost_wkt_types::Duration {
            seconds: 1,
            nanos: 0,
        }),
        ..Default::default()
    };
    h.complete_workflow_task(&wt, vec![schedule_activity("1", Some(policy))])
        .unwrap();
    let (at, _) = h.poll_activity();
    let fail = |h: &mut Harness, t: &TaskToken| {
        h.apply(Kind::FailActivityTask(FailActivityTask {
            token: Some(t.clone()),
            request: Some(ws::RespondActivityTaskFailedRequest {
                failure: Some(app_failure("boom", false)),
                ..Default::default()
            }),
        }))
    };
    fail(&mut h, &at).unwrap();
    assert_eq!(
        h.history("wf", &run).len(),
        5,
        "a retried attempt writes no events"
    );
    assert!(h.tasks.is_empty(), "the retry waits for its backoff");
    h.advance(SEC);
    h.fire_due();
    let (at2, resp) = h.poll_activity();
    assert_eq!(resp.attempt, 2);
    fail(&mut h, &at2).unwrap();
    let history = h.history("wf", &run);
    match &history[6].attributes {
        Some(EA::ActivityTaskFailedEventAttributes(a)) => {
            assert_eq!(a.retry_state, RetryState::MaximumAttemptsReached as i32);
            assert_eq!(a.started_event_id, 6);
        }
        o => panic!("{o:?}"),
    }
    match &history[5].attributes {
        Some(EA::ActivityTaskStartedEventAttributes(a)) => {
            assert_eq!(a.attempt, 2);
            assert_eq!(a.last_failure.as_ref().unwrap().message, "boom");
        }
        o => panic!("{o:?}"),
    }
}

#[test]
fn non_retryable_failure_fails_at_once() {
    let mut h = Harness::new();
    let run = Harness::run_id(h.start("wf", "r").unwrap());
    let (wt, _) = h.poll_workflow();
    h.complete_workflow_task(&wt, vec![schedule_activity("1", None)])
        .unwrap();
    let (at, _) = h.poll_activity();
    h.apply(Kind::FailActivityTask(FailActivityTask {
        token: Some(at),
        request: Some(ws::RespondActivityTaskFailedRequest {
            failure: Some(app_failure("fatal", true)),
            ..Default::default()
        }),
    }))
    .unwrap();
    assert_eq!(
        h.types("wf", &run)[5..],
        [
            ActivityTaskStarted,
            ActivityTaskFailed,
            WorkflowTaskScheduled
        ]
    );
}

#[test]
fn activity_start_to_close_timeout_records_timed_out_when_out_of_attempts() {
    let mut h = Harness::new();
    let run = Harness::run_id(h.start("wf", "r").unwrap());
    let (wt, _) = h.poll_workflow();
    let policy = RetryPolicy {
        maximum_attempts: 1,
        ..Default::default()
    };
    h.complete_workflow_task(&wt, vec![schedule_activity("1", Some(policy))])
        .unwrap();
    let (at, _) = h.poll_activity();
    h.advance(11 * SEC);
    h.fire_due();
    assert_eq!(
        h.types("wf", &run)[5..],
        [
            ActivityTaskStarted,
            ActivityTaskTimedOut,
            WorkflowTaskScheduled
        ]
    );
    // The late completion is rejected.
    assert!(matches!(
        h.complete_activity(&at, "late"),
        Err(Rejection::NotFound(_))
    ));
}

#[test]
fn workflow_task_timeout_then_transient_retry_is_written_only_on_completion() {
    let mut h = Harness::new();
    let run = Harness::run_id(h.start("wf", "r").unwrap());
    let (wt, _) = h.poll_workflow();
    h.advance(11 * SEC);
    h.fire_due();
    assert_eq!(
        h.types("wf", &run),
        vec![
            WorkflowExecutionStarted,
            WorkflowTaskScheduled,
            WorkflowTaskStarted,
            WorkflowTaskTimedOut
        ]
    );
    assert!(matches!(
        h.complete_workflow_task(&wt, vec![]),
        Err(Rejection::NotFound(_))
    ));
    match h.poll(TaskKind::Workflow) {
        Outcome::WorkflowTaskStarted(s) => {
            assert_eq!(s.response.attempt, 2);
            assert_eq!(s.stored_through, 4);
            assert_eq!(
                s.transient_events
                    .iter()
                    .map(|e| e.event_id)
                    .collect::<Vec<_>>(),
                vec![5, 6]
            );
            let token = TaskToken::from_bytes(&s.response.task_token).unwrap();
            assert_eq!(
                h.history("wf", &run).len(),
                4,
                "transient events are not in history"
            );
            h.complete_workflow_task(&token, vec![complete_workflow("ok")])
                .unwrap();
        }
        o => panic!("{o:?}"),
    }
    assert_eq!(
        h.types("wf", &run)[4..],
        [
            WorkflowTaskScheduled,
            WorkflowTaskStarted,
            WorkflowTaskCompleted,
            WorkflowExecutionCompleted
        ]
    );
}

#[test]
fn run_timeout_closes_the_workflow() {
    let mut h = Harness::new();
    let run = Harness::run_id(
        h.start_with(ws::StartWorkflowExecutionRequest {
            namespace: NS.into(),
            workflow_id: "wf".into(),
            workflow_type: Some(WorkflowType { name: "T".into() }),
            task_queue: Some(TaskQueue {
                name: "q".into(),
                ..Default::default()
            }),
            workflow_run_timeout: Some(prost_wkt_types::Duration {
                seconds: 5,
                nanos: 0,
            }),
            ..Default::default()
        })
        .unwrap(),
    );
    assert_eq!(
        h.execution("wf", &run).task_timeout,
        5 * SEC,
        "task timeout capped by run timeout"
    );
    h.advance(6 * SEC);
    h.fire_due();
    assert_eq!(h.types("wf", &run).last(), Some(&WorkflowExecutionTimedOut));
    assert_eq!(
        h.execution("wf", &run).status,
        WorkflowExecutionStatus::TimedOut as i32
    );
}

#[test]
fn reuse_policy_reject_duplicate_and_allow_duplicate_after_close() {
    let mut h = Harness::new();
    let _ = Harness::run_id(h.start("wf", "r1").unwrap());
    let (wt, _) = h.poll_workflow();
    h.complete_workflow_task(&wt, vec![complete_workflow("ok")])
        .unwrap();
    let mut req = ws::StartWorkflowExecutionRequest {
        namespace: NS.into(),
        workflow_id: "wf".into(),
        workflow_type: Some(WorkflowType { name: "T".into() }),
        task_queue: Some(TaskQueue {
            name: "q".into(),
            ..Default::default()
        }),
        request_id: "r2".into(),
        workflow_id_reuse_policy: WorkflowIdReusePolicy::RejectDuplicate as i32,
        ..Default::default()
    };
    assert!(matches!(
        h.start_with(req.clone()),
        Err(Rejection::WorkflowAlreadyStarted { .. })
    ));
    req.workflow_id_reuse_policy = WorkflowIdReusePolicy::AllowDuplicateFailedOnly as i32;
    assert!(matches!(
        h.start_with(req.clone()),
        Err(Rejection::WorkflowAlreadyStarted { .. })
    ));
    req.workflow_id_reuse_policy = WorkflowIdReusePolicy::AllowDuplicate as i32;
    assert!(matches!(
        h.start_with(req),
        Ok(Outcome::WorkflowStarted { started: true, .. })
    ));
}

#[test]
fn a_follower_applying_the_decoded_log_writes_byte_identical_state() {
    let mut h = Harness::new();
    let run = Harness::run_id(h.start("wf", "r").unwrap());
    let (wt, _) = h.poll_workflow();
    h.complete_workflow_task(&wt, vec![schedule_activity("1", None), start_timer("t", 3)])
        .unwrap();
    let (at, _) = h.poll_activity();
    h.complete_activity(&at, "v").unwrap();
    h.advance(4 * SEC);
    h.fire_due();
    let _ = run;
    // A follower decodes each mutation from the log's bytes (fresh hash maps) and applies it.
    let mut replica = MemState::default();
    for m in &h.log {
        let from_log = Mutation::decode(m.encode_to_vec().as_slice()).unwrap();
        let applied = apply(&replica, &from_log);
        replica.apply_writes(applied.writes);
    }
    assert_eq!(replica, h.state);
}

fn signal(h: &mut Harness, wf: &str, request_id: &str) -> Result<Outcome, Rejection> {
    h.apply(Kind::SignalWorkflow(ws::SignalWorkflowExecutionRequest {
        namespace: NS.into(),
        workflow_execution: Some(
            temporalio_protos::temporal::api::common::v1::WorkflowExecution {
                workflow_id: wf.into(),
                run_id: String::new(),
            },
        ),
        signal_name: "go".into(),
        request_id: request_id.into(),
        ..Default::default()
    }))
}

#[test]
fn signal_during_a_running_workflow_task_is_buffered_then_delivered() {
    let mut h = Harness::new();
    let run = Harness::run_id(h.start("wf", "r").unwrap());
    let (wt, _) = h.poll_workflow();
    signal(&mut h, "wf", "s1").unwrap();
    signal(&mut h, "wf", "s1").unwrap(); // the same request again: once only
    assert_eq!(
        h.history("wf", &run).len(),
        3,
        "buffered while the task runs"
    );
    h.complete_workflow_task(&wt, vec![]).unwrap();
    assert_eq!(
        h.types("wf", &run)[3..],
        [
            WorkflowTaskCompleted,
            WorkflowExecutionSignaled,
            WorkflowTaskScheduled
        ]
    );
    let (wt2, _) = h.poll_workflow();
    h.complete_workflow_task(&wt2, vec![complete_workflow("ok")])
        .unwrap();
    assert!(
        matches!(signal(&mut h, "wf", "s2"), Err(Rejection::NotFound(_))),
        "closed runs take no signals"
    );
}

#[test]
fn signal_with_start_starts_a_run_with_the_signal_first() {
    let mut h = Harness::new();
    let m = |request_id: &str| {
        Kind::SignalWithStart(SignalWithStart {
            request: Some(ws::SignalWithStartWorkflowExecutionRequest {
                namespace: NS.into(),
                workflow_id: "sws".into(),
                workflow_type: Some(WorkflowType { name: "T".into() }),
                task_queue: Some(TaskQueue {
                    name: "q".into(),
                    ..Default::default()
                }),
                signal_name: "go".into(),
                request_id: request_id.into(),
                ..Default::default()
            }),
            run_id: format!("run-{request_id}"),
        })
    };
    let run = match h.apply(m("a")).unwrap() {
        Outcome::WorkflowStarted {
            run_id,
            started: true,
        } => run_id,
        o => panic!("{o:?}"),
    };
    assert_eq!(
        h.types("sws", &run),
        vec![
            WorkflowExecutionStarted,
            WorkflowExecutionSignaled,
            WorkflowTaskScheduled
        ]
    );
    match h.apply(m("b")).unwrap() {
        Outcome::WorkflowStarted {
            run_id,
            started: false,
        } => assert_eq!(run_id, run),
        o => panic!("{o:?}"),
    }
    assert_eq!(
        h.types("sws", &run).last(),
        Some(&WorkflowExecutionSignaled)
    );
}

/// RequestCancelWorkflowExecution of `workflow_id` (its current run when `run_id` is empty).
fn cancel_request(workflow_id: &str, run_id: &str) -> Kind {
    Kind::RequestCancelWorkflow(ws::RequestCancelWorkflowExecutionRequest {
        namespace: NS.into(),
        workflow_execution: Some(
            temporalio_protos::temporal::api::common::v1::WorkflowExecution {
                workflow_id: workflow_id.into(),
                run_id: run_id.into(),
            },
        ),
        ..Default::default()
    })
}

#[test]
fn cancel_request_then_cancel_command_closes_as_canceled() {
    let mut h = Harness::new();
    let run = Harness::run_id(h.start("wf", "r").unwrap());
    let (wt, _) = h.poll_workflow();
    h.complete_workflow_task(&wt, vec![]).unwrap();
    h.apply(cancel_request("wf", "")).unwrap();
    h.apply(cancel_request("wf", "")).unwrap();
    let (wt2, _) = h.poll_workflow();
    let canceled = Command {
        command_type: CommandType::CancelWorkflowExecution as i32,
        attributes: Some(A::CancelWorkflowExecutionCommandAttributes(
            Default::default(),
        )),
        ..Default::default()
    };
    h.complete_workflow_task(&wt2, vec![canceled]).unwrap();
    assert_eq!(
        h.types("wf", &run)[4..],
        [
            WorkflowExecutionCancelRequested,
            WorkflowTaskScheduled,
            WorkflowTaskStarted,
            WorkflowTaskCompleted,
            WorkflowExecutionCanceled
        ]
    );
    assert_eq!(
        h.execution("wf", &run).status,
        WorkflowExecutionStatus::Canceled as i32
    );
}

#[test]
fn terminate_fails_the_running_task_and_closes_the_run() {
    let mut h = Harness::new();
    let run = Harness::run_id(h.start("wf", "r").unwrap());
    let (wt, _) = h.poll_workflow();
    h.apply(Kind::TerminateWorkflow(
        ws::TerminateWorkflowExecutionRequest {
            namespace: NS.into(),
            workflow_execution: Some(
                temporalio_protos::temporal::api::common::v1::WorkflowExecution {
                    workflow_id: "wf".into(),
                    run_id: run.clone(),
                },
            ),
            reason: "stop".into(),
            ..Default::default()
        },
    ))
    .unwrap();
    assert_eq!(
        h.types("wf", &run)[3..],
        [WorkflowTaskFailed, WorkflowExecutionTerminated]
    );
    assert!(matches!(
        h.complete_workflow_task(&wt, vec![]),
        Err(Rejection::NotFound(_))
    ));
}

#[test]
fn cancelling_a_queued_activity_is_immediate_and_a_started_one_learns_by_heartbeat() {
    let mut h = Harness::new();
    let run = Harness::run_id(h.start("wf", "r").unwrap());
    let (wt, _) = h.poll_workflow();
    h.complete_workflow_task(
        &wt,
        vec![
            schedule_activity("queued", None),
            schedule_activity("running", None),
        ],
    )
    .unwrap();
    h.take_task(TaskKind::Activity); // the first activity's task is never polled
    let (running, _) = h.poll_activity();
    signal(&mut h, "wf", "wake").unwrap(); // a workflow task to send the cancels from
    let cancel = |id: i64| Command {
        command_type: CommandType::RequestCancelActivityTask as i32,
        attributes: Some(A::RequestCancelActivityTaskCommandAttributes(
            RequestCancelActivityTaskCommandAttributes {
                scheduled_event_id: id,
            },
        )),
        ..Default::default()
    };
    let (wt2, _) = h.poll_workflow();
    h.complete_workflow_task(&wt2, vec![cancel(5), cancel(6)])
        .unwrap();
    let types = h.types("wf", &run);
    assert!(types.ends_with(&[
        WorkflowTaskCompleted,
        ActivityTaskCancelRequested,
        ActivityTaskCanceled,
        ActivityTaskCancelRequested,
        WorkflowTaskScheduled
    ]));
    let hb = h.apply(Kind::RecordHeartbeat(RecordHeartbeat {
        token: Some(running.clone()),
        request: Some(Default::default()),
    }));
    assert_eq!(
        hb,
        Ok(Outcome::Heartbeat {
            cancel_requested: true,
            paused: false,
            reset: false,
        })
    );
    h.apply(Kind::CancelActivityTask(CancelActivityTask {
        token: Some(running),
        request: Some(Default::default()),
    }))
    .unwrap();
    assert_eq!(
        h.types("wf", &run)[types.len()..],
        [ActivityTaskStarted, ActivityTaskCanceled]
    );
}

fn schedule_activity_with(
    id: &str,
    edit: impl FnOnce(&mut ScheduleActivityTaskCommandAttributes),
) -> Command {
    let mut c = schedule_activity(
        id,
        Some(RetryPolicy {
            maximum_attempts: 1,
            ..Default::default()
        }),
    );
    if let Some(A::ScheduleActivityTaskCommandAttributes(a)) = &mut c.attributes {
        edit(a);
    }
    c
}

#[test]
fn heartbeat_timeout_is_pushed_back_by_heartbeats_then_fires() {
    let mut h = Harness::new();
    let run = Harness::run_id(h.start("wf", "r").unwrap());
    let (wt, _) = h.poll_workflow();
    let cmd = schedule_activity_with("hb", |a| {
        a.start_to_close_timeout = Some(prost_wkt_types::Duration {
            seconds: 60,
            nanos: 0,
        });
        a.heartbeat_timeout = Some(prost_wkt_types::Duration {
            seconds: 2,
            nanos: 0,
        });
    });
    h.complete_workflow_task(&wt, vec![cmd]).unwrap();
    let (at, _) = h.poll_activity();
    for _ in 0..3 {
        h.advance(SEC + SEC / 2);
        let beat = h.apply(Kind::RecordHeartbeat(RecordHeartbeat {
            token: Some(at.clone()),
            request: Some(Default::default()),
        }));
        assert_eq!(
            beat,
            Ok(Outcome::Heartbeat {
                cancel_requested: false,
                paused: false,
                reset: false,
            })
        );
        h.fire_due();
    }
    assert_eq!(h.types("wf", &run).len(), 5, "heartbeats keep it alive");
    h.advance(3 * SEC);
    h.fire_due();
    h.fire_due(); // the re-armed deadline
    let history = h.history("wf", &run);
    match &history[6].attributes {
        Some(EA::ActivityTaskTimedOutEventAttributes(a)) => {
            let info = match &a.failure.as_ref().unwrap().failure_info {
                Some(FailureInfo::TimeoutFailureInfo(t)) => t.timeout_type,
                o => panic!("{o:?}"),
            };
            assert_eq!(
                info,
                temporalio_protos::temporal::api::enums::v1::TimeoutType::Heartbeat as i32
            );
        }
        o => panic!("{o:?}"),
    }
}

#[test]
fn schedule_to_start_timeout_fires_for_an_activity_nobody_polls() {
    let mut h = Harness::new();
    let run = Harness::run_id(h.start("wf", "r").unwrap());
    let (wt, _) = h.poll_workflow();
    let cmd = schedule_activity_with("s2s", |a| {
        a.schedule_to_start_timeout = Some(prost_wkt_types::Duration {
            seconds: 3,
            nanos: 0,
        });
    });
    h.complete_workflow_task(&wt, vec![cmd]).unwrap();
    h.advance(4 * SEC);
    h.fire_due();
    assert_eq!(
        h.types("wf", &run)[5..],
        [ActivityTaskTimedOut, WorkflowTaskScheduled]
    );
    match &h.history("wf", &run)[5].attributes {
        Some(EA::ActivityTaskTimedOutEventAttributes(a)) => {
            assert_eq!(a.started_event_id, 0);
            assert_eq!(a.retry_state, RetryState::Timeout as i32);
        }
        o => panic!("{o:?}"),
    }
    // The queued task is stale now.
    assert_eq!(h.poll(TaskKind::Activity), Outcome::TaskStale);
}

#[test]
fn a_run_past_the_history_event_limit_is_terminated() {
    let mut h = Harness::new();
    let run = Harness::run_id(h.start("wf", "r").unwrap());
    let marker = |i: usize| Command {
        command_type: CommandType::RecordMarker as i32,
        attributes: Some(A::RecordMarkerCommandAttributes(
            RecordMarkerCommandAttributes {
                marker_name: format!("m{i}"),
                ..Default::default()
            },
        )),
        ..Default::default()
    };
    let mut rounds = 0;
    while h.execution("wf", &run).status == WorkflowExecutionStatus::Running as i32 {
        let (wt, _) = h.poll_workflow();
        let mut commands: Vec<Command> = (0..2000).map(marker).collect();
        commands.push(start_timer(&format!("t{rounds}"), 1));
        h.complete_workflow_task(&wt, commands).unwrap();
        h.advance(2 * SEC);
        h.fire_due();
        rounds += 1;
        assert!(rounds < 40, "the limit must stop the run");
    }
    let history = h.history("wf", &run);
    assert!(history.len() as i64 > 51_200 && history.len() < 51_200 + 2010);
    match &history.last().unwrap().attributes {
        Some(EA::WorkflowExecutionTerminatedEventAttributes(a)) => {
            assert_eq!(a.reason, "Workflow history count exceeds limit.")
        }
        o => panic!("{o:?}"),
    }
}

#[test]
fn cancel_during_retry_backoff_cancels_at_once_and_the_retry_never_runs() {
    let mut h = Harness::new();
    let run = Harness::run_id(h.start("wf", "r").unwrap());
    let (wt, _) = h.poll_workflow();
    let policy = RetryPolicy {
        initial_interval: Some(prost_wkt_types::Duration {
            seconds: 5,
            nanos: 0,
        }),
        ..Default::default()
    };
    h.complete_workflow_task(&wt, vec![schedule_activity("1", Some(policy))])
        .unwrap();
    let (at, _) = h.poll_activity();
    h.apply(Kind::FailActivityTask(FailActivityTask {
        token: Some(at),
        request: Some(ws::RespondActivityTaskFailedRequest {
            failure: Some(app_failure("flaky", false)),
            ..Default::default()
        }),
    }))
    .unwrap();
    signal(&mut h, "wf", "wake").unwrap();
    let (wt2, _) = h.poll_workflow();
    let cancel = Command {
        command_type: CommandType::RequestCancelActivityTask as i32,
        attributes: Some(A::RequestCancelActivityTaskCommandAttributes(
            RequestCancelActivityTaskCommandAttributes {
                scheduled_event_id: 5,
            },
        )),
        ..Default::default()
    };
    h.complete_workflow_task(&wt2, vec![cancel]).unwrap();
    let types = h.types("wf", &run);
    assert!(
        types.ends_with(&[
            ActivityTaskCancelRequested,
            ActivityTaskCanceled,
            WorkflowTaskScheduled
        ]),
        "{types:?}"
    );
    h.advance(10 * SEC);
    h.fire_due();
    assert!(
        h.tasks.iter().all(|(k, _)| *k != TaskKind::Activity),
        "the backoff timer dispatches nothing"
    );
    assert_eq!(h.types("wf", &run).len(), types.len());
}

#[test]
fn a_failed_run_with_a_retry_policy_continues_as_a_new_run_after_the_backoff() {
    let mut h = Harness::new();
    let mut req = ws::StartWorkflowExecutionRequest {
        namespace: NS.into(),
        workflow_id: "retry".into(),
        workflow_type: Some(WorkflowType { name: "T".into() }),
        task_queue: Some(TaskQueue {
            name: "q".into(),
            ..Default::default()
        }),
        retry_policy: Some(RetryPolicy {
            initial_interval: Some(prost_wkt_types::Duration {
                seconds: 2,
                nanos: 0,
            }),
            maximum_attempts: 2,
            ..Default::default()
        }),
        request_id: "r".into(),
        ..Default::default()
    };
    let first = Harness::run_id(h.start_with(req.clone()).unwrap());
    let fail = || Command {
        command_type: CommandType::FailWorkflowExecution as i32,
        attributes: Some(A::FailWorkflowExecutionCommandAttributes(
            FailWorkflowExecutionCommandAttributes {
                failure: Some(app_failure("try again", false)),
            },
        )),
        ..Default::default()
    };
    let (wt, _) = h.poll_workflow();
    h.complete_workflow_task(&wt, vec![fail()]).unwrap();
    let second = match &h.history("retry", &first).last().unwrap().attributes {
        Some(EA::WorkflowExecutionFailedEventAttributes(a)) => {
            assert_eq!(a.retry_state, RetryState::InProgress as i32);
            a.new_execution_run_id.clone()
        }
        o => panic!("{o:?}"),
    };
    assert_eq!(
        h.types("retry", &second),
        vec![WorkflowExecutionStarted],
        "no task until the backoff is over"
    );
    match &h.history("retry", &second)[0].attributes {
        Some(EA::WorkflowExecutionStartedEventAttributes(a)) => {
            assert_eq!(a.attempt, 2);
            assert_eq!(a.continued_execution_run_id, first);
            assert_eq!(a.first_execution_run_id, first);
        }
        o => panic!("{o:?}"),
    }
    // The start request's id still names the execution: now its current run.
    assert_eq!(Harness::run_id(h.start_with(req.clone()).unwrap()), second);
    signal(&mut h, "retry", "during-backoff").unwrap();
    assert_eq!(
        h.types("retry", &second),
        vec![WorkflowExecutionStarted, WorkflowExecutionSignaled],
        "a signal waits for the backoff too"
    );
    h.advance(3 * SEC);
    h.fire_due();
    let (wt, _) = h.poll_workflow();
    h.complete_workflow_task(&wt, vec![fail()]).unwrap();
    match &h.history("retry", &second).last().unwrap().attributes {
        Some(EA::WorkflowExecutionFailedEventAttributes(a)) => {
            assert_eq!(a.retry_state, RetryState::MaximumAttemptsReached as i32);
            assert!(a.new_execution_run_id.is_empty());
        }
        o => panic!("{o:?}"),
    }
    req.request_id = "other".into();
    assert!(
        h.start_with(req).is_ok(),
        "a closed execution's id can be reused"
    );
}

#[test]
fn delete_terminates_a_running_run_and_removes_it_with_its_history() {
    let mut h = Harness::new();
    let run = Harness::run_id(h.start("wf", "r").unwrap());
    let delete = |run_id: &str| {
        Kind::DeleteWorkflow(ws::DeleteWorkflowExecutionRequest {
            namespace: NS.into(),
            workflow_execution: Some(
                temporalio_protos::temporal::api::common::v1::WorkflowExecution {
                    workflow_id: "wf".into(),
                    run_id: run_id.into(),
                },
            ),
        })
    };
    let before = h.state.0.len();
    h.apply(delete("")).unwrap();
    assert!(
        h.history("wf", &run).is_empty(),
        "no event of the run is left"
    );
    assert!(!h.state.0.contains_key(&keys::execution(NS, "wf", &run)));
    assert!(!h.state.0.contains_key(&keys::current_run(NS, "wf")));
    assert!(h.state.0.len() < before);
    assert!(matches!(h.apply(delete(&run)), Err(Rejection::NotFound(_))));
    // The workflow task queued for the deleted run is consumed as stale when polled.
    assert!(matches!(h.poll(TaskKind::Workflow), Outcome::TaskStale));
    // The id is free: a new run starts.
    let again = Harness::run_id(h.start("wf", "r2").unwrap());
    assert_ne!(again, run);
}

fn continue_as_new(input: &str, backoff_secs: i64) -> Command {
    Command {
        command_type: CommandType::ContinueAsNewWorkflowExecution as i32,
        attributes: Some(A::ContinueAsNewWorkflowExecutionCommandAttributes(
            ContinueAsNewWorkflowExecutionCommandAttributes {
                input: Some(payloads(input)),
                backoff_start_interval: (backoff_secs > 0).then_some(prost_wkt_types::Duration {
                    seconds: backoff_secs,
                    nanos: 0,
                }),
                ..Default::default()
            },
        )),
        ..Default::default()
    }
}

/// The run id a run continued as (from its WorkflowExecutionContinuedAsNew event).
fn continued_as(h: &Harness, wf: &str, run: &str) -> String {
    match &h.history(wf, run).last().unwrap().attributes {
        Some(EA::WorkflowExecutionContinuedAsNewEventAttributes(a)) => {
            a.new_execution_run_id.clone()
        }
        o => panic!("not continued as new: {o:?}"),
    }
}

#[test]
fn continue_as_new_closes_the_run_and_starts_the_next_with_the_new_input() {
    use EventType::*;
    let mut h = Harness::new();
    let first = Harness::run_id(h.start("entity", "r").unwrap());
    let (wt, _) = h.poll_workflow();
    h.complete_workflow_task(&wt, vec![continue_as_new("state-2", 0)])
        .unwrap();
    assert_eq!(
        h.execution("entity", &first).status,
        WorkflowExecutionStatus::ContinuedAsNew as i32
    );
    let second = continued_as(&h, "entity", &first);
    assert_ne!(second, first);
    assert_eq!(
        h.types("entity", &second),
        vec![WorkflowExecutionStarted, WorkflowTaskScheduled],
        "the next run's first task is scheduled at once"
    );
    match &h.history("entity", &second)[0].attributes {
        Some(EA::WorkflowExecutionStartedEventAttributes(a)) => {
            assert_eq!(a.input, Some(payloads("state-2")));
            assert_eq!(a.continued_execution_run_id, first);
            assert_eq!(a.first_execution_run_id, first);
            assert_eq!(a.original_execution_run_id, second);
            assert_eq!(a.attempt, 1);
            assert_eq!(
                a.initiator,
                temporalio_protos::temporal::api::enums::v1::ContinueAsNewInitiator::Workflow
                    as i32
            );
            assert_eq!(a.workflow_type.as_ref().unwrap().name, "Greet");
        }
        o => panic!("{o:?}"),
    }
    // Signals by workflow id now reach the new run.
    signal(&mut h, "entity", "after").unwrap();
    assert!(h
        .types("entity", &second)
        .contains(&WorkflowExecutionSignaled));
    assert!(!h
        .types("entity", &first)
        .contains(&WorkflowExecutionSignaled));

    // A signal that arrives while the continuing task runs is not lost: the task fails as
    // UnhandledCommand and the run goes on with the signal in its history.
    let (wt, _) = h.poll_workflow();
    signal(&mut h, "entity", "during").unwrap();
    h.complete_workflow_task(&wt, vec![continue_as_new("state-3", 0)])
        .unwrap();
    let types = h.types("entity", &second);
    assert_eq!(types.last(), Some(&WorkflowTaskScheduled));
    assert!(types.contains(&WorkflowTaskFailed));
    assert_eq!(
        h.execution("entity", &second).status,
        WorkflowExecutionStatus::Running as i32
    );
}

#[test]
fn continue_as_new_with_a_backoff_schedules_the_first_task_when_it_is_over() {
    use EventType::*;
    let mut h = Harness::new();
    let first = Harness::run_id(h.start("later", "r").unwrap());
    let (wt, _) = h.poll_workflow();
    h.complete_workflow_task(&wt, vec![continue_as_new("again", 5)])
        .unwrap();
    let second = continued_as(&h, "later", &first);
    assert_eq!(h.types("later", &second), vec![WorkflowExecutionStarted]);
    h.advance(4 * SEC);
    h.fire_due();
    assert_eq!(h.types("later", &second), vec![WorkflowExecutionStarted]);
    h.advance(2 * SEC);
    h.fire_due();
    assert_eq!(
        h.types("later", &second),
        vec![WorkflowExecutionStarted, WorkflowTaskScheduled]
    );
}

#[test]
fn a_run_continuing_as_new_within_the_minimal_interval_holds_the_next_run_back() {
    use EventType::*;
    let mut h = Harness::new();
    let first = Harness::run_id(h.start("tight", "r").unwrap());
    let (wt, _) = h.poll_workflow();
    h.advance(SEC / 4);
    h.apply(Kind::CompleteWorkflowTask(CompleteWorkflowTask {
        next_run_id: "tight-2".into(),
        token: Some(wt),
        request: Some(ws::RespondWorkflowTaskCompletedRequest {
            commands: vec![continue_as_new("again", 0)],
            ..Default::default()
        }),
        continue_as_new_min_interval: SEC,
        ..Default::default()
    }))
    .unwrap();
    let second = continued_as(&h, "tight", &first);
    assert_eq!(second, "tight-2");
    match &h.history("tight", &second)[0].attributes {
        Some(EA::WorkflowExecutionStartedEventAttributes(a)) => {
            let backoff = a.first_workflow_task_backoff.unwrap();
            let held = backoff.seconds * SEC + backoff.nanos as i64;
            assert!(
                (SEC / 2..SEC).contains(&held),
                "held back for the rest of the second: {held} ns"
            );
        }
        o => panic!("{o:?}"),
    }
    let closing = h.history("tight", &first).pop().unwrap();
    match closing.attributes {
        Some(EA::WorkflowExecutionContinuedAsNewEventAttributes(a)) => {
            assert_eq!(
                a.backoff_start_interval, None,
                "the command's backoff, none"
            )
        }
        o => panic!("{o:?}"),
    }
    assert!(
        h.tasks.is_empty(),
        "no workflow task before the interval is over"
    );
    h.advance(SEC);
    h.fire_due();
    assert_eq!(
        h.types("tight", &second),
        vec![WorkflowExecutionStarted, WorkflowTaskScheduled]
    );
}

fn start_child(workflow_id: &str) -> Command {
    Command {
        command_type: CommandType::StartChildWorkflowExecution as i32,
        attributes: Some(A::StartChildWorkflowExecutionCommandAttributes(
            StartChildWorkflowExecutionCommandAttributes {
                workflow_id: workflow_id.into(),
                workflow_type: Some(WorkflowType {
                    name: "Child".into(),
                }),
                ..Default::default()
            },
        )),
        ..Default::default()
    }
}

#[test]
fn a_child_starts_after_the_completion_and_its_result_reaches_the_parent() {
    use EventType::*;
    let mut h = Harness::new();
    let parent = Harness::run_id(h.start("parent", "r").unwrap());
    let (wt, _) = h.poll_workflow();
    h.complete_workflow_task(&wt, vec![start_child("kid"), start_child("kid-2")])
        .unwrap();
    assert_eq!(
        h.types("parent", &parent)[4..],
        [
            StartChildWorkflowExecutionInitiated,
            StartChildWorkflowExecutionInitiated,
            ChildWorkflowExecutionStarted,
            ChildWorkflowExecutionStarted,
            WorkflowTaskScheduled
        ],
        "children start after every command of the completion, as on Temporal"
    );
    let parent_exec = h.execution("parent", &parent);
    let kid_run = parent_exec.children[0].run_id.clone();
    match &h.history("kid", &kid_run)[0].attributes {
        Some(EA::WorkflowExecutionStartedEventAttributes(a)) => {
            let p = a.parent_workflow_execution.clone().unwrap();
            assert_eq!(
                (p.workflow_id.as_str(), p.run_id.as_str()),
                ("parent", parent.as_str())
            );
            assert_eq!(a.parent_initiated_event_id, 5);
        }
        o => panic!("{o:?}"),
    }
    // The children's first tasks were queued before the parent's next one.
    let (kid_wt, _) = h.poll_workflow();
    assert_eq!(kid_wt.workflow_id, "kid");
    h.complete_workflow_task(&kid_wt, vec![complete_workflow("kid's result")])
        .unwrap();
    let (kid2_wt, _) = h.poll_workflow();
    assert_eq!(kid2_wt.workflow_id, "kid-2");
    h.complete_workflow_task(&kid2_wt, vec![]).unwrap();
    let completed = h
        .history("parent", &parent)
        .into_iter()
        .find_map(|e| match e.attributes {
            Some(EA::ChildWorkflowExecutionCompletedEventAttributes(a)) => Some(a),
            _ => None,
        })
        .expect("the child's result in the parent");
    assert_eq!(completed.result, Some(payloads("kid's result")));
    assert_eq!(completed.initiated_event_id, 5);
    assert_eq!(completed.started_event_id, 7);
    assert_eq!(h.execution("parent", &parent).children.len(), 1);
    // The parent completes; its other child (policy TERMINATE by default) is terminated and
    // writes nothing back to the closed parent.
    let (parent_wt, _) = h.poll_workflow();
    assert_eq!(parent_wt.workflow_id, "parent");
    h.complete_workflow_task(&parent_wt, vec![complete_workflow("done")])
        .unwrap();
    let kid2_run = h
        .execution("parent", &parent)
        .children
        .first()
        .map(|c| c.run_id.clone());
    assert!(
        kid2_run.is_none(),
        "a closed parent keeps no pending children"
    );
    let current: keel_engine::records::CurrentRun =
        prost::Message::decode(h.state.0[&keys::current_run(NS, "kid-2")].as_slice()).unwrap();
    assert_eq!(
        h.types("kid-2", &current.run_id).last(),
        Some(&WorkflowExecutionTerminated)
    );
    assert_eq!(
        h.types("parent", &parent).last(),
        Some(&WorkflowExecutionCompleted)
    );
}

#[test]
fn a_child_started_over_a_running_sibling_terminates_it_and_the_parent_records_both() {
    use EventType::*;
    let mut h = Harness::new();
    let parent = Harness::run_id(h.start("parent", "r").unwrap());
    let (wt, _) = h.poll_workflow();
    h.complete_workflow_task(&wt, vec![start_child("kid")])
        .unwrap();
    let first_kid = h.execution("parent", &parent).children[0].run_id.clone();
    let (_kid_wt, _) = h.poll_workflow(); // the kid's first task: it keeps running
    let (wt, _) = h.poll_workflow();
    assert_eq!(wt.workflow_id, "parent");
    let mut again = start_child("kid");
    if let Some(A::StartChildWorkflowExecutionCommandAttributes(a)) = &mut again.attributes {
        a.workflow_id_reuse_policy = WorkflowIdReusePolicy::TerminateIfRunning as i32;
    }
    h.complete_workflow_task(&wt, vec![again]).unwrap();
    assert_eq!(
        h.types("kid", &first_kid).last(),
        Some(&WorkflowExecutionTerminated)
    );
    let types = h.types("parent", &parent);
    assert_eq!(
        types[types.len() - 4..],
        [
            StartChildWorkflowExecutionInitiated,
            ChildWorkflowExecutionTerminated,
            ChildWorkflowExecutionStarted,
            WorkflowTaskScheduled
        ]
    );
    // Event ids stayed contiguous (the record in hand got the sibling's outcome).
    let ids: Vec<i64> = h
        .history("parent", &parent)
        .iter()
        .map(|e| e.event_id)
        .collect();
    assert_eq!(ids, (1..=ids.len() as i64).collect::<Vec<_>>());
    let exec = h.execution("parent", &parent);
    assert_eq!(exec.next_event_id, ids.len() as i64 + 1);
    assert_eq!(exec.children.len(), 1);
    assert_ne!(exec.children[0].run_id, first_kid);
}

fn signal_external(workflow_id: &str) -> Command {
    Command {
        command_type: CommandType::SignalExternalWorkflowExecution as i32,
        attributes: Some(A::SignalExternalWorkflowExecutionCommandAttributes(
            SignalExternalWorkflowExecutionCommandAttributes {
                execution: Some(WorkflowExecution {
                    workflow_id: workflow_id.into(),
                    run_id: String::new(),
                }),
                signal_name: "ping".into(),
                input: Some(payloads("hello")),
                ..Default::default()
            },
        )),
        ..Default::default()
    }
}

fn cancel_external(workflow_id: &str) -> Command {
    Command {
        command_type: CommandType::RequestCancelExternalWorkflowExecution as i32,
        attributes: Some(A::RequestCancelExternalWorkflowExecutionCommandAttributes(
            RequestCancelExternalWorkflowExecutionCommandAttributes {
                workflow_id: workflow_id.into(),
                reason: "asked by a workflow".into(),
                ..Default::default()
            },
        )),
        ..Default::default()
    }
}

#[test]
fn a_workflow_signals_and_cancels_others_after_its_completion() {
    use EventType::*;
    let mut h = Harness::new();
    let target = Harness::run_id(h.start("target", "r1").unwrap());
    let (target_wt, _) = h.poll_workflow();
    h.complete_workflow_task(&target_wt, vec![]).unwrap();
    let sender = Harness::run_id(h.start("sender", "r2").unwrap());
    let (wt, _) = h.poll_workflow();
    h.complete_workflow_task(
        &wt,
        vec![
            signal_external("target"),
            cancel_external("target"),
            signal_external("nobody"),
            cancel_external("nobody"),
            signal_external("sender"),
        ],
    )
    .unwrap();
    assert_eq!(
        h.types("sender", &sender)[4..],
        [
            SignalExternalWorkflowExecutionInitiated,
            RequestCancelExternalWorkflowExecutionInitiated,
            SignalExternalWorkflowExecutionInitiated,
            RequestCancelExternalWorkflowExecutionInitiated,
            SignalExternalWorkflowExecutionInitiated,
            ExternalWorkflowExecutionSignaled,
            ExternalWorkflowExecutionCancelRequested,
            SignalExternalWorkflowExecutionFailed,
            RequestCancelExternalWorkflowExecutionFailed,
            SignalExternalWorkflowExecutionFailed,
            WorkflowTaskScheduled,
        ],
        "requests are carried out after the completion's last command, in order"
    );
    let history = h.history("sender", &sender);
    match &history[11].attributes {
        Some(EA::SignalExternalWorkflowExecutionFailedEventAttributes(a)) => {
            assert_eq!(a.initiated_event_id, 7);
            assert_eq!(
                a.cause,
                SignalExternalWorkflowExecutionFailedCause::ExternalWorkflowExecutionNotFound
                    as i32
            );
        }
        o => panic!("{o:?}"),
    }
    match &history[13].attributes {
        Some(EA::SignalExternalWorkflowExecutionFailedEventAttributes(a)) => {
            assert_eq!(a.initiated_event_id, 9, "a workflow cannot signal itself");
        }
        o => panic!("{o:?}"),
    }
    // The target got the signal, then the cancellation request, both naming the sender.
    let target_history = h.history("target", &target);
    assert_eq!(
        h.types("target", &target)[4..],
        [
            WorkflowExecutionSignaled,
            WorkflowTaskScheduled,
            WorkflowExecutionCancelRequested
        ]
    );
    match &target_history[4].attributes {
        Some(EA::WorkflowExecutionSignaledEventAttributes(a)) => {
            assert_eq!(a.signal_name, "ping");
            assert_eq!(a.input, Some(payloads("hello")));
            assert_eq!(a.identity, "history-service");
            let from = a.external_workflow_execution.clone().unwrap();
            assert_eq!(
                (from.workflow_id.as_str(), from.run_id.as_str()),
                ("sender", sender.as_str())
            );
        }
        o => panic!("{o:?}"),
    }
    match &target_history[6].attributes {
        Some(EA::WorkflowExecutionCancelRequestedEventAttributes(a)) => {
            assert_eq!(a.cause, "asked by a workflow");
            assert_eq!(a.external_initiated_event_id, 6);
        }
        o => panic!("{o:?}"),
    }
    assert!(h.execution("target", &target).cancel_requested);
}

#[test]
fn a_cancel_request_for_a_closed_run_succeeds_and_changes_nothing_as_temporal_does() {
    let mut h = Harness::new();
    let run = Harness::run_id(h.start("wf", "r").unwrap());
    let (wt, _) = h.poll_workflow();
    h.complete_workflow_task(&wt, vec![complete_workflow("done")])
        .unwrap();
    let before = h.history("wf", &run).len();
    for run_id in ["", run.as_str()] {
        h.apply(cancel_request("wf", run_id)).unwrap();
    }
    assert_eq!(h.history("wf", &run).len(), before, "nothing written");
    assert!(!h.execution("wf", &run).cancel_requested);
}

#[test]
fn cancelling_a_closed_workflow_succeeds_and_signalling_it_fails() {
    use EventType::*;
    let mut h = Harness::new();
    let target = Harness::run_id(h.start("target", "r1").unwrap());
    let (target_wt, _) = h.poll_workflow();
    h.complete_workflow_task(&target_wt, vec![complete_workflow("done")])
        .unwrap();
    let before = h.history("target", &target).len();
    let sender = Harness::run_id(h.start("sender", "r2").unwrap());
    let (wt, _) = h.poll_workflow();
    h.complete_workflow_task(
        &wt,
        vec![cancel_external("target"), signal_external("target")],
    )
    .unwrap();
    assert_eq!(
        h.types("sender", &sender)[6..],
        [
            ExternalWorkflowExecutionCancelRequested,
            SignalExternalWorkflowExecutionFailed,
            WorkflowTaskScheduled
        ],
        "as on Temporal"
    );
    assert_eq!(
        h.history("target", &target).len(),
        before,
        "a closed run is left alone"
    );
}

#[test]
fn requests_in_a_closing_completion_are_not_carried_out() {
    let mut h = Harness::new();
    let target = Harness::run_id(h.start("target", "r1").unwrap());
    let (target_wt, _) = h.poll_workflow();
    h.complete_workflow_task(&target_wt, vec![]).unwrap();
    let before = h.history("target", &target).len();
    h.start("sender", "r2").unwrap();
    let (wt, _) = h.poll_workflow();
    h.complete_workflow_task(
        &wt,
        vec![signal_external("target"), complete_workflow("bye")],
    )
    .unwrap();
    assert_eq!(
        h.history("target", &target).len(),
        before,
        "Temporal drops a closed sender's requests"
    );
}

#[test]
fn one_signal_past_the_pending_limit_fails_the_task() {
    let mut h = Harness::new();
    let run = Harness::run_id(h.start("sender", "r").unwrap());
    let (wt, _) = h.poll_workflow();
    let commands = (0..2001).map(|_| signal_external("nobody")).collect();
    let refused = h.complete_workflow_task(&wt, commands);
    assert!(matches!(
        refused,
        Err(Rejection::BadCommand {
            cause: WorkflowTaskFailedCause::PendingSignalsLimitExceeded,
            ..
        })
    ));
    let (cause, _) = task_failure(&h, "sender", &run);
    assert_eq!(
        cause,
        WorkflowTaskFailedCause::PendingSignalsLimitExceeded as i32
    );
}

fn started_attributes(h: &Harness, wf: &str, run: &str) -> WorkflowExecutionStartedEventAttributes {
    match h.history(wf, run).remove(0).attributes {
        Some(EA::WorkflowExecutionStartedEventAttributes(a)) => a,
        o => panic!("{o:?}"),
    }
}

fn fail_workflow(message: &str) -> Command {
    Command {
        command_type: CommandType::FailWorkflowExecution as i32,
        attributes: Some(A::FailWorkflowExecutionCommandAttributes(
            FailWorkflowExecutionCommandAttributes {
                failure: Some(app_failure(message, true)),
            },
        )),
        ..Default::default()
    }
}

#[test]
fn a_cron_workflow_runs_on_its_schedule_through_a_failure_until_terminated() {
    use EventType::*;
    let mut h = Harness::new();
    let first = Harness::run_id(
        h.start_with(ws::StartWorkflowExecutionRequest {
            namespace: NS.into(),
            workflow_id: "cron".into(),
            workflow_type: Some(WorkflowType {
                name: "Tick".into(),
            }),
            task_queue: Some(TaskQueue {
                name: "q".into(),
                ..Default::default()
            }),
            input: Some(payloads("same input")),
            cron_schedule: "@every 2s".into(),
            ..Default::default()
        })
        .unwrap(),
    );
    let a = started_attributes(&h, "cron", &first);
    assert_eq!(a.cron_schedule, "@every 2s");
    assert_eq!(a.initiator, ContinueAsNewInitiator::CronSchedule as i32);
    assert_eq!(a.first_workflow_task_backoff.unwrap().seconds, 2);
    assert_eq!(
        h.types("cron", &first),
        [WorkflowExecutionStarted],
        "waits for the schedule"
    );
    h.advance(2 * SEC);
    h.fire_due();

    // Run 1 completes: run 2 starts with its result, after the schedule's next time.
    let (wt, _) = h.poll_workflow();
    h.complete_workflow_task(&wt, vec![complete_workflow("one")])
        .unwrap();
    let second = match h.history("cron", &first).pop().unwrap().attributes {
        Some(EA::WorkflowExecutionCompletedEventAttributes(a)) => a.new_execution_run_id,
        o => panic!("{o:?}"),
    };
    assert!(!second.is_empty());
    let a = started_attributes(&h, "cron", &second);
    assert_eq!(a.initiator, ContinueAsNewInitiator::CronSchedule as i32);
    assert_eq!(a.last_completion_result, Some(payloads("one")));
    assert_eq!(a.input, Some(payloads("same input")));
    assert_eq!(a.continued_execution_run_id, first);
    assert_eq!(a.first_workflow_task_backoff.unwrap().seconds, 2);
    assert!(h.tasks.is_empty(), "no task before the schedule");
    h.advance(2 * SEC);
    h.fire_due();

    // Run 2 fails (no retry policy): the schedule goes on, run 3 sees the failure and the
    // last result before it.
    let (wt, _) = h.poll_workflow();
    h.complete_workflow_task(&wt, vec![fail_workflow("tick failed")])
        .unwrap();
    let third = match h.history("cron", &second).pop().unwrap().attributes {
        Some(EA::WorkflowExecutionFailedEventAttributes(a)) => {
            assert_eq!(a.retry_state, RetryState::RetryPolicyNotSet as i32);
            a.new_execution_run_id
        }
        o => panic!("{o:?}"),
    };
    let a = started_attributes(&h, "cron", &third);
    assert_eq!(a.continued_failure.unwrap().message, "tick failed");
    assert_eq!(a.last_completion_result, Some(payloads("one")));

    // Terminated during its wait: the schedule ends.
    h.apply(Kind::TerminateWorkflow(
        ws::TerminateWorkflowExecutionRequest {
            namespace: NS.into(),
            workflow_execution: Some(WorkflowExecution {
                workflow_id: "cron".into(),
                run_id: String::new(),
            }),
            reason: "enough".into(),
            ..Default::default()
        },
    ))
    .unwrap();
    assert_eq!(
        h.types("cron", &third),
        [WorkflowExecutionStarted, WorkflowExecutionTerminated]
    );
    h.advance(10 * SEC);
    h.fire_due();
    assert!(h.tasks.is_empty(), "nothing runs after the terminate");
}

#[test]
fn a_start_delay_holds_the_first_task_and_bad_cron_schedules_are_refused() {
    let mut h = Harness::new();
    let req = |cron: &str, delay: i64| ws::StartWorkflowExecutionRequest {
        namespace: NS.into(),
        workflow_id: "delayed".into(),
        workflow_type: Some(WorkflowType { name: "W".into() }),
        task_queue: Some(TaskQueue {
            name: "q".into(),
            ..Default::default()
        }),
        cron_schedule: cron.into(),
        workflow_start_delay: (delay > 0).then_some(prost_wkt_types::Duration {
            seconds: delay,
            nanos: 0,
        }),
        ..Default::default()
    };
    for (cron, delay, message) in [
        ("61 * * * *", 0, "invalid CronSchedule."),
        (
            "0 0 30 2 *",
            0,
            "invalid CronSchedule, no time can be found to satisfy the schedule",
        ),
        (
            "* * * * *",
            5,
            "CronSchedule and WorkflowStartDelay may not be used together.",
        ),
    ] {
        assert_eq!(
            h.start_with(req(cron, delay)),
            Err(Rejection::InvalidArgument(message.into()))
        );
    }
    let run = Harness::run_id(h.start_with(req("", 5)).unwrap());
    assert_eq!(
        started_attributes(&h, "delayed", &run)
            .first_workflow_task_backoff
            .unwrap()
            .seconds,
        5
    );
    h.advance(4 * SEC);
    h.fire_due();
    assert!(h.tasks.is_empty(), "the delay is not over");
    h.advance(SEC);
    h.fire_due();
    h.poll_workflow();
}

fn complete_sticky(h: &mut Harness, token: &TaskToken, sticky_queue: &str) {
    h.apply(Kind::CompleteWorkflowTask(CompleteWorkflowTask {
        next_run_id: "next".into(),
        child_run_ids: vec![],
        eager_activity_request_ids: vec![],
        continue_as_new_min_interval: 0,
        token: Some(token.clone()),
        request: Some(ws::RespondWorkflowTaskCompletedRequest {
            identity: "worker".into(),
            sticky_attributes: Some(StickyExecutionAttributes {
                worker_task_queue: Some(TaskQueue {
                    name: sticky_queue.into(),
                    kind: TaskQueueKind::Sticky as i32,
                    normal_name: "q".into(),
                }),
                schedule_to_start_timeout: Some(prost_wkt_types::Duration {
                    seconds: 5,
                    nanos: 0,
                }),
            }),
            ..Default::default()
        }),
    }))
    .unwrap();
}

/// The queue of the last workflow task queued.
fn last_task_queue(h: &Harness) -> String {
    let (_, key) = h.tasks.last().expect("a queued task");
    keys::decode_task(key).unwrap().1
}

fn scheduled_queue(event: &HistoryEvent) -> TaskQueue {
    match &event.attributes {
        Some(EA::WorkflowTaskScheduledEventAttributes(a)) => a.task_queue.clone().unwrap(),
        o => panic!("{o:?}"),
    }
}

#[test]
fn a_sticky_worker_gets_only_new_events_and_a_task_it_does_not_take_moves_on() {
    use EventType::*;
    let mut h = Harness::new();
    let run = Harness::run_id(h.start("wf", "r").unwrap());
    let (wt, _) = h.poll_workflow();
    complete_sticky(&mut h, &wt, "worker-1-sticky");
    signal(&mut h, "wf", "s1").unwrap();
    let history = h.history("wf", &run);
    let queue = scheduled_queue(&history[5]);
    assert_eq!(
        (queue.name.as_str(), queue.kind, queue.normal_name.as_str()),
        ("worker-1-sticky", TaskQueueKind::Sticky as i32, "q")
    );
    assert_eq!(last_task_queue(&h), "worker-1-sticky");
    match h.poll(TaskKind::Workflow) {
        Outcome::WorkflowTaskStarted(s) => {
            assert_eq!(
                s.history_from, 4,
                "only the events after the last started task"
            );
            assert_eq!(s.stored_through, 7);
        }
        o => panic!("{o:?}"),
    }
    let wt = TaskToken {
        target: h.execution("wf", &run).workflow_task.unwrap().seq as i64,
        ..wt
    };
    complete_sticky(&mut h, &wt, "worker-1-sticky");

    // Nobody takes the next sticky task: after 5 s it times out and goes to the normal queue.
    signal(&mut h, "wf", "s2").unwrap();
    h.advance(5 * SEC);
    h.fire_due();
    assert_eq!(
        h.types("wf", &run)[8..],
        [
            WorkflowExecutionSignaled,
            WorkflowTaskScheduled,
            WorkflowTaskTimedOut,
            WorkflowTaskScheduled
        ]
    );
    let history = h.history("wf", &run);
    match &history[10].attributes {
        Some(EA::WorkflowTaskTimedOutEventAttributes(a)) => {
            assert_eq!(a.timeout_type, TimeoutType::ScheduleToStart as i32);
            assert_eq!((a.scheduled_event_id, a.started_event_id), (10, 0));
        }
        o => panic!("{o:?}"),
    }
    assert_eq!(scheduled_queue(&history[11]).name, "q");
    assert_eq!(last_task_queue(&h), "q");
    assert!(h.execution("wf", &run).sticky_queue.is_empty());
    // The stale sticky task is dropped when polled; the normal one starts with the whole history.
    h.tasks
        .retain(|(_, k)| keys::decode_task(k).unwrap().1 == "q");
    match h.poll(TaskKind::Workflow) {
        Outcome::WorkflowTaskStarted(s) => assert_eq!(s.history_from, 1),
        o => panic!("{o:?}"),
    }
}

#[test]
fn a_worker_that_shuts_down_hands_its_waiting_tasks_to_the_normal_queue() {
    let mut h = Harness::new();
    let run = Harness::run_id(h.start("wf", "r").unwrap());
    let (wt, _) = h.poll_workflow();
    complete_sticky(&mut h, &wt, "worker-2-sticky");
    signal(&mut h, "wf", "s1").unwrap();
    let (_, sticky_task) = h.tasks.pop().unwrap();
    let events = h.history("wf", &run).len();
    h.apply(Kind::StickyWorkerGone(StickyWorkerGone {
        namespace: NS.into(),
        sticky_queue: "worker-2-sticky".into(),
        task_keys: vec![sticky_task],
    }))
    .unwrap();
    assert_eq!(last_task_queue(&h), "q", "moved to the normal queue");
    assert_eq!(
        h.history("wf", &run).len(),
        events,
        "no event, as on Temporal"
    );
    match h.poll(TaskKind::Workflow) {
        Outcome::WorkflowTaskStarted(s) => assert_eq!(s.history_from, 1, "the whole history"),
        o => panic!("{o:?}"),
    }
    // The worker's queue is gone: a task scheduled later still names it (as on Temporal)
    // but is dispatched to the normal queue with the whole history.
    let wt = TaskToken {
        target: h.execution("wf", &run).workflow_task.unwrap().seq as i64,
        ..wt
    };
    complete_sticky(&mut h, &wt, "worker-2-sticky");
    signal(&mut h, "wf", "s2").unwrap();
    let history = h.history("wf", &run);
    assert_eq!(
        scheduled_queue(history.last().unwrap()).name,
        "worker-2-sticky"
    );
    assert_eq!(last_task_queue(&h), "q");
    assert!(h.execution("wf", &run).sticky_queue.is_empty());
    match h.poll(TaskKind::Workflow) {
        Outcome::WorkflowTaskStarted(s) => assert_eq!(s.history_from, 1),
        o => panic!("{o:?}"),
    }
}

fn search_attribute(json: &str) -> Payload {
    Payload {
        metadata: [("encoding".to_string(), b"json/plain".to_vec())].into(),
        data: json.as_bytes().to_vec(),
        ..Default::default()
    }
}

fn null_payload() -> Payload {
    Payload {
        metadata: [("encoding".to_string(), b"binary/null".to_vec())].into(),
        ..Default::default()
    }
}

fn upsert(fields: Vec<(&str, Payload)>) -> Command {
    Command {
        command_type: CommandType::UpsertWorkflowSearchAttributes as i32,
        attributes: Some(A::UpsertWorkflowSearchAttributesCommandAttributes(
            UpsertWorkflowSearchAttributesCommandAttributes {
                search_attributes: Some(SearchAttributes {
                    indexed_fields: fields
                        .into_iter()
                        .map(|(k, v)| (k.to_string(), v))
                        .collect(),
                }),
            },
        )),
        ..Default::default()
    }
}

#[test]
fn search_attributes_are_checked_stamped_upserted_and_removed() {
    let mut h = Harness::new();
    h.apply(Kind::AddSearchAttributes(
        temporalio_protos::temporal::api::operatorservice::v1::AddSearchAttributesRequest {
            search_attributes: [("Status".to_string(), IndexedValueType::Keyword as i32)].into(),
            namespace: NS.into(),
        },
    ))
    .unwrap();
    let start = |sa: Vec<(&str, Payload)>| ws::StartWorkflowExecutionRequest {
        namespace: NS.into(),
        workflow_id: "sa".into(),
        workflow_type: Some(WorkflowType { name: "W".into() }),
        task_queue: Some(TaskQueue {
            name: "q".into(),
            ..Default::default()
        }),
        search_attributes: Some(SearchAttributes {
            indexed_fields: sa.into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
        }),
        ..Default::default()
    };
    assert_eq!(
        h.start_with(start(vec![("Status", search_attribute("5"))])),
        Err(Rejection::InvalidArgument(
            "invalid value for search attribute Status of type Keyword: 5".into()
        ))
    );
    let run = Harness::run_id(
        h.start_with(start(vec![("Status", search_attribute(r#""new""#))]))
            .unwrap(),
    );
    let stored = h.execution("sa", &run).search_attributes.unwrap();
    assert_eq!(
        stored.indexed_fields["Status"].metadata["type"], b"Keyword",
        "stamped with its type, as Temporal does"
    );
    let (wt, _) = h.poll_workflow();
    h.complete_workflow_task(
        &wt,
        vec![upsert(vec![
            ("Status", null_payload()),
            ("TemporalChangeVersion", search_attribute(r#"["patch-1"]"#)),
        ])],
    )
    .unwrap();
    let fields = h
        .execution("sa", &run)
        .search_attributes
        .unwrap()
        .indexed_fields;
    assert!(!fields.contains_key("Status"), "a null value removes");
    assert_eq!(fields["TemporalChangeVersion"].data, br#"["patch-1"]"#);
    // An unregistered attribute fails the task with Temporal's cause and message.
    signal(&mut h, "sa", "s1").unwrap();
    let (wt, _) = h.poll_workflow();
    let refused =
        h.complete_workflow_task(&wt, vec![upsert(vec![("Nope", search_attribute("1"))])]);
    assert_eq!(
        refused,
        Err(Rejection::BadCommand {
            cause: WorkflowTaskFailedCause::BadSearchAttributes,
            message: "Namespace default has no mapping defined for search attribute Nope".into()
        })
    );
}

// ---- Workflow updates ----

fn update_message(id: &str, body: impl Message, type_name: &str) -> ProtocolMessage {
    ProtocolMessage {
        id: id.into(),
        protocol_instance_id: "u1".into(),
        body: Some(prost_wkt_types::Any {
            type_url: format!("type.googleapis.com/temporal.api.update.v1.{type_name}"),
            value: body.encode_to_vec(),
        }),
        sequencing_id: None,
    }
}

fn update_request() -> update::Request {
    update::Request {
        meta: Some(update::Meta {
            update_id: "u1".into(),
            identity: "caller".into(),
        }),
        input: Some(update::Input {
            name: "add".into(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn protocol_command(message_id: &str) -> Command {
    Command {
        command_type: CommandType::ProtocolMessage as i32,
        attributes: Some(A::ProtocolMessageCommandAttributes(
            ProtocolMessageCommandAttributes {
                message_id: message_id.into(),
            },
        )),
        ..Default::default()
    }
}

fn complete_with_messages(
    h: &mut Harness,
    token: &TaskToken,
    commands: Vec<Command>,
    messages: Vec<ProtocolMessage>,
) -> Result<Outcome, Rejection> {
    h.apply(Kind::CompleteWorkflowTask(CompleteWorkflowTask {
        token: Some(token.clone()),
        request: Some(ws::RespondWorkflowTaskCompletedRequest {
            commands,
            messages,
            identity: "worker".into(),
            ..Default::default()
        }),
        ..Default::default()
    }))
}

/// A started run whose first task completed, with a speculative task scheduled for an update.
fn run_with_update_scheduled(h: &mut Harness) -> String {
    let run = Harness::run_id(h.start("wf", "r").unwrap());
    let (wt, _) = h.poll_workflow();
    h.complete_workflow_task(&wt, vec![]).unwrap();
    h.apply(Kind::ScheduleUpdateTask(ScheduleUpdateTask {
        namespace: NS.into(),
        workflow_id: "wf".into(),
        run_id: run.clone(),
    }))
    .unwrap();
    run
}

/// The same, with the speculative task polled.
fn run_with_update_task(h: &mut Harness) -> (String, TaskToken, i64) {
    let run = run_with_update_scheduled(h);
    let (token, started) = h.poll_workflow();
    (run, token, started)
}

#[test]
fn a_speculative_task_answered_only_with_rejections_leaves_no_trace() {
    let mut h = Harness::new();
    let (run, token, started) = run_with_update_task(&mut h);
    assert_eq!(started, 6, "its events get ids after the stored ones");
    assert_eq!(h.history("wf", &run).len(), 4, "but are not stored");
    let rejection = update::Rejection {
        rejected_request_message_id: "u1/request".into(),
        failure: Some(app_failure("no", true)),
        ..Default::default()
    };
    let outcome = complete_with_messages(
        &mut h,
        &token,
        vec![],
        vec![update_message("u1/reject", rejection, "Rejection")],
    )
    .unwrap();
    assert_eq!(
        outcome,
        Outcome::WorkflowTaskDiscarded {
            reset_history_event_id: 3
        }
    );
    assert_eq!(h.history("wf", &run).len(), 4);
    let exec = h.execution("wf", &run);
    assert!(exec.workflow_task.is_none() && exec.updates.is_empty());
    assert_eq!(exec.last_completed_started_event_id, 3);
}

#[test]
fn an_accepted_and_completed_update_writes_its_events_and_points_at_them() {
    let mut h = Harness::new();
    let (run, token, _) = run_with_update_task(&mut h);
    let acceptance = update::Acceptance {
        accepted_request_message_id: "u1/request".into(),
        accepted_request_sequencing_event_id: 5,
        accepted_request: Some(update_request()),
    };
    let response = update::Response {
        meta: update_request().meta,
        outcome: Some(update::Outcome {
            value: Some(update::outcome::Value::Success(payloads("7"))),
        }),
    };
    complete_with_messages(
        &mut h,
        &token,
        vec![
            protocol_command("u1/accept"),
            protocol_command("u1/complete"),
        ],
        vec![
            update_message("u1/accept", acceptance, "Acceptance"),
            update_message("u1/complete", response, "Response"),
        ],
    )
    .unwrap();
    assert_eq!(
        &h.types("wf", &run)[4..],
        &[
            WorkflowTaskScheduled,
            WorkflowTaskStarted,
            WorkflowTaskCompleted,
            WorkflowExecutionUpdateAccepted,
            WorkflowExecutionUpdateCompleted
        ]
    );
    let info = &h.execution("wf", &run).updates["u1"];
    assert_eq!((info.accepted_event_id, info.completed_event_id), (8, 9));
    match &h.history("wf", &run)[8].attributes {
        Some(EA::WorkflowExecutionUpdateCompletedEventAttributes(a)) => {
            assert_eq!(a.accepted_event_id, 8)
        }
        o => panic!("{o:?}"),
    }
}

#[test]
fn an_event_while_a_speculative_task_waits_makes_it_a_normal_task() {
    let mut h = Harness::new();
    let run = run_with_update_scheduled(&mut h);
    signal(&mut h, "wf", "s1").unwrap();
    // As on Temporal: the task's scheduled event is written before the signal.
    assert_eq!(
        &h.types("wf", &run)[4..],
        &[WorkflowTaskScheduled, WorkflowExecutionSignaled]
    );
    let (token, _) = h.poll_workflow();
    let rejection = update::Rejection::default();
    let outcome = complete_with_messages(
        &mut h,
        &token,
        vec![],
        vec![update_message("u1/reject", rejection, "Rejection")],
    )
    .unwrap();
    assert_eq!(
        outcome,
        Outcome::Done,
        "the signal keeps the task in history"
    );
    assert_eq!(
        &h.types("wf", &run)[6..],
        &[WorkflowTaskStarted, WorkflowTaskCompleted]
    );
}

#[test]
fn a_response_to_an_update_never_accepted_fails_the_task() {
    let mut h = Harness::new();
    let (run, token, _) = run_with_update_task(&mut h);
    let refused = complete_with_messages(
        &mut h,
        &token,
        vec![protocol_command("u1/complete")],
        vec![update_message(
            "u1/complete",
            update::Response::default(),
            "Response",
        )],
    );
    assert!(
        matches!(&refused, Err(Rejection::BadCommand { .. })),
        "{refused:?}"
    );
    let (cause, message) = task_failure(&h, "wf", &run);
    assert_eq!(
        cause,
        WorkflowTaskFailedCause::BadUpdateWorkflowExecutionMessage as i32
    );
    assert!(message.contains("not accepted"), "{message}");
    assert!(h.execution("wf", &run).updates.is_empty());
}

#[test]
fn an_activity_outcome_while_a_speculative_task_waits_is_delivered() {
    let mut h = Harness::new();
    let run = Harness::run_id(h.start("wf", "r").unwrap());
    let (wt, _) = h.poll_workflow();
    h.complete_workflow_task(&wt, vec![schedule_activity("1", None)])
        .unwrap();
    let (activity, _) = h.poll_activity();
    h.apply(Kind::ScheduleUpdateTask(ScheduleUpdateTask {
        namespace: NS.into(),
        workflow_id: "wf".into(),
        run_id: run.clone(),
    }))
    .unwrap();
    h.complete_activity(&activity, "done").unwrap();
    assert_eq!(
        &h.types("wf", &run)[5..],
        &[
            WorkflowTaskScheduled,
            ActivityTaskStarted,
            ActivityTaskCompleted
        ]
    );
    let (token, _) = h.poll_workflow();
    let outcome = complete_with_messages(
        &mut h,
        &token,
        vec![],
        vec![update_message(
            "u1/reject",
            update::Rejection::default(),
            "Rejection",
        )],
    )
    .unwrap();
    assert_eq!(
        outcome,
        Outcome::Done,
        "the activity's outcome was delivered"
    );
}

// ---- Retention ----

#[test]
fn a_closed_run_is_deleted_when_its_retention_period_is_over() {
    const DAY: i64 = 86_400 * SEC;
    let mut h = Harness::new();
    h.apply(Kind::UpdateNamespace(ws::UpdateNamespaceRequest {
        namespace: NS.into(),
        config: Some(
            temporalio_protos::temporal::api::namespace::v1::NamespaceConfig {
                workflow_execution_retention_ttl: Some(prost_wkt_types::Duration {
                    seconds: 86_400,
                    nanos: 0,
                }),
                ..Default::default()
            },
        ),
        ..Default::default()
    }))
    .unwrap();
    let run = Harness::run_id(h.start("wf", "r").unwrap());
    let (wt, _) = h.poll_workflow();
    h.complete_workflow_task(&wt, vec![complete_workflow("done")])
        .unwrap();
    let kept = |h: &Harness| h.state.0.contains_key(&keys::execution(NS, "wf", &run));
    h.advance(DAY - 10 * SEC);
    h.fire_due();
    assert!(kept(&h), "readable for the whole retention period");
    assert_eq!(h.history("wf", &run).len(), 5);
    h.advance(20 * SEC);
    h.fire_due();
    assert!(!kept(&h), "deleted after it");
    assert!(h.history("wf", &run).is_empty());
    assert!(!h.state.0.contains_key(&keys::current_run(NS, "wf")));
}

// ---- Reset ----

fn reset(h: &mut Harness, run: &str, finish: i64, request_id: &str) -> Result<Outcome, Rejection> {
    h.apply(Kind::ResetWorkflow(ResetWorkflow {
        request: Some(ws::ResetWorkflowExecutionRequest {
            namespace: NS.into(),
            workflow_execution: Some(WorkflowExecution {
                workflow_id: "wf".into(),
                run_id: run.into(),
            }),
            reason: "try again".into(),
            workflow_task_finish_event_id: finish,
            request_id: request_id.into(),
            ..Default::default()
        }),
        new_run_id: format!("reset-{request_id}"),
    }))
}

#[test]
fn a_reset_starts_a_new_run_from_a_workflow_task_with_its_pending_work() {
    let mut h = Harness::new();
    let base = Harness::run_id(h.start("wf", "r").unwrap());
    let (wt, _) = h.poll_workflow();
    h.complete_workflow_task(
        &wt,
        vec![schedule_activity("1", None), start_timer("t", 60)],
    )
    .unwrap();
    let (_activity, _) = h.poll_activity();
    signal(&mut h, "wf", "s1").unwrap(); // event 7: a second task while both are pending
    let (wt2, _) = h.poll_workflow();
    h.complete_workflow_task(&wt2, vec![]).unwrap(); // events 8, 9, 10
    signal(&mut h, "wf", "s2").unwrap(); // after the reset point: reapplied

    assert!(matches!(
        reset(&mut h, &base, 8, "bad"),
        Err(Rejection::InvalidArgument(m)) if m.contains("Can only reset workflow to event ID")
    ));
    let new_run = Harness::run_id(reset(&mut h, &base, 10, "x").unwrap());
    assert_eq!(new_run, "reset-x");
    assert_eq!(
        h.execution("wf", &base).status,
        WorkflowExecutionStatus::Terminated as i32
    );
    use EventType::*;
    assert_eq!(
        h.types("wf", &new_run),
        vec![
            WorkflowExecutionStarted,
            WorkflowTaskScheduled,
            WorkflowTaskStarted,
            WorkflowTaskCompleted,
            ActivityTaskScheduled,
            TimerStarted,
            WorkflowExecutionSignaled,
            WorkflowTaskScheduled,
            WorkflowTaskStarted,
            WorkflowTaskFailed,
            WorkflowExecutionSignaled,
            WorkflowTaskScheduled
        ]
    );
    match &h.history("wf", &new_run)[9].attributes {
        Some(EA::WorkflowTaskFailedEventAttributes(a)) => {
            assert_eq!(a.cause, WorkflowTaskFailedCause::ResetWorkflow as i32);
            assert_eq!(
                (a.base_run_id.as_str(), a.new_run_id.as_str()),
                (base.as_str(), "reset-x")
            );
            assert_eq!((a.scheduled_event_id, a.started_event_id), (8, 9));
        }
        o => panic!("{o:?}"),
    }
    let exec = h.execution("wf", &new_run);
    assert_eq!((exec.activities.len(), exec.timers.len()), (1, 1));
    assert_eq!(exec.last_completed_started_event_id, 3);
    // The activity is dispatched again for the new run, and the new run is current.
    let (_, polled) = h.poll_activity();
    assert_eq!(polled.workflow_execution.unwrap().run_id, new_run);
    // The same request resets once.
    assert_eq!(
        Harness::run_id(reset(&mut h, &base, 10, "x").unwrap()),
        new_run
    );
}

/// A Greet workflow's start request on queue `q`.
fn greet_start(wf: &str, request_id: &str) -> ws::StartWorkflowExecutionRequest {
    ws::StartWorkflowExecutionRequest {
        namespace: NS.into(),
        workflow_id: wf.into(),
        workflow_type: Some(WorkflowType {
            name: "Greet".into(),
        }),
        task_queue: Some(TaskQueue {
            name: "q".into(),
            ..Default::default()
        }),
        request_id: request_id.into(),
        ..Default::default()
    }
}

/// The same, asking for eager execution.
fn greet_request(wf: &str) -> ws::StartWorkflowExecutionRequest {
    ws::StartWorkflowExecutionRequest {
        identity: "starter".into(),
        request_eager_execution: true,
        ..greet_start(wf, &format!("start-{wf}"))
    }
}

#[test]
fn an_eager_start_starts_the_first_workflow_task_in_the_same_write_and_queues_nothing() {
    let mut h = Harness::new();
    let started = h
        .apply(Kind::StartWorkflow(StartWorkflow {
            request: Some(greet_request("eager")),
            run_id: "run-eager".into(),
            eager: true,
            ..Default::default()
        }))
        .unwrap();
    let Outcome::EagerWorkflowStarted { run_id, task } = started else {
        panic!("{started:?}")
    };
    assert_eq!(run_id, "run-eager");
    assert_eq!(task.response.started_event_id, 3);
    assert_eq!((task.history_from, task.stored_through), (1, 3));
    assert!(h.tasks.is_empty(), "no task reached a queue");
    let events = h.history("eager", "run-eager");
    let Some(EA::WorkflowTaskStartedEventAttributes(a)) = &events[2].attributes else {
        panic!("{:?}", events[2])
    };
    assert_eq!(
        (a.identity.as_str(), a.request_id.as_str()),
        ("starter", "start-eager")
    );
    assert!(
        !a.suggest_continue_as_new,
        "no thresholds stamped: no suggestion"
    );
    // The starter completes the task it was handed, like any polled one.
    let token = TaskToken::from_bytes(&task.response.task_token).unwrap();
    h.complete_workflow_task(&token, vec![complete_workflow("done")])
        .unwrap();
    assert_eq!(
        h.execution("eager", "run-eager").status,
        WorkflowExecutionStatus::Completed as i32
    );

    // Not stamped eager (a leader that does not allow it, or an entry written before
    // feature level 2): the task goes to its queue, whatever the request asked.
    let plain = h
        .apply(Kind::StartWorkflow(StartWorkflow {
            request: Some(greet_request("plain")),
            run_id: "run-plain".into(),
            ..Default::default()
        }))
        .unwrap();
    assert!(matches!(
        plain,
        Outcome::WorkflowStarted { started: true, .. }
    ));
    assert_eq!(h.tasks.len(), 1);

    // A start delay leaves no first task to hand out.
    let mut delayed = greet_request("delayed");
    delayed.workflow_start_delay = Some(prost_wkt_types::Duration {
        seconds: 60,
        nanos: 0,
    });
    let delayed = h
        .apply(Kind::StartWorkflow(StartWorkflow {
            request: Some(delayed),
            run_id: "run-delayed".into(),
            eager: true,
            ..Default::default()
        }))
        .unwrap();
    assert!(matches!(
        delayed,
        Outcome::WorkflowStarted { started: true, .. }
    ));
}

#[test]
fn activities_stamped_for_eager_dispatch_start_for_the_completing_worker() {
    let mut h = Harness::new();
    let run = Harness::run_id(h.start("wf", "r1").unwrap());
    let (token, _) = h.poll_workflow();
    let eager = |id: &str| {
        let mut c = schedule_activity(id, None);
        if let Some(A::ScheduleActivityTaskCommandAttributes(a)) = &mut c.attributes {
            a.request_eager_execution = true;
        }
        c
    };
    let completed = h
        .apply(Kind::CompleteWorkflowTask(CompleteWorkflowTask {
            token: Some(token),
            request: Some(ws::RespondWorkflowTaskCompletedRequest {
                commands: vec![eager("a1"), schedule_activity("a2", None), eager("a3")],
                identity: "worker".into(),
                ..Default::default()
            }),
            next_run_id: "next".into(),
            // The leader stamped one id for each of the two commands asking for it.
            eager_activity_request_ids: vec!["eager-1".into(), "eager-3".into()],
            ..Default::default()
        }))
        .unwrap();
    let Outcome::EagerActivitiesStarted(tasks) = completed else {
        panic!("{completed:?}")
    };
    let ids: Vec<&str> = tasks.iter().map(|(_, t)| t.activity_id.as_str()).collect();
    assert_eq!(ids, ["a1", "a3"]);
    assert!(tasks
        .iter()
        .all(|(queue, t)| queue == "q" && t.attempt == 1 && t.started_time.is_some()));
    let queued: Vec<_> = h
        .tasks
        .iter()
        .filter(|(k, _)| *k == TaskKind::Activity)
        .collect();
    assert_eq!(queued.len(), 1, "only a2 went to the queue");
    // An eagerly started activity completes through its token; its started event names the
    // request id the leader stamped.
    let token = TaskToken::from_bytes(&tasks[0].1.task_token).unwrap();
    h.complete_activity(&token, "one").unwrap();
    let started: Vec<_> = h
        .history("wf", &run)
        .into_iter()
        .filter_map(|e| match e.attributes {
            Some(EA::ActivityTaskStartedEventAttributes(a)) => Some(a.request_id),
            _ => None,
        })
        .collect();
    assert_eq!(started, ["eager-1"]);
}

#[test]
fn a_workflow_task_started_past_a_threshold_suggests_continue_as_new() {
    let mut h = Harness::new();
    let run = Harness::run_id(h.start("wf", "r1").unwrap());
    let key = h.take_task(TaskKind::Workflow);
    h.apply(Kind::StartTask(StartTask {
        task_key: key,
        identity: "worker".into(),
        request_id: "poll".into(),
        suggest: Some(SuggestContinueAsNew {
            history_count: 3,
            history_size_bytes: 1 << 30,
        }),
        ..Default::default()
    }))
    .unwrap();
    let events = h.history("wf", &run);
    let Some(EA::WorkflowTaskStartedEventAttributes(a)) = &events[2].attributes else {
        panic!("{:?}", events[2])
    };
    // The started event is the third: the count of 3 is reached, the size is not.
    assert!(a.suggest_continue_as_new);
    assert_eq!(
        a.suggest_continue_as_new_reasons,
        [temporalio_protos::temporal::api::enums::v1::SuggestContinueAsNewReason::TooManyHistoryEvents as i32]
    );
}

// --- Activity operations: PauseActivity, UnpauseActivity, ResetActivity, UpdateActivityOptions.

fn this_run() -> Option<WorkflowExecution> {
    Some(WorkflowExecution {
        workflow_id: "wf".into(),
        run_id: String::new(),
    })
}

fn pause(id: &str, request_id: &str) -> Kind {
    Kind::PauseActivity(ws::PauseActivityRequest {
        namespace: NS.into(),
        execution: this_run(),
        identity: "operator".into(),
        reason: "investigating".into(),
        request_id: request_id.into(),
        activity: Some(ws::pause_activity_request::Activity::Id(id.into())),
    })
}

fn unpause(id: &str, edit: impl FnOnce(&mut ws::UnpauseActivityRequest)) -> Kind {
    let mut request = ws::UnpauseActivityRequest {
        namespace: NS.into(),
        execution: this_run(),
        activity: Some(ws::unpause_activity_request::Activity::Id(id.into())),
        ..Default::default()
    };
    edit(&mut request);
    Kind::UnpauseActivity(UnpauseActivity {
        request: Some(request),
        jitter_seed: 42,
    })
}

fn reset_activity(id: &str, edit: impl FnOnce(&mut ws::ResetActivityRequest)) -> Kind {
    let mut request = ws::ResetActivityRequest {
        namespace: NS.into(),
        execution: this_run(),
        activity: Some(ws::reset_activity_request::Activity::Id(id.into())),
        ..Default::default()
    };
    edit(&mut request);
    Kind::ResetActivity(ResetActivity {
        request: Some(request),
        jitter_seed: 42,
    })
}

fn fail_activity(h: &mut Harness, token: &TaskToken) -> Result<Outcome, Rejection> {
    h.apply(Kind::FailActivityTask(FailActivityTask {
        token: Some(token.clone()),
        request: Some(ws::RespondActivityTaskFailedRequest {
            failure: Some(app_failure("boom", false)),
            ..Default::default()
        }),
    }))
}

fn heartbeat(h: &mut Harness, token: &TaskToken) -> Result<Outcome, Rejection> {
    h.apply(Kind::RecordHeartbeat(RecordHeartbeat {
        token: Some(token.clone()),
        request: Some(ws::RecordActivityTaskHeartbeatRequest {
            details: Some(payloads("progress")),
            ..Default::default()
        }),
    }))
}

fn retrying(max_attempts: i32) -> Option<RetryPolicy> {
    Some(RetryPolicy {
        maximum_attempts: max_attempts,
        initial_interval: Some(prost_wkt_types::Duration {
            seconds: 1,
            nanos: 0,
        }),
        backoff_coefficient: 1.0,
        ..Default::default()
    })
}

/// A run with one activity "a" scheduled (its task queued, not polled).
fn run_with_activity(h: &mut Harness, retry: Option<RetryPolicy>) -> String {
    let run = Harness::run_id(h.start("wf", "r").unwrap());
    let (wt, _) = h.poll_workflow();
    h.complete_workflow_task(&wt, vec![schedule_activity("a", retry)])
        .unwrap();
    run
}

#[test]
fn pausing_a_queued_activity_stales_its_task_until_unpaused() {
    let mut h = Harness::new();
    let run = run_with_activity(&mut h, retrying(3));
    let events = h.history("wf", &run).len();
    assert_eq!(h.apply(pause("a", "p1")), Ok(Outcome::Done));
    let a = &h.execution("wf", &run).activities[0];
    assert!(a.paused);
    let info = a.pause_info.as_ref().unwrap();
    assert_eq!(
        (info.identity.as_str(), info.reason.as_str()),
        ("operator", "investigating")
    );
    // The task queued before the pause is stale: a poller that takes it gets nothing.
    let stale = h.take_task(TaskKind::Activity);
    let polled = h.apply(Kind::StartTask(StartTask {
        task_key: stale,
        identity: "worker".into(),
        request_id: "poll".into(),
        ..Default::default()
    }));
    assert_eq!(polled, Ok(Outcome::TaskStale));
    // Pausing again: the same request is a no-op, another one is refused as Temporal does.
    assert_eq!(h.apply(pause("a", "p1")), Ok(Outcome::Done));
    assert_eq!(
        h.apply(pause("a", "p2")),
        Err(Rejection::FailedPrecondition(
            "activity is already paused".into()
        ))
    );
    assert!(matches!(
        h.apply(pause("nope", "p3")),
        Err(Rejection::NotFound(m)) if m.starts_with("Can't find pending activity")
    ));
    let pause_info = |h: &Harness| {
        h.execution("wf", &run)
            .search_attributes
            .and_then(|s| s.indexed_fields.get("TemporalPauseInfo").cloned())
            .map(|p| String::from_utf8(p.data).unwrap())
    };
    assert_eq!(
        pause_info(&h).as_deref(),
        Some(r#"["property:activityType=act"]"#)
    );
    assert_eq!(h.apply(unpause("a", |_| {})), Ok(Outcome::Done));
    assert_eq!(
        pause_info(&h),
        None,
        "nothing paused: the attribute is gone"
    );
    let (_, task) = h.poll_activity();
    assert_eq!(task.attempt, 1);
    assert!(!h.execution("wf", &run).activities[0].paused);
    assert_eq!(
        h.history("wf", &run).len(),
        events,
        "operations write no events (the start is written with the attempt's outcome)"
    );
}

#[test]
fn a_paused_running_attempt_learns_by_heartbeat_and_its_retry_waits_for_the_unpause() {
    let mut h = Harness::new();
    let run = run_with_activity(&mut h, retrying(3));
    let (token, _) = h.poll_activity();
    h.apply(pause("a", "p1")).unwrap();
    assert_eq!(
        heartbeat(&mut h, &token),
        Ok(Outcome::Heartbeat {
            cancel_requested: false,
            paused: true,
            reset: false,
        })
    );
    // No deadline acts on a paused activity: its start-to-close (10s) passes unnoticed.
    h.advance(30 * SEC);
    h.fire_due();
    assert_eq!(h.execution("wf", &run).activities[0].attempt, 1);
    fail_activity(&mut h, &token).unwrap();
    let a = &h.execution("wf", &run).activities[0];
    assert_eq!((a.attempt, a.started_time), (2, 0));
    h.advance(60 * SEC);
    h.fire_due();
    assert!(
        h.tasks.is_empty(),
        "no attempt is dispatched while it is paused"
    );
    h.apply(unpause("a", |_| {})).unwrap();
    assert!(
        h.execution("wf", &run).activities[0].last_failure.is_none(),
        "an attempt dispatched by the unpause carries no last failure, as on Temporal"
    );
    let (token, task) = h.poll_activity();
    assert_eq!(task.attempt, 2);
    h.complete_activity(&token, "done").unwrap();
    assert!(h.execution("wf", &run).activities.is_empty());
    assert!(h.types("wf", &run).contains(&ActivityTaskCompleted));
}

#[test]
fn a_paused_activity_fails_past_its_attempts_only_after_the_unpause() {
    let mut h = Harness::new();
    let run = run_with_activity(&mut h, retrying(1));
    let (token, _) = h.poll_activity();
    h.apply(pause("a", "p1")).unwrap();
    fail_activity(&mut h, &token).unwrap();
    assert_eq!(
        h.execution("wf", &run).activities[0].attempt,
        2,
        "out of attempts, yet kept for the operator"
    );
    h.apply(unpause("a", |r| r.reset_attempts = true)).unwrap();
    let (token, task) = h.poll_activity();
    assert_eq!(task.attempt, 1);
    fail_activity(&mut h, &token).unwrap();
    assert!(h.types("wf", &run).contains(&ActivityTaskFailed));
}

#[test]
fn reset_starts_the_attempts_over_now_or_when_the_running_attempt_ends() {
    let mut h = Harness::new();
    let run = run_with_activity(&mut h, retrying(5));
    let (token, _) = h.poll_activity();
    heartbeat(&mut h, &token).unwrap();
    fail_activity(&mut h, &token).unwrap();
    assert_eq!(h.execution("wf", &run).activities[0].attempt, 2);
    // Waiting out its backoff: reset dispatches attempt 1 at once, details dropped.
    h.apply(reset_activity("a", |r| r.reset_heartbeat = true))
        .unwrap();
    let a = &h.execution("wf", &run).activities[0];
    assert_eq!(a.attempt, 1);
    assert!(a.heartbeat_details.is_none());
    let (token, task) = h.poll_activity();
    assert_eq!(task.attempt, 1);
    h.advance(SEC);
    h.fire_due(); // the old backoff timer is stale: nothing else is dispatched
    assert!(h.tasks.is_empty());
    // Running: the attempt goes on, learns of the reset, and the count restarts when it ends.
    fail_activity(&mut h, &token).unwrap();
    h.advance(SEC);
    h.fire_due();
    let (token, task) = h.poll_activity();
    assert_eq!(task.attempt, 2);
    h.apply(reset_activity("a", |_| {})).unwrap();
    assert_eq!(
        heartbeat(&mut h, &token),
        Ok(Outcome::Heartbeat {
            cancel_requested: false,
            paused: false,
            reset: true,
        })
    );
    fail_activity(&mut h, &token).unwrap();
    assert_eq!(h.execution("wf", &run).activities[0].attempt, 2);
    h.advance(SEC);
    h.fire_due();
    let (_, task) = h.poll_activity();
    assert_eq!(task.attempt, 2, "attempt 1 was the reset one");
}

#[test]
fn reset_keep_paused_leaves_a_paused_activity_waiting_with_its_count_restarted() {
    let mut h = Harness::new();
    let run = run_with_activity(&mut h, retrying(5));
    let (token, _) = h.poll_activity();
    fail_activity(&mut h, &token).unwrap();
    h.apply(pause("a", "p1")).unwrap();
    h.apply(reset_activity("a", |r| r.keep_paused = true))
        .unwrap();
    let a = &h.execution("wf", &run).activities[0];
    assert_eq!((a.attempt, a.paused), (1, true));
    h.advance(10 * SEC);
    h.fire_due();
    assert!(h.tasks.is_empty());
    h.apply(reset_activity("a", |_| {})).unwrap();
    let (_, task) = h.poll_activity();
    assert_eq!(task.attempt, 1);
}

fn update_options(
    mask: &[&str],
    options: temporalio_protos::temporal::api::activity::v1::ActivityOptions,
) -> Kind {
    Kind::UpdateActivityOptions(ws::UpdateActivityOptionsRequest {
        namespace: NS.into(),
        execution: this_run(),
        activity_options: Some(options),
        update_mask: Some(prost_wkt_types::FieldMask {
            paths: mask.iter().map(|p| p.to_string()).collect(),
        }),
        activity: Some(ws::update_activity_options_request::Activity::Id(
            "a".into(),
        )),
        ..Default::default()
    })
}

#[test]
fn new_options_rearm_a_running_attempts_deadline_and_restore_brings_back_the_scheduled_ones() {
    use temporalio_protos::temporal::api::activity::v1::ActivityOptions;
    let mut h = Harness::new();
    let run = run_with_activity(&mut h, retrying(1));
    let (_token, _) = h.poll_activity();
    let shorter = ActivityOptions {
        start_to_close_timeout: Some(prost_wkt_types::Duration {
            seconds: 3,
            nanos: 0,
        }),
        ..Default::default()
    };
    let answer = h.apply(update_options(
        &["start_to_close_timeout", "noSuchField"],
        shorter.clone(),
    ));
    match answer {
        Ok(Outcome::ActivityOptions(o)) => {
            assert_eq!(o.start_to_close_timeout.unwrap().seconds, 3);
            assert_eq!(o.task_queue.unwrap().name, "q");
        }
        o => panic!("{o:?}"),
    }
    h.advance(4 * SEC);
    h.fire_due();
    let history = h.history("wf", &run);
    match &history.last().unwrap().attributes {
        Some(EA::WorkflowTaskScheduledEventAttributes(_)) => {}
        o => panic!("{o:?}"),
    }
    assert!(
        h.types("wf", &run).contains(&ActivityTaskTimedOut),
        "the new 3s deadline fired"
    );
    // Without a mask: refused, nothing changed.
    let mut h = Harness::new();
    let run = run_with_activity(&mut h, retrying(1));
    let mut no_mask = update_options(&[], shorter.clone());
    if let Kind::UpdateActivityOptions(r) = &mut no_mask {
        r.update_mask = None;
    }
    assert_eq!(
        h.apply(no_mask),
        Err(Rejection::InvalidArgument(
            "UpdateMask is not provided".into()
        ))
    );
    h.apply(update_options(&["startToCloseTimeout"], shorter))
        .unwrap();
    assert_eq!(
        h.execution("wf", &run).activities[0].start_to_close_timeout,
        3 * SEC
    );
    let restore = Kind::UpdateActivityOptions(ws::UpdateActivityOptionsRequest {
        namespace: NS.into(),
        execution: this_run(),
        restore_original: true,
        activity: Some(ws::update_activity_options_request::Activity::Id(
            "a".into(),
        )),
        ..Default::default()
    });
    h.apply(restore).unwrap();
    assert_eq!(
        h.execution("wf", &run).activities[0].start_to_close_timeout,
        10 * SEC
    );
    // The tasks queued before the last change are stale; the one queued by it is served.
    for _ in 0..2 {
        let stale = h.take_task(TaskKind::Activity);
        let polled = h.apply(Kind::StartTask(StartTask {
            task_key: stale,
            identity: "worker".into(),
            request_id: "poll".into(),
            ..Default::default()
        }));
        assert_eq!(polled, Ok(Outcome::TaskStale));
    }
    let (_, task) = h.poll_activity();
    assert_eq!(task.start_to_close_timeout.unwrap().seconds, 10);
}

#[test]
fn operations_on_a_closed_or_unknown_workflow_are_refused() {
    let mut h = Harness::new();
    assert!(matches!(
        h.apply(pause("a", "p")),
        Err(Rejection::NotFound(_))
    ));
    let run = run_with_activity(&mut h, retrying(1));
    let (token, _) = h.poll_activity();
    h.complete_activity(&token, "x").unwrap();
    let (wt, _) = h.poll_workflow();
    h.complete_workflow_task(&wt, vec![complete_workflow("ok")])
        .unwrap();
    assert!(h.types("wf", &run).ends_with(&[WorkflowExecutionCompleted]));
    assert!(matches!(
        h.apply(reset_activity("a", |_| {})),
        Err(Rejection::NotFound(_))
    ));
    let mut untargeted = pause("a", "p");
    if let Kind::PauseActivity(r) = &mut untargeted {
        r.activity = None;
    }
    assert!(matches!(
        h.apply(untargeted),
        Err(Rejection::InvalidArgument(_))
    ));
}

#[test]
fn priorities_are_kept_and_inherited_once_the_cluster_level_is_recorded() {
    use temporalio_protos::temporal::api::common::v1::Priority;
    let run_priority = Priority {
        priority_key: 2,
        fairness_key: "tenant".into(),
        fairness_weight: 2.0,
    };
    for recorded in [false, true] {
        let mut h = Harness::new();
        if recorded {
            h.apply(Kind::RecordClusterLevel(RecordClusterLevel {
                level: keel_engine::feature_level::LEVEL,
            }))
            .unwrap();
        }
        let mut req = greet_start("wf-p", "r");
        req.priority = Some(run_priority.clone());
        let run = Harness::run_id(h.start_with(req).unwrap());
        let (wt, _) = h.poll_workflow();
        let keyed = schedule_activity_with("a", |a| {
            a.priority = Some(Priority {
                priority_key: 4,
                ..Default::default()
            })
        });
        h.complete_workflow_task(&wt, vec![keyed]).unwrap();
        let (_, task) = h.poll_activity();
        let started = match &h.history("wf-p", &run)[0].attributes {
            Some(EA::WorkflowExecutionStartedEventAttributes(a)) => a.priority.clone(),
            other => panic!("{other:?}"),
        };
        if recorded {
            assert_eq!(started, Some(run_priority.clone()));
            assert_eq!(
                h.execution("wf-p", &run).priority,
                Some(run_priority.clone())
            );
            // The task carries the activity's own priority, as Temporal's; its place in the
            // queue is the merged one (the TaskRecord's).
            assert_eq!(
                task.priority,
                Some(Priority {
                    priority_key: 4,
                    ..Default::default()
                })
            );
        } else {
            // As the builds before priorities: nothing kept, every replica alike.
            assert_eq!(started, None);
            assert_eq!(task.priority, None);
        }
    }
    // A bad priority is refused once priorities are kept, with Temporal's message.
    let mut h = Harness::new();
    h.apply(Kind::RecordClusterLevel(RecordClusterLevel {
        level: keel_engine::feature_level::LEVEL,
    }))
    .unwrap();
    let mut req = greet_start("wf-bad", "r");
    req.priority = Some(Priority {
        priority_key: -1,
        ..Default::default()
    });
    match h.start_with(req) {
        Err(Rejection::InvalidArgument(m)) => assert_eq!(m, "priority key can't be negative"),
        other => panic!("{other:?}"),
    }
}

// Standalone activities.

fn standalone_start(activity_id: &str, request_id: &str) -> ws::StartActivityExecutionRequest {
    ws::StartActivityExecutionRequest {
        namespace: NS.into(),
        identity: "client".into(),
        request_id: request_id.into(),
        activity_id: activity_id.into(),
        activity_type: Some(ActivityType {
            name: "greet".into(),
        }),
        task_queue: Some(TaskQueue {
            name: "standalone-q".into(),
            ..Default::default()
        }),
        start_to_close_timeout: Some(prost_wkt_types::Duration {
            seconds: 10,
            nanos: 0,
        }),
        input: Some(payloads("\"in\"")),
        ..Default::default()
    }
}

fn start_standalone(
    h: &mut Harness,
    req: ws::StartActivityExecutionRequest,
) -> Result<(String, bool), Rejection> {
    let run_id = format!("activity-run-{}", h.log.len());
    match h.apply(Kind::StartActivityExecution(StartActivityExecution {
        request: Some(req),
        run_id,
    }))? {
        Outcome::ActivityExecutionStarted { run_id, started } => Ok((run_id, started)),
        o => panic!("{o:?}"),
    }
}

fn standalone(h: &Harness, activity_id: &str, run_id: &str) -> ExecutionRecord {
    ExecutionRecord::decode(
        h.state.0[&keys::activity_execution(NS, activity_id, run_id)].as_slice(),
    )
    .unwrap()
}

#[test]
fn a_standalone_activity_runs_once_and_keeps_its_outcome_without_a_history() {
    let mut h = Harness::new();
    let (run, started) = start_standalone(&mut h, standalone_start("a1", "r1")).unwrap();
    assert!(started);
    // A repeated request gets the same run; another is refused while it runs.
    assert_eq!(
        start_standalone(&mut h, standalone_start("a1", "r1")).unwrap(),
        (run.clone(), false)
    );
    assert_eq!(
        start_standalone(&mut h, standalone_start("a1", "r2")),
        Err(Rejection::ActivityAlreadyStarted {
            run_id: run.clone(),
            start_request_id: "r1".into(),
        })
    );
    let (token, task) = h.poll_activity();
    assert!(token.standalone);
    assert_eq!(task.activity_run_id, run);
    assert_eq!(task.workflow_execution, Some(WorkflowExecution::default()));
    assert_eq!(task.workflow_type, None);
    h.complete_activity(&token, "\"out\"").unwrap();
    let exec = standalone(&h, "a1", &run);
    assert_eq!(exec.status, WorkflowExecutionStatus::Completed as i32);
    let outcome = exec.activity_outcome.unwrap();
    assert!(matches!(
        outcome.value,
        Some(temporalio_protos::temporal::api::activity::v1::activity_execution_outcome::Value::Result(_))
    ));
    // No workflow run, no history, and a second completion is refused.
    assert!(h
        .state
        .scan(&keys::history_prefix(NS, "a1", &run))
        .next()
        .is_none());
    assert!(!h.state.0.contains_key(&keys::execution(NS, "a1", &run)));
    assert!(matches!(
        h.complete_activity(&token, "\"again\""),
        Err(Rejection::NotFound(_))
    ));
    // Closed and completed: REJECT_DUPLICATE and ALLOW_DUPLICATE_FAILED_ONLY refuse a new run.
    for policy in [2, 3] {
        let mut req = standalone_start("a1", &format!("p{policy}"));
        req.id_reuse_policy = policy;
        assert!(matches!(
            start_standalone(&mut h, req),
            Err(Rejection::ActivityAlreadyStarted { .. })
        ));
    }
    let (second, started) = start_standalone(&mut h, standalone_start("a1", "r3")).unwrap();
    assert!(started && second != run);
}

#[test]
fn a_standalone_activity_retries_then_times_out_by_its_timers() {
    let mut h = Harness::new();
    let mut req = standalone_start("a2", "r1");
    req.retry_policy = Some(RetryPolicy {
        maximum_attempts: 2,
        ..Default::default()
    });
    let (run, _) = start_standalone(&mut h, req).unwrap();
    let (token, _) = h.poll_activity();
    h.apply(Kind::FailActivityTask(FailActivityTask {
        token: Some(token),
        request: Some(ws::RespondActivityTaskFailedRequest {
            failure: Some(app_failure("first", false)),
            identity: "worker".into(),
            ..Default::default()
        }),
    }))
    .unwrap();
    let exec = standalone(&h, "a2", &run);
    assert_eq!(exec.status, WorkflowExecutionStatus::Running as i32);
    assert_eq!(exec.activities[0].attempt, 2);
    h.advance(2 * SEC);
    h.fire_due(); // the retry backoff: the second attempt is queued
    let (token, task) = h.poll_activity();
    assert_eq!(task.attempt, 2);
    h.advance(11 * SEC);
    h.fire_due(); // start-to-close: no attempts left
    let exec = standalone(&h, "a2", &run);
    assert_eq!(exec.status, WorkflowExecutionStatus::TimedOut as i32);
    let outcome = exec.activity_outcome.unwrap();
    assert_eq!(
        outcome.retry_state,
        RetryState::MaximumAttemptsReached as i32
    );
    assert!(h.complete_activity(&token, "\"late\"").is_err());
}

#[test]
fn cancel_terminate_and_delete_of_a_standalone_activity() {
    let mut h = Harness::new();
    let (run, _) = start_standalone(&mut h, standalone_start("a3", "r1")).unwrap();
    let (token, _) = h.poll_activity();
    let cancel = |id: &str| {
        Kind::RequestCancelActivityExecution(ws::RequestCancelActivityExecutionRequest {
            namespace: NS.into(),
            activity_id: "a3".into(),
            request_id: id.into(),
            reason: "stop".into(),
            identity: "operator".into(),
            ..Default::default()
        })
    };
    // The canceled report is refused until a cancellation was requested.
    let report = Kind::CancelActivityTask(CancelActivityTask {
        token: Some(token.clone()),
        request: Some(ws::RespondActivityTaskCanceledRequest::default()),
    });
    assert!(matches!(
        h.apply(report.clone()),
        Err(Rejection::InvalidArgument(_))
    ));
    h.apply(cancel("c1")).unwrap();
    h.apply(cancel("c1")).unwrap(); // the same request again
    assert!(matches!(
        h.apply(cancel("c2")),
        Err(Rejection::FailedPrecondition(_))
    ));
    let beat = h
        .apply(Kind::RecordHeartbeat(RecordHeartbeat {
            token: Some(token.clone()),
            request: Some(ws::RecordActivityTaskHeartbeatRequest::default()),
        }))
        .unwrap();
    assert!(matches!(
        beat,
        Outcome::Heartbeat {
            cancel_requested: true,
            ..
        }
    ));
    h.apply(report).unwrap();
    let exec = standalone(&h, "a3", &run);
    assert_eq!(exec.status, WorkflowExecutionStatus::Canceled as i32);
    assert_eq!(exec.cancel_reason, "stop");

    let (second, _) = start_standalone(&mut h, standalone_start("a3", "r2")).unwrap();
    let terminate = |request_id: &str, run_id: &str| {
        Kind::TerminateActivityExecution(ws::TerminateActivityExecutionRequest {
            namespace: NS.into(),
            activity_id: "a3".into(),
            run_id: run_id.into(),
            reason: "enough".into(),
            request_id: request_id.into(),
            ..Default::default()
        })
    };
    h.apply(terminate("t1", "")).unwrap();
    assert_eq!(
        standalone(&h, "a3", &second).status,
        WorkflowExecutionStatus::Terminated as i32
    );
    h.apply(terminate("t1", "")).unwrap(); // the same request again
    assert_eq!(
        h.apply(terminate("t2", "")),
        Err(Rejection::FailedPrecondition(
            "already terminated with request ID t1".into()
        ))
    );
    // A run that ended otherwise cannot be terminated.
    assert_eq!(
        h.apply(terminate("t3", &run)),
        Err(Rejection::FailedPrecondition(
            "invalid transition from Canceled".into()
        ))
    );
    h.apply(Kind::DeleteActivityExecution(
        ws::DeleteActivityExecutionRequest {
            namespace: NS.into(),
            activity_id: "a3".into(),
            ..Default::default()
        },
    ))
    .unwrap();
    assert!(!h
        .state
        .0
        .contains_key(&keys::activity_execution(NS, "a3", &second)));
    assert!(!h.state.0.contains_key(&keys::current_activity(NS, "a3")));
    // The first run stays until its retention is over.
    assert!(h
        .state
        .0
        .contains_key(&keys::activity_execution(NS, "a3", &run)));
}

#[test]
fn a_closed_standalone_activity_is_deleted_when_its_retention_is_over() {
    let mut h = Harness::new();
    let retention = h.apply(Kind::UpdateNamespace(ws::UpdateNamespaceRequest {
        namespace: NS.into(),
        config: Some(
            temporalio_protos::temporal::api::namespace::v1::NamespaceConfig {
                workflow_execution_retention_ttl: Some(prost_wkt_types::Duration {
                    seconds: 24 * 3600,
                    nanos: 0,
                }),
                ..Default::default()
            },
        ),
        ..Default::default()
    }));
    assert!(retention.is_ok(), "{retention:?}");
    let (run, _) = start_standalone(&mut h, standalone_start("kept", "r1")).unwrap();
    let (token, _) = h.poll_activity();
    h.complete_activity(&token, "\"done\"").unwrap();
    h.advance(23 * 3600 * SEC);
    h.fire_due();
    assert!(h
        .state
        .0
        .contains_key(&keys::activity_execution(NS, "kept", &run)));
    h.advance(2 * 3600 * SEC);
    h.fire_due();
    assert!(!h
        .state
        .0
        .contains_key(&keys::activity_execution(NS, "kept", &run)));
    assert!(!h.state.0.contains_key(&keys::current_activity(NS, "kept")));
}

#[test]
fn a_standalone_activity_asked_to_cancel_is_not_retried_when_its_attempt_fails() {
    let mut h = Harness::new();
    let (run, _) = start_standalone(&mut h, standalone_start("a5", "r1")).unwrap();
    let (token, _) = h.poll_activity();
    h.apply(Kind::RequestCancelActivityExecution(
        ws::RequestCancelActivityExecutionRequest {
            namespace: NS.into(),
            activity_id: "a5".into(),
            request_id: "c1".into(),
            ..Default::default()
        },
    ))
    .unwrap();
    h.apply(Kind::FailActivityTask(FailActivityTask {
        token: Some(token),
        request: Some(ws::RespondActivityTaskFailedRequest {
            failure: Some(app_failure("retryable", false)),
            ..Default::default()
        }),
    }))
    .unwrap();
    let exec = standalone(&h, "a5", &run);
    assert_eq!(exec.status, WorkflowExecutionStatus::Failed as i32);
    assert_eq!(
        exec.activity_outcome.unwrap().retry_state,
        RetryState::CancelRequested as i32
    );
}

#[test]
fn a_runs_new_priority_orders_its_next_workflow_task_and_is_recorded_once() {
    let mut h = Harness::new();
    h.apply(Kind::RecordClusterLevel(RecordClusterLevel {
        level: keel_engine::feature_level::LEVEL,
    }))
    .unwrap();
    let run = Harness::run_id(h.start("prio", "r1").unwrap());
    let (token, _) = h.poll_workflow();
    h.complete_workflow_task(&token, vec![]).unwrap();
    let update = |key: i32| {
        Kind::UpdateWorkflowOptions(ws::UpdateWorkflowExecutionOptionsRequest {
            namespace: NS.into(),
            workflow_execution: Some(WorkflowExecution {
                workflow_id: "prio".into(),
                run_id: String::new(),
            }),
            workflow_execution_options: Some(
                temporalio_protos::temporal::api::workflow::v1::WorkflowExecutionOptions {
                    priority: Some(temporalio_protos::temporal::api::common::v1::Priority {
                        priority_key: key,
                        ..Default::default()
                    }),
                    ..Default::default()
                },
            ),
            update_mask: Some(prost_wkt_types::FieldMask {
                paths: vec!["priority".into()],
            }),
            identity: "operator".into(),
        })
    };
    let before = h.types("prio", &run).len();
    h.apply(update(1)).unwrap();
    h.apply(update(1)).unwrap(); // the same value: nothing written
    let types = h.types("prio", &run);
    assert_eq!(
        types[before..].to_vec(),
        vec![EventType::WorkflowExecutionOptionsUpdated]
    );
    assert_eq!(h.execution("prio", &run).priority.unwrap().priority_key, 1);
    signal(&mut h, "prio", "s1").unwrap();
    let key = h.take_task(TaskKind::Workflow);
    let task = keel_engine::records::TaskRecord::decode(h.state.0[&key].as_slice()).unwrap();
    assert_eq!(task.priority.map(|p| p.priority_key), Some(1));
}

fn create_endpoint(h: &mut Harness, name: &str, queue: &str) {
    use temporalio_protos::temporal::api::nexus::v1::{
        endpoint_target, EndpointSpec, EndpointTarget,
    };
    h.apply(Kind::CreateNexusEndpoint(CreateNexusEndpoint {
        spec: Some(EndpointSpec {
            name: name.into(),
            description: None,
            target: Some(EndpointTarget {
                variant: Some(endpoint_target::Variant::Worker(endpoint_target::Worker {
                    namespace: NS.into(),
                    task_queue: queue.into(),
                })),
            }),
        }),
        id: format!("00000000-0000-4000-8000-{:012}", h.log.len()),
    }))
    .unwrap();
}

fn schedule_nexus(endpoint: &str, schedule_to_close_secs: i64) -> Command {
    Command {
        command_type: CommandType::ScheduleNexusOperation as i32,
        attributes: Some(A::ScheduleNexusOperationCommandAttributes(
            ScheduleNexusOperationCommandAttributes {
                endpoint: endpoint.into(),
                service: "svc".into(),
                operation: "op".into(),
                input: payloads("in").payloads.pop(),
                schedule_to_close_timeout: (schedule_to_close_secs > 0)
                    .then(|| keel_engine::time::duration(schedule_to_close_secs * SEC))
                    .flatten(),
                nexus_header: [("My-Header".to_string(), "v".to_string())].into(),
                ..Default::default()
            },
        )),
        ..Default::default()
    }
}

impl Harness {
    fn poll_nexus(&mut self) -> (TaskToken, ws::PollNexusTaskQueueResponse) {
        match self.poll(TaskKind::Nexus) {
            Outcome::NexusTaskStarted(r) => (TaskToken::from_bytes(&r.task_token).unwrap(), *r),
            o => panic!("{o:?}"),
        }
    }

    fn answer_nexus(&mut self, token: &TaskToken, result: &str) -> Result<Outcome, Rejection> {
        self.answer_nexus_in(NS, token, result)
    }

    fn answer_nexus_in(
        &mut self,
        namespace: &str,
        token: &TaskToken,
        result: &str,
    ) -> Result<Outcome, Rejection> {
        use temporalio_protos::temporal::api::nexus::v1::{
            response, start_operation_response, Response, StartOperationResponse,
        };
        self.apply(Kind::CompleteNexusTask(CompleteNexusTask {
            token: Some(token.clone()),
            request: Some(ws::RespondNexusTaskCompletedRequest {
                namespace: namespace.into(),
                response: Some(Response {
                    variant: Some(response::Variant::StartOperation(StartOperationResponse {
                        variant: Some(start_operation_response::Variant::SyncSuccess(
                            start_operation_response::Sync {
                                payload: payloads(result).payloads.pop(),
                                links: vec![],
                            },
                        )),
                    })),
                }),
                ..Default::default()
            }),
        }))
    }

    fn fail_nexus(&mut self, token: &TaskToken, error_type: &str) -> Result<Outcome, Rejection> {
        use temporalio_protos::temporal::api::failure::v1::NexusHandlerFailureInfo;
        self.apply(Kind::FailNexusTask(FailNexusTask {
            token: Some(token.clone()),
            request: Some(ws::RespondNexusTaskFailedRequest {
                namespace: NS.into(),
                failure: Some(Failure {
                    message: format!("{error_type} from the handler"),
                    failure_info: Some(FailureInfo::NexusHandlerFailureInfo(
                        NexusHandlerFailureInfo {
                            r#type: error_type.into(),
                            retry_behavior: 0,
                        },
                    )),
                    ..Default::default()
                }),
                ..Default::default()
            }),
        }))
    }
}

#[test]
fn a_sync_nexus_operation_is_handed_to_its_endpoints_queue_and_its_result_recorded_once() {
    use temporalio_protos::temporal::api::nexus::v1::request::Variant as RV;
    let mut h = Harness::new();
    create_endpoint(&mut h, "ep", "handlers");
    let run = Harness::run_id(h.start("wf", "r").unwrap());
    let (wt, _) = h.poll_workflow();
    h.complete_workflow_task(&wt, vec![schedule_nexus("ep", 30)])
        .unwrap();
    let (token, task) = h.poll_nexus();
    let request = task.request.unwrap();
    assert_eq!(request.endpoint, "ep");
    assert_eq!(
        request.header["my-header"], "v",
        "caller headers lower-cased"
    );
    assert_eq!(request.header["request-timeout"], "10s");
    assert_eq!(request.header["operation-timeout"], "29999ms");
    let Some(RV::StartOperation(start)) = request.variant else {
        panic!("a start request")
    };
    assert_eq!(
        (start.service.as_str(), start.operation.as_str()),
        ("svc", "op")
    );
    assert_eq!(start.request_id, request.header["nexus-request-id"]);
    assert!(start.links[0]
        .url
        .ends_with("eventID=5&eventType=NexusOperationScheduled&referenceType=EventReference"));

    assert!(
        matches!(
            h.answer_nexus_in("elsewhere", &token, "forged"),
            Err(Rejection::NotFound(_))
        ),
        "only the namespace the attempt went to may answer it"
    );
    h.answer_nexus(&token, "out").unwrap();
    assert!(
        matches!(h.answer_nexus(&token, "again"), Err(Rejection::NotFound(_))),
        "an attempt is answered once"
    );
    let (wt2, _) = h.poll_workflow();
    h.complete_workflow_task(&wt2, vec![complete_workflow("ok")])
        .unwrap();
    assert_eq!(
        h.types("wf", &run),
        vec![
            WorkflowExecutionStarted,
            WorkflowTaskScheduled,
            WorkflowTaskStarted,
            WorkflowTaskCompleted,
            NexusOperationScheduled,
            NexusOperationCompleted,
            WorkflowTaskScheduled,
            WorkflowTaskStarted,
            WorkflowTaskCompleted,
            WorkflowExecutionCompleted,
        ]
    );
    match &h.history("wf", &run)[4].attributes {
        Some(EA::NexusOperationScheduledEventAttributes(a)) => {
            assert_eq!(a.request_id, start.request_id);
            assert_eq!(a.workflow_task_completed_event_id, 4);
            assert_eq!(a.nexus_header["my-header"], "v");
            assert!(!a.endpoint_id.is_empty());
        }
        o => panic!("{o:?}"),
    }
}

#[test]
fn nexus_handler_errors_are_retried_or_fail_and_the_deadlines_end_attempts_and_operations() {
    let mut h = Harness::new();
    create_endpoint(&mut h, "ep", "handlers");
    let run = Harness::run_id(h.start("wf", "r").unwrap());
    let (wt, _) = h.poll_workflow();
    h.complete_workflow_task(&wt, vec![schedule_nexus("ep", 60), schedule_nexus("ep", 0)])
        .unwrap();
    // The first operation: a retryable error, then an attempt nobody answers; the second: a
    // handler error that is not retried.
    let (first, _) = h.poll_nexus();
    assert_eq!(first.target, 5);
    h.fail_nexus(&first, "INTERNAL").unwrap();
    let (other, _) = h.poll_nexus();
    assert_eq!(other.target, 6);
    h.fail_nexus(&other, "BAD_REQUEST").unwrap();
    let op = h.execution("wf", &run).nexus_operations[0].clone();
    assert_eq!(op.attempt, 2);
    assert_eq!(
        op.next_attempt_schedule_time - op.last_attempt_complete_time,
        SEC
    );
    assert!(
        h.tasks.iter().all(|(k, _)| *k != TaskKind::Nexus),
        "no attempt is queued while it backs off"
    );
    h.advance(SEC);
    h.fire_due();
    let (second, _) = h.poll_nexus();
    assert_eq!((second.target, second.attempt), (5, 2));
    h.advance(10 * SEC);
    h.fire_due();
    let op = h.execution("wf", &run).nexus_operations[0].clone();
    assert_eq!(op.attempt, 3, "the unanswered attempt was given up");
    assert_eq!(op.last_attempt_failure.unwrap().message, "upstream timeout");
    assert!(matches!(
        h.answer_nexus(&second, "late"),
        Err(Rejection::NotFound(_))
    ));
    // The first times out before its third attempt is answered.
    h.advance(60 * SEC);
    h.fire_due();
    h.fire_due();
    let history = h.history("wf", &run);
    let failed = history.iter().find_map(|e| match &e.attributes {
        Some(EA::NexusOperationFailedEventAttributes(a)) => Some(a.clone()),
        _ => None,
    });
    let failure = failed.unwrap().failure.unwrap();
    assert_eq!(failure.message, "nexus operation completed unsuccessfully");
    assert_eq!(
        failure.cause.unwrap().message,
        "BAD_REQUEST from the handler"
    );
    let timed_out = history.iter().find_map(|e| match &e.attributes {
        Some(EA::NexusOperationTimedOutEventAttributes(a)) => Some(a.clone()),
        _ => None,
    });
    let timed_out = timed_out.unwrap();
    assert_eq!(timed_out.scheduled_event_id, 5);
    assert_eq!(
        timed_out.failure.unwrap().cause.unwrap().message,
        "operation timed out"
    );
    assert!(h.execution("wf", &run).nexus_operations.is_empty());
}

#[test]
fn a_nexus_operation_on_an_unknown_endpoint_fails_the_workflow_task() {
    let mut h = Harness::new();
    h.start("wf", "r").unwrap();
    let (wt, _) = h.poll_workflow();
    assert_eq!(
        h.complete_workflow_task(&wt, vec![schedule_nexus("nope", 0)]),
        Err(Rejection::BadCommand {
            cause: WorkflowTaskFailedCause::BadScheduleNexusOperationAttributes,
            message: "endpoint \"nope\" not found".into(),
        })
    );
}

/// A caller run "wf" whose Nexus operation (scheduled at event 5) a handler answered
/// asynchronously with "op-token", having started "handler-wf" with its completion callback:
/// (the caller's run id, the handler's run id, the start attempt's token).
fn start_async_operation(h: &mut Harness) -> (String, String, TaskToken) {
    use temporalio_protos::temporal::api::common::v1::{callback, Callback};
    use temporalio_protos::temporal::api::nexus::v1::{
        request::Variant as RV, response, start_operation_response, Link as NexusLink, Response,
        StartOperationResponse,
    };
    create_endpoint(h, "ep", "handlers");
    let run = Harness::run_id(h.start("wf", "r").unwrap());
    let (wt, _) = h.poll_workflow();
    h.complete_workflow_task(&wt, vec![schedule_nexus("ep", 0)])
        .unwrap();
    let (token, task) = h.poll_nexus();
    let Some(RV::StartOperation(start)) = task.request.unwrap().variant else {
        panic!("a start request")
    };
    assert_eq!(start.callback, "temporal://system");
    // The handler starts a workflow with the callback it was given.
    let mut handler_start = greet_start("handler-wf", &start.request_id);
    handler_start.completion_callbacks = vec![Callback {
        variant: Some(callback::Variant::Nexus(callback::Nexus {
            url: start.callback.clone(),
            header: start.callback_header.clone(),
        })),
        links: vec![],
    }];
    let handler_run = Harness::run_id(h.start_with(handler_start).unwrap());
    let link_url = format!(
        "temporal:///namespaces/{NS}/workflows/handler-wf/{handler_run}/history?eventID=1&eventType=WorkflowExecutionStarted&referenceType=EventReference"
    );
    h.apply(Kind::CompleteNexusTask(CompleteNexusTask {
        token: Some(token.clone()),
        request: Some(ws::RespondNexusTaskCompletedRequest {
            namespace: NS.into(),
            response: Some(Response {
                variant: Some(response::Variant::StartOperation(StartOperationResponse {
                    variant: Some(start_operation_response::Variant::AsyncSuccess(
                        start_operation_response::Async {
                            operation_token: "op-token".into(),
                            links: vec![NexusLink {
                                url: link_url,
                                r#type: "temporal.api.common.v1.Link.WorkflowEvent".into(),
                            }],
                            ..Default::default()
                        },
                    )),
                })),
            }),
            ..Default::default()
        }),
    }))
    .unwrap();
    (run, handler_run, token)
}

#[test]
fn a_workflow_backed_nexus_operation_starts_and_its_workflows_close_completes_it_once() {
    let mut h = Harness::new();
    let (run, handler_run, token) = start_async_operation(&mut h);
    let op = h.execution("wf", &run).nexus_operations[0].clone();
    assert_eq!(op.operation_token, "op-token");
    // No more attempts once started: its request timeout passes harmlessly.
    h.advance(30 * SEC);
    h.fire_due();
    assert!(h.tasks.iter().all(|(k, _)| *k != TaskKind::Nexus));

    // The handler's workflow completes: the operation completes in the caller's history.
    let (handler_wt, _) = h.poll_workflow();
    assert_eq!(handler_wt.workflow_id, "handler-wf");
    h.complete_workflow_task(&handler_wt, vec![complete_workflow("echoed")])
        .unwrap();
    assert!(h.execution("wf", &run).nexus_operations.is_empty());
    let history = h.history("wf", &run);
    let started = &history[5];
    match &started.attributes {
        Some(EA::NexusOperationStartedEventAttributes(a)) => {
            assert_eq!(
                (a.scheduled_event_id, a.operation_token.as_str()),
                (5, "op-token")
            );
        }
        o => panic!("{o:?}"),
    }
    use temporalio_protos::temporal::api::common::v1::link;
    match started.links[0].variant.as_ref() {
        Some(link::Variant::WorkflowEvent(w)) => {
            assert_eq!(
                (w.workflow_id.as_str(), w.run_id.as_str()),
                ("handler-wf", handler_run.as_str())
            );
            assert!(matches!(
                w.reference,
                Some(link::workflow_event::Reference::EventRef(
                    link::workflow_event::EventReference {
                        event_id: 1,
                        event_type: 1
                    }
                ))
            ));
        }
        o => panic!("{o:?}"),
    }
    let completed: Vec<_> = history
        .iter()
        .filter_map(|e| match &e.attributes {
            Some(EA::NexusOperationCompletedEventAttributes(a)) => Some(a.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(completed.len(), 1);
    assert_eq!(completed[0].result, payloads("echoed").payloads.pop());
    // A late answer to the finished operation is refused.
    assert!(matches!(
        h.answer_nexus(&token, "late"),
        Err(Rejection::NotFound(_))
    ));
}

#[test]
fn cancelling_a_started_nexus_operation_asks_its_handler_and_the_canceled_workflow_ends_it() {
    use temporalio_protos::temporal::api::nexus::v1::{
        request::Variant as RV, response, CancelOperationResponse, Response,
    };
    let mut h = Harness::new();
    let (run, handler_run, _) = start_async_operation(&mut h);
    // The caller's task after the start asks to cancel the operation.
    let (handler_first, _) = h.poll_workflow();
    assert_eq!(
        handler_first.workflow_id, "handler-wf",
        "the handler's first task comes first"
    );
    let (caller_wt, _) = h.poll_workflow();
    assert_eq!(caller_wt.workflow_id, "wf");
    let cancel = Command {
        command_type: CommandType::RequestCancelNexusOperation as i32,
        attributes: Some(A::RequestCancelNexusOperationCommandAttributes(
            RequestCancelNexusOperationCommandAttributes {
                scheduled_event_id: 5,
            },
        )),
        ..Default::default()
    };
    h.complete_workflow_task(&caller_wt, vec![cancel.clone()])
        .unwrap();
    let (cancel_token, task) = h.poll_nexus();
    assert!(cancel_token.nexus_cancel);
    let Some(RV::CancelOperation(c)) = task.request.unwrap().variant else {
        panic!("a cancel request")
    };
    assert_eq!(
        (c.service.as_str(), c.operation_token.as_str()),
        ("svc", "op-token")
    );
    h.apply(Kind::CompleteNexusTask(CompleteNexusTask {
        token: Some(cancel_token.clone()),
        request: Some(ws::RespondNexusTaskCompletedRequest {
            namespace: NS.into(),
            response: Some(Response {
                variant: Some(response::Variant::CancelOperation(
                    CancelOperationResponse {},
                )),
            }),
            ..Default::default()
        }),
    }))
    .unwrap();
    // The handler cancels its workflow; its close ends the operation as canceled.
    h.apply(cancel_request("handler-wf", &handler_run)).unwrap();
    h.complete_workflow_task(&handler_first, vec![]).unwrap();
    let (caller_wt, _) = h.poll_workflow();
    assert_eq!(
        caller_wt.workflow_id, "wf",
        "told of the cancel request's delivery"
    );
    h.complete_workflow_task(&caller_wt, vec![]).unwrap();
    let (handler_wt, _) = h.poll_workflow();
    assert_eq!(handler_wt.workflow_id, "handler-wf");
    h.complete_workflow_task(
        &handler_wt,
        vec![Command {
            command_type: CommandType::CancelWorkflowExecution as i32,
            attributes: Some(A::CancelWorkflowExecutionCommandAttributes(
                CancelWorkflowExecutionCommandAttributes::default(),
            )),
            ..Default::default()
        }],
    )
    .unwrap();
    let kinds = h.types("wf", &run);
    assert!(kinds.contains(&NexusOperationCancelRequested));
    assert!(kinds.contains(&NexusOperationCancelRequestCompleted));
    assert_eq!(
        kinds[kinds.len() - 2..],
        [NexusOperationCanceled, WorkflowTaskScheduled],
        "the handler workflow's cancellation ends the operation"
    );
    assert!(h.execution("wf", &run).nexus_operations.is_empty());
    // A second request for the ended operation fails the task with Temporal's message.
    let (wt3, _) = h.poll_workflow();
    assert_eq!(
        h.complete_workflow_task(&wt3, vec![cancel]),
        Err(Rejection::BadCommand {
            cause: WorkflowTaskFailedCause::BadRequestCancelNexusOperationAttributes,
            message: "requested cancelation for a non-existing or already completed operation with scheduled event ID of 5".into(),
        })
    );
}

// --- Worker versioning (deployments, pinned and auto-upgrade runs) ---

use keel_engine::deployments::{eligible, TaskRouting};
use keel_engine::records::{TaskRecord, WorkerDeploymentRecord};
use temporalio_protos::temporal::api::{
    deployment::v1::{WorkerDeploymentOptions, WorkerDeploymentVersion},
    enums::v1::{TaskQueueType, VersioningBehavior, WorkerVersioningMode},
};

fn register_version(h: &mut Harness, build: &str) {
    for queue_type in [TaskQueueType::Workflow, TaskQueueType::Activity] {
        h.apply(Kind::RegisterDeploymentVersion(RegisterDeploymentVersion {
            namespace: NS.into(),
            deployment_name: "dep".into(),
            build_id: build.into(),
            task_queue: "q".into(),
            task_queue_type: queue_type as i32,
        }))
        .unwrap();
    }
}

fn set_current(h: &mut Harness, build: &str) -> Result<Outcome, Rejection> {
    h.apply(Kind::SetCurrentVersion(
        ws::SetWorkerDeploymentCurrentVersionRequest {
            namespace: NS.into(),
            deployment_name: "dep".into(),
            build_id: build.into(),
            identity: format!("operator-{}", h.log.len()),
            ..Default::default()
        },
    ))
}

fn deployment(h: &Harness) -> WorkerDeploymentRecord {
    let bytes = h
        .state
        .0
        .get(&keys::worker_deployment(NS, "dep"))
        .unwrap()
        .clone();
    WorkerDeploymentRecord::decode(bytes.as_slice()).unwrap()
}

/// The routing of the last queued task of `kind`, and who may take it now.
fn last_routing(h: &Harness, kind: TaskKind) -> (String, TaskRouting) {
    let (_, key) = h.tasks.iter().rev().find(|(k, _)| *k == kind).unwrap();
    let record = TaskRecord::decode(h.state.0.get(key).unwrap().as_slice()).unwrap();
    (keys::decode_task(key).unwrap().1, TaskRouting::of(&record))
}

fn takes(h: &Harness, kind: TaskKind, poller: Option<&str>) -> bool {
    let (queue, routing) = last_routing(h, kind);
    let queue_type = match kind {
        TaskKind::Activity => TaskQueueType::Activity,
        _ => TaskQueueType::Workflow,
    } as i32;
    eligible(
        Some(&deployment(h)),
        &queue,
        queue_type,
        &routing,
        poller.map(|b| ("dep", b)),
    )
}

fn complete_versioned(
    h: &mut Harness,
    token: &TaskToken,
    build: &str,
    behavior: VersioningBehavior,
    commands: Vec<Command>,
    sticky_queue: Option<&str>,
) -> Result<Outcome, Rejection> {
    let child_run_ids = (0..commands.len())
        .map(|i| format!("child-run-{i}"))
        .collect();
    h.apply(Kind::CompleteWorkflowTask(CompleteWorkflowTask {
        next_run_id: "next".into(),
        child_run_ids,
        token: Some(token.clone()),
        request: Some(ws::RespondWorkflowTaskCompletedRequest {
            identity: "worker".into(),
            commands,
            worker_version_stamp: Some(WorkerVersionStamp {
                build_id: build.into(),
                use_versioning: false,
            }),
            deployment_options: Some(WorkerDeploymentOptions {
                deployment_name: "dep".into(),
                build_id: build.into(),
                worker_versioning_mode: WorkerVersioningMode::Versioned as i32,
            }),
            versioning_behavior: behavior as i32,
            sticky_attributes: sticky_queue.map(|name| StickyExecutionAttributes {
                worker_task_queue: Some(TaskQueue {
                    name: name.into(),
                    kind: TaskQueueKind::Sticky as i32,
                    normal_name: "q".into(),
                }),
                schedule_to_start_timeout: Some(prost_wkt_types::Duration {
                    seconds: 5,
                    nanos: 0,
                }),
            }),
            ..Default::default()
        }),
        ..Default::default()
    }))
}

fn keyword_list(exec: &ExecutionRecord, name: &str) -> Vec<String> {
    let p = &exec.search_attributes.as_ref().unwrap().indexed_fields[name];
    serde_json::from_slice::<serde_json::Value>(&p.data)
        .map(|v| match v {
            serde_json::Value::Array(a) => {
                a.iter().map(|x| x.as_str().unwrap().to_string()).collect()
            }
            serde_json::Value::String(s) => vec![s],
            _ => vec![],
        })
        .unwrap()
}

#[test]
fn new_work_goes_to_the_current_version_and_a_pinned_run_stays_on_its_own() {
    let mut h = Harness::new();
    register_version(&mut h, "1.0");
    register_version(&mut h, "2.0");
    let run = Harness::run_id(h.start("wf", "r1").unwrap());
    // No current version yet: unversioned workers get the new workflow.
    assert!(takes(&h, TaskKind::Workflow, None));
    assert!(!takes(&h, TaskKind::Workflow, Some("1.0")));
    set_current(&mut h, "1.0").unwrap();
    assert!(takes(&h, TaskKind::Workflow, Some("1.0")));
    assert!(!takes(&h, TaskKind::Workflow, None));

    let (token, _) = h.poll_workflow();
    complete_versioned(
        &mut h,
        &token,
        "1.0",
        VersioningBehavior::Pinned,
        vec![schedule_activity("a1", None)],
        None,
    )
    .unwrap();
    let completed = h
        .history("wf", &run)
        .into_iter()
        .find_map(|e| match e.attributes {
            Some(EA::WorkflowTaskCompletedEventAttributes(a)) => Some(a),
            _ => None,
        })
        .unwrap();
    assert_eq!(
        completed.versioning_behavior,
        VersioningBehavior::Pinned as i32
    );
    assert_eq!(completed.worker_deployment_name, "dep");
    assert_eq!(
        completed.deployment_version,
        Some(WorkerDeploymentVersion {
            deployment_name: "dep".into(),
            build_id: "1.0".into()
        })
    );
    // Its activity is pinned to 1.0 too, and stays there once 2.0 is current.
    set_current(&mut h, "2.0").unwrap();
    assert!(takes(&h, TaskKind::Activity, Some("1.0")));
    assert!(!takes(&h, TaskKind::Activity, Some("2.0")));
    let exec = h.execution("wf", &run);
    assert_eq!(
        keyword_list(&exec, "BuildIds"),
        vec!["pinned:dep:1.0", "unversioned:1.0"]
    );
    assert_eq!(
        keyword_list(&exec, "TemporalWorkerDeploymentVersion"),
        vec!["dep:1.0"]
    );
    assert_eq!(
        keyword_list(&exec, "TemporalWorkflowVersioningBehavior"),
        vec!["Pinned"]
    );
    let info = keel_engine::versioning::info(&exec).unwrap();
    assert_eq!(info.behavior, VersioningBehavior::Pinned as i32);
    assert_eq!(info.revision_number, 1);
}

#[test]
fn an_auto_upgrade_run_leaves_its_sticky_worker_when_the_current_version_changes() {
    let mut h = Harness::new();
    register_version(&mut h, "1.0");
    register_version(&mut h, "2.0");
    set_current(&mut h, "1.0").unwrap();
    let run = Harness::run_id(h.start("wf", "r1").unwrap());
    let (token, _) = h.poll_workflow();
    complete_versioned(
        &mut h,
        &token,
        "1.0",
        VersioningBehavior::AutoUpgrade,
        vec![],
        Some("sticky-1"),
    )
    .unwrap();
    signal(&mut h, "wf", "s1").unwrap();
    assert_eq!(
        last_task_queue(&h),
        "sticky-1",
        "same version: the sticky worker"
    );
    let (token, _) = h.poll_workflow();
    complete_versioned(
        &mut h,
        &token,
        "1.0",
        VersioningBehavior::AutoUpgrade,
        vec![],
        Some("sticky-1"),
    )
    .unwrap();
    set_current(&mut h, "2.0").unwrap();
    signal(&mut h, "wf", "s2").unwrap();
    // Scheduled in the sticky queue's name, as Temporal's, but dispatched to the normal queue
    // where only version 2.0 may take it.
    assert_eq!(last_task_queue(&h), "q");
    assert!(takes(&h, TaskKind::Workflow, Some("2.0")));
    assert!(!takes(&h, TaskKind::Workflow, Some("1.0")));
    let (token, _) = h.poll_workflow();
    complete_versioned(
        &mut h,
        &token,
        "2.0",
        VersioningBehavior::AutoUpgrade,
        vec![],
        None,
    )
    .unwrap();
    let exec = h.execution("wf", &run);
    assert_eq!(
        keyword_list(&exec, "TemporalUsedWorkerDeploymentVersions"),
        vec!["dep:1.0", "dep:2.0"]
    );
    assert_eq!(
        keyword_list(&exec, "TemporalWorkerDeploymentVersion"),
        vec!["dep:2.0"]
    );
}

#[test]
fn routing_changes_are_checked_against_the_deployment() {
    let mut h = Harness::new();
    let missing = set_current(&mut h, "1.0").unwrap_err();
    assert!(
        matches!(missing, Rejection::NotFound(ref m) if m.contains("no Worker Deployment found with name 'dep'")),
        "{missing:?}"
    );
    register_version(&mut h, "1.0");
    register_version(&mut h, "2.0");
    let unknown = set_current(&mut h, "9").unwrap_err();
    assert_eq!(
        unknown,
        Rejection::NotFound("build ID '9' not found in Worker Deployment 'dep'".into())
    );
    let token = match set_current(&mut h, "1.0").unwrap() {
        Outcome::SetCurrentVersion(r) => {
            assert_eq!(r.previous_version, "__unversioned__");
            r.conflict_token
        }
        o => panic!("{o:?}"),
    };
    // A stale token is refused; the current one is taken.
    let ramp = |h: &mut Harness, build: &str, pct: f32, token: Vec<u8>| {
        h.apply(Kind::SetRampingVersion(SetRampingVersion {
            request: Some(ws::SetWorkerDeploymentRampingVersionRequest {
                namespace: NS.into(),
                deployment_name: "dep".into(),
                build_id: build.into(),
                percentage: pct,
                conflict_token: token,
                identity: "op".into(),
                ..Default::default()
            }),
            ramping: true,
        }))
    };
    assert_eq!(
        ramp(&mut h, "1.0", 10.0, token.clone()).unwrap_err(),
        Rejection::FailedPrecondition(
            "requested ramping version dep.1.0 is already current".into()
        )
    );
    let Outcome::SetRampingVersion(r) = ramp(&mut h, "2.0", 30.0, token.clone()).unwrap() else {
        panic!()
    };
    assert_eq!(
        ramp(&mut h, "2.0", 50.0, token).unwrap_err(),
        Rejection::FailedPrecondition("conflict token mismatch".into())
    );
    // The same change again by the same identity changes nothing.
    let Outcome::SetRampingVersion(again) = ramp(&mut h, "2.0", 30.0, vec![]).unwrap() else {
        panic!()
    };
    assert_eq!(again.conflict_token, r.conflict_token);
    let d = deployment(&h);
    assert!(d.ramping && d.ramping_build_id == "2.0" && d.ramping_percentage == 30.0);
    let delete_version = |h: &mut Harness, build: &str| {
        h.apply(Kind::DeleteDeploymentVersion(
            ws::DeleteWorkerDeploymentVersionRequest {
                namespace: NS.into(),
                deployment_version: Some(WorkerDeploymentVersion {
                    deployment_name: "dep".into(),
                    build_id: build.into(),
                }),
                ..Default::default()
            },
        ))
    };
    for build in ["1.0", "2.0"] {
        assert_eq!(
            delete_version(&mut h, build).unwrap_err(),
            Rejection::FailedPrecondition(format!(
                "version 'dep:{build}' cannot be deleted since it is current or ramping"
            ))
        );
    }
    let delete = |h: &mut Harness| {
        h.apply(Kind::DeleteDeployment(ws::DeleteWorkerDeploymentRequest {
            namespace: NS.into(),
            deployment_name: "dep".into(),
            identity: "op".into(),
        }))
    };
    assert_eq!(
        delete(&mut h).unwrap_err(),
        Rejection::FailedPrecondition("deployment has versions, can't be deleted".into())
    );
    set_current(&mut h, "").unwrap();
    h.apply(Kind::SetRampingVersion(SetRampingVersion {
        request: Some(ws::SetWorkerDeploymentRampingVersionRequest {
            namespace: NS.into(),
            deployment_name: "dep".into(),
            identity: "op".into(),
            ..Default::default()
        }),
        ramping: false,
    }))
    .unwrap();
    delete_version(&mut h, "1.0").unwrap();
    let claim = keys::deployment_queue(NS, "q", TaskQueueType::Workflow as i32);
    assert!(h.state.0.contains_key(&claim), "2.0 still polls q");
    delete_version(&mut h, "2.0").unwrap();
    assert!(
        !h.state.0.contains_key(&claim),
        "no version polls q any more"
    );
    delete(&mut h).unwrap();
    assert!(!h.state.0.contains_key(&keys::worker_deployment(NS, "dep")));
}

#[test]
fn a_pinned_override_routes_the_runs_next_tasks_and_is_recorded() {
    use temporalio_protos::temporal::api::workflow::v1::{
        versioning_override, VersioningOverride, WorkflowExecutionOptions,
    };
    let mut h = Harness::new();
    h.apply(Kind::RecordClusterLevel(RecordClusterLevel {
        level: keel_engine::feature_level::LEVEL,
    }))
    .unwrap();
    register_version(&mut h, "1.0");
    register_version(&mut h, "2.0");
    set_current(&mut h, "2.0").unwrap();
    let run = Harness::run_id(h.start("wf", "r1").unwrap());
    let (token, _) = h.poll_workflow();
    complete_versioned(
        &mut h,
        &token,
        "2.0",
        VersioningBehavior::AutoUpgrade,
        vec![],
        None,
    )
    .unwrap();
    let pin_to_1 = VersioningOverride {
        r#override: Some(versioning_override::Override::Pinned(
            versioning_override::PinnedOverride {
                behavior: versioning_override::PinnedOverrideBehavior::Pinned as i32,
                version: Some(WorkerDeploymentVersion {
                    deployment_name: "dep".into(),
                    build_id: "1.0".into(),
                }),
            },
        )),
        ..Default::default()
    };
    h.apply(Kind::UpdateWorkflowOptions(
        ws::UpdateWorkflowExecutionOptionsRequest {
            namespace: NS.into(),
            workflow_execution: Some(WorkflowExecution {
                workflow_id: "wf".into(),
                run_id: String::new(),
            }),
            workflow_execution_options: Some(WorkflowExecutionOptions {
                versioning_override: Some(pin_to_1.clone()),
                ..Default::default()
            }),
            update_mask: Some(prost_wkt_types::FieldMask {
                paths: vec!["versioning_override".into()],
            }),
            identity: "op".into(),
        },
    ))
    .unwrap();
    let updated = h
        .history("wf", &run)
        .into_iter()
        .find_map(|e| match e.attributes {
            Some(EA::WorkflowExecutionOptionsUpdatedEventAttributes(a)) => Some(a),
            _ => None,
        })
        .unwrap();
    assert_eq!(updated.versioning_override, Some(pin_to_1));
    assert!(!updated.unset_versioning_override);
    signal(&mut h, "wf", "s1").unwrap();
    assert!(takes(&h, TaskKind::Workflow, Some("1.0")));
    assert!(!takes(&h, TaskKind::Workflow, Some("2.0")));
}

#[test]
fn children_and_next_runs_on_the_same_queue_inherit_a_pinned_version() {
    let mut h = Harness::new();
    register_version(&mut h, "1.0");
    register_version(&mut h, "2.0");
    set_current(&mut h, "1.0").unwrap();
    h.start("parent", "r1").unwrap();
    let (token, _) = h.poll_workflow();
    complete_versioned(
        &mut h,
        &token,
        "1.0",
        VersioningBehavior::Pinned,
        vec![start_child("kid")],
        None,
    )
    .unwrap();
    set_current(&mut h, "2.0").unwrap();
    // The child's first task goes to 1.0, its parent's version, not to the current 2.0.
    let kid_task = h
        .tasks
        .iter()
        .rev()
        .find(|(k, key)| {
            *k == TaskKind::Workflow
                && TaskRecord::decode(h.state.0.get(key).unwrap().as_slice())
                    .unwrap()
                    .workflow_id
                    == "kid"
        })
        .cloned()
        .unwrap();
    let record = TaskRecord::decode(h.state.0.get(&kid_task.1).unwrap().as_slice()).unwrap();
    assert_eq!(
        record.pinned.as_ref().map(|v| v.build_id.as_str()),
        Some("1.0")
    );
    let kid = h.execution("kid", "child-run-0");
    match &h.history("kid", "child-run-0")[0].attributes {
        Some(EA::WorkflowExecutionStartedEventAttributes(a)) => {
            assert_eq!(
                a.inherited_pinned_version
                    .as_ref()
                    .map(|v| v.build_id.as_str()),
                Some("1.0")
            )
        }
        o => panic!("{o:?}"),
    }
    assert_eq!(
        keel_engine::versioning::info(&kid).unwrap().behavior,
        VersioningBehavior::Pinned as i32
    );

    // A continue-as-new asking for AUTO_UPGRADE starts its next run on the current version.
    h.start("chain", "r2").unwrap();
    let (token, _) = h.poll_workflow();
    complete_versioned(
        &mut h,
        &token,
        "2.0",
        VersioningBehavior::AutoUpgrade,
        vec![],
        None,
    )
    .unwrap();
    signal(&mut h, "chain", "s").unwrap();
    let (token, _) = h.poll_workflow();
    let mut can = continue_as_new("next", 0);
    if let Some(A::ContinueAsNewWorkflowExecutionCommandAttributes(a)) = &mut can.attributes {
        a.initial_versioning_behavior =
            temporalio_protos::temporal::api::enums::v1::ContinueAsNewVersioningBehavior::AutoUpgrade
                as i32;
    }
    complete_versioned(
        &mut h,
        &token,
        "2.0",
        VersioningBehavior::Pinned,
        vec![can],
        None,
    )
    .unwrap();
    let (_, routing) = last_routing(&h, TaskKind::Workflow);
    assert_eq!(routing.pinned, None);
}

#[test]
fn a_manager_identity_alone_changes_the_routing_and_deletes_versions() {
    use ws::set_worker_deployment_manager_request::NewManagerIdentity;
    let mut h = Harness::new();
    register_version(&mut h, "1.0");
    let manage = |h: &mut Harness, who: Option<NewManagerIdentity>, identity: &str| {
        h.apply(Kind::SetDeploymentManager(
            ws::SetWorkerDeploymentManagerRequest {
                namespace: NS.into(),
                deployment_name: "dep".into(),
                new_manager_identity: who,
                identity: identity.into(),
                ..Default::default()
            },
        ))
    };
    let Outcome::SetDeploymentManager(r) =
        manage(&mut h, Some(NewManagerIdentity::Self_(true)), "ci").unwrap()
    else {
        panic!()
    };
    assert_eq!(r.previous_manager_identity, "");
    assert_eq!(deployment(&h).manager_identity, "ci");
    let refused = set_current(&mut h, "1.0").unwrap_err();
    assert!(
        matches!(&refused, Rejection::FailedPrecondition(m) if m.starts_with("ManagerIdentity 'ci' is set and does not match user identity 'operator-")),
        "{refused:?}"
    );
    h.apply(Kind::SetCurrentVersion(
        ws::SetWorkerDeploymentCurrentVersionRequest {
            namespace: NS.into(),
            deployment_name: "dep".into(),
            build_id: "1.0".into(),
            identity: "ci".into(),
            ..Default::default()
        },
    ))
    .unwrap();
    manage(&mut h, None, "ci").unwrap();
    set_current(&mut h, "").unwrap();
    // A version named before any of its workers polled, when allowed.
    h.apply(Kind::SetCurrentVersion(
        ws::SetWorkerDeploymentCurrentVersionRequest {
            namespace: NS.into(),
            deployment_name: "dep".into(),
            build_id: "9.0".into(),
            allow_no_pollers: true,
            identity: "op".into(),
            ..Default::default()
        },
    ))
    .unwrap();
    assert_eq!(deployment(&h).current_build_id, "9.0");
}

#[test]
fn versioned_completions_and_deployment_kinds_need_release_6() {
    use keel_engine::feature_level::{required, RELEASE_6};
    let versioned = Kind::CompleteWorkflowTask(CompleteWorkflowTask {
        request: Some(ws::RespondWorkflowTaskCompletedRequest {
            deployment_options: Some(WorkerDeploymentOptions {
                deployment_name: "dep".into(),
                build_id: "1".into(),
                worker_versioning_mode: WorkerVersioningMode::Versioned as i32,
            }),
            ..Default::default()
        }),
        ..Default::default()
    });
    assert_eq!(required(&versioned), RELEASE_6);
    assert_eq!(
        required(&Kind::SetCurrentVersion(Default::default())),
        RELEASE_6
    );
    assert!(required(&Kind::CompleteWorkflowTask(Default::default())) < RELEASE_6);
}
