"""JSON-schema-constrained decoding for local transformers teachers: a grammar mask as a logits processor.

A maintained grammar library compiles the schema against the tokenizer; at every step our processor asks
it, per batch row, which tokens keep the answer inside the schema, and sets every other logit to -inf.
Two libraries plug in behind one small interface, `llguidance` (the default) and `xgrammar`; both were
measured on the offline teacher (BENCHMARKS.md, "Structured teacher output") and either may be chosen with
`teacher.grammar_library`. Compiled grammars are cached per schema, so a run compiles each schema once.

Rows that are finished (end of text, or stopped by a criterion) are left unmasked: generate pads them, and
a row whose every logit is -inf would make sampling fail.
"""

from __future__ import annotations

import json
import time
from abc import ABC, abstractmethod
from typing import Any

from taskexpert.errors import ConfigError

GRAMMAR_LIBRARIES = ("llguidance", "xgrammar")
ITEM_SEPARATOR, KEY_SEPARATOR = ", ", ": "  # the layout of the prompts' examples: {"question": "..."}


class RowMatcher(ABC):
    """The grammar state of one batch row."""

    @abstractmethod
    def accept(self, token_id: int) -> bool:
        """Advance by one generated token; False if the grammar did not allow it."""

    @abstractmethod
    def fill_mask(self, bitmask: Any, row: int) -> None:
        """Write the allowed next tokens of this row into row `row` of the int32 bitmask."""

    @abstractmethod
    def finished(self) -> bool:
        """The answer is complete (only the end of text may follow) or stopped."""


class GrammarEngine(ABC):
    """A grammar library bound to one tokenizer; compiles schemas (cached) and makes row matchers."""

    name = "engine"

    def __init__(self, tokenizer: Any, vocab_size: int) -> None:
        self.vocab_size = vocab_size
        self._compiled: dict[str, Any] = {}

    def matcher(self, schema: dict[str, Any]) -> RowMatcher:
        key = json.dumps(schema, sort_keys=True)
        if key not in self._compiled:
            self._compiled[key] = self._compile(schema)
        return self._new_matcher(self._compiled[key])

    @abstractmethod
    def _compile(self, schema: dict[str, Any]) -> Any: ...

    @abstractmethod
    def _new_matcher(self, compiled: Any) -> RowMatcher: ...


class _LLGuidanceMatcher(RowMatcher):
    def __init__(self, matcher: Any) -> None:
        self._matcher = matcher

    def accept(self, token_id: int) -> bool:
        return bool(self._matcher.consume_token(token_id)) and not self._matcher.is_error()

    def fill_mask(self, bitmask: Any, row: int) -> None:
        words = bitmask[row]  # a contiguous int32 row of the CPU bitmask, written in place by llguidance
        self._matcher.unsafe_compute_mask_ptr(words.data_ptr(), words.numel() * words.element_size())

    def finished(self) -> bool:
        return self._matcher.is_stopped() or self._matcher.is_error()


class LLGuidanceEngine(GrammarEngine):
    name = "llguidance"

    def __init__(self, tokenizer: Any, vocab_size: int) -> None:
        super().__init__(tokenizer, vocab_size)
        import llguidance.hf

        self._tokenizer = llguidance.hf.from_tokenizer(tokenizer, n_vocab=vocab_size)

    def _compile(self, schema: dict[str, Any]) -> str:
        from llguidance import LLMatcher

        options = {
            "whitespace_flexible": False,  # no free whitespace: a small model would fill its budget with it
            "item_separator": ITEM_SEPARATOR,
            "key_separator": KEY_SEPARATOR,
        }
        grammar = LLMatcher.grammar_from_json_schema(schema, defaults=options)
        error = LLMatcher.validate_grammar(grammar, self._tokenizer)
        if error:
            raise ConfigError(f"llguidance cannot compile the answer schema: {error}")
        return grammar

    def _new_matcher(self, compiled: str) -> RowMatcher:
        from llguidance import LLMatcher

        return _LLGuidanceMatcher(LLMatcher(self._tokenizer, compiled, log_level=0))


