//! The API as a worker without an SDK sees it: history paging and long polls, and a timer
//! that fell due while the server was down firing promptly after the restart.

use keel_server::proto::workflowservice::workflow_service_client::WorkflowServiceClient;
use keel_tests::{history, raw_client, KeelProcess};
use std::collections::HashMap;
use std::time::{Duration, Instant};
use temporalio_protos::temporal::api::history::v1::history_event::Attributes as EventAttributes;
use temporalio_protos::temporal::api::{
    command::v1::{
        command::Attributes, Command, RecordMarkerCommandAttributes, StartTimerCommandAttributes,
    },
    common::v1::{WorkflowExecution, WorkflowType},
    enums::v1::{CommandType, EventType, HistoryEventFilterType},
    taskqueue::v1::TaskQueue,
    workflowservice::v1::*,
};
use tonic::transport::Channel;

fn queue(name: &str) -> Option<TaskQueue> {
    Some(TaskQueue {
        name: name.into(),
        ..Default::default()
    })
}

async fn start(
    c: &mut WorkflowServiceClient<Channel>,
    wf: &str,
    q: &str,
) -> anyhow::Result<String> {
    Ok(c.start_workflow_execution(StartWorkflowExecutionRequest {
        namespace: "default".into(),
        workflow_id: wf.into(),
        workflow_type: Some(WorkflowType { name: "Raw".into() }),
        task_queue: queue(q),
        request_id: uuid::Uuid::new_v4().to_string(),
        ..Default::default()
    })
    .await?
    .into_inner()
    .run_id)
}

async fn poll(
    c: &mut WorkflowServiceClient<Channel>,
    q: &str,
) -> anyhow::Result<PollWorkflowTaskQueueResponse> {
    let r = c
        .poll_workflow_task_queue(PollWorkflowTaskQueueRequest {
            namespace: "default".into(),
            task_queue: queue(q),
            identity: "raw".into(),
            ..Default::default()
        })
        .await?
        .into_inner();
    anyhow::ensure!(!r.task_token.is_empty(), "expected a workflow task");
    Ok(r)
}

async fn complete(
    c: &mut WorkflowServiceClient<Channel>,
    token: Vec<u8>,
    commands: Vec<Command>,
) -> anyhow::Result<()> {
    c.respond_workflow_task_completed(RespondWorkflowTaskCompletedRequest {
        task_token: token,
        namespace: "default".into(),
        commands,
        identity: "raw".into(),
        ..Default::default()
    })
    .await?;
    Ok(())
}

fn marker(i: usize) -> Command {
    Command {
        command_type: CommandType::RecordMarker as i32,
        attributes: Some(Attributes::RecordMarkerCommandAttributes(
            RecordMarkerCommandAttributes {
                marker_name: format!("m{i}"),
                details: HashMap::new(),
                ..Default::default()
            },
        )),
        ..Default::default()
    }
}

