"""ReBase: retrieve task-relevant passages from existing corpora, have the teacher turn each into a record.

1. A datastore of the corpora in `method.corpora` (or `retrieval.corpora`), indexed once and reused.
2. The top `retrieval.select.k` passages by the ReBase score (mean similarity to the seeds' inputs, the
   seeds' outputs and the task instruction), without passages that overlap or nearly duplicate a
   validation/test item (see taskexpert.retrieval.selection).
3. One teacher job per passage (and sample): the teacher writes a record of the task from the passage as
   JSON under the task's names (task_fields.py): its inputs, a step-by-step rationale, its reference if the
   task has one and its label (one of the task's) or answer (conf/prompts/rebase/<kind>.txt). The passage
   becomes the input field `method.passage_field` (default: the task's truncate field, e.g. an abstract as context);
   a task without one (TREC, SST-2) has the teacher write every input from the passage. Parsing, filters and
   the cache are the runner's, as for every other method (augment/runner.py).
4. augmented.jsonl, augment_stats.json (with the retrieval numbers), augment_rejected.jsonl and
   retrieved.jsonl (the selected passages with provenance and scores) in the run directory.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from taskexpert.augment.jobs import GenerationJob, quoted, task_placeholders, task_values
from taskexpert.augment.method import AugmentationMethod, RunContext
from taskexpert.augment.prompts import PromptTemplate
from taskexpert.augment.registry import register_method
from taskexpert.augment.task_fields import RATIONALE, TaskFields
from taskexpert.errors import ConfigError
from taskexpert.records import Record
from taskexpert.retrieval import Retriever, Selection, select_from_config
from taskexpert.retrieval.selection import RetrievedRecord, instruction_of
from taskexpert.tasks.task import Task
from taskexpert.teachers.types import TeacherRequest
from taskexpert.text.embedders import Embedder
from taskexpert.utils.atomic import atomic_write_text

log = logging.getLogger(__name__)

SOURCE = "rebase"
PROMPT_PLACEHOLDERS = {"instruction", "examples", "passage", "fields", "first_field", "passage_use"}
SAMPLING_KEYS = ("max_new_tokens", "temperature", "repetition_penalty")


def _corpus_name(path: str) -> str:
    """`sample:...` -> sample (as in conf/retrieval, so the indexes are shared); else the file's stem."""
    return "sample" if path.startswith("sample:") else Path(path).stem or "corpus"


def method_corpora(method_cfg: Any) -> dict[str, dict[str, Any]] | None:
    """Corpus name -> settings from `method.corpora` (None when it is null or empty)."""
    entries = method_cfg.get("corpora")
    if not entries:
        return None
    defaults = _plain(method_cfg.get("corpus_defaults") or {})
    corpora: dict[str, dict[str, Any]] = {}
    for index, entry in enumerate(entries):
        entry = _plain(entry) if not isinstance(entry, str) else {"path": entry}
        if not isinstance(entry, dict) or not entry.get("path"):
            raise ConfigError(
                f"method.corpora[{index}] is {entry!r}: give a path, or a mapping with `path` "
                "and corpus settings (text_fields, id_field, format, ...)"
            )
        settings = {**defaults, **entry}
        base = str(settings.pop("name", None) or _corpus_name(str(settings["path"])))
        name, suffix = base, 2
        while name in corpora:  # two files with the same stem stay apart in the provenance
            name, suffix = f"{base}_{suffix}", suffix + 1
        corpora[name] = settings
    return corpora


def retrieval_config(cfg: DictConfig) -> DictConfig:
    """The `retrieval` block with the method's corpora in place of `retrieval.corpora`."""
    if cfg.get("retrieval") is None:
        raise ConfigError(
            "method=rebase needs the `retrieval` block: conf/method/rebase.yaml composes it; "
            "pick a backend with retrieval=dense|bm25|hybrid"
        )
    retrieval = _plain(cfg.retrieval)
    corpora = method_corpora(cfg.method)
    if corpora is not None:
        retrieval["corpora"] = corpora
        retrieval["name"] = "+".join(corpora)  # the index directory is named after the datastore
    return OmegaConf.create(retrieval)


def _plain(node: Any) -> Any:
    return OmegaConf.to_container(node, resolve=True) if OmegaConf.is_config(node) else node


