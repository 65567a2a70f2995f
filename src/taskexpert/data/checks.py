"""Whole-dataset checks that single-record validation cannot see: duplicates and evaluation items leaking in.

A training record leaks evaluation (validation/test) data when it is an evaluation item, derives from one
(`parent_id`), was written with one shown to the teacher as an example (`meta.example_ids`), or when its text
overlaps one (`data.leak_check`, the same measure as augment.py's contamination guard). Files in
`data.extra_train` are also checked for the split they were guarded against (their `.meta.json` sidecar), and,
in a low-data run (`data.train_limit` / `data.train_fraction`), for records that are, derive from, or were written
with training items outside this run's seed set: a file grown from the full training split would hand the student
the very items the run leaves out.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import Any

from taskexpert.data.split_meta import meta_path, read_split_meta, split_fingerprint
from taskexpert.errors import DataError
from taskexpert.records import Record
from taskexpert.text import EvaluationIndex, overlap_settings

log = logging.getLogger(__name__)
REGENERATE = "regenerate the file with augment.py on this data config"


def check_unique_ids(records: Iterable[Record], source: str) -> None:
    seen: set[str] = set()
    for record in records:
        if record.id in seen:
            raise DataError(f"{source}, record {record.id}", "id", "is a duplicate id", "ids must be unique")
        seen.add(record.id)


def check_no_test_leak(train: Iterable[Record], test_ids: set[str], source: str) -> None:
    """A training record may not be an evaluation (validation or test) item, nor be generated from one."""
    for record in train:
        where = f"{source}, record {record.id}"
        if record.id in test_ids:
            raise DataError(
                where,
                "id",
                "is an evaluation (validation/test) item inside the training data",
                "remove it from the training files or choose another split",
            )
        if record.parent_id in test_ids:
            raise DataError(
                where,
                "parent_id",
                f"derives from evaluation (validation/test) item {record.parent_id}",
                f"augmented data must come from training items only: {REGENERATE}",
            )
        shown = (record.meta or {}).get("example_ids") or []
        for example_id in shown if isinstance(shown, list) else []:
            if str(example_id) in test_ids:
                raise DataError(
                    where,
                    "meta.example_ids",
                    f"was written with evaluation (validation/test) item {example_id} shown to the teacher",
                    f"examples must be training items only: {REGENERATE}",
                )


def check_no_text_overlap(train: Iterable[Record], index: EvaluationIndex, source: str) -> None:
    """No field of a training record may overlap the text of an evaluation item (see taskexpert.text.overlap)."""
    for record in train:
        leak = index.find(record)
        if leak is not None:
            raise DataError(
                f"{source}, record {record.id}",
                leak.field,
                f"overlaps the evaluation (validation/test) data: it {leak.overlap.describe()}",
                f"remove the record, or {REGENERATE}; data.leak_check sets the measure",
            )


class ExtraTrainCheck:
    """Checks `data.extra_train` files against this split's evaluation items (their index is built once)."""

    def __init__(
        self,
        evaluation: Sequence[Record],
        leak_cfg: Any = None,
        task: Any = None,
        seeds: Sequence[Record] | None = None,
        training_ids: set[str] | None = None,
        seed_draw: str = "",
    ) -> None:
        """`seeds`: this run's training seed set; `training_ids`: the whole training split it was drawn from;
        `seed_draw`: how it was drawn, for messages (e.g. "data.train_fraction=0.01")."""
        self.leak_cfg = leak_cfg or {}
        self.evaluation = list(evaluation)
        self.evaluation_ids = {record.id for record in self.evaluation}
        self.fingerprint = split_fingerprint(self.evaluation)
        self.seed_ids = {record.id for record in seeds} if seeds is not None else None
        self.left_out = (training_ids or set()) - self.seed_ids if self.seed_ids is not None else set()
        self.seed_draw = seed_draw
        fields = self.leak_cfg.get("fields")  # null: the task's input fields, reference, rationale and target
        if not fields and task is not None:
            fields = [*task.input_fields, "reference", "rationale", "target"]
        self.index = EvaluationIndex(
            self.evaluation,
            list(fields) if fields else None,
            overlap_settings(self.leak_cfg, "data.leak_check"),
        )

    def check(self, path: str, records: Sequence[Record]) -> None:
        """Raise a DataError naming file, record and field at the first leak; warn about an unguarded file."""
        meta = read_split_meta(path)
        if meta is not None and meta["split_fingerprint"] != self.fingerprint:
            self._other_split(path, meta)
        check_no_test_leak(records, self.evaluation_ids, path)
        self._check_seed_set(path, records, meta)
        check_no_text_overlap(records, self.index, path)
        if meta is None:
            log.warning(
                "%s has no %s (written before split fingerprints, or not by augment.py): used, since no record "
                "derives from or overlaps the validation/test items",
                path,
                meta_path(path).name,
            )

    def _check_seed_set(self, path: str, records: Sequence[Record], meta: dict[str, Any] | None) -> None:
        """Refuse records that are, derive from, or were written with training items this run leaves out."""
        if not self.left_out:
            return
        outside = [(record, item) for record in records if (item := self._left_out_source(record))]
        if not outside:
            return
        record, item = outside[0]
        grown_from = ""
        if meta is not None and meta.get("seed_items") is not None:
            grown_from = f"; the file was made from {meta['seed_items']} seed items"
        message = (
            f"{len(outside)} of {len(records)} records are, derive from or were written with training items outside "
            f"this run's seed set ({len(self.seed_ids or ())} items, {self.seed_draw or 'drawn'}; record "
            f"{record.id}: item {item}){grown_from}"
        )
        if self.leak_cfg.get("allow_other_seed_set", False):
            log.warning("%s: %s: used, as allowed", path, message)
            return
        raise DataError(
            f"{path} ({meta_path(path).name})" if meta is not None else path,
            "parent_id",
            message,
            "augment from this run's seed set (augment.py with the same data.train_fraction / data.train_limit "
            "and data.split), or set data.leak_check.allow_other_seed_set=true to use it anyway",
        )

    def _left_out_source(self, record: Record) -> str | None:
        """The left-out training item behind a record (itself, its parent, a teacher example), or None."""
        if record.id in self.left_out:
            return record.id
        if record.parent_id in self.left_out:
            return record.parent_id
        shown = (record.meta or {}).get("example_ids") or []
        for example_id in shown if isinstance(shown, list) else []:
            if str(example_id) in self.left_out:
                return str(example_id)
        return None

    def _other_split(self, path: str, meta: dict[str, Any]) -> None:
        theirs = f"{meta.get('evaluation_items', '?')} evaluation items, {meta['split_fingerprint'][:12]}"
        ours = f"{len(self.evaluation)} items, {self.fingerprint[:12]}"
        if self.leak_cfg.get("allow_other_split", False):
            log.warning(
                "%s was guarded against another split (%s; this run: %s): used, as allowed",
                path,
                theirs,
                ours,
            )
            return
        raise DataError(
            f"{path} ({meta_path(path).name})",
            "split_fingerprint",
            f"says it was guarded against another split ({theirs}; this run: {ours})",
            f"{REGENERATE}, or set data.leak_check.allow_other_split=true to use it anyway "
            "(its records are still checked for ids and text)",
        )
