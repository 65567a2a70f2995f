"""Precision: what `trainer.precision` resolves to, the bf16-base training path, and that bf16 and fp32 agree.

bf16 runs on any CPU (machines without AVX512-BF16/AMX emulate it slowly, fine for the tiny model), so these
tests hold everywhere; the figures of speed are in BENCHMARKS.md.
"""

from __future__ import annotations

import json

import pytest
import torch
from conftest import FAST, compose_config
from peft import PeftModel
from safetensors.torch import load_file

from taskexpert.bench.data import encoder_for
from taskexpert.bench.synthetic import synthetic_records
from taskexpert.data.collate import EvalCollator, TrainCollator
from taskexpert.data.encoding import ExampleEncoder
from taskexpert.data.lengths import length_setting
from taskexpert.data.loading import load_splits
from taskexpert.errors import ConfigError
from taskexpert.models.adapter_compute import compute_lora_in_input_dtype
from taskexpert.models.adapters import apply_adapter, store_frozen_weights_in
from taskexpert.models.label_scoring import answer_only_loss
from taskexpert.models.label_sequences import score_task_labels
from taskexpert.models.loading import attention_implementation, load_model_and_tokenizer
from taskexpert.tasks import build_task
from taskexpert.training.pipeline import train
from taskexpert.training.precision import resolve_precision
from taskexpert.utils import hardware

# Stated tolerances. bf16 keeps 8 significant bits (relative rounding 2^-9 = 0.2% per operation).
LOSS_RELATIVE_TOLERANCE = (
    2e-3  # the same weights and batch: bf16-base loss within 0.2% of fp32 (measured 1e-5)
)
GRADIENT_COSINE_AT_LEAST = 0.999  # the adapter's gradient points the same way (measured 0.99997)
SCORE_TOLERANCE = 0.02  # label log-probabilities of the same adapter, fp32 base vs bf16 base
AGREEMENT_AT_LEAST = 0.98  # label predictions of the same adapter, fp32 vs bf16 scoring


@pytest.fixture
def cpu_with(monkeypatch, tmp_path):
    """A /proc/cpuinfo with the given flags (a real file read by the real code path)."""

    def make(*flags: str) -> None:
        cpuinfo = tmp_path / "cpuinfo"
        cpuinfo.write_text(
            f"processor\t: 0\nflags\t\t: fpu sse2 avx2 {' '.join(flags)}\n\n", encoding="utf-8"
        )
        monkeypatch.setattr(hardware, "CPUINFO", cpuinfo)

    return make


def resolved(*overrides: str, tmp_path):
    cfg = compose_config(list(overrides), tmp_path)
    return resolve_precision(cfg.trainer, cfg.model, cfg.peft)


@pytest.mark.parametrize("flag", ["avx512_bf16", "amx_bf16"])
def test_auto_is_bf16_base_for_adapters_where_the_cpu_has_native_bf16(cpu_with, tmp_path, flag):
    cpu_with(flag)
    for peft in ("lora", "prefix"):
        precision = resolved(f"peft={peft}", tmp_path=tmp_path)
        assert (precision.name, precision.lightning, precision.weights_dtype) == (
            "bf16-base",
            "32-true",  # no autocast: the base is already bf16
            "bfloat16",
        )
    full = resolved("peft=none", tmp_path=tmp_path)  # pure bf16 weights lose small updates
    assert (full.name, full.lightning, full.weights_dtype) == ("bf16-mixed", "bf16-mixed", "float32")
    fp32_weights = resolved("model.dtype=float32", tmp_path=tmp_path)
    assert (fp32_weights.name, fp32_weights.weights_dtype) == ("bf16-mixed", "float32")
    fsdp = resolved("trainer=fsdp", "trainer.accelerator=cpu", tmp_path=tmp_path)
    assert fsdp.name == "bf16-mixed"  # FSDP flattens parameters of one dtype


def test_auto_is_fp32_where_the_cpu_has_no_native_bf16(cpu_with, tmp_path):
    cpu_with("avx512f")
    for peft in ("lora", "none"):
        precision = resolved(f"peft={peft}", tmp_path=tmp_path)
        assert (precision.name, precision.lightning, precision.weights_dtype) == (
            "32-true",
            "32-true",
            "float32",
        )
    assert hardware.inference_dtype("auto") == "float32"
    assert hardware.inference_dtype("bfloat16") == "bfloat16"  # explicit choices stay


