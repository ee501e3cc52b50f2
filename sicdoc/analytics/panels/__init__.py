"""Dashboard panel tables: one suppressed DataFrame per panel, the same table its chart and CSV show.

    ctx = PanelContext(frames, scope, value_set_version="2026.1")
    table = panel_table(ctx, {"kind": "monthly", "series": "referral_gt30d_before_death"})

``KINDS`` is the one registry of panel kinds: dashboard definitions check a panel's kind and its
required options against it, ``panel_table`` builds the table from it, and the figures module keys
its charts by the same names. Kinds and their options: ``headline``, ``incidence`` (measure:
referral | sic), ``bands``, ``bands_by_year``, ``monthly`` (series, run_chart_below), ``interval``
(run_chart_below), ``unit_funnel`` (hours), ``clinician_funnel``, ``strata`` (days), ``quality``,
``period_comparison`` (series), ``reach``; the "Goals and care" kinds (``panels/end_of_life.py``):
``eol_indicators``, ``concordance``, ``documentation_quality`` (run_chart_below),
``documentation_funnel`` and ``sic_last_180d_by_department``.
The funnels (``documentation_funnel`` too) also take ``target`` (a reference line) and ``overdispersion`` (``funnels.OVERDISPERSION``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from sicdoc.analytics.funnels import DEFAULT_OVERDISPERSION, OVERDISPERSION
from sicdoc.analytics.panels.comparison import clinician_funnel_table, strata_table, unit_funnel_table
from sicdoc.analytics.panels.context import PanelContext
from sicdoc.analytics.panels.curves import LAST_DAY, incidence_table
from sicdoc.analytics.panels.end_of_life import (
    concordance_table,
    documentation_funnel_table,
    documentation_quality_table,
    eol_indicators_table,
    sic_by_department_table,
)
from sicdoc.analytics.panels.monthly import RUN_CHART_BELOW, SERIES, interval_table, monthly_table
from sicdoc.analytics.panels.overview import bands_by_year_table, bands_table, headline_table, quality_table
from sicdoc.analytics.panels.period import period_comparison_table
from sicdoc.analytics.panels.reach import reach_panel_table

TableBuilder = Callable[[PanelContext, Mapping[str, Any]], pd.DataFrame]


def _funnel_options(spec: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "target": spec.get("target"),
        "overdispersion": spec.get("overdispersion", DEFAULT_OVERDISPERSION),
    }


@dataclass(frozen=True)
class PanelKind:
    """How one kind of panel is built, and the options a definition must give for it."""

    table: TableBuilder
    # Required options and the values each may take.
    choices: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    # Options a definition may give, and the values each may take.
    optional: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    # Whether a ``target`` must be a proportion (0 to 1).
    proportion_target: bool = False


KINDS: dict[str, PanelKind] = {
    "headline": PanelKind(lambda ctx, spec: headline_table(ctx)),
    "incidence": PanelKind(
        lambda ctx, spec: incidence_table(ctx, spec["measure"]), {"measure": tuple(LAST_DAY)}
    ),
    "bands": PanelKind(lambda ctx, spec: bands_table(ctx)),
    "bands_by_year": PanelKind(lambda ctx, spec: bands_by_year_table(ctx)),
    "monthly": PanelKind(
        lambda ctx, spec: monthly_table(ctx, spec["series"], spec.get("run_chart_below", RUN_CHART_BELOW)),
        {"series": tuple(SERIES)},
    ),
    "interval": PanelKind(
        lambda ctx, spec: interval_table(ctx, spec.get("run_chart_below", RUN_CHART_BELOW))
    ),
    "unit_funnel": PanelKind(
        lambda ctx, spec: unit_funnel_table(ctx, spec.get("hours", 72), **_funnel_options(spec)),
        optional={"overdispersion": OVERDISPERSION},
        proportion_target=True,
    ),
    "clinician_funnel": PanelKind(
        lambda ctx, spec: clinician_funnel_table(ctx, **_funnel_options(spec)),
        optional={"overdispersion": OVERDISPERSION},
        proportion_target=True,
    ),
    "strata": PanelKind(lambda ctx, spec: strata_table(ctx, spec.get("days", 90))),
    "quality": PanelKind(lambda ctx, spec: quality_table(ctx)),
    # M5: penetration by month (all, cohorts, sites, units) and hours to the first consult.
    "reach": PanelKind(lambda ctx, spec: reach_panel_table(ctx)),
    "period_comparison": PanelKind(
        lambda ctx, spec: period_comparison_table(ctx, spec["series"]), {"series": tuple(SERIES)}
    ),
    # Goals and care (issue 17): end-of-life care, concordance and documentation quality.
    "eol_indicators": PanelKind(lambda ctx, spec: eol_indicators_table(ctx)),
    "concordance": PanelKind(lambda ctx, spec: concordance_table(ctx)),
    "documentation_quality": PanelKind(
        lambda ctx, spec: documentation_quality_table(ctx, spec.get("run_chart_below", RUN_CHART_BELOW))
    ),
    "documentation_funnel": PanelKind(
        lambda ctx, spec: documentation_funnel_table(ctx, **_funnel_options(spec)),
        optional={"overdispersion": OVERDISPERSION},
        proportion_target=True,
    ),
    "sic_last_180d_by_department": PanelKind(lambda ctx, spec: sic_by_department_table(ctx)),
}
# The required options of each kind that has any, as dashboard definitions check them.
PANEL_OPTIONS: dict[str, dict[str, tuple[str, ...]]] = {
    name: dict(kind.choices) for name, kind in KINDS.items() if kind.choices
}


def panel_kind(name: str) -> PanelKind:
    """The registered kind ``name``; ValueError names an unknown one."""
    if name not in KINDS:
        raise ValueError(f"unknown panel kind {name!r}")
    return KINDS[name]


def panel_table(ctx: PanelContext, spec: Mapping[str, Any]) -> pd.DataFrame:
    """The suppressed table of one panel ``spec`` (a dashboard definition's panel entry)."""
    return panel_kind(spec["kind"]).table(ctx, spec)


__all__ = ["KINDS", "PANEL_OPTIONS", "SERIES", "PanelContext", "PanelKind", "panel_kind", "panel_table"]
