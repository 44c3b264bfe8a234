//! Running an official Rust SDK worker for the length of a test body.

use crate::sdk_client;
use std::future::Future;
use std::time::Duration;
use temporalio_sdk::{Runtime, Worker, WorkerOptions};

/// How long a test body may take before the worker is shut down and the test fails.
const BODY_TIMEOUT: Duration = Duration::from_secs(90);

/// Runs a worker built from `options` (its queue, workflows and activities) against the keel
/// at `url` while `body` runs, then shuts it down and returns the body's result.
pub async fn with_worker<F, T>(url: &str, options: WorkerOptions, body: F) -> anyhow::Result<T>
where
    F: Future<Output = anyhow::Result<T>>,
{
    let runtime = Runtime::from_current_tokio(Default::default())?;
    let client = sdk_client(url, "default").await?;
    let mut worker = Worker::new(&runtime, client, options)?;
    let shutdown = worker.shutdown_handle();
    let (run, result) = tokio::join!(worker.run(), async {
        let r = tokio::time::timeout(BODY_TIMEOUT, body).await;
        shutdown();
        r
    });
    run?;
    result.map_err(|_| anyhow::anyhow!("test body timed out"))?
}
