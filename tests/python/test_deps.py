"""The set-up scripts' detection of what is missing (scripts/prereqs.sh): a library directory
that holds only libclang-cpp (what Debian images ship) must count as "libclang missing", one
with the libclang bindgen loads as present, and check_prereqs must fail naming what is missing."""

import os
import pathlib
import subprocess

PREREQS = pathlib.Path(__file__).resolve().parent.parent.parent / "scripts" / "prereqs.sh"


def bash(script: str, **env) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", "-c", f"set -euo pipefail; source {PREREQS}; {script}"],
        capture_output=True, text=True, timeout=30, env={**os.environ, **env},
    )


def lib_dir(tmp_path, *names) -> str:
    d = tmp_path / "lib"
    d.mkdir()
    for name in names:
        (d / name).write_bytes(b"")
    return str(d)


def test_libclang_cpp_alone_is_missing(tmp_path):
    d = lib_dir(tmp_path, "libclang-cpp.so.14", "libclang-cpp.so", "libclangBasic.a")
    assert bash(f"has_libclang {d}").returncode == 1


def test_each_name_bindgen_loads_is_present(tmp_path):
    for i, name in enumerate(["libclang.so", "libclang.so.1", "libclang-14.so.1", "libclang-14.0.6.so"]):
        d = tmp_path / str(i)
        d.mkdir()
        (d / "libclang-cpp.so.14").write_bytes(b"")
        (d / name).write_bytes(b"")
        assert bash(f"has_libclang {d}").returncode == 0, name


def test_check_prereqs_names_what_is_missing(tmp_path):
    d = lib_dir(tmp_path, "libclang-cpp.so.14")
    done = bash(
        "check_prereqs python node",
        KEEL_LIBCLANG_DIRS=d,
        KEEL_VENV=str(tmp_path / "no-venv"),
        KEEL_NODE_DIR=str(tmp_path / "no-node"),
    )
    assert done.returncode == 1
    assert "missing after the install step: libclang" in done.stderr
    assert f"the Python venv {tmp_path / 'no-venv'}" in done.stderr
    assert "the TypeScript SDK" in done.stderr


def test_check_prereqs_names_a_missing_browser(tmp_path):
    done = bash(
        "check_prereqs browser",
        KEEL_CHROMIUM=str(tmp_path / "no-chromium"),
        KEEL_CHROMEDRIVER=str(tmp_path / "no-chromedriver"),
        KEEL_VENV=str(tmp_path / "no-venv"),
    )
    assert done.returncode == 1
    assert "Chromium and ChromeDriver" in done.stderr
    assert "selenium in" in done.stderr
    chromium = tmp_path / "chromium"
    chromium.write_text("#!/bin/sh\n")
    chromium.chmod(0o755)
    only_chromium = bash("has_browser", KEEL_CHROMIUM=str(chromium), KEEL_CHROMEDRIVER=str(tmp_path / "none"))
    assert only_chromium.returncode == 1


def test_check_prereqs_passes_where_everything_is_installed():
    # The suite runs after scripts/deps.sh installed everything; the real search must find it.
    done = bash("check_prereqs python node browser")
    assert done.returncode == 0, done.stderr
