"""Upgrades: this build opens every data directory fixture an earlier release left (a start-dev
directory with workflows in flight, tests/python/fixtures/data-dir-v*.tar.gz, made by
data_dir_fixture.py) and runs its workflows to completion; a directory of a newer storage
format is refused with a clear message and nothing written."""

import asyncio
import os
import subprocess
import tarfile

import pytest
from temporalio.client import Client
from temporalio.worker import Worker

from conftest import Keel
from data_dir_fixture import FIXTURES, NOT_STARTED, QUEUE, TIMER, WAITING, GreetThenWait, Sleep, greet

DATA_DIRS = sorted(FIXTURES.glob("data-dir-v*.tar.gz"))


def test_there_is_a_data_dir_fixture_of_this_builds_format():
    out = subprocess.run([os.environ["KEEL_BIN"], "--version"], capture_output=True, text=True)
    assert out.returncode == 0
    assert DATA_DIRS, "make one with data_dir_fixture.py"


@pytest.mark.parametrize("fixture", DATA_DIRS, ids=lambda p: p.name)
async def test_an_earlier_releases_data_dir_opens_and_its_workflows_complete(tmp_path, fixture):
    with tarfile.open(fixture) as tar:
        tar.extractall(tmp_path, filter="data")
    keel = Keel(str(tmp_path / "data"))
    keel.start()
    try:
        client = await Client.connect(keel.target)
        async with Worker(client, task_queue=QUEUE, workflows=[GreetThenWait, Sleep], activities=[greet]):
            for wf_id in WAITING + NOT_STARTED:
                await client.get_workflow_handle(wf_id).signal(GreetThenWait.signal_go)
            handles = {i: client.get_workflow_handle(i) for i in WAITING + NOT_STARTED + TIMER}
            results = await asyncio.wait_for(
                asyncio.gather(*[h.result() for h in handles.values()]), timeout=60)
        expected = [f"hello {i}" for i in WAITING + NOT_STARTED] + [f"slept {i}" for i in TIMER]
        assert results == expected
    finally:
        keel.kill9()
    assert (tmp_path / "data" / "KEEL_FORMAT").exists()


def test_a_data_dir_of_a_newer_format_is_refused_with_nothing_written(tmp_path):
    data = tmp_path / "data"
    keel = Keel(str(data))
    keel.start()
    keel.proc.terminate()
    assert keel.proc.wait(30) == 0
    newer = int((data / "KEEL_FORMAT").read_text()) + 1
    (data / "KEEL_FORMAT").write_text(f"{newer}\n")
    before = sorted((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in data.rglob("*"))
    out = subprocess.run(
        [os.environ["KEEL_BIN"], "server", "start-dev", "--data-dir", str(data), "--listen", keel.target,
         "--headless"],
        capture_output=True, text=True, timeout=30)
    assert out.returncode != 0
    assert f"storage format {newer}" in out.stderr and "newer Keel" in out.stderr, out.stderr
    after = sorted((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in data.rglob("*"))
    assert after == before
