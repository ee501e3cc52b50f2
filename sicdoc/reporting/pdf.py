"""Writing the report: HTML as is, PDF printed by a headless Chromium; each file written atomically.

Chromium is an operating-system package (Debian's ``chromium``), not a Python dependency: its path
comes from the ``CHROMIUM`` setting (``SICDOC_CHROMIUM``), else ``chromium`` on the PATH. The page
size is the template's ``@page`` (A4).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from sicdoc.errors import ConfigurationError, SicdocError

DEFAULT_CHROMIUM = "/usr/bin/chromium"
PRINT_SECONDS = 120


class ReportWriteError(SicdocError):
    """The report file could not be made; the message says why in one line."""

    status = 500

    def __init__(self, message: str):
        super().__init__(message, code="exception")


def find_chromium(configured: str | None) -> str:
    """The Chromium to print with; ConfigurationError in one line when there is none."""
    candidates = [configured] if configured else [shutil.which("chromium"), DEFAULT_CHROMIUM]
    for candidate in candidates:
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    where = f"SICDOC_CHROMIUM={configured} is not an executable file" if configured else "no chromium found"
    raise ConfigurationError(f"PDF needs Chromium ({where}); write --out report.html instead")


def html_to_pdf(html: str, chromium: str, timeout: float = PRINT_SECONDS) -> bytes:
    """The PDF Chromium prints from ``html`` (no network, no header or footer, a throw-away profile)."""
    with tempfile.TemporaryDirectory(prefix="sicdoc-report-") as work:
        folder = Path(work)
        page, out = folder / "report.html", folder / "report.pdf"
        page.write_text(html, encoding="utf-8")
        command = [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-extensions",
            "--no-first-run",
            f"--user-data-dir={folder / 'profile'}",
            "--no-pdf-header-footer",
            f"--print-to-pdf={out}",
            page.as_uri(),
        ]
        try:
            subprocess.run(  # noqa: S603 - a fixed argument list, no shell
                command, capture_output=True, timeout=timeout, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise ReportWriteError(f"Chromium could not print the report: {exc}") from None
        data = out.read_bytes() if out.is_file() else b""
    if not data.startswith(b"%PDF"):
        raise ReportWriteError(f"Chromium ({chromium}) printed no PDF; write --out report.html instead")
    return data


def write_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to a temporary file beside ``path``, then rename it over ``path``: a reader
    never sees half a report, and a failure leaves no file behind."""
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
