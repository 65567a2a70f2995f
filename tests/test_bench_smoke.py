"""The speed benchmark's plumbing on the tiny model: every arm runs and lands in the report. No timing checks."""

from __future__ import annotations

import json

import pytest

from taskexpert.bench.__main__ import main, smoke_settings
from taskexpert.bench.report import GENERATED_HEADINGS
from taskexpert.bench.report_precision import PRECISION_HEADING
from taskexpert.bench.runner import Runner
from taskexpert.bench.tasks import FRAMEWORK_TITLES, eval_tasks, precision_arms, training_arms
from taskexpert.utils.markdown_sections import update_sections


def test_smoke_run_reports_every_arm(tmp_path):
    out = tmp_path / "BENCHMARKS.md"
    out.write_text("# Benchmarks\n\n## Someone else's section\n\nKeep me.\n", encoding="utf-8")

    assert main(["--smoke", "--in-process", "--out", str(out), "--work-dir", str(tmp_path / "work")]) == 0

    report = out.read_text(encoding="utf-8")
    assert "## Someone else's section\n\nKeep me.\n" in report
    for heading in GENERATED_HEADINGS:
        assert heading in report
    for arm in [*training_arms(with_bf16=False), *precision_arms(with_bf16=False)]:
        assert arm.title in report
    bf16_only = {arm.framework for arm in precision_arms(with_bf16=True)} - {
        arm.framework for arm in [*training_arms(with_bf16=False), *precision_arms(with_bf16=False)]
    }
    for framework, title in FRAMEWORK_TITLES.items():
        assert (title in report) != (
            framework in bf16_only
        )  # bf16-only arms stay out when bf16 is not measured
    for adapter in ("lora", "prefix"):
        assert f"| {adapter} | fp32 |" in report
    assert "bf16 arms not measured" in report
    runs = json.loads((tmp_path / "work" / "results.json").read_text())["runs"]
    expected = [*training_arms(with_bf16=False), *precision_arms(with_bf16=False)]
    assert {run["task"] for run in runs} >= {arm.name for arm in expected} | set(eval_tasks(False))


def test_smoke_run_of_the_bf16_arms(tmp_path):
    """`--bf16 always` on the tiny model: every bf16 arm and bf16 evaluation runs and reaches its section."""
    out = tmp_path / "BENCHMARKS.md"
    argv = ["--smoke", "--in-process", "--bf16", "always", "--parts", "precision"]
    assert main([*argv, "--out", str(out), "--work-dir", str(tmp_path / "work")]) == 0

    report = out.read_text(encoding="utf-8")
    section = report[report.index(PRECISION_HEADING) :]
    assert "## Speed benchmark: machine, versions, settings" not in report  # described inside the section
    for arm in precision_arms(with_bf16=True):
        assert arm.title in section
    assert "bf16-base: at least 2x the Trainer's bf16:" in section
    assert "| lora | fp32 |" not in section and "bf16 against fp32" in section
    results = json.loads((tmp_path / "work" / "results.json").read_text())
    evaluation = next(run["result"] for run in results["runs"] if run["task"] == "eval:lora:fp32,bf16")
    assert set(evaluation["by_precision"]) == {"fp32", "bf16"}
    assert 0.0 <= evaluation["bf16_vs_fp32"]["label_agreement"] <= 1.0
    trained = {run["task"]: run["result"] for run in results["runs"] if run["task"].startswith("train:")}
    assert trained["train:lightning:lora:bf16-base"]["precision"] == "bf16-base"
    assert trained["train:lightning:lora:bf16-mixed"]["precision"] == "bf16-mixed"
    assert "the best of 1 round: fp32" in section  # every round's matmul rate is shown

    rebuilt = tmp_path / "REBUILT.md"  # --from-results writes the same report without measuring again
    assert main(["--from-results", str(tmp_path / "work" / "results.json"), "--out", str(rebuilt)]) == 0
    assert rebuilt.read_text(encoding="utf-8").strip() in report


def test_a_task_runs_in_its_own_process_with_its_peak_memory(tmp_path):
    run = Runner(smoke_settings(), tmp_path, say=lambda _: None).run("matmul", 0)
    assert run.peak_rss_mb > 0
    assert run.result["fp32_flops"] > 0


def test_rerun_replaces_only_its_own_sections(tmp_path):
    path = tmp_path / "BENCHMARKS.md"
    path.write_text("# Benchmarks\n\n## A\n\nold ours\n\n## Theirs\n\nuntouched\n", encoding="utf-8")
    update_sections(path, {"## A": "## A\n\nnew ours", "## B": "## B\n\nadded"}, ("## A", "## B"))
    assert path.read_text(encoding="utf-8") == (
        "# Benchmarks\n\n## A\n\nnew ours\n\n## Theirs\n\nuntouched\n\n## B\n\nadded\n"
    )


@pytest.mark.parametrize(
    "peft",
    [["peft=lora", "peft.lora_dropout=0.0"], ["peft=prefix", "peft.num_virtual_tokens=8"]],
    ids=["lora", "prefix"],
)
def test_the_measured_speed_fixes_keep_loss_gradients_and_scores(make_config, peft):
    """Answer-only logits and dropping the mask of right-padded batches change speed, not numbers."""
    import torch

    from taskexpert.bench.data import encoder_for
    from taskexpert.bench.synthetic import synthetic_records
    from taskexpert.data.collate import EvalCollator, TrainCollator
    from taskexpert.models.adapters import apply_adapter
    from taskexpert.models.label_scoring import answer_only_loss, last_position_logits
    from taskexpert.models.loading import load_model_and_tokenizer

    cfg = make_config("model=tiny_llama", *peft)
    torch.manual_seed(0)
    model, tokenizer = load_model_and_tokenizer(cfg.model)
    model = apply_adapter(model, cfg.peft)
    records = synthetic_records(4)
    for record, words in zip(records, (5, 15, 30, 50), strict=True):  # different lengths: real padding
        record.inputs["context"] = " ".join(record.inputs["context"].split()[:words])
    examples = encoder_for(tokenizer, 1000).encode(records, "test records")
    batch = TrainCollator(tokenizer.pad_token_id)(examples)
    assert not bool(batch["attention_mask"].all())

    def loss_and_gradients(loss_fn):
        model.zero_grad()
        loss = loss_fn()
        loss.backward()
        return loss.detach(), [p.grad.clone() for p in model.parameters() if p.requires_grad]

    reference, reference_grads = loss_and_gradients(lambda: model(**batch).loss)
    fast, fast_grads = loss_and_gradients(lambda: answer_only_loss(model, batch))
    torch.testing.assert_close(fast, reference)
    for got, expected in zip(fast_grads, reference_grads, strict=True):
        torch.testing.assert_close(got, expected)

    evaluation = EvalCollator(tokenizer.pad_token_id)(examples)
    with torch.no_grad():
        last = evaluation["lengths"] - 1
        full = model(input_ids=evaluation["input_ids"], attention_mask=evaluation["attention_mask"]).logits
        scored = last_position_logits(
            model, evaluation["input_ids"], evaluation["attention_mask"], evaluation["lengths"]
        )
    torch.testing.assert_close(scored, full[torch.arange(len(last)), last])
