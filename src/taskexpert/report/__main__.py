"""`python -m taskexpert.report SWEEP_DIR [--out DIR] [--metric NAME]`."""

from __future__ import annotations

import argparse
import sys

from taskexpert.report.bootstrap import DEFAULT_DRAWS
from taskexpert.report.build import build_report
from taskexpert.report.collect import ReportError
from taskexpert.report.console import print_report


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m taskexpert.report",
        description=(
            "Summarise a Hydra sweep (or a parent of several): one row per configuration with mean ± std over "
            "seeds, the sensitivity of each PEFT method to its hyperparameter, and the jobs without results. "
            "Writes summary.csv, summary.md, runs.csv, sensitivity.png and robustness_<method>.png; for an "
            "augmentation study (jobs with data_arm.json) one row per data arm, its paired difference to arm "
            "none with a bootstrap interval, the verdict, and augmentation.png."
        ),
    )
    parser.add_argument(
        "sweep_dir", metavar="SWEEP_DIR", help="a sweep directory, e.g. outputs/multirun/<time>"
    )
    parser.add_argument("--out", metavar="DIR", help="where to write the report (default: SWEEP_DIR)")
    parser.add_argument(
        "--metric",
        metavar="NAME",
        help=(
            "metrics.json key for the figure and the verdict (default: the test value of the metric the jobs "
            "optimised, their task's, e.g. test/exact_match; else that validation metric)"
        ),
    )
    parser.add_argument(
        "--bootstrap",
        metavar="N",
        type=int,
        default=DEFAULT_DRAWS,
        help=(
            "an augmentation study (jobs with data_arm.json): draws of the paired bootstrap over test items "
            f"behind each arm's 95%% interval against arm none (default: {DEFAULT_DRAWS}; fixed seed)"
        ),
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    try:
        report = build_report(arguments.sweep_dir, arguments.out, arguments.metric, arguments.bootstrap)
    except ReportError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print_report(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
