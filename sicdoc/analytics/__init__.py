"""Pure QI analytics over the projection tables as pandas DataFrames (no web, database or FHIR).

Entry points: ``compute_metrics`` (the machine-readable report), ``quality_flags`` (the listed
data-quality problems), ``worklist`` (patients due a conversation), the chart helpers in ``spc`` and
``series`` and the suppression helpers in ``suppression``.
"""

from sicdoc.analytics.frames import Frames
from sicdoc.analytics.metrics import compute_metrics
from sicdoc.analytics.quality import quality_flags
from sicdoc.analytics.worklist import worklist

__all__ = ["Frames", "compute_metrics", "quality_flags", "worklist"]
