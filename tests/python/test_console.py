"""The web console in a real browser (Debian's headless Chromium through ChromeDriver) against
a real keel with workflows run by the Python SDK: the list shows them and filters by a query,
hostile ids and memos stay text, the detail page shows the history and the timeline,
terminate from the page terminates the run, pause on a schedule pauses it, read-only mode
hides and refuses writes, a missing run says so, and the cluster page of a 3-node cluster
shows the new leader after a kill -9. Every page looked at is saved as a screenshot
(browser.ARTEFACTS); the list page's load time is printed."""

import asyncio
import json
import time
import urllib.error
import urllib.request
import uuid
from datetime import timedelta

import pytest
from selenium.webdriver.common.by import By
from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleIntervalSpec,
    ScheduleSpec,
    WorkflowExecutionStatus,
)
from temporalio.worker import Worker

from browser import chromium, open_page, screenshot, texts, wait_for
from conftest import Keel, start_cluster
from console_workflows import CONSOLE_ACTIVITIES, CONSOLE_WORKFLOWS, ConsoleGreet, ConsoleWait
from ports import reserve_port

HOSTILE_ID = ('<img src=x onerror="window.pwned=1">' + "x" * 1000)[:1000]  # the longest id Temporal allows
HOSTILE_MEMO = "<script>window.pwned=2</script>"
HOSTILE_REASON = "<b onclick=\"window.pwned=3\">from the console</b>"


def console_keel(tmp_path, *flags) -> Keel:
    ui = reserve_port()
    k = Keel(str(tmp_path / "data"), extra_args=["--ui-listen", f"127.0.0.1:{ui}", "--http-listen",
                                                   f"127.0.0.1:{reserve_port()}", *flags])
    k.ui = f"http://127.0.0.1:{ui}"
    k.start()
    return k


@pytest.fixture
def browser():
    driver = chromium()
    yield driver
    driver.quit()


@pytest.fixture
def keel_ui(tmp_path):
    k = console_keel(tmp_path)
    yield k
    k.kill9()


async def run_workflows(client, queue):
    """Two greetings (completed, one with a hostile id and memo) and one run left waiting."""
    greet = await client.execute_workflow(ConsoleGreet.run, "ada", id=f"greet-{uuid.uuid4()}", task_queue=queue)
    assert greet == "HELLO ADA"
    await client.execute_workflow(ConsoleGreet.run, "eve", id=HOSTILE_ID, task_queue=queue,
                                  memo={"note": HOSTILE_MEMO})
    waiting = await client.start_workflow(ConsoleWait.run, id=f"wait-{uuid.uuid4()}", task_queue=queue)
    return waiting


async def test_workflow_list_filters_and_escapes(keel_ui, browser):
    client = await Client.connect(keel_ui.target)
    queue = f"console-{uuid.uuid4()}"
    async with Worker(client, task_queue=queue, workflows=CONSOLE_WORKFLOWS, activities=CONSOLE_ACTIVITIES):
        await run_workflows(client, queue)
        load_ms = open_page(browser, f"{keel_ui.ui}/namespaces/default/workflows")
        # A cold browser's first page: the script, the stylesheet, namespaces, counts, the list.
        print(f"\nconsole: list page of 3 runs rendered {load_ms:.0f} ms after navigation start")
        rows = browser.find_elements(By.CSS_SELECTOR, "#workflows tbody tr")
        assert len(rows) == 3
        assert sorted(texts(browser, "#workflows tbody .status")) == ["Completed", "Completed", "Running"]
        assert HOSTILE_ID in texts(browser, "#workflows tbody td.id a")
        assert browser.execute_script("return window.pwned") is None
        assert not browser.find_elements(By.CSS_SELECTOR, "#workflows img")
        counts = " ".join(texts(browser, "#counts .chip"))
        assert "All 3" in counts and "Completed 2" in counts and "Running 1" in counts
        screenshot(browser, "workflow-list")

        box = browser.find_element(By.CSS_SELECTOR, "input[name=query]")
        box.clear()
        box.send_keys('WorkflowType = "ConsoleWait"')
        box.submit()
        wait_for(browser, lambda: "query=" in browser.current_url, what="the query in the URL")
        wait_for(browser, lambda: browser.execute_script("return document.body.dataset.ready === '1'"))
        assert texts(browser, "#workflows tbody .status") == ["Running"]
        screenshot(browser, "workflow-list-filtered")

        open_page(browser, f"{keel_ui.ui}/namespaces/default/workflows?query={urllib.request.quote('Nope = 1')}")
        assert "invalid query" in browser.find_element(By.ID, "list").text
        nothing = urllib.request.quote('WorkflowId = "none"')
        open_page(browser, f"{keel_ui.ui}/namespaces/default/workflows?query={nothing}")
        assert "No workflow matches" in browser.find_element(By.ID, "list").text


