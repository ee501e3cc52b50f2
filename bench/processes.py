"""Processes of a benchmark run: a free port to serve on, a process tree, peak resident memory
(VmHWM) read from /proc, once or polled while a command runs, and the CPU time of a named program."""

from __future__ import annotations

import os
import re
import socket
import threading
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _parents() -> dict[int, int]:
    """pid -> parent pid of every process visible in /proc."""
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue  # gone meanwhile
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    return parents


def process_tree(root: int) -> list[int]:
    """``root`` and every process under it, parents first."""
    children: dict[int, list[int]] = {}
    for pid, parent in _parents().items():
        children.setdefault(parent, []).append(pid)
    tree = [root]
    for pid in tree:
        tree.extend(sorted(children.get(pid, [])))
    return tree


def cpu_seconds(program: str) -> float:
    """CPU seconds used so far by every process of ``program`` on this machine (PostgreSQL's server
    processes, say), with their finished children; a process that ended meanwhile is not counted."""
    total = 0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                name, _, rest = (entry / "stat").read_text().partition(" (")[2].rpartition(")")
            except OSError:
                continue
            if name == program:
                fields = rest.split()
                total += sum(int(f) for f in fields[11:15])  # utime, stime, cutime, cstime
    return total / os.sysconf("SC_CLK_TCK")


def status_mib(pid: int, field: str) -> float | None:
    """A memory figure of the process's /proc status (VmHWM, VmRSS...) in MiB; None once it has gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    match = re.search(rf"^{field}:\s+(\d+) kB", status, re.MULTILINE)
    return int(match.group(1)) / 1024 if match else None


def peak_mib(pid: int) -> float | None:
    """The process's peak resident set size (VmHWM) in MiB; None once it has gone."""
    return status_mib(pid, "VmHWM")


class PeakWatch:
    """Polls the VmHWM of a process tree while it runs, keeping the last value seen for each process."""

    def __init__(self, root: int, every: float = 0.25) -> None:
        self.root, self.every = root, every
        self.peaks: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()

    def _poll(self) -> None:
        while not self._stop.wait(self.every):
            for pid in process_tree(self.root):
                peak = peak_mib(pid)
                if peak is not None:
                    self.peaks[pid] = peak

    def stop(self) -> dict[int, float]:
        self._stop.set()
        self._thread.join()
        return self.peaks
