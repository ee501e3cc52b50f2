"""The malloc settings of the web server's processes: the arena limit and a fixed mmap threshold."""

import os
import platform
import subprocess
import sys

import pytest

from sicdoc import serve

# Eight threads allocate at the same time, then the process counts glibc's arenas (malloc_info).
PROBE = """
import ctypes, sys, tempfile, threading
from sicdoc.allocator import cap_malloc_arenas
if sys.argv[1] == "capped":
    assert cap_malloc_arenas(2)
libc = ctypes.CDLL(None)
libc.fopen.restype = ctypes.c_void_p
libc.fopen.argtypes = (ctypes.c_char_p, ctypes.c_char_p)
libc.malloc_info.argtypes = (ctypes.c_int, ctypes.c_void_p)
libc.fclose.argtypes = (ctypes.c_void_p,)
together = threading.Barrier(8)
def allocate():
    together.wait()
    kept = [bytearray(4096) for _ in range(200)]
    together.wait()
threads = [threading.Thread(target=allocate) for _ in range(8)]
for t in threads:
    t.start()
for t in threads:
    t.join()
with tempfile.NamedTemporaryFile(suffix=".xml") as out:
    stream = libc.fopen(out.name.encode(), b"w")
    libc.malloc_info(0, stream)
    libc.fclose(stream)
    print(open(out.name).read().count("<heap nr="))
"""

glibc = pytest.mark.skipif(
    platform.libc_ver()[0] != "glibc", reason="the arena limit is a glibc setting; elsewhere it is a no-op"
)


def arenas(mode: str) -> int:
    env = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"}
    done = subprocess.run(
        [sys.executable, "-c", PROBE, mode], env=env, capture_output=True, text=True, check=True
    )
    return int(done.stdout)


@glibc
def test_threads_allocating_at_once_share_two_arenas():
    assert arenas("free") > 2  # glibc's own limit lets each thread have one
    assert arenas("capped") <= 2


def test_an_operators_setting_wins(monkeypatch):
    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")
    from sicdoc.allocator import cap_malloc_arenas

    assert cap_malloc_arenas() is False


# A large block freed, then megabyte blocks held under a small one and freed: with glibc's moving
# threshold they came from the heap, which keeps them; the process prints how much it kept.
RETAINED = """
import sys
from sicdoc.allocator import fix_mmap_threshold
if sys.argv[1] == "fixed":
    assert fix_mmap_threshold()
def resident():
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS")) // 1024
before = resident()
large = bytearray(16 << 20)
del large
blocks = [bytearray(2 << 20) for _ in range(24)]
pin = bytearray(200_000)
del blocks
print(resident() - before)
"""


def retained_mib(mode: str) -> int:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    done = subprocess.run(
        [sys.executable, "-c", RETAINED, mode], env=env, capture_output=True, text=True, check=True
    )
    return int(done.stdout)


@glibc
def test_freed_megabyte_blocks_go_back_to_the_system_with_a_fixed_threshold():
    assert retained_mib("moving") >= 40  # 48 MiB of blocks freed and kept by the heap
    assert retained_mib("fixed") <= 8


def test_an_operators_threshold_wins(monkeypatch):
    monkeypatch.setenv("MALLOC_MMAP_THRESHOLD_", "131072")
    from sicdoc.allocator import fix_mmap_threshold

    assert fix_mmap_threshold() is False


def test_the_server_sets_malloc_before_its_workers_fork(monkeypatch, app):
    calls: list[str] = []
    monkeypatch.setattr(serve, "cap_malloc_arenas", lambda: calls.append("arenas"))
    monkeypatch.setattr(serve, "fix_mmap_threshold", lambda: calls.append("threshold"))
    monkeypatch.setattr(serve, "freeze_survivors", lambda: calls.append("fork"))
    monkeypatch.setattr(serve._Gunicorn, "run", lambda self: calls.append("serve"))
    app.config["ANALYTICS_MODE"] = "shared"
    monkeypatch.setattr(serve, "start_analytics_worker", lambda app: None)
    serve.run(app, "127.0.0.1", 0)
    assert calls == ["arenas", "threshold", "fork", "serve"]
