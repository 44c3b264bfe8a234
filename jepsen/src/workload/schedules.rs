//! The schedule part of the workload: one schedule firing every second, created before the
//! clients start (ALLOW_ALL, so no run waits for another; its runs live in their own
//! namespace and nobody works them), and clients triggering it, each trigger with a nominal
//! time of its own in 2099 (so its run's id is unique). After healing the schedule is paused
//! and read back: its counts and every run it started (by `TemporalScheduledById`).

use super::{connect, request, Client, Workload, CALL_TIMEOUT};
use crate::checker::FinalSchedule;
use crate::nemesis::Rng;
use crate::op::{OpKind, Outcome};
use std::time::{Duration, Instant};
use temporalio_protos::temporal::api::{
    common::v1::WorkflowType,
    enums::v1::ScheduleOverlapPolicy,
    schedule::v1::{
        schedule_action, IntervalSpec, Schedule, ScheduleAction, SchedulePatch, SchedulePolicies,
        ScheduleSpec, TriggerImmediatelyRequest,
    },
    taskqueue::v1::TaskQueue,
    workflow::v1::NewWorkflowExecutionInfo,
    workflowservice::v1::*,
};
use tonic::Code;

pub const SCHEDULE_NAMESPACE: &str = "jepsen-schedules";
pub const SCHEDULE_ID: &str = "js";
/// Its runs' workflow ids are this, a dash and the nominal time.
pub const SCHEDULED_WORKFLOW_ID: &str = "js-wf";
/// 2099-01-01T00:00:00Z: triggers' nominal times count on from here.
pub const TRIGGER_BASE_SECS: i64 = 4_070_908_800;

fn every_second() -> Schedule {
    Schedule {
        spec: Some(ScheduleSpec {
            interval: vec![IntervalSpec {
                interval: Some(prost_wkt_types::Duration {
                    seconds: 1,
                    nanos: 0,
                }),
                phase: None,
            }],
            ..Default::default()
        }),
        action: Some(ScheduleAction {
            action: Some(schedule_action::Action::StartWorkflow(
                NewWorkflowExecutionInfo {
                    workflow_id: SCHEDULED_WORKFLOW_ID.into(),
                    workflow_type: Some(WorkflowType {
                        name: "jepsen-scheduled".into(),
                    }),
                    task_queue: Some(TaskQueue {
                        name: "nobody".into(),
                        ..Default::default()
                    }),
                    ..Default::default()
                },
            )),
        }),
        policies: Some(SchedulePolicies {
            overlap_policy: ScheduleOverlapPolicy::AllowAll as i32,
            ..Default::default()
        }),
        state: None,
    }
}

impl Workload {
    /// Registers the schedules' namespace and creates the schedule, retrying until the
    /// cluster has both (a retry that finds them made already counts).
    pub async fn create_schedule(&self) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut rng = Rng::new(0x5C);
        let invoke = self.now_ms();
        loop {
            let client = self.client(&mut rng);
            match create(client).await {
                Ok(()) => break,
                Err(s) if Instant::now() > deadline => {
                    anyhow::bail!("creating the schedule: {s}")
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(250)).await,
            }
        }
        self.record(
            "setup",
            OpKind::CreateSchedule {
                schedule_id: SCHEDULE_ID.into(),
            },
            invoke,
            Outcome::Ok,
        );
        Ok(())
    }

    /// TriggerImmediately with nominal time `TRIGGER_BASE_SECS + unique`.
    pub(super) async fn trigger_schedule(
        &self,
        rng: &mut Rng,
        process: &str,
        unique: i64,
    ) -> Outcome {
        let invoke = self.now_ms();
        let nominal_secs = TRIGGER_BASE_SECS + unique;
        let req = PatchScheduleRequest {
            namespace: SCHEDULE_NAMESPACE.into(),
            schedule_id: SCHEDULE_ID.into(),
            patch: Some(SchedulePatch {
                trigger_immediately: Some(TriggerImmediatelyRequest {
                    overlap_policy: ScheduleOverlapPolicy::AllowAll as i32,
                    scheduled_time: Some(prost_wkt_types::Timestamp {
                        seconds: nominal_secs,
                        nanos: 0,
                    }),
                }),
                ..Default::default()
            }),
            identity: process.into(),
            request_id: format!("{process}-{unique}"),
        };
        let outcome = match self
            .client(rng)
            .patch_schedule(request(req, CALL_TIMEOUT))
            .await
        {
            Ok(_) => Outcome::Ok,
            Err(s) => Outcome::from_status(&s),
        };
        self.record(
            process,
            OpKind::TriggerSchedule { nominal_secs },
            invoke,
            outcome,
        )
    }
}