fn timer(secs: i64) -> Command {
    Command {
        command_type: CommandType::StartTimer as i32,
        attributes: Some(Attributes::StartTimerCommandAttributes(
            StartTimerCommandAttributes {
                timer_id: "t".into(),
                start_to_fire_timeout: Some(prost_wkt_types::Duration {
                    seconds: secs,
                    nanos: 0,
                }),
            },
        )),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_pages_and_long_polls_for_new_events() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let keel = KeelProcess::start(dir.path())?;
    let mut c = raw_client(&keel.url()).await?;
    let run = start(&mut c, "paged", "raw-q").await?;
    let task = poll(&mut c, "raw-q").await?;
    complete(
        &mut c,
        task.task_token,
        (0..30).map(marker).chain([timer(2)]).collect(),
    )
    .await?;

    // 4 workflow-task events + 30 markers + TimerStarted = 35, in pages of 7.
    let mut events = Vec::new();
    let mut token = Vec::new();
    let mut pages = 0;
    loop {
        let r = c
            .get_workflow_execution_history(GetWorkflowExecutionHistoryRequest {
                namespace: "default".into(),
                execution: Some(WorkflowExecution {
                    workflow_id: "paged".into(),
                    run_id: run.clone(),
                }),
                maximum_page_size: 7,
                next_page_token: token,
                ..Default::default()
            })
            .await?
            .into_inner();
        pages += 1;
        events.extend(r.history.unwrap().events);
        if r.next_page_token.is_empty() {
            break;
        }
        token = r.next_page_token;
    }
    assert_eq!(events.len(), 35);
    assert_eq!(pages, 5);
    assert_eq!(
        events,
        history::fetch(&mut c, "default", "paged", &run).await?
    );

    // A long poll from the end returns when the timer fires (not before, not much after).
    let began = Instant::now();
    let r = c
        .get_workflow_execution_history(GetWorkflowExecutionHistoryRequest {
            namespace: "default".into(),
            execution: Some(WorkflowExecution {
                workflow_id: "paged".into(),
                run_id: run.clone(),
            }),
            next_page_token: 36i64.to_be_bytes().to_vec(),
            wait_new_event: true,
            ..Default::default()
        })
        .await?
        .into_inner();
    let waited = began.elapsed();
    let new = r.history.unwrap().events;
    assert_eq!(
        new.first().map(|e| e.event_type),
        Some(EventType::TimerFired as i32)
    );
    assert!(
        waited >= Duration::from_millis(1500) && waited < Duration::from_secs(10),
        "{waited:?}"
    );
    assert!(
        !r.next_page_token.is_empty(),
        "a running workflow's history continues"
    );

    // The close-event filter with wait: returns only the close event once the run ends.
    let task = poll(&mut c, "raw-q").await?;
    let waiter = {
        let mut c = c.clone();
        let run = run.clone();
        tokio::spawn(async move {
            c.get_workflow_execution_history(GetWorkflowExecutionHistoryRequest {
                namespace: "default".into(),
                execution: Some(WorkflowExecution {
                    workflow_id: "paged".into(),
                    run_id: run,
                }),
                wait_new_event: true,
                history_event_filter_type: HistoryEventFilterType::CloseEvent as i32,
                ..Default::default()
            })
            .await
        })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    let done = Command {
        command_type: CommandType::CompleteWorkflowExecution as i32,
        attributes: Some(Attributes::CompleteWorkflowExecutionCommandAttributes(
            Default::default(),
        )),
        ..Default::default()
    };
    complete(&mut c, task.task_token, vec![done]).await?;
    let close = waiter.await??.into_inner();
    let events = close.history.unwrap().events;
    assert_eq!(events.len(), 1);
    assert_eq!(
        events[0].event_type,
        EventType::WorkflowExecutionCompleted as i32
    );
    assert!(close.next_page_token.is_empty());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_long_poll_answers_empty_before_the_client_deadline() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let keel = KeelProcess::start(dir.path())?;
    let mut c = raw_client(&keel.url()).await?;
    let mut req = tonic::Request::new(PollActivityTaskQueueRequest {
        namespace: "default".into(),
        task_queue: queue("idle-q"),
        ..Default::default()
    });
    req.set_timeout(Duration::from_secs(3));
    let began = Instant::now();
    let r = c.poll_activity_task_queue(req).await?.into_inner();
    assert!(
        r.task_token.is_empty(),
        "an idle poll gets an empty response, not an error"
    );
    assert!(began.elapsed() < Duration::from_secs(3));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gzip_compressed_requests_are_accepted() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let keel = KeelProcess::start(dir.path())?;
    let mut c = raw_client(&keel.url())
        .await?
        .send_compressed(tonic::codec::CompressionEncoding::Gzip)
        .accept_compressed(tonic::codec::CompressionEncoding::Gzip);
    let run = start(&mut c, "gzipped", "gzip-q").await?;
    assert!(!run.is_empty());
    c.get_system_info(GetSystemInfoRequest::default()).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timer_due_while_down_fires_promptly_after_restart() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let mut keel = KeelProcess::start(dir.path())?;
    let mut c = raw_client(&keel.url()).await?;
    start(&mut c, "overdue", "overdue-q").await?;
    let task = poll(&mut c, "overdue-q").await?;
    complete(&mut c, task.task_token, vec![timer(1)]).await?;
    keel.kill9();
    tokio::time::sleep(Duration::from_secs(2)).await; // the timer falls due while Keel is down
    let restarted = Instant::now();
    keel = KeelProcess::start_at(&keel.data_dir.clone(), keel.addr)?;
    let mut c = raw_client(&keel.url()).await?;
    let task = poll(&mut c, "overdue-q").await?;
    let after = restarted.elapsed();
    let types = history::types(&task.history.unwrap().events);
    assert_eq!(
        types[4..6],
        [EventType::TimerStarted, EventType::TimerFired]
    );
    println!("overdue timer fired and was delivered {after:?} after the restart began");
    assert!(
        after < Duration::from_secs(5),
        "overdue timers fire promptly: {after:?}"
    );
    Ok(())
}

/// Temporal's default limit of events in one run's history.
const HISTORY_EVENT_LIMIT: usize = 51_200;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_past_the_history_event_limit_is_terminated_with_temporals_reason(
) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let keel = KeelProcess::start(dir.path())?;
    let mut c = raw_client(&keel.url()).await?;
    start(&mut c, "too-long", "too-long-q").await?;
    let task = poll(&mut c, "too-long-q").await?;
    // One marker event per command: the completion takes the run past the limit.
    let markers = (0..HISTORY_EVENT_LIMIT).map(marker).collect();
    complete(&mut c, task.task_token, markers).await?;
    let events = history::fetch(&mut c, "default", "too-long", "").await?;
    assert_eq!(events.len(), HISTORY_EVENT_LIMIT + 5);
    let last = events.last().unwrap();
    let Some(EventAttributes::WorkflowExecutionTerminatedEventAttributes(t)) = &last.attributes
    else {
        anyhow::bail!("not terminated: {last:?}");
    };
    assert_eq!(t.reason, "Workflow history count exceeds limit.");
    Ok(())
}
