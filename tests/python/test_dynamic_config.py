"""Temporal's dynamic config on `keel server start-dev` (`--dynamic-config-value KEY=VALUE`,
as the SDKs' test harnesses pass it to `temporal server start-dev`): the continue-as-new
thresholds reach the workflow as WorkflowTaskStarted's suggestion (read by the Python SDK's
`is_continue_as_new_suggested`), a key Keel does not honour is reported and ignored, a
value of the wrong type stops the start with a message naming the key."""

import os
import subprocess
import uuid
from datetime import timedelta

from temporalio.api.enums.v1 import EventType, SuggestContinueAsNewReason
from temporalio.client import Client
from temporalio.worker import Worker

from conftest import Keel
from eager_workflows import UntilSuggestedWorkflow
from ports import reserve_port

E = EventType
R = SuggestContinueAsNewReason


async def run_until_suggested(keel: Keel, padding: str = ""):
    client = await Client.connect(keel.target)
    queue = f"q-{uuid.uuid4()}"
    async with Worker(client, task_queue=queue, workflows=[UntilSuggestedWorkflow]):
        handle = await client.start_workflow(
            UntilSuggestedWorkflow.run, padding, id=f"wf-{uuid.uuid4()}", task_queue=queue,
            task_timeout=timedelta(seconds=10),
        )
        length = await handle.result()
    events = [e async for e in handle.fetch_history_events()]
    started = [e for e in events if e.event_type == E.EVENT_TYPE_WORKFLOW_TASK_STARTED]
    return length, started


def start_keel(tmp_path, *flags) -> Keel:
    keel = Keel(str(tmp_path / "data"), extra_args=["--headless", *flags])
    keel.start()
    return keel


async def test_the_history_count_threshold_suggests_continue_as_new(tmp_path):
    keel = start_keel(tmp_path, "--dynamic-config-value", "limit.historyCount.suggestContinueAsNew=20")
    try:
        length, started = await run_until_suggested(keel)
    finally:
        keel.kill9()
    suggested = [e for e in started if e.workflow_task_started_event_attributes.suggest_continue_as_new]
    assert suggested, "some workflow task suggested continue-as-new"
    first = suggested[0]
    # Temporal's rule: the started event's own id counts; every task before it had fewer.
    assert first.event_id >= 20
    assert all(e.event_id < 20 for e in started if e not in suggested)
    assert list(first.workflow_task_started_event_attributes.suggest_continue_as_new_reasons) == [
        R.SUGGEST_CONTINUE_AS_NEW_REASON_TOO_MANY_HISTORY_EVENTS
    ]
    assert length == first.event_id, "the workflow saw the suggestion on that task"


async def test_the_history_size_threshold_suggests_continue_as_new(tmp_path):
    keel = start_keel(tmp_path, "--dynamic-config-value", "limit.historySize.suggestContinueAsNew=4096")
    try:
        length, started = await run_until_suggested(keel, padding="x" * 5000)
    finally:
        keel.kill9()
    # The input alone passes 4 KiB: the first task already suggests it, for its size.
    reasons = started[0].workflow_task_started_event_attributes.suggest_continue_as_new_reasons
    assert list(reasons) == [R.SUGGEST_CONTINUE_AS_NEW_REASON_HISTORY_SIZE_TOO_LARGE]
    assert length == 3


async def test_by_default_a_short_workflow_is_not_told_to_continue_as_new(keel):
    length, started = await run_until_suggested(keel)
    assert length == -1
    assert not any(e.workflow_task_started_event_attributes.suggest_continue_as_new for e in started)


def test_unknown_keys_are_reported_and_bad_values_stop_the_start(tmp_path):
    binary = os.environ["KEEL_BIN"]
    port = reserve_port()
    bad = subprocess.run(
        [binary, "server", "start-dev", "--headless", "--listen", f"127.0.0.1:{port}",
         "--data-dir", str(tmp_path / "bad"),
         "--dynamic-config-value", "limit.historyCount.suggestContinueAsNew=lots"],
        capture_output=True, text=True, timeout=30,
    )
    assert bad.returncode != 0
    assert "limit.historyCount.suggestContinueAsNew" in bad.stderr and "positive integer" in bad.stderr, bad.stderr

    proc = subprocess.Popen(
        [binary, "server", "start-dev", "--headless", "--listen", f"127.0.0.1:{port}",
         "--data-dir", str(tmp_path / "good"),
         "--dynamic-config-value", "history.someKnobKeelLacks=3",
         "--dynamic-config-value", "frontend.enableUpdateWorkflowExecution=true"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "KEEL_LOG": "warn"},
    )
    try:
        assert any("keel serving on" in line for line in proc.stdout), "the node served"
    finally:
        proc.kill()
        _, stderr = proc.communicate(timeout=10)
    assert "history.someKnobKeelLacks is not a setting Keel honours; ignored" in stderr, stderr
    assert "enableUpdateWorkflowExecution" not in stderr, "a switch Keel always has on is accepted quietly"
