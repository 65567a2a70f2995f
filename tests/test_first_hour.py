"""The mistakes of a newcomer's first hour, each run as the command a user types: one line that names the fix,
exit status 2, and nothing written (the checks run before Hydra makes a directory or anything loads)."""

from __future__ import annotations

import pytest
from cli_helpers import assert_one_line_error, run_entry

MISTAKES = [
    # The sample's path must not satisfy the required path of the real data set.
    (["data=pubmedqa"], ["data.path is required", "set data.path=/path/to/ori_pqal.json"]),
    (["peft.lora_alfa=64"], ["did you mean peft.lora_alpha=64?"]),
    (["model=llama7b"], ["did you mean model=llama_7b?"]),
    (["sweep=lora_alpha"], ["add -m", "python train.py -m sweep=lora_alpha"]),
    (["+sweep=lora_alpha"], ["add -m", "python train.py -m sweep=lora_alpha"]),  # the older spelling
    (["peft.lora_alpha=32,64"], ["add -m to run one job per value"]),
    (["model=local"], ["set model.path=/models/my-model"]),
    (["teacher=openai"], ["train.py has no group teacher", "it is augment.py's"]),
    (
        ["data=pubmedqa", "data.path=/no/such/ori_pqal.json"],
        ["data.path=/no/such/ori_pqal.json does not exist"],
    ),
]


@pytest.mark.parametrize(("args", "fix"), MISTAKES, ids=[" ".join(args) for args, _ in MISTAKES])
def test_a_mistake_stops_with_one_line_naming_the_fix_and_writes_nothing(args, fix, tmp_path):
    args = args if "model=" in " ".join(args) else [*args, "model=tiny_llama"]
    result = run_entry("train.py", args, tmp_path / "outputs")
    assert_one_line_error(result, *fix)
    assert not (tmp_path / "outputs").exists()


def test_an_added_key_is_checked_against_the_class_it_configures(tmp_path):
    """`+peft.lora_alfa=64` would reach peft.LoraConfig as a TypeError; the fields of LoraConfig answer it."""
    result = run_entry("train.py", ["+peft.lora_alfa=64", "model=tiny_llama"], tmp_path)
    assert_one_line_error(
        result, "peft.LoraConfig has no argument 'lora_alfa'", "did you mean peft.lora_alpha=64?"
    )


@pytest.mark.skipif(
    __import__("torch").cuda.is_available(), reason="the message is for machines without a GPU"
)
def test_a_gpu_trainer_on_a_machine_without_one_says_use_the_cpu_trainer(tmp_path):
    result = run_entry("train.py", ["trainer=gpu", "model=tiny_llama"], tmp_path / "outputs")
    assert_one_line_error(result, "trainer=gpu needs a GPU", "use trainer=cpu")
    assert not (tmp_path / "outputs").exists()  # before the run directory, W&B and the model


def test_augment_mistakes_get_the_same_one_line_answers(tmp_path):
    result = run_entry("augment.py", ["teacher=opnai"], tmp_path)
    assert_one_line_error(result, "did you mean teacher=openai?")


def test_help_lists_each_group_s_options_with_their_descriptions(tmp_path):
    result = run_entry("train.py", ["--help"], tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    tiny = next(line for line in lines if line.strip().startswith("tiny_llama"))
    assert (
        "A tiny randomly initialised LlamaForCausalLM" in tiny
    )  # the first comment of conf/model/tiny_llama.yaml
    chosen = next(line for line in lines if "smollm2_135m" in line and "SmolLM2" in line)
    assert chosen.lstrip().startswith("* ")  # the default choice is marked
    assert any(
        line.strip().startswith("lora_alpha") and "lora_alpha in {32" in line for line in lines
    )  # studies
    assert any(line.strip().startswith("optimizer.lr") and "peak learning rate" in line for line in lines)


def test_augment_help_shows_its_own_settings_first_and_says_which_setting_wins(tmp_path):
    result = run_entry("augment.py", ["--help"], tmp_path)
    assert result.returncode == 0, result.stderr
    text = result.stdout
    first_group = next(
        line for line in text.splitlines() if line.startswith("  ") and line.rstrip().endswith(")")
    )
    assert first_group.strip().startswith("teacher:")
    assert text.index("sampling.max_new_tokens") < text.index("Every setting of train.py applies as well")
    assert "method.<step>.max_new_tokens" in text and "wandb.enabled logs this run's stats" in text