def test_auto_follows_this_machine(tmp_path):
    native = bool({"avx512_bf16", "amx_bf16"} & hardware.cpu_flags())
    assert resolved(tmp_path=tmp_path).name == ("bf16-base" if native else "32-true")
    assert hardware.inference_dtype("auto") == ("bfloat16" if native else "float32")
    assert resolved("trainer=fast", tmp_path=tmp_path).name == "32-true"  # tests are pinned to fp32


def test_auto_on_a_gpu_asks_torch_whether_bf16_is_native(monkeypatch, tmp_path):
    """No GPU here: torch's two CUDA queries are replaced, the rest of the decision runs for real."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    asked = {}

    def is_bf16_supported(including_emulation=True):
        asked["including_emulation"] = including_emulation
        return True

    monkeypatch.setattr(torch.cuda, "is_bf16_supported", is_bf16_supported)
    assert resolved("trainer=gpu", tmp_path=tmp_path).name == "bf16-base"
    assert asked == {"including_emulation": False}  # emulated bf16 (pre-Ampere) does not count
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: False)
    assert resolved("trainer=gpu", tmp_path=tmp_path).name == "32-true"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["trainer.precision=bf16-base", "peft=none"], "peft=none trains every weight"),
        (["trainer.precision=bf16-base", "model.dtype=float32"], "model.dtype=float32"),
        (["trainer.precision=bf16-true"], "trainer.precision='bf16-true' is unknown"),
        (["model.dtype=float64"], "model.dtype='float64' is unknown"),
    ],
)
def test_contradictory_precision_settings_are_refused(tmp_path, overrides, message):
    with pytest.raises(ConfigError, match=message):
        resolved(*overrides, tmp_path=tmp_path)


def test_attention_on_a_cpu_is_ours_in_bf16_and_eager_when_compiled_in_fp32(cpu_with, tmp_path):
    cpu_with("avx512_bf16")
    # auto = bf16-base, whose matmuls beat torch's flash kernel
    assert resolved(tmp_path=tmp_path).attention == "taskexpert_eager"
    fp32 = resolved("trainer.precision=32-true", tmp_path=tmp_path)
    assert fp32.attention is None  # sdpa: in fp32 eager is slower and keeps the attention probabilities
    assert resolved("trainer.precision=32-true", "model.compile=true", tmp_path=tmp_path).attention == "eager"
    assert resolved("model.compile=true", tmp_path=tmp_path).attention == "taskexpert_eager"  # bf16, compiled
    compiled_sdpa = resolved("model.compile=true", "model.attn_implementation=sdpa", tmp_path=tmp_path)
    assert compiled_sdpa.attention == "sdpa"  # explicit choices stay
    assert attention_implementation("auto", True, "cuda", bf16=True) is None
    cpu_with("avx2")
    assert resolved(tmp_path=tmp_path).attention is None  # no native bf16: fp32, sdpa


def test_lightning_short_names_and_explicit_choices_stay(tmp_path):
    assert resolved("trainer.precision=32", tmp_path=tmp_path).name == "32-true"
    explicit = resolved("trainer.precision=bf16-mixed", tmp_path=tmp_path)
    assert (explicit.lightning, explicit.weights_dtype) == ("bf16-mixed", "float32")
    seven_b = resolved("model=llama_7b", "trainer.precision=bf16-base", tmp_path=tmp_path)
    assert seven_b.weights_dtype == "bfloat16"


def padded_batch(tokenizer):
    records = synthetic_records(4)
    for record, words in zip(records, (5, 15, 30, 50), strict=True):  # different lengths: real padding
        record.inputs["context"] = " ".join(record.inputs["context"].split()[:words])
    return TrainCollator(tokenizer.pad_token_id)(encoder_for(tokenizer, 1000).encode(records, "test records"))


def fp32_and_bf16_base_twins(peft_overrides: list[str]):
    """One adapter on an fp32 base and a deep copy of it with the frozen base cast to bf16."""
    import copy

    cfg = compose_config(["model=tiny_llama", *peft_overrides])
    torch.manual_seed(0)
    model, tokenizer = load_model_and_tokenizer(cfg.model, "float32")
    model = apply_adapter(model, cfg.peft)
    for name, parameter in model.named_parameters():  # a trained-looking adapter: LoRA B starts at zero
        if "lora_B" in name:
            torch.nn.init.normal_(parameter, std=0.05)
    twin = store_frozen_weights_in(copy.deepcopy(model), torch.bfloat16)
    compute_lora_in_input_dtype(twin)  # as a bf16-base run builds it
    return model, twin, tokenizer


@pytest.mark.parametrize(
    "peft",
    [["peft=lora", "peft.lora_dropout=0.0"], ["peft=prefix", "peft.num_virtual_tokens=8"]],
    ids=["lora", "prefix"],
)
def test_bf16_base_loss_and_gradients_match_fp32_within_tolerance(peft):
    fp32, bf16, tokenizer = fp32_and_bf16_base_twins(peft)
    frozen = {p.dtype for p in bf16.parameters() if not p.requires_grad}
    trainable = {p.dtype for p in bf16.parameters() if p.requires_grad}
    assert frozen == {torch.bfloat16} and trainable == {torch.float32}
    batch = padded_batch(tokenizer)

    def loss_and_gradient(model):
        model.zero_grad()
        loss = answer_only_loss(model, batch)
        loss.backward()
        gradient = torch.cat([p.grad.flatten() for p in model.parameters() if p.requires_grad])
        return loss.detach(), gradient

    loss32, grad32 = loss_and_gradient(fp32)
    loss16, grad16 = loss_and_gradient(bf16)
    assert loss16.dtype == torch.float32  # log-softmax and cross-entropy in fp32
    assert abs(loss16 - loss32) / loss32 < LOSS_RELATIVE_TOLERANCE
    assert grad16.dtype == torch.float32  # gradients of the fp32 adapter are fp32
    assert torch.nn.functional.cosine_similarity(grad16, grad32, dim=0) > GRADIENT_COSINE_AT_LEAST


def test_prefix_key_values_reach_attention_in_the_base_dtype():
    _, bf16, _ = fp32_and_bf16_base_twins(["peft=prefix", "peft.num_virtual_tokens=8"])
    cache = bf16.get_prompt(batch_size=2)
    keys = cache.layers[0].keys
    assert (
        keys.dtype == torch.bfloat16 and keys.requires_grad
    )  # cast from the fp32 prefix, gradients flow back


def test_a_bf16_base_step_keeps_the_base_and_trains_fp32_adapter_and_optimizer_state():
    cfg = compose_config(["model=tiny_llama", "peft=lora", "trainer.precision=bf16-base"])
    precision = resolve_precision(cfg.trainer, cfg.model, cfg.peft)
    model, tokenizer = load_model_and_tokenizer(cfg.model, precision.weights_dtype)
    model = apply_adapter(model, cfg.peft)
    assert compute_lora_in_input_dtype(model) > 0
    adapter_outputs = []
    lora_a = next(m for n, m in model.named_modules() if n.endswith("lora_A.default"))
    lora_a.register_forward_hook(lambda module, args, output: adapter_outputs.append(output.dtype))
    base = {name: p for name, p in model.named_parameters() if not p.requires_grad}
    before = {name: (p.data_ptr(), p.detach().clone()) for name, p in base.items()}
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    model.train()
    answer_only_loss(model, padded_batch(tokenizer)).backward()
    optimizer.step()
    for name, parameter in base.items():  # the same bf16 storage, untouched: nothing recast or updated
        assert parameter.dtype == torch.bfloat16 and parameter.grad is None
        assert parameter.data_ptr() == before[name][0] and torch.equal(parameter, before[name][1])
    states = [t for s in optimizer.state.values() for t in s.values() if t.is_floating_point() and t.dim()]
    assert states and {t.dtype for t in states} == {torch.float32}
    assert adapter_outputs == [torch.bfloat16]  # the adapter computed in bf16 from its fp32 weights
    assert {p.grad.dtype for p in model.parameters() if p.requires_grad} == {torch.float32}


def score_sample(run_dir, cfg, dtype: str) -> torch.Tensor:
    """Label log-probabilities of the whole bundled sample (60 records) with the run's adapter on a `dtype` base."""
    base, tokenizer = load_model_and_tokenizer(cfg.model, dtype)
    model = PeftModel.from_pretrained(base, str(run_dir / "adapter")).eval()
    assert {p.dtype for n, p in model.named_parameters() if "lora_" in n} == {torch.float32}
    task = build_task(cfg.task)
    splits = load_splits(cfg.data, task)
    encoder = ExampleEncoder(tokenizer, task, length_setting(cfg.data), "label", target=cfg.data.target)
    examples = encoder.encode([*splits.train, *splits.validation, *splits.test], "sample")
    collate = EvalCollator(tokenizer.pad_token_id)
    return torch.cat(
        [
            score_task_labels(
                model, collate(examples[start : start + 8]), encoder.label_tokens, tokenizer.pad_token_id
            )
            for start in range(0, len(examples), 8)
        ]
    )


