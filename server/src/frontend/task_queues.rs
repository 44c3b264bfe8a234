//! DescribeTaskQueue and ListTaskQueuePartitions, from the leader's matching service: the
//! pollers seen on a queue in the last five minutes (identity, last access time) and, when
//! asked, its backlog (ready tasks and the age of the oldest). Both the current request shape
//! (one task queue type) and the enhanced one the `temporal` CLI sends (every type, keyed by
//! build id, "" for unversioned workers) are answered. One partition per queue: Keel does not
//! partition task queues.

use super::{Frontend, Res};
use crate::errors;
use crate::matching::{QueueDescription, QueueStats};
use keel_engine::records::TaskKind;
use keel_engine::time::timestamp;
use std::collections::HashMap;
use std::time::Duration;
use temporalio_protos::temporal::api::{
    enums::v1::{DescribeTaskQueueMode, TaskQueueType},
    taskqueue::v1::{
        PollerInfo, TaskQueuePartitionMetadata, TaskQueueStats, TaskQueueStatus, TaskQueueTypeInfo,
        TaskQueueVersionInfo,
    },
    workflowservice::v1::*,
};
use tonic::{Request, Response};

pub(super) fn kind_of(t: TaskQueueType) -> TaskKind {
    match t {
        TaskQueueType::Workflow | TaskQueueType::Unspecified => TaskKind::Workflow,
        TaskQueueType::Activity => TaskKind::Activity,
        TaskQueueType::Nexus => TaskKind::Nexus,
    }
}

fn pollers(d: &QueueDescription) -> Vec<PollerInfo> {
    d.pollers
        .iter()
        .map(|p| PollerInfo {
            last_access_time: timestamp(p.last_access_unix_nanos),
            identity: p.identity.clone(),
            rate_per_second: p.rate_per_second,
            ..Default::default()
        })
        .collect()
}

pub(super) fn stats(s: &QueueStats) -> TaskQueueStats {
    TaskQueueStats {
        approximate_backlog_count: s.backlog as i64,
        approximate_backlog_age: Some(
            prost_wkt_types::Duration::try_from(s.oldest.unwrap_or(Duration::ZERO))
                .unwrap_or_default(),
        ),
        tasks_add_rate: s.add_rate,
        tasks_dispatch_rate: s.dispatch_rate,
        ..Default::default()
    }
}

/// The stats of each priority level, keyed by it as Temporal keys them.
fn stats_by_priority_key(d: &QueueDescription) -> HashMap<i32, TaskQueueStats> {
    d.by_priority
        .iter()
        .map(|(level, s)| (*level as i32, stats(s)))
        .collect()
}

pub(super) async fn describe(
    f: &Frontend,
    req: Request<DescribeTaskQueueRequest>,
) -> Res<DescribeTaskQueueResponse> {
    #[allow(deprecated)]
    let DescribeTaskQueueRequest {
        namespace,
        task_queue,
        task_queue_type,
        report_stats,
        include_task_queue_status,
        api_mode,
        task_queue_types,
        report_pollers,
        ..
    } = req.into_inner();
    f.keel.namespace(&namespace)?;
    let queue = task_queue.map(|q| q.name).unwrap_or_default();
    if queue.is_empty() {
        return Err(errors::invalid_argument("TaskQueue is not set on request."));
    }
    let matching = &f.keel.matching;
    let mut response = DescribeTaskQueueResponse::default();
    if api_mode == DescribeTaskQueueMode::Enhanced as i32 {
        let mut types: Vec<TaskQueueType> = task_queue_types
            .iter()
            .filter_map(|t| TaskQueueType::try_from(*t).ok())
            .collect();
        if types.is_empty() {
            types = vec![TaskQueueType::Workflow, TaskQueueType::Activity];
        }
        let mut info = TaskQueueVersionInfo::default();
        for t in types {
            let kind = kind_of(t);
            let d = matching.describe(&namespace, &queue, kind);
            info.types_info.insert(
                t as i32,
                TaskQueueTypeInfo {
                    pollers: if report_pollers {
                        pollers(&d)
                    } else {
                        Vec::new()
                    },
                    stats: report_stats.then(|| stats(&d.stats)),
                },
            );
        }
        #[allow(deprecated)]
        response.versions_info.insert(String::new(), info);
        return Ok(Response::new(response));
    }
    let t = TaskQueueType::try_from(task_queue_type).unwrap_or(TaskQueueType::Unspecified);
    let kind = kind_of(t);
    let d = matching.describe(&namespace, &queue, kind);
    response.pollers = pollers(&d);
    response.versioning_info = Some(keel_engine::deployments::queue_versioning_info(
        matching
            .deployment_of(&namespace, &queue, crate::matching::queue_type(kind))
            .as_ref(),
    ));
    if report_stats {
        response.stats = Some(stats(&d.stats));
        response.stats_by_priority_key = stats_by_priority_key(&d);
    }
    if include_task_queue_status {
        #[allow(deprecated)]
        {
            response.task_queue_status = Some(TaskQueueStatus {
                backlog_count_hint: d.stats.backlog as i64,
                rate_per_second: 100_000.0,
                ..Default::default()
            });
        }
    }
    Ok(Response::new(response))
}

pub(super) async fn list_partitions(
    f: &Frontend,
    req: Request<ListTaskQueuePartitionsRequest>,
) -> Res<ListTaskQueuePartitionsResponse> {
    let req = req.into_inner();
    f.keel.namespace(&req.namespace)?;
    let queue = req.task_queue.map(|q| q.name).unwrap_or_default();
    if queue.is_empty() {
        return Err(errors::invalid_argument("TaskQueue is not set on request."));
    }
    let owner = f.keel.client_addr.clone();
    let partition = || {
        vec![TaskQueuePartitionMetadata {
            key: queue.clone(),
            owner_host_name: owner.clone(),
        }]
    };
    Ok(Response::new(ListTaskQueuePartitionsResponse {
        activity_task_queue_partitions: partition(),
        workflow_task_queue_partitions: partition(),
    }))
}