def example_block(
    task: Task,
    retrieved: RetrievedRecord,
    seeds: Sequence[Record],
    count: int,
    context_words: int,
    rng: random.Random,
    passage_field: str | None = None,
) -> tuple[str, list[str]]:
    """Seed records as JSON lines under the task's names, the seed nearest to the passage first; and their
    ids. The passage field of an example is cut to `context_words` words, to keep prompts short."""
    if count < 1:
        return "", []
    names = TaskFields(task)
    nearest = next((seed for seed in seeds if seed.id == retrieved.nearest_seed_id), seeds[0])
    others = [seed for seed in seeds if seed.id != nearest.id]
    shown = [nearest, *rng.sample(others, min(count - 1, len(others)))]
    lines = []
    for seed in shown:
        values = names.values(seed)
        if passage_field:
            values[passage_field] = " ".join(values[passage_field].split()[:context_words])
        row = {name: values[name] for name in (*names.rewritable, names.target)}
        lines.append(json.dumps(row, ensure_ascii=False))
    return "\n".join(lines), [seed.id for seed in shown]


def passage_parent(retrieved: RetrievedRecord, task: Task, passage_field: str | None) -> Record:
    """The retrieved passage as the parent a job inherits from: its text fills `passage_field`."""
    inputs = {name: "" for name in task.input_fields}
    if passage_field:
        inputs[passage_field] = retrieved.text
    return Record(id=retrieved.passage.key, inputs=inputs, target="", source=SOURCE)


def passage_field_of(task: Task, configured: str | None) -> str | None:
    """The input field the passage becomes: as configured ("none" = no field), else the task's truncate
    field (the long input, e.g. an abstract as context), else none."""
    if configured in ("none", ""):
        return None
    field_name = configured or task.truncate_field
    if field_name is not None and field_name not in task.input_fields:
        raise ConfigError(
            f"method.passage_field={field_name!r} is not an input of task {task.name}: use one of "
            f"{', '.join(task.input_fields)}, or none"
        )
    return field_name


def default_fields(task: Task, passage_field: str | None) -> tuple[str, ...]:
    """A whole record but the passage field, with a rationale after the inputs."""
    names = TaskFields(task)
    inputs = [name for name in names.inputs if name != passage_field]
    rest = [name for name in names.record if name not in names.inputs]
    return (*inputs, RATIONALE, *rest)


def passage_use(passage_field: str | None) -> str:
    if passage_field:
        return f'The text is the record\'s "{passage_field}": do not write that field.'
    return "Draw the record from the text: its subject and facts come from the text."


def provenance_meta(retrieved: RetrievedRecord, backend: str) -> dict[str, Any]:
    """Where the record's passage came from and how it was scored."""
    scores = {key: value for key, value in retrieved.to_dict().items() if key not in ("text", "provenance")}
    # corpus, row, field, passage (index within the row), row_id; then rank and the ReBase scores
    return {**retrieved.passage.provenance(), "retrieval": {"backend": backend, **scores}}


def rebase_jobs(
    selection: Selection,
    seeds: Sequence[Record],
    template: PromptTemplate,
    instruction: str,
    task: Task,
    fields: Sequence[str] | None = None,
    n_per_passage: int = 1,
    examples_per_prompt: int = 1,
    example_context_words: int = 80,
    seed: int = 0,
    sampling: dict[str, Any] | None = None,
    backend: str = "dense",
    passage_field: str | None = None,
) -> list[GenerationJob]:
    """One job per selected passage and sample; the record keeps the passage as its `passage_field`.
    `fields` (default: default_fields) are the task's names the teacher writes."""
    names = TaskFields(task)
    fields = names.check(fields or default_fields(task, passage_field), "method.fields")
    given = (passage_field,) if passage_field else ()
    names.check_complete((*fields, *given), "method.fields")
    if n_per_passage < 1:
        raise ConfigError(f"method.n_per_passage={n_per_passage} must be >= 1")
    if examples_per_prompt < 0:
        raise ConfigError(f"method.examples_per_prompt={examples_per_prompt} must be >= 0")
    template.check({*PROMPT_PLACEHOLDERS, *task_placeholders(task)})
    jobs = []
    for retrieved in selection:
        parent = passage_parent(retrieved, task, passage_field)
        rng = random.Random(f"{seed}:{parent.id}")  # str seeds are stable across processes
        examples, example_ids = example_block(
            task, retrieved, seeds, examples_per_prompt, example_context_words, rng, passage_field
        )
        values = task_values(task, parent) | {
            "instruction": instruction,
            "examples": examples,
            "passage": retrieved.text,
            "fields": quoted(fields),
            "first_field": fields[0],
            "passage_use": passage_use(passage_field),
        }
        messages = template.render(values)
        meta = {**provenance_meta(retrieved, backend), "example_ids": example_ids}
        # the record asks about the passage: it may quote the passage, not the examples' main field
        shown = tuple(seed.text(task.main_field) for seed in seeds if seed.id in example_ids)
        for sample in range(n_per_passage):
            request = TeacherRequest.chat(messages, sample_index=sample, **(sampling or {}))
            record_id = f"{parent.id}-{SOURCE}-{sample}"
            jobs.append(
                GenerationJob(
                    request, record_id, SOURCE, parent, fields, True, template.hash, meta, task.labels,
                    copy_sources=shown, task=task,
                )
            )  # fmt: skip
    return jobs