@pytest.mark.parametrize("trained_in", ["bf16-base", "32-true"])
def test_adapters_trained_in_one_precision_load_and_score_in_the_other(tmp_path, trained_in):
    run_dir = tmp_path / trained_in
    cfg = compose_config(
        [
            "model=tiny_llama",
            *FAST,
            f"trainer.precision={trained_in}",
            "trainer.max_steps=-1",
            "trainer.max_epochs=2",
            "optimizer.lr=1e-2",
        ],
        run_dir,
    )
    metrics = train(cfg)
    assert metrics["precision"] == trained_in
    assert json.loads((run_dir / "metrics.json").read_text())["precision"] == trained_in
    saved = load_file(run_dir / "adapter" / "adapter_model.safetensors")
    assert {tensor.dtype for tensor in saved.values()} == {torch.float32}

    fp32, bf16 = score_sample(run_dir, cfg, "float32"), score_sample(run_dir, cfg, "bfloat16")
    assert (fp32 - bf16).abs().max() < SCORE_TOLERANCE
    agreement = (fp32.argmax(-1) == bf16.argmax(-1)).float().mean()
    assert agreement >= AGREEMENT_AT_LEAST
    own = fp32 if trained_in == "32-true" else bf16  # the run scored its test split in its own precision
    predictions = [json.loads(line) for line in (run_dir / "predictions.jsonl").read_text().splitlines()]
    test_rows = [row for row in predictions if row["split"] == "test"]
    test_scores = own[-16:]  # the sample's test split is its last 16 records
    assert [row["pred"] for row in test_rows] == [cfg.task.labels[i] for i in test_scores.argmax(-1).tolist()]


