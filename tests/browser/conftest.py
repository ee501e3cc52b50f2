"""A real server in a thread, Debian's Chromium driven by Playwright, and axe-core for accessibility scans.

Missing Chromium or axe-core fails the run with the command that installs them; it never skips.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from sicdoc.migrate import upgrade
from tests.live_server import served_in_thread

CHROMIUM = Path("/usr/bin/chromium")
HERE = Path(__file__).resolve().parent
AXE = HERE / "node_modules" / "axe-core" / "axe.min.js"
ARTIFACTS = HERE.parent.parent / "test-artifacts"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
# The policy the deployment will send: pages must work with no inline script or style at all.
from tests.conftest import PASSWORD  # noqa: E402 - one password for every web test

CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:"


@pytest.fixture(scope="module")
def live_app(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """The app on SQLite with CSRF on, as a clinician's browser meets it."""
    from sicdoc.app import create_app

    url = f"sqlite:///{tmp_path_factory.mktemp('browser') / 'sicdoc.sqlite3'}"
    upgrade(url)
    app = create_app(
        {"TESTING": True, "DATABASE_URL": url, "WTF_CSRF_ENABLED": True, "LOGIN_RATE_LIMIT": "1000/minute"}
    )

    @app.after_request
    def _csp(response):  # type: ignore[no-untyped-def]
        response.headers.setdefault("Content-Security-Policy", CSP)
        return response

    from sicdoc.services import accounts

    with app.extensions["sicdoc.sessionmaker"]() as session:
        for role, username in (("clinician", "clinician"), ("qi_analyst", "analyst")):
            accounts.create_user(session, username, PASSWORD, role)
    yield app
    app.extensions["sicdoc.engine"].dispose()


def ready_for_an_analyst(app, csp: str, *views: str) -> None:  # type: ignore[no-untyped-def]
    """Send ``csp`` on every answer, add the analyst, and build ``views`` once up front (the app caches
    them), so browser timeouts measure drawing rather than building."""
    from sicdoc.services import accounts
    from tests.conftest import login

    @app.after_request
    def _csp(response):  # type: ignore[no-untyped-def]
        response.headers["Content-Security-Policy"] = csp
        return response

    with app.extensions["sicdoc.sessionmaker"]() as session:
        accounts.create_user(session, "analyst", PASSWORD, "qi_analyst")
    client = app.test_client()
    assert login(client, "analyst").status_code == 302
    for path in views:
        assert client.get(path).status_code == 200


def log_in(page, base_url: str, username: str = "clinician") -> None:  # type: ignore[no-untyped-def]
    """Log in through the real form, as a person would."""
    page.goto(f"{base_url}/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    with page.expect_navigation():
        page.press("input[name=password]", "Enter")
    assert "/login" not in page.url, page.content()[:2000]


@pytest.fixture(scope="module")
def base_url(live_app) -> Iterator[str]:  # type: ignore[no-untyped-def]
    with served_in_thread(live_app) as url:
        yield url


@pytest.fixture(scope="module")
def browser():  # type: ignore[no-untyped-def]
    if not CHROMIUM.exists():
        pytest.fail(
            f"Chromium is missing at {CHROMIUM}: install it with `apt-get install -y chromium` "
            "(bash scripts/test does this when run as root).",
            pytrace=False,
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):  # type: ignore[no-untyped-def]
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    dialogs: list[str] = []
    blocked: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.on(
        "console", lambda msg: blocked.append(msg.text) if "Content Security Policy" in msg.text else None
    )
    page.dialogs = dialogs  # type: ignore[attr-defined]
    yield page
    context.close()
    assert not blocked, f"the Content-Security-Policy blocked: {blocked}"


@pytest.fixture(scope="session")
def axe_source() -> str:
    if not AXE.exists():
        pytest.fail(
            f"axe-core is missing at {AXE}: run `npm install --prefix tests/browser --no-audit --no-fund` "
            "(bash scripts/test does this).",
            pytrace=False,
        )
    return AXE.read_text(encoding="utf-8")


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
