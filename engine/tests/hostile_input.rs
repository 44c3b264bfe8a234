//! Property tests with hostile input (proptest, a fixed number of cases so CI is
//! repeatable): mutations read back from a damaged log (valid ones with bytes flipped,
//! dropped or cut off), absurd but well-typed start requests, and arbitrary bytes and text for
//! every decoder and parser the engine exposes. Nothing panics, a rejected mutation writes
//! nothing but the clock, and applying the same mutation to the same state gives the same
//! writes.

use keel_engine::mutation::*;
use keel_engine::records::TaskKind;
use keel_engine::{apply, keys, MemState, Mutation, Notification, Outcome, TaskToken};
use proptest::prelude::*;
use prost::Message;
use temporalio_protos::temporal::api::{
    command::v1::{command::Attributes as A, *},
    common::v1::{ActivityType, Payload, Payloads, RetryPolicy, WorkflowType},
    enums::v1::CommandType,
    taskqueue::v1::TaskQueue,
    workflowservice::v1 as ws,
};

const NS: &str = "default";

/// A state with a namespace and a running workflow whose first task a worker holds, and the
/// log that made it plus the next mutations a worker would send.
struct Seed {
    state: MemState,
    corpus: Vec<Mutation>,
    now: i64,
}

fn step(
    state: &mut MemState,
    now: &mut i64,
    kind: Kind,
    corpus: &mut Vec<Mutation>,
) -> Vec<Notification> {
    *now += 1_000_000;
    let m = Mutation {
        now: *now,
        kind: Some(kind),
    };
    let applied = apply(state, &m);
    corpus.push(m);
    state.apply_writes(applied.writes);
    applied.notifications
}

fn start_request(id: &str) -> ws::StartWorkflowExecutionRequest {
    ws::StartWorkflowExecutionRequest {
        namespace: NS.into(),
        workflow_id: id.into(),
        workflow_type: Some(WorkflowType {
            name: "Greet".into(),
        }),
        task_queue: Some(TaskQueue {
            name: "q".into(),
            ..Default::default()
        }),
        request_id: format!("req-{id}"),
        ..Default::default()
    }
}

fn payloads(s: &str) -> Payloads {
    Payloads {
        payloads: vec![Payload {
            metadata: [("encoding".to_string(), b"json/plain".to_vec())].into(),
            data: format!("{s:?}").into_bytes(),
            ..Default::default()
        }],
    }
}

