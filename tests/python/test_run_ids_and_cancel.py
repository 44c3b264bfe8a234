"""Two of Temporal's behaviours SDK code meets: run ids are UUIDv7 (time-ordered: a run started
later has a larger id), and RequestCancelWorkflowExecution of a workflow that already closed
succeeds and changes nothing (Temporal's history service treats it as a no-op:
service/history/api/requestcancelworkflow/api.go)."""

import uuid

from temporalio.client import Client
from temporalio.worker import Worker

from console_workflows import CONSOLE_ACTIVITIES, CONSOLE_WORKFLOWS, ConsoleGreet


async def test_run_ids_are_uuid_v7_and_cancelling_a_closed_workflow_succeeds(keel):
    client = await Client.connect(keel.target)
    queue = f"run-ids-{uuid.uuid4()}"
    async with Worker(client, task_queue=queue, workflows=CONSOLE_WORKFLOWS, activities=CONSOLE_ACTIVITIES):
        first = await client.start_workflow(ConsoleGreet.run, "a", id=f"ids-a-{uuid.uuid4()}", task_queue=queue)
        second = await client.start_workflow(ConsoleGreet.run, "b", id=f"ids-b-{uuid.uuid4()}", task_queue=queue)
        await first.result()
        await second.result()
    runs = [uuid.UUID(h.result_run_id) for h in (first, second)]
    assert [r.version for r in runs] == [7, 7]
    assert str(runs[1]) > str(runs[0]), "the later run's id sorts later"

    events = len((await first.fetch_history()).events)
    await client.get_workflow_handle(first.id).cancel()  # no run id: the latest run, closed
    await client.get_workflow_handle(first.id, run_id=first.result_run_id).cancel()
    assert len((await first.fetch_history()).events) == events, "nothing was written"
    assert (await first.describe()).status.name == "COMPLETED"
