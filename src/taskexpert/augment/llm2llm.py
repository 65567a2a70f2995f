"""LLM2LLM: train the student, collect the seed examples it gets wrong, have the teacher write new examples
like them, retrain from the base model, repeat (`python augment.py method=llm2llm`).

Iteration k trains the student in `<run_dir>/iter_<k>/` with the ordinary training pipeline on the seeds
plus the generated records so far (`data.extra_train`), scores the whole training split (`eval.train`),
and asks the teacher for `n_per_wrong` new records per wrong example. New records go through the usual
filters (ROUGE-L dedup against the seeds and every record generated so far, the contamination guard).
Everything an iteration produces is on disk before its history entry is written, so a killed run,
started again in the same run directory, continues where it stopped (see llm2llm_state.py). The runner
(augment/runner.py) owns the teacher, its cache, the filters and the outputs; this module is the loop.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from taskexpert.augment.jobs import GenerationJob, quoted, task_placeholders, task_values
from taskexpert.augment.llm2llm_ranks import clear_stopped, follow_llm2llm, follower_rank, write_stopped
from taskexpert.augment.llm2llm_seeds import (
    check_seed_selection,
    hard_seed_count,
    history_of_choice,
    least_sure_seeds,
)
from taskexpert.augment.llm2llm_state import (
    added_path,
    current_extra,
    final_outcome,
    history_entry,
    iteration_dir,
    json_line,
    load_added,
    load_history,
    read_train_predictions,
    save_history,
)
from taskexpert.augment.llm2llm_student import train_student, training_files, write_training_data
from taskexpert.augment.method import (
    AugmentationMethod,
    JobPlan,
    RoundsOutcome,
    RunContext,
    TeacherSession,
)
from taskexpert.augment.prompts import PromptTemplate
from taskexpert.augment.registry import register_method
from taskexpert.augment.task_fields import TaskFields
from taskexpert.data.splits import Splits
from taskexpert.errors import ConfigError, DataError
from taskexpert.records import Record, write_jsonl
from taskexpert.tasks import Task
from taskexpert.teachers.types import TeacherRequest
from taskexpert.utils.atomic import atomic_write_text

log = logging.getLogger(__name__)
JOB_PLACEHOLDERS = {"rationale", "student_answer", "fields", "first_field", "original_json"}


def prompt_placeholders(task: Task) -> set[str]:
    """What an LLM2LLM prompt may quote: the wrong record's fields by the task's names, the task's description
    and labels, its rationale (else its reference), the student's answer and the keys of the reply."""
    return task_placeholders(task) | JOB_PLACEHOLDERS


def llm2llm_settings(method: Any) -> dict[str, Any]:
    """The method's settings, checked before anything trains."""
    settings = {
        "iterations": int(method.iterations),
        "n_per_wrong": int(method.n_per_wrong),
        "from_scratch": bool(method.from_scratch),
        "only_seed_errors": bool(method.only_seed_errors),
        "accumulate": bool(method.accumulate),
        "seed_selection": str(method.get("seed_selection") or "wrong"),
        "max_hard_seeds": None if method.get("max_hard_seeds") is None else int(method.max_hard_seeds),
    }
    if settings["iterations"] < 1:
        raise ConfigError(f"method.iterations={settings['iterations']} must be >= 1")
    if settings["n_per_wrong"] < 1:
        raise ConfigError(f"method.n_per_wrong={settings['n_per_wrong']} must be >= 1")
    if settings["max_hard_seeds"] is not None and settings["max_hard_seeds"] < 0:
        raise ConfigError(f"method.max_hard_seeds={settings['max_hard_seeds']} must be >= 0 or null")
    return settings


def llm2llm_jobs(
    task: Task,
    wrong: Sequence[tuple[Record, str]],
    template: PromptTemplate,
    n_per_wrong: int,
    iteration: int,
    sampling: dict[str, Any] | None = None,
) -> list[GenerationJob]:
    """One job per wrong example and sample: a whole new record of the task like it (a classification
    record asked for the wrong one's gold label; a span task's answer copied from its `span_of` field).

    The sample index counts on across iterations, so an example missed again draws fresh samples (and
    seeds) instead of the cached answer it got last time, which dedup would drop."""
    template.check(prompt_placeholders(task))
    fields = TaskFields(task).record
    jobs = []
    for record, student_answer in wrong:
        values = task_values(task, record) | {
            "rationale": record.rationale or record.reference or "(none given)",
            "student_answer": student_answer,
            "original_json": json.dumps({n: record.inputs[n] for n in task.input_fields}, ensure_ascii=False),
            "fields": quoted(fields),
            "first_field": fields[0],
        }
        messages = template.render(values)
        for sample in range(n_per_wrong):
            sample_index = (iteration - 1) * n_per_wrong + sample
            request = TeacherRequest.chat(messages, sample_index=sample_index, **(sampling or {}))
            meta: dict[str, Any] = {"iteration": iteration, "student_answer": student_answer}
            if task.labels:  # a classification record is asked for the missed one's label
                meta["requested_label"] = record.target
            record_id = f"{record.id}-llm2llm-{iteration}-{sample}"
            jobs.append(
                GenerationJob(
                    request,
                    record_id,
                    "llm2llm",
                    record,
                    fields,
                    False,
                    template.hash,
                    meta,
                    task.labels,
                    task=task,
                )
            )
    return jobs


