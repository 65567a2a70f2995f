"""Dense retrieval: passage embeddings in a FAISS index, built once per fingerprint and reused.

`flat` (IndexFlatIP) is exact. `ivf` (IndexIVFFlat) and `hnsw` (IndexHNSWFlat) are approximate and
faster on large corpora; their recall@k against flat depends on nprobe / ef_search (see BENCHMARKS.md).
With normalised embeddings the inner product is the cosine similarity.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from taskexpert.errors import ConfigError
from taskexpert.retrieval.builds import cached_build, fingerprint_of
from taskexpert.retrieval.datastore import Datastore
from taskexpert.text.embedders import Embedder

log = logging.getLogger(__name__)

INDEX_TYPES = ("flat", "ivf", "hnsw")
INDEX_FILE = "index.faiss"
Hits = list[list[tuple[int, float]]]


@dataclass(frozen=True)
class DenseSettings:
    index: str = "flat"
    nlist: int | None = None
    nprobe: int = 16
    hnsw_m: int = 32
    ef_construction: int = 80
    ef_search: int = 64
    encode_chunk: int = 4096
    train_sample: int = 50_000
    seed: int = 0
    threads: int | None = None

    def __post_init__(self) -> None:
        if self.index not in INDEX_TYPES:
            raise ConfigError(
                f"retrieval.dense.index={self.index!r} is unknown: use {', '.join(INDEX_TYPES)}"
            )

    def structure(self) -> dict[str, Any]:
        """What shapes the saved index (search-time knobs like nprobe are not part of it)."""
        keys = {"flat": [], "ivf": ["nlist", "train_sample", "seed"], "hnsw": ["hnsw_m", "ef_construction"]}
        return {"index": self.index, **{key: asdict(self)[key] for key in keys[self.index]}}


def ivf_lists(settings: DenseSettings, count: int) -> int:
    """Clusters for IVF: the setting, else about 4*sqrt(n); at most n/39 so each list can be trained."""
    wanted = settings.nlist or int(4 * math.sqrt(count))
    return max(1, min(wanted, count // 39 or 1))


class DenseIndex:
    """Cosine (inner-product) search over a datastore's passage embeddings."""

    kind = "dense"

    def __init__(self, index: Any, embedder: Embedder, settings: DenseSettings) -> None:
        import faiss

        self.faiss_index = index
        self.embedder = embedder
        self.settings = settings
        use_threads(settings)
        if settings.index == "ivf":
            ivf = faiss.extract_index_ivf(index)
            ivf.nprobe = settings.nprobe
            ivf.make_direct_map()  # so similarity() can read stored vectors back
        elif settings.index == "hnsw":
            index.hnsw.efSearch = settings.ef_search

    @staticmethod
    def fingerprint(datastore: Datastore, embedder: Embedder, settings: DenseSettings) -> str:
        return fingerprint_of(
            {"datastore": datastore.fingerprint, "embedder": embedder.identity, **settings.structure()}
        )

    @classmethod
    def open(
        cls, datastore: Datastore, embedder: Embedder, settings: DenseSettings, root: Path, keep: int = 2
    ) -> tuple[DenseIndex, bool]:
        """Load the index for this datastore, embedder and settings, building it first if needed."""
        import faiss

        fingerprint = cls.fingerprint(datastore, embedder, settings)

        def build(scratch: Path) -> dict[str, Any]:
            index = build_faiss_index(datastore.texts(), embedder, settings)
            faiss.write_index(index, str(scratch / INDEX_FILE))
            return {
                "passages": len(datastore),
                "embedder": embedder.identity,
                "dimension": index.d,
                "settings": asdict(settings),
                "datastore_fingerprint": datastore.fingerprint,
            }

        directory, built = cached_build(root, cls.kind, fingerprint, build, keep)
        log.info("dense index %s %s", "built in" if built else "reused from", directory)
        return cls(faiss.read_index(str(directory / INDEX_FILE)), embedder, settings), built

    def __len__(self) -> int:
        return int(self.faiss_index.ntotal)

    def encode_queries(self, queries: list[str]) -> np.ndarray:
        return self.embedder.encode(queries)

    def search(self, encoded: np.ndarray, k: int) -> Hits:
        """Per query, up to k `(position, cosine)` pairs, best first."""
        k = min(k, len(self))
        if k <= 0 or len(encoded) == 0:
            return [[] for _ in range(len(encoded))]
        scores, positions = self.faiss_index.search(np.ascontiguousarray(encoded, dtype=np.float32), k)
        return [
            [(int(p), float(s)) for p, s in zip(row_positions, row_scores, strict=True) if p >= 0]
            for row_positions, row_scores in zip(positions, scores, strict=True)
        ]

    def vectors(self, positions: np.ndarray) -> np.ndarray:
        """The stored embeddings of these passages."""
        return self.faiss_index.reconstruct_batch(np.asarray(positions, dtype=np.int64))

    def similarity(self, encoded: np.ndarray, positions: np.ndarray) -> np.ndarray:
        """Exact inner products `[query, passage]`, also when the index itself is approximate."""
        if len(positions) == 0:
            return np.zeros((len(encoded), 0), dtype=np.float32)
        return encoded @ self.vectors(positions).T


def use_threads(settings: DenseSettings) -> None:
    """FAISS's OpenMP thread count is process-wide; on a busy shared machine fewer threads can be
    several times faster (see BENCHMARKS.md)."""
    if settings.threads:
        import faiss

        faiss.omp_set_num_threads(settings.threads)


def build_faiss_index(texts: list[str], embedder: Embedder, settings: DenseSettings) -> Any:
    """Embed `texts` in chunks and add them to a new FAISS index of the configured type."""
    import faiss

    use_threads(settings)
    if settings.index == "ivf":
        return _build_ivf(texts, embedder, settings)
    started = time.perf_counter()
    index = None
    done = 0
    for start in range(0, len(texts), settings.encode_chunk):
        chunk = texts[start : start + settings.encode_chunk]
        vectors = embedder.encode(chunk)
        if index is None:
            dimension = vectors.shape[1]
            index = (
                faiss.IndexFlatIP(dimension)
                if settings.index == "flat"
                else faiss.IndexHNSWFlat(dimension, settings.hnsw_m, faiss.METRIC_INNER_PRODUCT)
            )
            if settings.index == "hnsw":
                index.hnsw.efConstruction = settings.ef_construction
        index.add(vectors)
        done += len(chunk)
        log.info("embedded %d/%d passages (%.0f/s)", done, len(texts), done / (time.perf_counter() - started))
    return index


def _build_ivf(texts: list[str], embedder: Embedder, settings: DenseSettings) -> Any:
    """IVF needs its clusters trained before adding, so all vectors are embedded first."""
    import faiss

    vectors = np.concatenate(
        [
            embedder.encode(texts[start : start + settings.encode_chunk])
            for start in range(0, len(texts), settings.encode_chunk)
        ]
    )
    nlist = ivf_lists(settings, len(vectors))
    quantizer = faiss.IndexFlatIP(vectors.shape[1])
    index = faiss.IndexIVFFlat(quantizer, vectors.shape[1], nlist, faiss.METRIC_INNER_PRODUCT)
    # A random sample, not the first rows: corpora are often sorted by topic.
    generator = np.random.default_rng(settings.seed)
    sample_size = min(len(vectors), settings.train_sample)
    sample = vectors[np.sort(generator.choice(len(vectors), sample_size, replace=False))]
    index.train(sample)
    index.add(vectors)
    return index