async def test_detail_history_timeline_and_terminate(keel_ui, browser):
    client = await Client.connect(keel_ui.target)
    queue = f"console-{uuid.uuid4()}"
    async with Worker(client, task_queue=queue, workflows=CONSOLE_WORKFLOWS, activities=CONSOLE_ACTIVITIES):
        waiting = await run_workflows(client, queue)
        # The hostile run's page: its id and memo shown as text, nothing run.
        open_page(browser, f"{keel_ui.ui}/namespaces/default/workflows/{urllib.request.quote(HOSTILE_ID, safe='')}")
        summary = browser.find_element(By.ID, "summary").text
        assert HOSTILE_ID in summary and HOSTILE_MEMO in summary
        assert browser.execute_script("return window.pwned") is None
        assert "HELLO EVE" in browser.find_element(By.ID, "io").text
        events = texts(browser, "#history tbody tr td:nth-child(3)")
        for kind in ["WorkflowExecutionStarted", "ActivityTaskScheduled", "ActivityTaskCompleted",
                     "TimerStarted", "TimerFired", "WorkflowExecutionCompleted"]:
            assert kind in events
        browser.execute_script("document.querySelector('.tabs').scrollIntoView()")
        screenshot(browser, "workflow-history")

        browser.find_element(By.LINK_TEXT, "Timeline").click()
        wait_for(browser, lambda: browser.find_elements(By.CSS_SELECTOR, ".timeline svg"), what="the timeline")
        labels = texts(browser, ".timeline svg g.span text")
        assert any(label.startswith("Activity console_shout") for label in labels), labels
        assert any(label.startswith("Timer") for label in labels), labels
        assert len(browser.find_elements(By.CSS_SELECTOR, ".timeline svg rect")) >= 3
        browser.execute_script("document.querySelector('.tabs').scrollIntoView()")
        screenshot(browser, "workflow-timeline")

        # Terminate the waiting run from its page, through the confirmation dialog.
        open_page(browser, f"{keel_ui.ui}/namespaces/default/workflows/{waiting.id}/{waiting.result_run_id}")
        browser.find_element(By.ID, "terminate").click()
        dialog = wait_for(browser, lambda: browser.find_element(By.ID, "confirm"), what="the dialog")
        assert dialog.is_displayed()
        dialog.find_element(By.NAME, "reason").send_keys(HOSTILE_REASON)
        screenshot(browser, "terminate-dialog")
        browser.find_element(By.ID, "confirm-ok").click()
        wait_for(browser, lambda: "Terminated" in browser.find_element(By.ID, "summary").text,
                 what="the page to show Terminated")
        screenshot(browser, "workflow-terminated")
        desc = await waiting.describe()
        assert desc.status == WorkflowExecutionStatus.TERMINATED
        history = await waiting.fetch_history()
        last = history.events[-1]
        assert last.workflow_execution_terminated_event_attributes.reason == HOSTILE_REASON
        # The hostile reason shows in the history as text.
        assert HOSTILE_REASON in browser.find_element(By.ID, "history").text
        assert not browser.find_elements(By.CSS_SELECTOR, "#history b")


