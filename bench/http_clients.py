"""Clients of a served sicdoc for benchmarks: people logged in through the login form, FHIR clients
with bearer tokens, several asking at once, and ``sicdoc serve`` itself on a free port."""

from __future__ import annotations

import math
import re
import secrets
import statistics
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from bench.processes import free_port, process_tree, status_mib
from bench.sicdoc_cli import SICDOC, environment, sicdoc

TIMEOUT = 900  # seconds one request may take before the run stops
FHIR_JSON = "application/fhir+json"


class Client:
    """One client of the served app with its own connection and cookies; ``get`` returns milliseconds."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.http = requests.Session()
        # As a browser does, a GET whose kept-alive connection the server closed just as it was sent
        # goes again on a new one (gunicorn closes connections idle for 2 s; the race once ended a
        # run with "connection reset by peer"). Other methods are never sent twice.
        # A 503 (figures still being built) is the caller's to handle: Retry-After is not followed.
        again = Retry(
            total=1,
            connect=1,
            read=1,
            status=0,
            other=0,
            allowed_methods=frozenset({"GET"}),
            respect_retry_after_header=False,
        )
        self.http.mount("http://", HTTPAdapter(max_retries=again))

    def headers(self) -> dict[str, str]:
        return {}

    def get(self, path: str, *, until_ready: bool = False) -> float:
        """Milliseconds to a 200; ``until_ready``: asked again after each 503 (figures still being
        built by the shared analytics worker), timed until the answer comes."""
        headers = self.headers()  # a token is fetched before the clock starts
        started = time.perf_counter()
        while True:
            answer = self.http.get(self.base + path, headers=headers, timeout=TIMEOUT)
            if not (until_ready and answer.status_code == 503):
                break
            if time.perf_counter() - started > TIMEOUT:
                break
            time.sleep(0.2)
        elapsed = (time.perf_counter() - started) * 1000
        if answer.status_code != 200:
            raise SystemExit(f"GET {path}: {answer.status_code} {answer.text[:500]}")
        return elapsed


class Person(Client):
    """Someone logged in through the login form, as a browser does (CSRF token from the form)."""

    def __init__(self, base: str, username: str, password: str) -> None:
        super().__init__(base)
        form = self.http.get(f"{base}/login", timeout=TIMEOUT).text
        tag = re.search(r"<input[^>]*name=\"csrf_token\"[^>]*>", form)
        token = re.search(r"value=\"([^\"]+)\"", tag.group(0)) if tag else None
        if token is None:
            raise SystemExit("no CSRF token on the login form")
        answer = self.http.post(
            f"{base}/login",
            data={"username": username, "password": password, "csrf_token": token.group(1)},
            allow_redirects=False,
            timeout=TIMEOUT,
        )
        if answer.status_code != 302 or "/login" in answer.headers.get("Location", ""):
            raise SystemExit(f"{username} could not log in: {answer.status_code}")


class Integration(Client):
    """A FHIR client with a bearer token (client credentials), fetched again before it expires."""

    LIFETIME = 240  # seconds a token is used; sicdoc issues them for 300 at most

    def __init__(self, base: str, client_id: str, secret: str) -> None:
        super().__init__(base)
        self.credentials = (client_id, secret)
        self.token, self.fetched = "", -math.inf

    def headers(self) -> dict[str, str]:
        if time.monotonic() - self.fetched > self.LIFETIME:
            answer = self.http.post(
                f"{self.base}/auth/token",
                data={"grant_type": "client_credentials", "scope": "system/*.*"},
                auth=self.credentials,
                timeout=TIMEOUT,
            )
            answer.raise_for_status()
            self.token, self.fetched = answer.json()["access_token"], time.monotonic()
        return {"Authorization": f"Bearer {self.token}", "Accept": FHIR_JSON}

    def transaction(self, bundle: dict[str, Any]) -> float:
        headers = {**self.headers(), "Content-Type": FHIR_JSON}
        started = time.perf_counter()
        answer = self.http.post(f"{self.base}/fhir", json=bundle, headers=headers, timeout=TIMEOUT)
        elapsed = (time.perf_counter() - started) * 1000
        if answer.status_code != 200:
            raise SystemExit(f"POST /fhir: {answer.status_code} {answer.text[:500]}")
        return elapsed


@dataclass
class Clients:
    """A QI analyst, and as many logged-in clinicians and FHIR clients as ask at once at most."""

    analyst: Client
    clinicians: list[Client]
    fhir: list[Integration]


def make_clients(base: str, url: str, at_once: int) -> Clients:
    """New accounts and a new FHIR client in the store (through the CLI), logged in over HTTP:
    ``at_once`` clinicians and FHIR clients."""
    password = secrets.token_urlsafe(18)
    tag = uuid.uuid4().hex[:6]
    for username, role in ((f"clinician-{tag}", "clinician"), (f"analyst-{tag}", "qi_analyst")):
        sicdoc(url, "users", "create", username, "--role", role, "--password-stdin", stdin=password + "\n")
    printed = sicdoc(url, "clients", "create", f"scale {tag}", "--scopes", "system/*.*", "--secret")
    fields = dict(line.split(": ", 1) for line in printed.splitlines() if ": " in line)
    many = range(at_once)
    return Clients(
        analyst=Person(base, f"analyst-{tag}", password),
        clinicians=[Person(base, f"clinician-{tag}", password) for _ in many],
        fhir=[Integration(base, fields["client_id"], fields["client_secret"]) for _ in many],
    )


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def spread(values: list[float]) -> dict[str, float]:
    return {
        "p50": round(statistics.median(values), 1),
        "p95": round(percentile(values, 95), 1),
        "n": len(values),
    }


def concurrent(clients: list[Client], paths: list[list[str]]) -> list[float]:
    """Each client asks for its own paths in turn, all clients at once; every time in ms."""
    times: list[float] = []
    errors: list[str] = []
    start = threading.Barrier(len(clients))
    lock = threading.Lock()

    def run(client: Client, mine: list[str]) -> None:
        start.wait()
        try:
            for path in mine:
                elapsed = client.get(path)
                with lock:
                    times.append(elapsed)
        except (SystemExit, requests.RequestException) as exc:  # a thread's SystemExit goes unseen
            errors.append(str(exc))

    threads = [threading.Thread(target=run, args=pair) for pair in zip(clients, paths, strict=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise SystemExit(errors[0])
    return times


@dataclass
class Server:
    base: str
    pid: int
    started_s: float

    def peaks(self) -> dict[str, float]:
        """VmHWM of the master and each process under it."""
        return self._memory("VmHWM")

    def resident(self) -> dict[str, float]:
        """VmRSS of the master and each process under it: what each holds now, its peaks aside (an
        argon2 hash at a login holds 64 MiB while it runs)."""
        return self._memory("VmRSS")

    def _memory(self, field: str) -> dict[str, float]:
        # Forked web workers run the master's command line, the shared analytics worker its own.
        names, web = {}, 0
        for n, pid in enumerate(process_tree(self.pid)):
            mib = status_mib(pid, field)
            try:
                command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if mib is None:
                continue
            if n == 0:
                label = "master"
            elif "analytics-worker" in command:
                label = "analytics worker"
            elif "sicdoc" in command or "gunicorn" in command:
                web += 1
                label = f"web worker {web}"
            else:
                label = command[:60]
            names[label] = round(mib, 1)
        return names


@contextmanager
def serving(url: str, workers: int, env: dict[str, str], log: Path) -> Iterator[Server]:
    """``sicdoc serve`` on a free port of 127.0.0.1 until the block ends; waits until it answers
    (the default dashboard is built before the workers start, minutes for a million patients)."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    settings = {
        "SICDOC_BASE_URL": base,
        "SICDOC_SECURE_COOKIES": "false",  # plain http on 127.0.0.1
        "SICDOC_LOGIN_RATE_LIMIT": "10000/minute",
        "SICDOC_TOKEN_RATE_LIMIT": "10000/minute",
        **env,
    }
    command = [str(SICDOC), "--database-url", url, "serve", "--host", "127.0.0.1"]
    started = time.perf_counter()
    with log.open("w") as out:
        proc = subprocess.Popen(
            [*command, "--port", str(port), "--workers", str(workers)],
            env=environment(**settings),
            stdout=subprocess.DEVNULL,  # the access log
            stderr=out,
        )
        try:
            while True:
                try:
                    if requests.get(f"{base}/fhir/metadata", timeout=5).status_code == 200:
                        break
                except requests.RequestException:
                    pass  # not listening yet: the default dashboard is built first
                if proc.poll() is not None:
                    raise SystemExit(f"the server stopped:\n{log.read_text()[-3000:]}")
                time.sleep(0.5)
            yield Server(base, proc.pid, time.perf_counter() - started)
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
