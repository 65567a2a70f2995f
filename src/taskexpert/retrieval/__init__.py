"""Retrieval for ReBase: a datastore of corpus passages, dense/BM25/hybrid search, and task selection.

from taskexpert.retrieval import Retriever, select_from_config
retriever = Retriever.from_config(cfg.retrieval)          # builds the index once, then reuses it
selection = select_from_config(retriever, cfg.retrieval, seeds, validation + test)
"""

from taskexpert.retrieval.bm25 import BM25Index, BM25Settings
from taskexpert.retrieval.datastore import Datastore
from taskexpert.retrieval.dense import DenseIndex, DenseSettings
from taskexpert.retrieval.exclusion import ExclusionSettings
from taskexpert.retrieval.hybrid import HybridIndex, HybridSettings
from taskexpert.retrieval.passages import CorpusConfig, Passage
from taskexpert.retrieval.retriever import Retriever, SearchHit
from taskexpert.retrieval.selection import (
    RetrievedRecord,
    Selection,
    SelectionSettings,
    select_for_task,
    select_from_config,
)

__all__ = [
    "BM25Index",
    "BM25Settings",
    "CorpusConfig",
    "Datastore",
    "DenseIndex",
    "DenseSettings",
    "ExclusionSettings",
    "HybridIndex",
    "HybridSettings",
    "Passage",
    "RetrievedRecord",
    "Retriever",
    "SearchHit",
    "Selection",
    "SelectionSettings",
    "select_for_task",
    "select_from_config",
]