async def test_long_history_pages_signal_and_reset(keel_ui, browser):
    client = await Client.connect(keel_ui.target)
    # 2 + 3,000 events: a run nobody works on, signalled 3,000 times.
    idle = await client.start_workflow(ConsoleWait.run, id=f"long-{uuid.uuid4()}", task_queue=f"nobody-{uuid.uuid4()}")
    for batch in range(30):
        await asyncio.gather(*(idle.signal("poke") for _ in range(100)))
    load_ms = open_page(browser, f"{keel_ui.ui}/namespaces/default/workflows/{idle.id}")
    print(f"\nconsole: detail page of a 3,002-event run rendered {load_ms:.0f} ms after navigation start")
    assert len(browser.find_elements(By.CSS_SELECTOR, "#history tbody tr")) == 200
    browser.find_element(By.XPATH, "//button[text()='Load more']").click()
    wait_for(browser, lambda: len(browser.find_elements(By.CSS_SELECTOR, "#history tbody tr")) == 400,
             what="the second page of events")
    browser.find_element(By.LINK_TEXT, "Timeline").click()
    wait_for(browser, lambda: browser.find_elements(By.CSS_SELECTOR, ".timeline svg circle"), what="signals on the timeline")
    screenshot(browser, "long-history-timeline")

    # Signal from the page, with a JSON input.
    browser.find_element(By.ID, "signal").click()
    browser.find_element(By.NAME, "signal-name").send_keys("from-the-page")
    browser.find_element(By.NAME, "signal-input").send_keys('{"n": 7}')
    browser.find_element(By.ID, "confirm-ok").click()
    wait_for(browser, lambda: browser.execute_script("return document.body.dataset.ready === '1'"))
    history = await idle.fetch_history()
    last = history.events[-1].workflow_execution_signaled_event_attributes
    assert last.signal_name == "from-the-page"
    assert json.loads(last.input.payloads[0].data) == {"n": 7}

    # Reset a completed run to its first workflow task: a new run starts and completes.
    queue = f"console-{uuid.uuid4()}"
    async with Worker(client, task_queue=queue, workflows=CONSOLE_WORKFLOWS, activities=CONSOLE_ACTIVITIES):
        done = await client.start_workflow(ConsoleGreet.run, "reset", id=f"reset-{uuid.uuid4()}", task_queue=queue)
        await done.result()
        open_page(browser, f"{keel_ui.ui}/namespaces/default/workflows/{done.id}/{done.result_run_id}")
        browser.find_element(By.ID, "reset").click()
        browser.find_element(By.NAME, "reason").send_keys("reset in a browser")
        browser.find_element(By.ID, "confirm-ok").click()
        wait_for(browser, lambda: done.result_run_id not in browser.current_url, what="the new run's page")
        new_run = browser.current_url.rstrip("/").split("/")[-1]
        assert await client.get_workflow_handle(done.id, run_id=new_run).result() == "HELLO RESET"
        screenshot(browser, "after-reset")

        # The task queue page lists the worker's pollers.
        open_page(browser, f"{keel_ui.ui}/namespaces/default/task-queues/{queue}")
        wait_for(browser, lambda: browser.find_elements(By.CSS_SELECTOR, "table.pollers tbody tr"), what="pollers")
        screenshot(browser, "task-queue")


async def test_batch_operation_page_shows_progress(keel_ui, browser):
    from temporalio.api.batch.v1 import BatchOperationTermination
    from temporalio.api.workflowservice.v1 import StartBatchOperationRequest

    client = await Client.connect(keel_ui.target)
    queue = f"batch-{uuid.uuid4()}"
    for i in range(5):
        await client.start_workflow(ConsoleWait.run, id=f"{queue}-{i}", task_queue=queue)
    job = f"console-batch-{uuid.uuid4()}"
    await client.workflow_service.start_batch_operation(StartBatchOperationRequest(
        namespace="default", job_id=job, visibility_query=f'TaskQueue = "{queue}"', reason="console test",
        termination_operation=BatchOperationTermination(),
    ))
    open_page(browser, f"{keel_ui.ui}/namespaces/default/batch-operations")
    assert job in texts(browser, "#batches td.id")
    open_page(browser, f"{keel_ui.ui}/namespaces/default/batch-operations/{job}")
    wait_for(browser, lambda: (open_page(browser, f"{keel_ui.ui}/namespaces/default/batch-operations/{job}") or True)
             and "5 done, 0 failed of 5" in browser.find_element(By.ID, "batch").text, timeout=30, what="the batch to finish")
    screenshot(browser, "batch-operation")


async def test_schedule_pause_from_the_page(keel_ui, browser):
    client = await Client.connect(keel_ui.target)
    sid = f"console-schedule-{uuid.uuid4()}"
    handle = await client.create_schedule(sid, Schedule(
        action=ScheduleActionStartWorkflow(ConsoleWait.run, id=f"{sid}-run", task_queue="console-schedules"),
        spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(hours=1))]),
    ))
    open_page(browser, f"{keel_ui.ui}/namespaces/default/schedules")
    assert sid in texts(browser, "#schedules td.id")
    screenshot(browser, "schedule-list")
    open_page(browser, f"{keel_ui.ui}/namespaces/default/schedules/{sid}")
    assert len(browser.find_elements(By.CSS_SELECTOR, "#next-runs li")) >= 3
    browser.find_element(By.ID, "pause").click()
    browser.find_element(By.NAME, "note").send_keys("paused in a browser")
    browser.find_element(By.ID, "confirm-ok").click()
    wait_for(browser, lambda: "Paused" in browser.find_element(By.ID, "schedule-summary").text,
             what="the page to show Paused")
    screenshot(browser, "schedule-paused")
    described = await handle.describe()
    assert described.schedule.state.paused
    assert described.schedule.state.note == "paused in a browser"