def wrong_examples(
    task: Task, predictions: dict[str, dict[str, Any]], candidates: Sequence[Record], where: Path
) -> list[tuple[Record, str]]:
    """(record, the student's answer) for every candidate the student got wrong by the task's own test (a
    label mismatch; an answer that is not the gold final answer, normalised; a span that matches none of the
    gold answers exactly after SQuAD's normalisation), in candidate order."""
    wrong = []
    for record in candidates:
        row = predictions.get(record.id)
        if row is None:
            raise DataError(
                str(where),
                "id",
                f"has no training prediction for {record.id}",
                "the whole training split must be scored (trainer.limit_test_batches=null)",
            )
        if not task.is_correct(str(row["pred"]), task.golds(record)):
            wrong.append((record, str(row["pred"])))
    return wrong


def _train_iteration(
    cfg: DictConfig,
    run_dir: Path,
    iteration: int,
    user_extra: list[str],
    extra: list[Record],
    settings: dict[str, Any],
    splits: Splits,
) -> tuple[dict[str, Any], float]:
    """Write iteration `iteration`'s training data, then train its student (or find its finished training)."""
    write_training_data(cfg, splits, run_dir, iteration, extra)
    files = training_files(run_dir, iteration, user_extra, extra)
    return train_student(cfg, run_dir, iteration, files, settings["from_scratch"])


def user_extra_files(cfg: DictConfig) -> list[str]:
    """The user's own `data.extra_train` files: every student trains on them besides the seeds."""
    return [str(path) for path in cfg.data.get("extra_train") or []]


@dataclass
class Loop:
    """What every iteration needs: the config, the seeds, the runner's teacher and what was generated so far."""

    cfg: DictConfig
    settings: dict[str, Any]
    run_dir: Path
    task: Task
    seed_splits: Splits
    user_extra: list[str]
    session: TeacherSession
    template: PromptTemplate
    added: list[list[Record]]  # per finished iteration, the records it added

    def run_iteration(self, iteration: int) -> dict[str, Any]:
        """Train, find the errors, generate, and write the iteration's files; its history entry."""
        seeds, accumulate, task = self.seed_splits.train, self.settings["accumulate"], self.task
        extra = current_extra(self.added, accumulate)
        self.session.teacher.release()  # the student may train on the teacher's GPU: free it (it reloads)
        metrics, train_seconds = _train_iteration(
            self.cfg, self.run_dir, iteration, self.user_extra, extra, self.settings, self.seed_splits
        )
        predictions = read_train_predictions(self.run_dir, iteration)
        directory = iteration_dir(self.run_dir, iteration)
        where = directory / "predictions.jsonl"
        wrong_seeds = wrong_examples(task, predictions, seeds, where)
        wrong_generated = (
            [] if self.settings["only_seed_errors"] else wrong_examples(task, predictions, extra, where)
        )
        selection, chosen_history = self.settings["seed_selection"], None
        chosen_seeds = wrong_seeds
        if selection != "wrong":  # the seeds it is least sure of, as many as it got wrong unless told
            count = hard_seed_count(self.settings["max_hard_seeds"], len(wrong_seeds))
            chosen = least_sure_seeds(selection, task, predictions, seeds, count, where)
            chosen_seeds = [(record, answer) for record, answer, _ in chosen]
            chosen_history = history_of_choice(selection, chosen)
        previous = [record for batch in self.added for record in batch]
        jobs = llm2llm_jobs(
            task, chosen_seeds + wrong_generated, self.template, self.settings["n_per_wrong"], iteration,
            teacher_sampling(self.cfg.method),
        )  # fmt: skip
        result = self.session.generate(jobs, dedup_references=previous)  # dedup against all so far too
        lines = "".join(json_line(item.as_dict()) for item in result.rejected_items)
        atomic_write_text(directory / "rejected.jsonl", lines)
        write_jsonl(result.records, added_path(self.run_dir, iteration))
        self.added.append(result.records)
        write_jsonl(current_extra(self.added, accumulate), self.run_dir / self.cfg.output.records)
        entry = history_entry(
            iteration, metrics, seeds, wrong_seeds, wrong_generated, extra, result, train_seconds
        )
        if chosen_history is not None:
            entry |= {"seed_selection": selection, "hard_seeds": chosen_history}
        return entry


