"""Local transformers generation: batched, left-padded `model.generate` on any causal LM.

The model loads on the first call that the cache cannot answer, so a fully cached re-run never loads it.
Sampling uses transformers' own logits processors (temperature, top-p, repetition penalty). Each batch is
seeded from its calls' keys inside a forked RNG, so results repeat for the same batch and the caller's
random state is left alone; across interrupted runs the cache is what makes results repeat.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Iterator, Sequence
from typing import Any

from taskexpert.errors import ConfigError
from taskexpert.teachers.backends.base import Backend, BackendCall, BackendResult
from taskexpert.teachers.json_text import closes_json_object
from taskexpert.teachers.sampling import Sampling, transformers_generate_kwargs
from taskexpert.utils.hardware import inference_dtype

log = logging.getLogger(__name__)
CHAT_TEMPLATE_CHOICES = ("auto", True, False)


class TransformersBackend(Backend):
    kind = "transformers"

    def __init__(
        self,
        model: str,
        path: str | None = None,
        source: str = "hub",
        tiny_architecture: str | None = None,
        revision: str | None = None,
        dtype: str = "auto",
        device: str = "cpu",
        batch_size: int = 4,
        use_chat_template: str | bool = "auto",
        stop_after_json: bool = True,
        trust_remote_code: bool = False,
        prefill: bool = True,
        cache_tag: str = "",
    ) -> None:
        super().__init__(model=model, prefill=prefill, cache_tag=cache_tag)
        if use_chat_template not in CHAT_TEMPLATE_CHOICES:
            raise ConfigError(f"teacher.use_chat_template={use_chat_template!r}: use auto, true or false")
        if batch_size < 1:
            raise ConfigError(f"teacher.batch_size={batch_size} must be >= 1")
        # the same keys as a `model` config, so prepared offline models (smollm2, tiny) resolve the same way
        self.model_source = {
            "name": model,
            "path": path or (model if source == "hub" else None),
            "source": source,
            "tiny_architecture": tiny_architecture,
            "revision": revision,
            "dtype": inference_dtype(dtype, device),  # auto: bf16 where the device has native bf16
            "trust_remote_code": trust_remote_code,
        }
        self.device = device
        self.batch_size = batch_size
        self.use_chat_template = use_chat_template
        self.stop_after_json = stop_after_json
        self._model = None
        self._tokenizer = None

    def identity(self) -> dict[str, Any]:
        """Where the weights come from is part of the identity: same name, other weights, other answers."""
        where = {
            key: self.model_source[key]
            for key in ("path", "source", "tiny_architecture", "revision", "dtype")
        }
        return {**super().identity(), **where}

    def call_params(self, sampling: Sampling, sample_index: int) -> dict[str, Any]:
        params = transformers_generate_kwargs(sampling)
        params["seed"] = sampling.sample_seed(sample_index)
        params["stop_after_json"] = self.stop_after_json  # changes the text, so it is part of the key
        return params

    def _load(self) -> None:
        if self._model is not None:
            return
        from omegaconf import OmegaConf

        from taskexpert.models.loading import load_model_and_tokenizer

        started = time.perf_counter()
        model, tokenizer = load_model_and_tokenizer(OmegaConf.create(self.model_source))
        tokenizer.padding_side = "left"  # generation continues from the last position of every row
        device = self.device
        if device == "auto":
            import torch

            device = "cuda" if torch.cuda.is_available() else "cpu"
        if device != "cpu":
            model = model.to(device)
        model.eval()
        if self.use_chat_template is True and not tokenizer.chat_template:
            raise ConfigError(
                f"teacher {self.model!r}: use_chat_template=true but its tokenizer has no chat template"
            )
        self._model, self._tokenizer = model, tokenizer
        log.info("teacher %s loaded in %.1f s", self.model, time.perf_counter() - started)

    def _uses_chat_template(self) -> bool:
        return self.use_chat_template is True or (
            self.use_chat_template == "auto" and bool(self._tokenizer.chat_template)
        )

    def render(self, call: BackendCall) -> str:
        """The prompt text: the chat template when there is one, else the messages joined by blank lines."""
        self._load()
        messages = call.message_dicts()
        if call.messages[-1][0] == "assistant":
            messages = messages[:-1]
        if self._uses_chat_template():
            text = self._tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        else:
            text = "\n\n".join(message["content"] for message in messages) + "\n\n"
        return text + call.prefill

    def run(self, calls: Sequence[BackendCall]) -> Iterator[BackendResult]:
        if not calls:
            return
        self._load()
        prompts = {call.key: self.render(call) for call in calls}
        lengths = {key: len(self._tokenizer(text)["input_ids"]) for key, text in prompts.items()}
        groups: dict[str, list[BackendCall]] = {}  # one generate call needs one set of sampling settings
        for call in calls:
            groups.setdefault(_settings_without_seed(call), []).append(call)
        for group in groups.values():
            ordered = sorted(group, key=lambda call: -lengths[call.key])  # similar lengths share a batch
            for start in range(0, len(ordered), self.batch_size):
                batch = ordered[start : start + self.batch_size]
                yield from self._generate_batch(batch, [prompts[call.key] for call in batch])

    def _generate_batch(self, batch: list[BackendCall], prompts: list[str]) -> Iterator[BackendResult]:
        import torch

        tokenizer = self._tokenizer
        encoded = tokenizer(
            prompts, return_tensors="pt", padding=True, add_special_tokens=not self._uses_chat_template()
        ).to(self._model.device)
        kwargs = {k: v for k, v in batch[0].params.items() if k not in ("seed", "stop_after_json")}
        prompt_length = encoded["input_ids"].shape[1]
        stopping = []
        if self.stop_after_json:
            stopping.append(_json_closed_criterion(tokenizer, prompt_length, [c.prefill for c in batch]))
        started = time.perf_counter()
        with torch.random.fork_rng(devices=[]), torch.inference_mode():
            torch.manual_seed(_batch_seed(batch))
            output = self._model.generate(
                **encoded, **kwargs, pad_token_id=tokenizer.pad_token_id, stopping_criteria=stopping
            )
        seconds = (time.perf_counter() - started) / len(batch)
        for call, row in zip(batch, output[:, prompt_length:], strict=True):
            yield BackendResult(call.key, tokenizer.decode(row, skip_special_tokens=True), seconds=seconds)

    def close(self) -> None:
        self._model = None
        self._tokenizer = None


def _settings_without_seed(call: BackendCall) -> str:
    return repr(sorted((k, v) for k, v in call.params.items() if k != "seed"))


def _batch_seed(batch: list[BackendCall]) -> int:
    digest = hashlib.sha256("|".join(call.key for call in batch).encode()).hexdigest()
    return int(digest[:8], 16)


def _json_closed_criterion(tokenizer, prompt_length: int, prefills: list[str]):
    """Stops a row once its answer (prefill + new text) has closed its first JSON object."""
    import torch
    from transformers import StoppingCriteria

    class JsonClosed(StoppingCriteria):
        def __call__(self, input_ids, scores, **kwargs):
            new_tokens = input_ids[:, prompt_length:]
            done = [
                closes_json_object(prefill + tokenizer.decode(row, skip_special_tokens=True))
                for prefill, row in zip(prefills, new_tokens, strict=True)
            ]
            return torch.tensor(done, dtype=torch.bool, device=input_ids.device)

    return JsonClosed()
