"""`augment.py ... dry_run=true`: what a run would ask of the teacher, before any call and without its model.

From the method's planned jobs (augment/method.py `JobPlan`): the requests, the distinct calls they make, those
the cache already answers (looked up by key, nothing is sent), the prompt tokens of the calls to pay for (the
teacher's tokenizer when it has one, loaded alone; else UTF-8 bytes / 4, with the bytes as the bound), at most
`max_new_tokens` completion tokens a call, and their cost at `teacher.pricing`. A method whose jobs depend on
what the run finds (LLM2LLM: the student's errors) plans its bound instead, and says so. The estimate is
printed and written to `augment_dry_run.json` in the run directory.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from taskexpert.augment.generation import answer_rates, with_answer_schema
from taskexpert.augment.method import JobPlan, RunContext
from taskexpert.teachers import build_teacher
from taskexpert.teachers.backends.base import BackendCall
from taskexpert.teachers.teacher import Teacher
from taskexpert.utils.atomic import atomic_write_json

DRY_RUN_FILE = "augment_dry_run.json"
BYTES_PER_TOKEN = 4  # UTF-8 bytes a token of English prose takes on byte-level BPE tokenizers, about


def prompt_text(call: BackendCall) -> str:
    """The message texts of a call, as sent (a chat template adds a few tokens a message around them)."""
    return "\n".join(content for _, content in call.messages)


def count_prompt_tokens(teacher: Teacher, calls: list[BackendCall]) -> tuple[int, int | None, str]:
    """(estimated prompt tokens, their bound or None, how they were counted) of `calls`."""
    meter = teacher.token_meter()  # a local teacher's tokenizer alone, not its model
    counts = [meter.count(prompt_text(call)) for call in calls]
    if meter.name == "tokenizer":
        return sum(counts), None, f"the teacher's tokenizer ({teacher.name}), message texts"
    estimate = sum(math.ceil(count / BYTES_PER_TOKEN) for count in counts)
    return estimate, sum(counts), f"UTF-8 bytes / {BYTES_PER_TOKEN} (the bytes bound the tokens)"


def estimate(context: RunContext, plan: JobPlan, teacher: Teacher) -> dict[str, Any]:
    """The numbers of the dry run of `plan` on `teacher` (nothing is sent)."""
    cfg = context.cfg
    rates = answer_rates(teacher, plan.jobs)
    calls = teacher.planned_calls([with_answer_schema(job, teacher, rates) for job in plan.jobs])
    distinct = list({call.key: call for call in calls}.values())  # identical calls are made once
    cached = teacher.cache.get_many(call.key for call in distinct) if plan.cache_lookup else {}
    paid = [call for call in distinct if call.key not in cached]
    prompt_tokens, prompt_bound, counted_with = count_prompt_tokens(teacher, paid)
    completion_max = sum(int(call.sampling.max_new_tokens) for call in paid)
    price = teacher.stats.price
    notes = [plan.note] if plan.note else []
    if not plan.cache_lookup:
        notes.append("the cache is not asked: the prompts are known only when the run makes them")
    cap = teacher.budget.max_calls
    if cap is not None and len(paid) > cap:
        notes.append(f"teacher.budget.max_calls={cap} stops the run after {cap} of these calls")
    judge = cfg.filters.label_consistency
    if judge.enabled and judge.judge == "teacher":
        notes.append(
            "the label-consistency judge adds up to one teacher call per parsed record (not counted)"
        )
    return {
        "dry_run": True,
        "method": str(cfg.method.name),
        "teacher": {"model": teacher.name, "backend": teacher.backend.kind},
        "seeds": len(context.seeds),
        "exact": plan.exact,  # false: every number is an upper bound (see notes)
        "requests": len(calls),
        "distinct_calls": len(distinct),
        "cache_hits": sum(1 for call in calls if call.key in cached) if plan.cache_lookup else None,
        "calls": len(paid),  # what a run would send and pay for
        "prompt_tokens": prompt_tokens,
        "prompt_tokens_bound": prompt_bound,
        "prompt_tokens_counted_with": counted_with,
        "cached_prompt_tokens": sum(answer.prompt_tokens or 0 for answer in cached.values()),
        "completion_tokens_max": completion_max,  # an upper bound: max_new_tokens a call
        "pricing": None if price is None else {"input": price.input, "output": price.output},
        "cost_usd_max": None if price is None else round(price.cost(prompt_tokens, completion_max), 6),
        "notes": notes,
    }


def estimate_table(numbers: dict[str, Any]) -> Table:
    bound = "" if numbers["exact"] else " (at most)"
    table = Table(title=f"Dry run: {numbers['method']} with {numbers['teacher']['model']}{bound}")
    table.add_column("")
    table.add_column("value", justify="right")
    cache_hits = numbers["cache_hits"]
    table.add_row("requests", str(numbers["requests"]))
    table.add_row("distinct calls", str(numbers["distinct_calls"]))
    table.add_row("already in the cache", "not asked" if cache_hits is None else str(cache_hits))
    table.add_row("[bold]calls to make", f"[bold]{numbers['calls']}")
    table.add_row("prompt tokens", f"{numbers['prompt_tokens']} ({numbers['prompt_tokens_counted_with']})")
    table.add_row("completion tokens", f"at most {numbers['completion_tokens_max']} (max_new_tokens a call)")
    cost = numbers["cost_usd_max"]
    table.add_row("cost (USD)", "unpriced (teacher.pricing)" if cost is None else f"at most {cost:.4f}")
    return table


def estimate_run(context: RunContext, plan: JobPlan) -> dict[str, Any]:
    """Estimate, print, write augment_dry_run.json; the teacher's model never loads and no call is made."""
    cfg = context.cfg
    teacher = build_teacher(cfg.teacher, cfg.sampling, cfg.cache)  # models load on a first call only
    try:
        numbers = estimate(context, plan, teacher)
    finally:
        teacher.close()
        teacher.cache.close()
    path = atomic_write_json(Path(context.run_dir) / DRY_RUN_FILE, numbers)
    console = Console()
    console.print(estimate_table(numbers))
    for note in numbers["notes"]:
        console.print(f"note: {note}")
    console.print(f"Estimate: [bold]{path}[/bold]; nothing was sent to the teacher")
    return numbers