@pytest.mark.parametrize(
    ("precision", "overrides"),
    [
        ("bf16-base", ["peft=lora", "eval.mode=generate"]),
        ("bf16-base", ["peft=prefix", "peft.num_virtual_tokens=8", "eval.mode=generate"]),
        ("bf16-mixed", ["peft=lora"]),
        ("bf16-base", ["peft=lora", "model.compile=eager"]),  # dynamo capture without inductor's C++ build
    ],
    ids=["bf16-base-lora-generate", "bf16-base-prefix-generate", "bf16-mixed-lora", "bf16-base-compiled"],
)
def test_a_run_trains_and_evaluates_in_each_bf16_precision(tmp_path, precision, overrides):
    cfg = compose_config(
        [
            "model=tiny_llama",
            *FAST,
            *overrides,
            f"trainer.precision={precision}",
            "trainer.max_steps=1",
            "eval.max_new_tokens=4",
        ],
        tmp_path,
    )
    torch._dynamo.reset()
    torch._dynamo.utils.counters.clear()
    metrics = train(cfg)
    assert metrics["precision"] == precision
    assert 0.0 <= metrics["test/acc"] <= 1.0
    compiled_graphs = torch._dynamo.utils.counters["stats"]["unique_graphs"]
    assert (compiled_graphs > 0) == bool(cfg.model.get("compile"))  # the decoder blocks ran compiled
    if cfg.eval.mode == "generate":  # decoding ran: every row carries its generated text
        rows = [json.loads(line) for line in (tmp_path / "predictions.jsonl").read_text().splitlines()]
        assert rows and all("generated" in row for row in rows)


@pytest.mark.parametrize(("choice", "bf16_compute"), [("auto", True), ("float32", False)])
def test_a_bf16_base_run_builds_lora_in_the_configured_compute_dtype(tmp_path, choice, bf16_compute):
    from taskexpert.models.adapter_compute import InputDtypeLinear
    from taskexpert.training.pipeline import build_trainable_model

    cfg = compose_config(
        ["model=tiny_llama", "peft=lora", "trainer.precision=bf16-base", f"model.lora_compute={choice}"],
        tmp_path,
    )
    model, _ = build_trainable_model(cfg, resolve_precision(cfg.trainer, cfg.model, cfg.peft))
    lora = [m for n, m in model.named_modules() if n.endswith(("lora_A.default", "lora_B.default"))]
    assert lora and all((type(m) is InputDtypeLinear) == bf16_compute for m in lora)
    assert all(m.weight.dtype == torch.float32 for m in lora)  # the weights stay fp32 either way
    with pytest.raises(ConfigError, match="model.lora_compute='bf16' is unknown"):
        build_trainable_model(
            compose_config(["model=tiny_llama", "model.lora_compute=bf16"], tmp_path),
            resolve_precision(cfg.trainer, cfg.model, cfg.peft),
        )
