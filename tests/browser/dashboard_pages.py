"""The dashboard page the browser tests open, the content policy it is served under, and the wait for
its charts to be drawn."""

from tests.web.analytics_population import AS_OF

EVERYONE = f"/dashboards/?as_of={AS_OF}&from=2023-01-01"
WAIT_MS = 120_000
CSP = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:"


def charts_drawn(page) -> int:
    """Wait until every figure block has been drawn; return how many there are."""
    blocks = page.locator("script[type='application/json'][id^='fig-']").count()
    page.wait_for_function(
        "n => document.querySelectorAll('[data-rendered=true]').length >= n",
        arg=blocks,
        timeout=60_000,
    )
    assert page.locator("[data-figure]").count() == blocks
    assert page.locator("[data-rendered=true]").count() == blocks
    return blocks
