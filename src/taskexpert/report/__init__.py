"""Turn a finished or half-finished sweep into tables and figures: `python -m taskexpert.report SWEEP_DIR`."""

from taskexpert.report.build import Report, analyse, build_report
from taskexpert.report.collect import ReportError

__all__ = ["Report", "ReportError", "analyse", "build_report"]