def test_read_only_hides_and_refuses_writes(tmp_path, browser):
    k = console_keel(tmp_path, "--ui-read-only")
    try:
        async def start():
            client = await Client.connect(k.target)
            return await client.start_workflow(ConsoleWait.run, id=f"ro-{uuid.uuid4()}", task_queue="nobody")
        handle = asyncio.run(start())
        open_page(browser, f"{k.ui}/namespaces/default/workflows/{handle.id}")
        assert "Running" in browser.find_element(By.ID, "summary").text
        assert not browser.find_elements(By.ID, "terminate")
        assert browser.find_element(By.ID, "mode").text == "read-only"
        screenshot(browser, "read-only")
        req = urllib.request.Request(f"{k.ui}/api/v1/namespaces/default/workflows/{handle.id}/terminate",
                                     data=b"{}", method="POST")
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(req, timeout=10)
        assert refused.value.code == 403
        assert json.loads(refused.value.read())["code"] == 7

        async def still_running():
            client = await Client.connect(k.target)
            return (await client.get_workflow_handle(handle.id).describe()).status
        assert asyncio.run(still_running()) == WorkflowExecutionStatus.RUNNING
    finally:
        k.kill9()


def test_missing_run_and_unknown_page(keel_ui, browser):
    open_page(browser, f"{keel_ui.ui}/namespaces/default/workflows/no-such-workflow")
    assert "does not exist" in browser.find_element(By.ID, "main").text
    screenshot(browser, "missing-run")
    with pytest.raises(urllib.error.HTTPError) as missing:
        urllib.request.urlopen(f"{keel_ui.ui}/no/such/page", timeout=10)
    assert missing.value.code == 404
    open_page(browser, f"{keel_ui.ui}/no/such/page")
    assert "Page not found" in browser.find_element(By.TAG_NAME, "h1").text


def test_cluster_page_shows_the_new_leader_after_kill9(tmp_path, browser):
    ui_ports = {i: reserve_port() for i in (1, 2, 3)}
    cluster = start_cluster(tmp_path, lambda i: ["--ui-listen", f"127.0.0.1:{ui_ports[i]}"])
    try:
        old = cluster.wait_leader()
        watcher = next(i for i in (1, 2, 3) if i != old)
        url = f"http://127.0.0.1:{ui_ports[watcher]}/cluster"

        def roles():
            return {int(r.get_attribute("data-node")): r.get_attribute("data-role")
                    for r in browser.find_elements(By.CSS_SELECTOR, "#members tbody tr")}

        open_page(browser, url)
        wait_for(browser, lambda: roles().get(old) == "leader", what=f"node {old} shown as leader")
        assert sorted(roles()) == [1, 2, 3]
        screenshot(browser, "cluster-before")
        cluster.node(old).kill9()
        # The page refreshes itself every 2 s: no reload.
        wait_for(browser, lambda: roles().get(old) == "unreachable"
                 and list(roles().values()).count("leader") == 1, timeout=30,
                 what="a new leader and the old one unreachable")
        new = next(i for i, r in roles().items() if r == "leader")
        assert new != old
        assert new == cluster.wait_leader()
        screenshot(browser, "cluster-after-kill9")
    finally:
        for n in cluster.nodes:
            n.kill9()


def test_sign_in_with_a_token_when_authorization_is_on(tmp_path, browser):
    from pki import api_keys_file

    key = "console-" + uuid.uuid4().hex
    keys = api_keys_file(tmp_path / "keys.toml", {key: ["temporal-system:admin"]})
    k = console_keel(tmp_path, "--auth-api-keys-file", str(keys))
    try:
        async def start():
            client = await Client.connect(k.target, api_key=key, tls=False)
            return await client.start_workflow(ConsoleWait.run, id=f"signed-{uuid.uuid4()}", task_queue="nobody")
        handle = asyncio.run(start())
        open_page(browser, f"{k.ui}/namespaces/default/workflows")
        form = wait_for(browser, lambda: browser.find_elements(By.ID, "sign-in"), what="the sign-in form")[0]
        assert handle.id not in browser.find_element(By.ID, "main").text
        screenshot(browser, "sign-in")
        form.find_element(By.ID, "token").send_keys("wrong-key")
        form.find_element(By.TAG_NAME, "button").click()
        wait_for(browser, lambda: "not allowed" in browser.find_element(By.ID, "main").text, what="the refusal")
        form = browser.find_element(By.ID, "sign-in")
        token = form.find_element(By.ID, "token")
        time.sleep(6)  # past a live refresh: the form must still be the one typed into
        token.send_keys(key)
        form.find_element(By.TAG_NAME, "button").click()
        wait_for(browser, lambda: handle.id in browser.find_element(By.ID, "main").text, what="the signed-in list")
        screenshot(browser, "signed-in")
        # Keel's own cluster read needs credentials too.
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"{k.ui}/api/keel/cluster", timeout=10)
        assert refused.value.code == 403
        req = urllib.request.Request(f"{k.ui}/api/keel/cluster", headers={"Authorization": f"Bearer {key}"})
        with urllib.request.urlopen(req, timeout=10) as resp:
            assert json.loads(resp.read())["members"]
    finally:
        k.kill9()
