"""ReBase: retrieve task-relevant passages from existing corpora, have the teacher turn each into a record.

1. A datastore of the corpora in `method.corpora` (or `retrieval.corpora`), indexed once and reused.
2. The top `retrieval.select.k` passages by the ReBase score (mean similarity to the seeds' inputs, the
   seeds' outputs and the task instruction), without passages that overlap or nearly duplicate a
   validation/test item (see taskexpert.retrieval.selection).
3. One teacher job per passage (and sample): the passage is the context; the teacher writes the question,
   a step-by-step rationale, the long answer and the label as JSON (conf/prompts/rebase.txt). Parsing,
   filters and the cache are those of every other method (`generate_records`).
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

from taskexpert.augment.generation import generate_records
from taskexpert.augment.jobs import GenerationJob, check_fields
from taskexpert.augment.parsing import GENERATED_FIELDS
from taskexpert.augment.prompts import PromptTemplate
from taskexpert.augment.task_fields import compared_fields
from taskexpert.errors import ConfigError
from taskexpert.records import Record
from taskexpert.retrieval import Retriever, Selection, select_from_config
from taskexpert.retrieval.embedders import Embedder
from taskexpert.retrieval.selection import RetrievedRecord
from taskexpert.tasks.task import Task
from taskexpert.teachers.types import TeacherRequest
from taskexpert.utils.atomic import atomic_write_text

log = logging.getLogger(__name__)

SOURCE = "rebase"
PROMPT_PLACEHOLDERS = {"instruction", "examples", "passage", "fields"}
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
    retrieved: RetrievedRecord,
    seeds: Sequence[Record],
    count: int,
    context_words: int,
    rng: random.Random,
) -> tuple[str, list[str]]:
    """Seed records as JSON lines, the seed nearest to the passage first; and their ids."""
    if count < 1:
        return "", []
    nearest = next((seed for seed in seeds if seed.id == retrieved.nearest_seed_id), seeds[0])
    others = [seed for seed in seeds if seed.id != nearest.id]
    shown = [nearest, *rng.sample(others, min(count - 1, len(others)))]
    lines = []
    for seed in shown:
        context = " ".join(seed.text("context").split()[:context_words])
        row = {"question": seed.text("question"), "context": context, "long_answer": seed.reference}
        lines.append(json.dumps({**row, "label": seed.target}, ensure_ascii=False))
    return "\n".join(lines), [seed.id for seed in shown]


def passage_parent(retrieved: RetrievedRecord) -> Record:
    """The retrieved passage as the parent a job inherits from: its text becomes the context."""
    inputs = {"question": "", "context": retrieved.text}
    return Record(id=retrieved.passage.key, inputs=inputs, target="", source=SOURCE)


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
    fields: Sequence[str] = ("question", "rationale", "long_answer", "label"),
    n_per_passage: int = 1,
    examples_per_prompt: int = 1,
    example_context_words: int = 80,
    seed: int = 0,
    sampling: dict[str, Any] | None = None,
    backend: str = "dense",
    labels: Sequence[str] = (),
    task: Task | None = None,
) -> list[GenerationJob]:
    """One job per selected passage and sample; the record keeps the passage as its context."""
    fields = check_fields(fields, GENERATED_FIELDS, "method.fields")
    for required in ("question", "label"):
        if required not in fields:
            raise ConfigError(f"method.fields must include {required!r}: the teacher writes it")
    if n_per_passage < 1:
        raise ConfigError(f"method.n_per_passage={n_per_passage} must be >= 1")
    if examples_per_prompt < 0:
        raise ConfigError(f"method.examples_per_prompt={examples_per_prompt} must be >= 0")
    template.check(PROMPT_PLACEHOLDERS)
    keys = ", ".join(f'"{name}"' for name in fields)
    jobs = []
    for retrieved in selection:
        parent = passage_parent(retrieved)
        rng = random.Random(f"{seed}:{parent.id}")  # str seeds are stable across processes
        examples, example_ids = example_block(
            retrieved, seeds, examples_per_prompt, example_context_words, rng
        )
        messages = template.render(
            {"instruction": instruction, "examples": examples, "passage": retrieved.text, "fields": keys}
        )
        meta = {**provenance_meta(retrieved, backend), "example_ids": example_ids}
        # the record asks about the passage: it may quote the passage, not the examples' questions
        shown_questions = tuple(seed.text("question") for seed in seeds if seed.id in example_ids)
        for sample in range(n_per_passage):
            request = TeacherRequest.chat(messages, sample_index=sample, **(sampling or {}))
            record_id = f"{parent.id}-{SOURCE}-{sample}"
            jobs.append(
                GenerationJob(
                    request, record_id, SOURCE, parent, fields, True, template.hash, meta, tuple(labels),
                    copy_sources=shown_questions, task=task,
                )
            )  # fmt: skip
    return jobs


def retrieval_stats(
    retriever: Retriever, selection: Selection, retrieval: DictConfig, seconds: float
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
        "instruction": str(retrieval.select.instruction),
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


def run_rebase(cfg: DictConfig, embedder: Embedder | None = None) -> dict[str, Any]:
    """Run ReBase from the composed augment config; write the outputs and return the stats.

    `embedder` replaces the retrieval embedder of the config (e.g. an already loaded model).
    """
    # pipeline.py dispatches here, so its helpers are imported when needed, not at import time
    from taskexpert.augment import pipeline
    from taskexpert.augment.contamination import write_guard_meta
    from taskexpert.augment.diversity import diversity_stats
    from taskexpert.augment.embeddings import SentenceEmbedder
    from taskexpert.augment.progress import teacher_progress
    from taskexpert.augment.report import log_to_wandb, print_summary, write_outputs
    from taskexpert.data.loading import load_splits
    from taskexpert.tasks import build_task
    from taskexpert.teachers import build_teacher
    from taskexpert.training.config_logging import loggable_config

    started = time.perf_counter()
    method = cfg.method
    run_dir = Path(cfg.paths.run_dir)
    task = build_task(cfg.task)
    splits = load_splits(cfg.data, task)
    seeds = pipeline.select_seeds(splits, method.get("max_seeds"))
    template = PromptTemplate.load(method.prompt, cfg.paths.get("prompts_dir"))
    template.check(PROMPT_PLACEHOLDERS)  # a bad prompt fails before any index is built
    retrieval = retrieval_config(cfg)

    retriever = Retriever.from_config(retrieval, embedder=embedder)
    selection = select_from_config(retriever, retrieval, seeds, splits.validation + splits.test)
    retrieval_numbers = retrieval_stats(retriever, selection, retrieval, time.perf_counter() - started)
    write_retrieved(run_dir / str(method.retrieved_file), selection)
    jobs = rebase_jobs(
        selection,
        seeds,
        template,
        str(retrieval.select.instruction),
        list(method.fields),
        int(method.n_per_passage),
        int(method.examples_per_prompt),
        int(method.example_context_words),
        int(cfg.seed),
        _sampling_overrides(method),
        retrieval_numbers["backend"],
        task.labels,
        task,
    )

    dedup, diversity = cfg.filters.dedup, cfg.diversity
    needs_embedder = (dedup.enabled and dedup.near == "embedding") or (
        diversity.enabled and diversity.embeddings
    )
    sentence_embedder = SentenceEmbedder() if needs_embedder else None
    teacher = build_teacher(cfg.teacher, cfg.sampling, cfg.cache.path)
    try:
        filters = pipeline.build_filters(cfg, splits, teacher, sentence_embedder)
        with teacher_progress(len(jobs), f"rebase with {teacher.name}", bool(cfg.progress)) as tick:
            result = generate_records(teacher, jobs, filters, on_response=tick)
        cache_entries = len(teacher.cache)
        teacher_totals = teacher.stats.as_dict()
    finally:
        teacher.close()
        teacher.cache.close()

    stats: dict[str, Any] = {
        "method": str(method.name),
        "teacher": {"model": teacher.name, "backend": teacher.backend.kind},
        "seeds": len(seeds),
        "retrieval": retrieval_numbers,
        **result.stats(),
        "failures": [
            item.as_dict() for item in result.rejected_items if item.reason.startswith("teacher_failed")
        ],
        "teacher_totals": teacher_totals,
        "prompt_hashes": sorted({job.prompt_hash for job in jobs}),
        "sampling": {**OmegaConf.to_container(cfg.sampling, resolve=True), **_sampling_overrides(method)},
        "cache": {"path": str(cfg.cache.path), "entries": cache_entries},
    }
    if diversity.enabled:
        measure = sentence_embedder if diversity.embeddings else None
        fields, limit = compared_fields(diversity.fields, cfg.task), int(diversity.max_items)
        stats["diversity"] = {
            "seeds": diversity_stats(seeds, fields, measure, limit, int(cfg.seed)),
            "generated": diversity_stats(result.records, fields, measure, limit, int(cfg.seed)),
        }
    stats["total_seconds"] = round(time.perf_counter() - started, 3)
    paths = write_outputs(run_dir, cfg.output, result.records, stats, result.rejected_items)
    write_guard_meta(cfg, splits, paths["records"], len(result.records))
    if cfg.wandb.enabled:
        log_to_wandb(cfg.wandb, loggable_config(cfg), stats, run_dir)
    print_summary(stats, paths)
    log.info(
        "rebase: %s; kept %d of %d requested records; files in %s",
        selection.summary(),
        stats["kept"],
        stats["requested"],
        run_dir,
    )
    return stats