fn seed() -> Seed {
    let (mut state, mut now, mut corpus) =
        (MemState::default(), 1_700_000_000_000_000_000, Vec::new());
    step(
        &mut state,
        &mut now,
        Kind::RegisterNamespace(RegisterNamespace {
            request: Some(ws::RegisterNamespaceRequest {
                namespace: NS.into(),
                ..Default::default()
            }),
            namespace_id: "ns-id".into(),
            if_absent: false,
        }),
        &mut corpus,
    );
    let notes = step(
        &mut state,
        &mut now,
        Kind::StartWorkflow(StartWorkflow {
            request: Some(start_request("wf")),
            run_id: "run-1".into(),
            ..Default::default()
        }),
        &mut corpus,
    );
    let task_key = notes
        .into_iter()
        .find_map(|n| match n {
            Notification::TaskAdded {
                kind: TaskKind::Workflow,
                task_key,
                ..
            } => Some(task_key),
            _ => None,
        })
        .expect("a workflow task");
    let start_task = Kind::StartTask(StartTask {
        task_key,
        identity: "worker".into(),
        request_id: "poll".into(),
        worker_version: None,
        suggest: None,
    });
    let started = apply(
        &state,
        &Mutation {
            now: now + 1,
            kind: Some(start_task.clone()),
        },
    );
    let token = match started.outcome {
        Ok(Outcome::WorkflowTaskStarted(s)) => {
            TaskToken::from_bytes(&s.response.task_token).unwrap()
        }
        o => panic!("{o:?}"),
    };
    step(&mut state, &mut now, start_task, &mut corpus);
    let commands = [
        Command {
            command_type: CommandType::ScheduleActivityTask as i32,
            attributes: Some(A::ScheduleActivityTaskCommandAttributes(
                ScheduleActivityTaskCommandAttributes {
                    activity_id: "1".into(),
                    activity_type: Some(ActivityType {
                        name: "shout".into(),
                    }),
                    task_queue: Some(TaskQueue {
                        name: "q".into(),
                        ..Default::default()
                    }),
                    start_to_close_timeout: Some(prost_wkt_types::Duration {
                        seconds: 10,
                        nanos: 0,
                    }),
                    retry_policy: Some(RetryPolicy {
                        maximum_attempts: 3,
                        ..Default::default()
                    }),
                    ..Default::default()
                },
            )),
            ..Default::default()
        },
        Command {
            command_type: CommandType::StartTimer as i32,
            attributes: Some(A::StartTimerCommandAttributes(
                StartTimerCommandAttributes {
                    timer_id: "t".into(),
                    start_to_fire_timeout: Some(prost_wkt_types::Duration {
                        seconds: 5,
                        nanos: 0,
                    }),
                },
            )),
            ..Default::default()
        },
        Command {
            command_type: CommandType::CompleteWorkflowExecution as i32,
            attributes: Some(A::CompleteWorkflowExecutionCommandAttributes(
                CompleteWorkflowExecutionCommandAttributes {
                    result: Some(payloads("done")),
                },
            )),
            ..Default::default()
        },
    ];
    // The next mutations a worker could send, not yet applied: the state holds a started task.
    for (i, commands) in [commands[..2].to_vec(), commands[2..].to_vec()]
        .into_iter()
        .enumerate()
    {
        corpus.push(Mutation {
            now: now + 10 + i as i64,
            kind: Some(Kind::CompleteWorkflowTask(CompleteWorkflowTask {
                token: Some(token.clone()),
                request: Some(ws::RespondWorkflowTaskCompletedRequest {
                    commands,
                    identity: "worker".into(),
                    ..Default::default()
                }),
                next_run_id: "next".into(),
                child_run_ids: vec!["c1".into(), "c2".into()],
                eager_activity_request_ids: vec![],
                continue_as_new_min_interval: 1_000_000_000,
            })),
        });
    }
    corpus.push(Mutation {
        now: now + 20,
        kind: Some(Kind::SignalWithStart(SignalWithStart::default())),
    });
    Seed { state, corpus, now }
}

/// Applies `m` twice to `state` (not changing it): the same writes both times, and a
/// rejection writes at most the clock.
fn check(state: &MemState, m: &Mutation) {
    let a = apply(state, m);
    let b = apply(state, m);
    assert_eq!(a.writes, b.writes, "apply is deterministic");
    if a.outcome.is_err() {
        let touched: Vec<_> = a.writes.keys().filter(|k| **k != keys::meta()).collect();
        // A bad command fails its workflow task instead of being refused outright.
        let fails_task = matches!(a.outcome, Err(keel_engine::Rejection::BadCommand { .. }));
        assert!(
            fails_task || touched.is_empty(),
            "a rejection wrote {touched:?}"
        );
    }
}

#[derive(Debug, Clone)]
enum Damage {
    Flip { at: usize, bits: u8 },
    Cut { at: usize },
    Insert { at: usize, byte: u8 },
}

fn damage() -> impl Strategy<Value = Damage> {
    prop_oneof![
        (any::<usize>(), 1..=255u8).prop_map(|(at, bits)| Damage::Flip { at, bits }),
        any::<usize>().prop_map(|at| Damage::Cut { at }),
        (any::<usize>(), any::<u8>()).prop_map(|(at, byte)| Damage::Insert { at, byte }),
    ]
}

fn damaged(mut bytes: Vec<u8>, damages: &[Damage]) -> Vec<u8> {
    for d in damages {
        if bytes.is_empty() {
            break;
        }
        match *d {
            Damage::Flip { at, bits } => {
                let i = at % bytes.len();
                bytes[i] ^= bits;
            }
            Damage::Cut { at } => bytes.truncate(at % bytes.len()),
            Damage::Insert { at, byte } => {
                let i = at % bytes.len();
                bytes.insert(i, byte);
            }
        }
    }
    bytes
}

