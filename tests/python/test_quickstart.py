"""The README's Python quickstart, exactly as written there (only the address changed), run as
a new user runs it: it prints the greeting, and the SDK's worker logs no warning about the
server (it warned once that the server did not advertise a capability Keel honours)."""

import pathlib
import re
import subprocess
import sys

README = pathlib.Path(__file__).resolve().parent.parent.parent / "README.md"


def quickstart_code() -> str:
    text = README.read_text()
    python = text[text.index("**Python**"):]
    match = re.search(r"```python\n(.*?)```", python, re.S)
    assert match, "no python block after **Python** in README.md"
    return match.group(1)


def test_readme_python_quickstart_runs_without_sdk_warnings(keel, tmp_path):
    code = quickstart_code()
    assert '"127.0.0.1:7233"' in code
    script = tmp_path / "quickstart.py"
    script.write_text(code.replace('"127.0.0.1:7233"', f'"{keel.target}"'))
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "Hello, Keel!", done.stdout
    warnings = [line for line in done.stderr.splitlines() if "WARN" in line or "ERROR" in line]
    assert not warnings, "the SDK warned:\n" + "\n".join(warnings)
