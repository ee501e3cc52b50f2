"""A page refused only because it was asked too early shows itself once it is ready, without the
person reloading it: the analyst who opens the dashboards while the figures are still being built."""

import pytest

from sicdoc.errors import AnalyticsBusy
from sicdoc.views import forms_patients
from tests.browser.conftest import log_in


@pytest.mark.browser
def test_a_busy_page_asks_again_and_shows_itself_when_ready(live_app, base_url, page, monkeypatch):
    log_in(page, base_url)
    monkeypatch.setattr(AnalyticsBusy, "retry_after_seconds", 1)
    answer = forms_patients.charts.recently_updated
    refusals = {"left": 3}

    def busy_at_first(*args, **kwargs):
        if refusals["left"] > 0:
            refusals["left"] -= 1
            raise AnalyticsBusy()
        return answer(*args, **kwargs)

    monkeypatch.setattr(forms_patients.charts, "recently_updated", busy_at_first)
    first = page.goto(f"{base_url}/patients")
    assert first is not None and first.status == 503
    notice = page.locator("[data-retry-in]")
    assert notice.is_visible() and "shows itself once it is ready" in notice.inner_text()
    # Two more refusals in the background, then the page itself.
    page.wait_for_selector("input[name=q]", timeout=15_000)
    assert refusals["left"] == 0
    assert page.locator("[data-retry-in]").count() == 0
