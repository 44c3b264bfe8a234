"""Runs chained under one workflow id through the Python SDK against a real `keel`:
continue-as-new, and an entity workflow that continues as new every 100 signals without
losing one, and the minimal interval that slows a tight continue-as-new loop to a run a
second, as Temporal's. Event sequences are compared with Temporal's in test_fixtures.py."""

import asyncio
import time
import uuid

import pytest

from temporalio.api.enums.v1 import EventType, WorkflowExecutionStatus
from temporalio.client import Client

from chain_workflows import SIGNALS_PER_RUN, CountToWorkflow, EntityWorkflow, TightLoopWorkflow
from conftest import Keel
from scenarios import scenario_worker

E = EventType


async def runs_of(client, wf_id: str, first_run_id: str) -> list:
    """The run ids of a chain, first to last, following continued-as-new events."""
    runs = [first_run_id]
    while True:
        history = await client.get_workflow_handle(wf_id, run_id=runs[-1]).fetch_history()
        last = history.events[-1]
        if last.event_type != E.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW:
            return runs
        runs.append(last.workflow_execution_continued_as_new_event_attributes.new_execution_run_id)


async def test_continue_as_new_chains_runs_under_one_workflow_id(keel):
    client = await Client.connect(keel.target)
    queue = f"q-{uuid.uuid4()}"
    wf_id = f"count-{uuid.uuid4()}"
    async with scenario_worker(client, queue):
        handle = await client.start_workflow(CountToWorkflow.run, args=[0, 3], id=wf_id, task_queue=queue)
        assert await client.get_workflow_handle(wf_id).result() == "reached 3 after True continue"
    runs = await runs_of(client, wf_id, handle.result_run_id)
    assert len(runs) == 4
    first = await client.get_workflow_handle(wf_id, run_id=runs[0]).describe()
    assert first.status == WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_CONTINUED_AS_NEW
    last = (await client.get_workflow_handle(wf_id).describe()).raw_description.workflow_execution_info
    assert last.execution.run_id == runs[-1]
    assert last.first_run_id == runs[0]
    started = (await client.get_workflow_handle(wf_id).fetch_history()).events[0]
    assert started.workflow_execution_started_event_attributes.continued_execution_run_id == runs[-2]


async def test_an_entity_continues_as_new_every_100_signals_without_losing_one(keel):
    client = await Client.connect(keel.target)
    queue = f"q-{uuid.uuid4()}"
    wf_id = f"entity-{uuid.uuid4()}"
    amounts = list(range(1, 2 * SIGNALS_PER_RUN + 51))
    async with scenario_worker(client, queue):
        started = await client.start_workflow(EntityWorkflow.run, args=[0, False], id=wf_id, task_queue=queue)
        current = client.get_workflow_handle(wf_id)  # always the current run
        for batch in range(0, len(amounts), 10):  # ten in flight: some land mid-transition
            await asyncio.gather(*(current.signal(EntityWorkflow.add, a) for a in amounts[batch : batch + 10]))
        await current.signal(EntityWorkflow.finish)
        assert await current.result() == sum(amounts)
    runs = await runs_of(client, wf_id, started.result_run_id)
    # Each run but the last handled at least SIGNALS_PER_RUN (more when several arrive in one
    # workflow task), so 250 signals take two or three runs.
    assert 2 <= len(runs) <= 3, runs
    # Every signal is in exactly one run's history.
    signaled = 0
    for run_id in runs:
        history = await client.get_workflow_handle(wf_id, run_id=run_id).fetch_history()
        signaled += sum(e.event_type == E.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED for e in history.events)
    assert signaled == len(amounts) + 1


async def first_task_backoffs(client, wf_id: str, first_run_id: str) -> list:
    """Each later run's first-workflow-task backoff (seconds) in a chain."""
    backoffs = []
    for run_id in (await runs_of(client, wf_id, first_run_id))[1:]:
        history = await client.get_workflow_handle(wf_id, run_id=run_id).fetch_history()
        started = history.events[0].workflow_execution_started_event_attributes
        backoffs.append(started.first_workflow_task_backoff.ToTimedelta().total_seconds())
    return backoffs


@pytest.mark.parametrize("minimal_interval", [None, "0s"])
async def test_a_tight_continue_as_new_loop_makes_one_run_a_second(tmp_path, minimal_interval):
    flags = [] if minimal_interval is None else ["--dynamic-config-value",
                                                  f"history.workflowIdReuseMinimalInterval={minimal_interval}"]
    keel = Keel(str(tmp_path / "data"), extra_args=flags)
    keel.start()
    try:
        client = await Client.connect(keel.target)
        queue = f"q-{uuid.uuid4()}"
        wf_id = f"tight-{uuid.uuid4()}"
        async with scenario_worker(client, queue):
            began = time.monotonic()
            handle = await client.start_workflow(TightLoopWorkflow.run, args=[0, 3], id=wf_id, task_queue=queue)
            assert await client.get_workflow_handle(wf_id).result() == 3
            took = time.monotonic() - began
        backoffs = await first_task_backoffs(client, wf_id, handle.result_run_id)
        assert len(backoffs) == 3
        if minimal_interval is None:
            # Each run ended well inside its second: the next waited for the rest of it.
            assert all(0 < b < 1 for b in backoffs), backoffs
            assert took >= 2.5, f"three runs held back took only {took:.2f} s"
        else:
            assert backoffs == [0, 0, 0]
    finally:
        keel.kill9()