def teacher_sampling(method: Any) -> dict[str, Any]:
    return {"max_new_tokens": int(method.max_new_tokens)} if method.get("max_new_tokens") else {}


@register_method()
class LLM2LLM(AugmentationMethod):
    """LLM2LLM: rounds of training the student and augmenting what it gets wrong."""

    name = "llm2llm"
    needs = frozenset({"seeds", "student"})
    multi_round = True
    measures_diversity = False
    wandb_job_type = "llm2llm"

    def max_seeds(self) -> None:
        return None  # the whole training split (with any data.extra_train of yours)

    def check(self, context: RunContext) -> None:
        self.loop_settings = llm2llm_settings(self.settings)
        self.template = PromptTemplate.load(self.settings.prompt, context.prompts_dir)
        self.template.check(prompt_placeholders(context.task))
        eval_mode = OmegaConf.select(self.cfg, "eval.mode", default=None)
        check_seed_selection(self.loop_settings["seed_selection"], context.task, eval_mode)
        if not self.loop_settings["from_scratch"] and self.cfg.get("peft") is None:
            raise ConfigError(
                "method.from_scratch=false continues an adapter: it needs peft=lora or peft=prefix"
            )
        context.run_dir.mkdir(parents=True, exist_ok=True)

    def follow(self, context: RunContext) -> dict[str, Any] | None:
        rank = follower_rank()
        if not rank:
            return None  # the first process: it runs the loop
        return follow_llm2llm(self.cfg, self.loop_settings, context.run_dir, user_extra_files(self.cfg), rank)

    def plan(self, context: RunContext) -> JobPlan:
        """At most every seed wrong in every round: iterations x seeds x n_per_wrong jobs (the student's answer
        in the prompt is unknown before it trains, so the cache is not asked)."""
        settings = self.loop_settings
        chosen = context.seeds
        if settings["seed_selection"] != "wrong" and settings["max_hard_seeds"] is not None:
            chosen = chosen[: settings["max_hard_seeds"]]
        wrong = [(record, "(the student's answer)") for record in chosen]
        sampling = teacher_sampling(self.settings)
        jobs = [
            job
            for iteration in range(1, settings["iterations"] + 1)
            for job in llm2llm_jobs(
                context.task, wrong, self.template, settings["n_per_wrong"], iteration, sampling
            )
        ]
        note = (
            f"at most iterations x seeds x n_per_wrong = {settings['iterations']} x {len(chosen)} x "
            f"{settings['n_per_wrong']}: the jobs are the seeds the student gets wrong"
        )
        if not settings["only_seed_errors"]:
            note += "; plus n_per_wrong per generated record it gets wrong (only_seed_errors=false)"
        return JobPlan(jobs, exact=False, note=note, cache_lookup=False)

    def rounds(self, context: RunContext, session: TeacherSession) -> RoundsOutcome:
        """Run (or continue) the loop; every finished iteration has its history entry in llm2llm_history.json."""
        settings, run_dir = self.loop_settings, context.run_dir
        clear_stopped(run_dir)
        history = load_history(run_dir, settings)[: settings["iterations"]]
        if history:
            log.info("llm2llm: %d of %d iterations done in %s", len(history), settings["iterations"], run_dir)
        loop = Loop(
            self.cfg, settings, run_dir, context.task, context.splits, user_extra_files(self.cfg), session,
            self.template, load_added(run_dir, len(history)),
        )  # fmt: skip
        iteration = len(history) + 1
        try:
            for iteration in range(len(history) + 1, settings["iterations"] + 1):
                entry = loop.run_iteration(iteration)
                history.append(entry)
                save_history(run_dir, settings, history)  # last: now the iteration counts as done
                log.info(
                    "llm2llm iteration %d: seed accuracy %.3f, %d wrong, %d added",
                    iteration, entry["seed_train_acc"], entry["wrong"], entry["added"],
                )  # fmt: skip
        except BaseException as error:  # followers waiting for this iteration's files stop too
            write_stopped(run_dir, iteration, error)
            raise
        return final_outcome(run_dir, settings, history, loop.added, bool(context.task.labels))


def run_llm2llm(cfg: DictConfig) -> dict[str, Any]:
    """Run (or continue) the LLM2LLM loop through the runner; the same as `augment(cfg)` with method=llm2llm."""
    from taskexpert.augment.runner import run_method

    return run_method(cfg, LLM2LLM(cfg))
