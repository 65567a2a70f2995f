"""Build (or reuse) the retrieval index and show what ReBase would select for the configured task.

    python -m taskexpert.retrieval                                   # dense MiniLM over the bundled corpus
    python -m taskexpert.retrieval retrieval=bm25 retrieval.select.k=20 --output selected.jsonl
    python -m taskexpert.retrieval task=sst2 data.path=/data/SST-2 retrieval.corpora.sample.path=/data/reviews.parquet

Seeds are the training split of `data`; validation and test records are kept out of the selection.
Overrides are Hydra overrides of the training config plus the `retrieval` group.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from taskexpert.errors import TaskExpertError
from taskexpert.utils.atomic import atomic_write_text


def default_conf_dir() -> Path:
    local = Path.cwd() / "conf"
    return local if (local / "retrieval").is_dir() else Path(__file__).resolve().parents[3] / "conf"


def compose_retrieval_config(overrides: list[str], conf_dir: Path):
    """The training config plus the `retrieval` group (`retrieval=NAME` picks dense, bm25 or hybrid)."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    choice = "dense"
    rest = []
    for override in overrides:
        if override.split("=", 1)[0] in ("retrieval", "+retrieval"):
            choice = override.split("=", 1)[1]
        else:
            rest.append(override)
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(conf_dir.resolve()), version_base="1.3"):
        return compose(config_name="train", overrides=[f"+retrieval={choice}", *rest])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m taskexpert.retrieval", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "overrides", nargs="*", help="Hydra overrides, e.g. retrieval=bm25 retrieval.select.k=20"
    )
    parser.add_argument("--conf", type=Path, default=None, help="config directory (default: ./conf)")
    parser.add_argument("--output", type=Path, default=None, help="write the selection as JSON lines here")
    parser.add_argument("--show", type=int, default=10, help="rows of the selection to print (default 10)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")

    from taskexpert.data.loading import load_splits
    from taskexpert.retrieval.retriever import Retriever
    from taskexpert.retrieval.selection import select_from_config
    from taskexpert.tasks import build_task

    try:
        cfg = compose_retrieval_config(args.overrides, args.conf or default_conf_dir())
        task = build_task(cfg.task)
        splits = load_splits(cfg.data, task)
        retriever = Retriever.from_config(cfg.retrieval)
        selection = select_from_config(
            retriever, cfg.retrieval, splits.train, splits.validation + splits.test, task
        )
    except TaskExpertError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"{len(retriever.datastore)} passages; seeds: {len(splits.train)}; {selection.summary()}")
    for record in selection.records[: args.show]:
        print(
            f"{record.rank:4d}  {record.score:.3f}  (in {record.input_similarity:.3f}, "
            f"out {record.output_similarity:.3f}, task {record.instruction_similarity:.3f})  "
            f"{record.passage.key}  {record.text[:70]}"
        )
    if args.output:
        atomic_write_text(args.output, "".join(_json_line(record.to_dict()) for record in selection))
        print(f"wrote {len(selection)} records to {args.output}")
    return 0


def _json_line(payload: dict) -> str:
    import json

    return json.dumps(payload, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
