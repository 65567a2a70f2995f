"""The default task gives the numbers it gave before the task layer: same metrics, same label scores, same text.

The expected values in fixtures/pubmedqa_tiny_before_task_layer.json were written by the code before tasks were
configurable (tiny LLaMA + LoRA, seed 42, the bundled sample): with label scoring, with generate-and-parse on a
label-then-long-answer target, and with an augmented file in the record format of that time mixed into training.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import FAST

from taskexpert.training.pipeline import train

FIXTURES = Path(__file__).parent / "fixtures"
EXPECTED = json.loads((FIXTURES / "pubmedqa_tiny_before_task_layer.json").read_text())
WHOLE_SPLITS = ["trainer.limit_val_batches=null", "trainer.limit_test_batches=null"]
# The fixtures were drawn with nn.Dropout's masks; the faster CPU masks (model.lora_dropout_mask=auto) came later,
# are their own documented change and draw other masks from the same seed.
TORCH_DROPOUT = "model.lora_dropout_mask=torch"
MODES = {
    "label": ["trainer.max_steps=3"],
    "generate": [
        "trainer.max_steps=3",
        "eval.mode=generate",
        "eval.max_new_tokens=6",
        "data.target=label_then_long_answer",
    ],
    "legacy_extra_train": [
        "trainer.max_steps=2",
        f"data.extra_train=[{FIXTURES / 'augmented_before_task_layer.jsonl'}]",
    ],
}


@pytest.mark.parametrize("mode", list(MODES))
def test_default_task_reproduces_the_numbers_from_before(mode, make_config, tmp_path):
    train(make_config("model=tiny_llama", *FAST, *WHOLE_SPLITS, TORCH_DROPOUT, *MODES[mode]))
    run_dir = tmp_path / "run"
    expected = EXPECTED[mode]

    metrics = json.loads((run_dir / "metrics.json").read_text())
    for key, value in expected["metrics"].items():
        assert metrics[key] == (value if isinstance(value, list) else pytest.approx(value, abs=1e-9)), key
    rows = [json.loads(line) for line in (run_dir / "predictions.jsonl").read_text().splitlines()]
    assert [(r["split"], r["id"], r["gold"], r["pred"]) for r in rows] == [
        (r["split"], r["id"], r["gold"], r["pred"]) for r in expected["predictions"]
    ]
    for row, before in zip(rows, expected["predictions"], strict=True):
        for label, score in before["scores"].items():
            assert row["scores"][label] == pytest.approx(score, abs=1e-5), (row["id"], label)
        assert row.get("generated") == before.get("generated")
