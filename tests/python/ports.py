"""Loopback ports for test servers that no other test can take before the server binds them.

The same scheme as the Rust harness (tests/src/ports.rs), sharing its lock directory: a port
outside the kernel's ephemeral range (so no outgoing connection or bind(0) is given it),
reserved by an exclusive flock on $TMPDIR/keel-test-ports/<port>.lock held until this process
exits, and free when reserved.
"""

import fcntl
import os
import random
import socket
import tempfile

_PREFERRED = (20_000, 32_000)
_held = []  # open lock files: the locks last as long as this process


def _ephemeral_range():
    try:
        low, high = open("/proc/sys/net/ipv4/ip_local_port_range").read().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32_768, 60_999


def candidate_range():
    eph_low, eph_high = _ephemeral_range()
    low, high = _PREFERRED
    if high < eph_low or low > eph_high:
        return low, high
    if low < eph_low:
        return low, eph_low - 1
    if eph_high < 65_535 - 2_000:
        return eph_high + 1, 65_534
    return 10_000, max(eph_low - 1, 10_001)


def reserve_port() -> int:
    low, high = candidate_range()
    lock_dir = os.path.join(tempfile.gettempdir(), "keel-test-ports")
    os.makedirs(lock_dir, exist_ok=True)
    span = high - low + 1
    start = random.randrange(span)
    for i in range(span):
        port = low + (start + i) % span
        f = open(os.path.join(lock_dir, f"{port}.lock"), "a")
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            f.close()
            continue
        try:
            with socket.socket() as s:
                s.bind(("127.0.0.1", port))
        except OSError:
            f.close()
            continue
        _held.append(f)
        return port
    raise RuntimeError(f"no free test port in {low}..{high}")