async fn create(mut client: Client) -> Result<(), tonic::Status> {
    let ns = RegisterNamespaceRequest {
        namespace: SCHEDULE_NAMESPACE.into(),
        workflow_execution_retention_period: Some(prost_wkt_types::Duration {
            seconds: 86_400,
            nanos: 0,
        }),
        ..Default::default()
    };
    match client.register_namespace(request(ns, CALL_TIMEOUT)).await {
        Ok(_) => {}
        Err(s) if s.code() == Code::AlreadyExists => {}
        Err(s) => return Err(s),
    }
    let req = CreateScheduleRequest {
        namespace: SCHEDULE_NAMESPACE.into(),
        schedule_id: SCHEDULE_ID.into(),
        schedule: Some(every_second()),
        request_id: "jepsen-schedule".into(),
        ..Default::default()
    };
    match client.create_schedule(request(req, CALL_TIMEOUT)).await {
        Ok(_) => Ok(()),
        Err(s) if s.code() == Code::AlreadyExists => Ok(()),
        Err(s) => Err(s),
    }
}

/// After healing: pauses the schedule (no more actions), then reads its counts and runs.
pub(super) async fn final_schedule(
    via: std::net::SocketAddr,
) -> anyhow::Result<Option<FinalSchedule>> {
    let client = connect(via)?;
    let mut tries = 0;
    loop {
        match read(client.clone()).await {
            Ok(found) => return Ok(found),
            Err(s) if tries >= 20 => anyhow::bail!("reading the schedule at the end: {s}"),
            Err(_) => {
                tries += 1;
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        }
    }
}

async fn read(mut client: Client) -> Result<Option<FinalSchedule>, tonic::Status> {
    let pause = PatchScheduleRequest {
        namespace: SCHEDULE_NAMESPACE.into(),
        schedule_id: SCHEDULE_ID.into(),
        patch: Some(SchedulePatch {
            pause: "jepsen is done".into(),
            ..Default::default()
        }),
        ..Default::default()
    };
    match client.patch_schedule(request(pause, CALL_TIMEOUT)).await {
        Err(s) if s.code() == Code::NotFound => return Ok(None),
        other => other?,
    };
    let described = client
        .describe_schedule(request(
            DescribeScheduleRequest {
                namespace: SCHEDULE_NAMESPACE.into(),
                schedule_id: SCHEDULE_ID.into(),
            },
            CALL_TIMEOUT,
        ))
        .await?
        .into_inner();
    let info = described.info.unwrap_or_default();
    let mut runs = Vec::new();
    let mut token = Vec::new();
    loop {
        let req = ListWorkflowExecutionsRequest {
            namespace: SCHEDULE_NAMESPACE.into(),
            page_size: 500,
            next_page_token: token,
            query: format!("TemporalScheduledById = '{SCHEDULE_ID}'"),
        };
        let page = client
            .list_workflow_executions(request(req, CALL_TIMEOUT))
            .await?
            .into_inner();
        runs.extend(
            page.executions
                .into_iter()
                .map(|e| e.execution.unwrap_or_default().workflow_id),
        );
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    Ok(Some(FinalSchedule {
        create_time_secs: info.create_time.map_or(0, |t| t.seconds),
        action_count: info.action_count,
        missed_catchup_window: info.missed_catchup_window,
        runs,
    }))
}