class _XGrammarMatcher(RowMatcher):
    def __init__(self, matcher: Any) -> None:
        self._matcher = matcher
        self._failed = False

    def accept(self, token_id: int) -> bool:
        accepted = bool(self._matcher.accept_token(token_id))
        self._failed = self._failed or not accepted
        return accepted

    def fill_mask(self, bitmask: Any, row: int) -> None:
        self._matcher.fill_next_token_bitmask(bitmask, row)

    def finished(self) -> bool:
        return self._failed or self._matcher.is_terminated()


class XGrammarEngine(GrammarEngine):
    name = "xgrammar"

    def __init__(self, tokenizer: Any, vocab_size: int) -> None:
        super().__init__(tokenizer, vocab_size)
        import xgrammar

        info = xgrammar.TokenizerInfo.from_huggingface(tokenizer, vocab_size=vocab_size)
        self._compiler = xgrammar.GrammarCompiler(info)

    def _compile(self, schema: dict[str, Any]) -> Any:
        return self._compiler.compile_json_schema(
            json.dumps(schema), any_whitespace=False, separators=(ITEM_SEPARATOR, KEY_SEPARATOR)
        )

    def _new_matcher(self, compiled: Any) -> RowMatcher:
        import xgrammar

        return _XGrammarMatcher(xgrammar.GrammarMatcher(compiled))


def grammar_engine(library: str, tokenizer: Any, vocab_size: int) -> GrammarEngine:
    """The engine of `library` for this tokenizer, or a ConfigError saying how to install it."""
    engines = {"llguidance": LLGuidanceEngine, "xgrammar": XGrammarEngine}
    if library not in engines:
        raise ConfigError(
            f"teacher.grammar_library={library!r} is unknown: use one of {', '.join(GRAMMAR_LIBRARIES)}"
        )
    try:
        return engines[library](tokenizer, vocab_size)
    except ImportError as error:
        raise ConfigError(
            f"teacher.grammar_library={library} needs the {library} package: `pip install {library}` "
            f"({error}), or teacher.structured=off"
        ) from None


def apply_bitmask(scores: Any, bitmask: Any) -> Any:
    """Set the logits of tokens whose bit is 0 in the packed int32 `bitmask` (batch, words) to -inf."""
    import torch

    shifts = torch.arange(32, dtype=torch.int32)
    allowed = ((bitmask.unsqueeze(-1) >> shifts) & 1).bool().reshape(bitmask.shape[0], -1)
    vocab = scores.shape[1]
    if allowed.shape[1] < vocab:  # model rows past the tokenizer's vocabulary are never allowed
        padding = torch.zeros(allowed.shape[0], vocab - allowed.shape[1], dtype=torch.bool)
        allowed = torch.cat([allowed, padding], dim=1)
    return scores.masked_fill(~allowed[:, :vocab].to(scores.device), float("-inf"))


def new_grammar_processor(engine: GrammarEngine, schema: dict[str, Any], batch_size: int):
    """A transformers LogitsProcessor that keeps each of `batch_size` rows inside `schema`."""
    import torch
    from transformers import LogitsProcessor

    class GrammarMask(LogitsProcessor):
        """One matcher per row; advanced by the token sampled at the previous step, then asked for a mask."""

        def __init__(self) -> None:
            self.matchers = [engine.matcher(schema) for _ in range(batch_size)]
            self.rejected = [False] * batch_size  # a row whose sampled token the grammar refused
            self.steps = 0
            self.seconds = 0.0  # time spent here: advancing the matchers, computing and applying masks
            self.words = (engine.vocab_size + 31) // 32

        def __call__(self, input_ids, scores):
            started = time.perf_counter()
            try:
                return self._mask(input_ids, scores)
            finally:
                self.seconds += time.perf_counter() - started

        def _mask(self, input_ids, scores):
            if self.steps:
                for row, matcher in enumerate(self.matchers):
                    if not matcher.finished() and not matcher.accept(int(input_ids[row, -1])):
                        self.rejected[row] = True
            self.steps += 1
            bitmask = torch.full((batch_size, self.words), -1, dtype=torch.int32)  # -1: every bit set
            for row, matcher in enumerate(self.matchers):
                if not matcher.finished():
                    matcher.fill_mask(bitmask, row)
            return apply_bitmask(scores, bitmask)

    return GrammarMask()
