"""A real sicdoc process (gunicorn) on 127.0.0.1 for tests that talk HTTP like a client would."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests
from werkzeug.serving import make_server

ROOT = Path(__file__).resolve().parent.parent
CLI = [sys.executable, "-m", "sicdoc.cli"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def served_in_thread(app: object) -> Iterator[str]:
    """Serve an app object built by the test in a thread of this process; yields the base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)


@contextmanager
def live_server(
    database_url: str, extra_env: dict[str, str] | None = None, start_timeout: float = 60
) -> Iterator[str]:
    """Migrate, then serve with gunicorn; yields the base URL and stops the server afterwards.

    ``start_timeout``: seconds to wait for it to answer (the default dashboard is built before that).
    """
    env = {
        **os.environ,
        "SICDOC_DATABASE_URL": database_url,
        "SICDOC_DEMO": "true",
        "SICDOC_SECURE_COOKIES": "false",
        **(extra_env or {}),
    }
    subprocess.run([*CLI, "migrate"], env=env, check=True, cwd=ROOT, capture_output=True)
    port = free_port()
    proc = subprocess.Popen(
        [*CLI, "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "2"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + start_timeout
        while True:
            try:
                if requests.get(f"{base}/fhir/metadata", timeout=2).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"server did not start: {proc.stderr.read().decode()[-2000:]}")
            time.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()


def bearer_token(base: str, database_url: str, scopes: str = "system/*.*") -> str:
    """Register an integration client with a secret through the CLI and fetch a token from the server."""
    env = {**os.environ, "SICDOC_DATABASE_URL": database_url, "SICDOC_DEMO": "true"}
    out = subprocess.run(
        [*CLI, "clients", "create", "live tests", "--scopes", scopes, "--secret"],
        env=env,
        check=True,
        cwd=ROOT,
        capture_output=True,
        text=True,
    ).stdout
    fields = dict(line.split(": ", 1) for line in out.splitlines() if ": " in line)
    resp = requests.post(
        f"{base}/auth/token",
        data={"grant_type": "client_credentials", "scope": scopes},
        auth=(fields["client_id"], fields["client_secret"]),
        timeout=10,
    )
    resp.raise_for_status()
    return resp.json()["access_token"]