def retrieval_stats(
    retriever: Retriever, selection: Selection, retrieval: DictConfig, seconds: float, instruction: str
) -> dict[str, Any]:
    """What the datastore held, which index was built or reused, what was selected and excluded."""
    scores = [record.score for record in selection]
    corpora = {}
    for corpus in retriever.datastore.corpora:
        counts = retriever.datastore.stats.get(corpus.name)
        corpora[corpus.name] = {"path": corpus.path, **(counts.__dict__ if counts else {})}
    return {
        "backend": str(retrieval.get("backend", "dense")),
        "datastore": retriever.datastore.name,
        "passages": len(retriever.datastore),
        "fingerprint": retriever.datastore.fingerprint,
        "corpora": corpora,
        "index": {kind: "built" if fresh else "reused" for kind, fresh in retriever.built.items()},
        "instruction": instruction,
        "k": int(retrieval.select.k),
        "candidates": selection.candidates,
        "selected": len(selection),
        "per_query_k": selection.per_query_k,
        "excluded": dict(selection.excluded),
        "excluded_total": sum(selection.excluded.values()),
        "score": {
            "min": min(scores) if scores else None,
            "mean": sum(scores) / len(scores) if scores else None,
            "max": max(scores) if scores else None,
        },
        "seconds": round(seconds, 3),
    }


def write_retrieved(path: Path, selection: Selection) -> Path:
    lines = (json.dumps(record.to_dict(), ensure_ascii=False) + "\n" for record in selection)
    return atomic_write_text(path, "".join(lines))


def _sampling_overrides(method_cfg: Any) -> dict[str, Any]:
    return {key: method_cfg[key] for key in SAMPLING_KEYS if method_cfg.get(key) is not None}


@register_method()
class ReBase(AugmentationMethod):
    """ReBase: records of the task written from the corpus passages that best match the seeds."""

    name = "rebase"
    needs = frozenset({"seeds", "retrieval"})

    def __init__(self, cfg: DictConfig, embedder: Embedder | None = None) -> None:
        super().__init__(cfg)
        self.embedder = embedder  # replaces the retrieval embedder of the config (e.g. one already loaded)
        self.retrieval_numbers: dict[str, Any] = {}

    def check(self, context: RunContext) -> None:
        template = PromptTemplate.load(self.settings.prompt, context.prompts_dir)
        template.check({*PROMPT_PLACEHOLDERS, *task_placeholders(context.task)})  # before any index is built
        passage_field_of(context.task, self.settings.get("passage_field"))

    def jobs(self, context: RunContext) -> list[GenerationJob]:
        """Retrieve and select the passages (retrieved.jsonl), then one job per passage and sample."""
        method, task, splits = self.settings, context.task, context.splits
        started = time.perf_counter()
        retrieval = retrieval_config(self.cfg)
        retriever = Retriever.from_config(retrieval, embedder=self.embedder)
        instruction = instruction_of(retrieval, task)
        selection = select_from_config(
            retriever, retrieval, context.seeds, splits.validation + splits.test, task
        )
        seconds = time.perf_counter() - started
        self.retrieval_numbers = retrieval_stats(retriever, selection, retrieval, seconds, instruction)
        write_retrieved(context.run_dir / str(method.retrieved_file), selection)
        log.info("rebase: %s", selection.summary())
        return rebase_jobs(
            selection,
            context.seeds,
            PromptTemplate.load(method.prompt, context.prompts_dir),
            instruction,
            task,
            list(method.fields) if method.get("fields") else None,
            int(method.n_per_passage),
            int(method.examples_per_prompt),
            int(method.example_context_words),
            int(self.cfg.seed),
            self.sampling_overrides(),
            self.retrieval_numbers["backend"],
            passage_field_of(task, method.get("passage_field")),
        )

    def sampling_overrides(self) -> dict[str, Any]:
        return _sampling_overrides(self.settings)

    def extra_stats(self, context: RunContext) -> dict[str, Any]:
        return {"retrieval": self.retrieval_numbers}


def run_rebase(cfg: DictConfig, embedder: Embedder | None = None) -> dict[str, Any]:
    """ReBase through the runner; `embedder` replaces the retrieval embedder of the config."""
    from taskexpert.augment.runner import run_method

    return run_method(cfg, ReBase(cfg, embedder))