thread_local! {
    static SEED: Seed = seed();
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn damaged_mutations_from_the_log_never_panic(pick in any::<usize>(), damages in prop::collection::vec(damage(), 1..6)) {
        SEED.with(|s| {
            let original = &s.corpus[pick % s.corpus.len()];
            let bytes = damaged(original.encode_to_vec(), &damages);
            if let Ok(m) = Mutation::decode(bytes.as_slice()) {
                check(&s.state, &m);
            }
        });
    }

    #[test]
    fn absurd_start_requests_are_refused_or_started_never_panic(
        id in ".{0,300}",
        type_name in ".{0,40}",
        queue in ".{0,40}",
        secs in prop::array::uniform3(any::<i64>()),
        nanos in prop::array::uniform3(any::<i32>()),
        cron in ".{0,30}",
        attempts in any::<i32>(),
        backoff in any::<f64>(),
        memo_bytes in prop::collection::vec(any::<u8>(), 0..64),
    ) {
        SEED.with(|s| {
            let d = |i: usize| Some(prost_wkt_types::Duration { seconds: secs[i], nanos: nanos[i] });
            let mut req = start_request(&id);
            req.workflow_type = Some(WorkflowType { name: type_name.clone() });
            req.task_queue = Some(TaskQueue { name: queue.clone(), ..Default::default() });
            req.workflow_execution_timeout = d(0);
            req.workflow_run_timeout = d(1);
            req.workflow_task_timeout = d(2);
            req.cron_schedule = cron.clone();
            req.retry_policy = Some(RetryPolicy {
                maximum_attempts: attempts,
                backoff_coefficient: backoff,
                initial_interval: d(1),
                ..Default::default()
            });
            req.memo = Some(temporalio_protos::temporal::api::common::v1::Memo {
                fields: [("m".to_string(), Payload { data: memo_bytes.clone(), ..Default::default() })].into(),
            });
            let m = Mutation {
                now: s.now + 100,
                kind: Some(Kind::StartWorkflow(StartWorkflow { request: Some(req), run_id: "r".into(), ..Default::default() })),
            };
            check(&s.state, &m);
        });
    }

    #[test]
    fn decoders_and_parsers_take_arbitrary_input(bytes in prop::collection::vec(any::<u8>(), 0..200), text in "\\PC{0,120}") {
        let _ = TaskToken::from_bytes(&bytes);
        let mut prefixed = b"kt1".to_vec();
        prefixed.extend_from_slice(&bytes);
        let _ = TaskToken::from_bytes(&prefixed);
        let _ = keys::decode_task(&bytes);
        let _ = keys::decode_visibility_order(&bytes);
        let _ = keys::decode_timer(&bytes);
        let _ = keel_engine::query::parser::parse(&text);
        let _ = keel_engine::cron::parse(&text);
        let _ = keel_engine::time::parse_rfc3339(&text);
        let _ = keel_engine::time::parse_go_duration(&text, true);
        let _ = Mutation::decode(bytes.as_slice());
    }

    #[test]
    fn query_shaped_text_never_panics_the_parser(
        parts in prop::collection::vec(prop_oneof![
            Just("WorkflowId"), Just("ExecutionStatus"), Just("StartTime"), Just("CustomKeywordField"),
            Just("="), Just("!="), Just(">"), Just("<="), Just("IN"), Just("NOT"), Just("BETWEEN"),
            Just("AND"), Just("OR"), Just("("), Just(")"), Just(","), Just("'x'"), Just("\"y\""),
            Just("1"), Just("-2.5e308"), Just("'2024-01-01T00:00:00Z'"), Just("IS"), Just("NULL"),
            Just("STARTS_WITH"), Just("ORDER BY"), Just("GROUP BY"), Just("`a b`"), Just("'"),
        ], 0..24),
        page in prop::collection::vec(any::<u8>(), 0..40),
    ) {
        let query = parts.join(" ");
        let _ = keel_engine::query::parser::parse(&query);
        SEED.with(|s| {
            let custom = Default::default();
            let _ = keel_engine::visibility::list(&s.state, NS, &custom, &query, 10, &page);
            let _ = keel_engine::visibility::count(&s.state, NS, &custom, &query);
        });
    }
}
