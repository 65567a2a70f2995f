"""Whole-dataset checks that single-record validation cannot see: duplicates and evaluation items leaking in.

A training record leaks evaluation (validation/test) data when it is an evaluation item, derives from one
(`parent_id`), was written with one shown to the teacher as an example (`meta.example_ids`), or when its text
overlaps one (`data.leak_check`, the same measure as augment.py's contamination guard). Files in
`data.extra_train` are also checked for the split they were guarded against (their `.meta.json` sidecar).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import Any

from taskexpert.data.split_meta import meta_path, read_split_meta, split_fingerprint
from taskexpert.errors import DataError
from taskexpert.records import QARecord
from taskexpert.text import DEFAULT_FIELDS, EvaluationIndex, overlap_settings

log = logging.getLogger(__name__)
REGENERATE = "regenerate the file with augment.py on this data config"


def check_unique_ids(records: Iterable[QARecord], source: str) -> None:
    seen: set[str] = set()
    for record in records:
        if record.id in seen:
            raise DataError(f"{source}, record {record.id}", "id", "is a duplicate id", "ids must be unique")
        seen.add(record.id)


def check_no_test_leak(train: Iterable[QARecord], test_ids: set[str], source: str) -> None:
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


def check_no_text_overlap(train: Iterable[QARecord], index: EvaluationIndex, source: str) -> None:
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

    def __init__(self, evaluation: Sequence[QARecord], leak_cfg: Any = None) -> None:
        self.leak_cfg = leak_cfg or {}
        self.evaluation = list(evaluation)
        self.evaluation_ids = {record.id for record in self.evaluation}
        self.fingerprint = split_fingerprint(self.evaluation)
        self.index = EvaluationIndex(
            self.evaluation,
            list(self.leak_cfg.get("fields") or DEFAULT_FIELDS),
            overlap_settings(self.leak_cfg, "data.leak_check"),
        )

    def check(self, path: str, records: Sequence[QARecord]) -> None:
        """Raise a DataError naming file, record and field at the first leak; warn about an unguarded file."""
        meta = read_split_meta(path)
        if meta is not None and meta["split_fingerprint"] != self.fingerprint:
            self._other_split(path, meta)
        check_no_test_leak(records, self.evaluation_ids, path)
        check_no_text_overlap(records, self.index, path)
        if meta is None:
            log.warning(
                "%s has no %s (written before split fingerprints, or not by augment.py): used, since no record "
                "derives from or overlaps the validation/test items",
                path,
                meta_path(path).name,
            )

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
