"""Indexes on disk: built once, reused, rebuilt on change, never left half-written."""

from __future__ import annotations

import json

import numpy as np
import pytest
from test_retrieval_support import CountingEmbedder, make_planted_world

from taskexpert.retrieval import BM25Settings, Datastore, DenseSettings, Retriever
from taskexpert.retrieval.builds import MANIFEST, find_build
from taskexpert.retrieval.dense import DenseIndex
from taskexpert.text.embedders import HashingEmbedder


@pytest.fixture
def world(tmp_path):
    return make_planted_world(tmp_path)


def open_dense(world, index_dir, embedder, **settings):
    store = Datastore.from_corpora([world.corpus()])
    return Retriever.open(store, "dense", embedder, dense=DenseSettings(**settings), index_dir=index_dir)


def test_second_run_reuses_the_index_without_embedding_the_corpus(world, tmp_path):
    first_embedder = CountingEmbedder()
    first = open_dense(world, tmp_path / "idx", first_embedder)
    assert first.built == {"dense": True}
    assert first_embedder.texts == len(world.rows)

    second_embedder = CountingEmbedder()
    second = open_dense(world, tmp_path / "idx", second_embedder)
    assert second.built == {"dense": False}
    assert second_embedder.calls == 0  # nothing embedded to open it
    query = [world.seeds[0].inputs["question"]]
    assert [h.position for h in second.search(query, 5)[0]] == [h.position for h in first.search(query, 5)[0]]
    assert second_embedder.texts == 1  # only the query


def test_changed_corpus_or_embedder_rebuilds_search_knobs_do_not(world, tmp_path):
    index_dir = tmp_path / "idx"
    open_dense(world, index_dir, CountingEmbedder())
    # A search-time setting: same index.
    assert open_dense(world, index_dir, CountingEmbedder(), ef_search=10).built == {"dense": False}
    # Another embedder: new index.
    other = CountingEmbedder(HashingEmbedder(dimension=128))
    assert open_dense(world, index_dir, other).built == {"dense": True}
    assert other.texts == len(world.rows)
    # A changed corpus: new index, over the new content.
    rows = [*world.rows, {"id": "added", "text": "An added passage about kelprane dosing in adults."}]
    world.corpus_path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    embedder = CountingEmbedder()
    changed = open_dense(world, index_dir, embedder)
    assert changed.built == {"dense": True} and embedder.texts == len(rows)
    assert changed.search(["kelprane dosing"], 1)[0][0].passage.row_id == "added"


def test_old_builds_are_pruned_to_keep_builds(world, tmp_path):
    index_dir = tmp_path / "idx"
    for dimension in (64, 96, 128):
        open_dense(world, index_dir, CountingEmbedder(HashingEmbedder(dimension=dimension)))
    assert len(list(index_dir.glob("dense-*"))) == 2  # keep_builds=2: the two most recent


class Crash(RuntimeError):
    pass


def test_a_crash_mid_build_leaves_the_old_index_usable(world, tmp_path, monkeypatch):
    index_dir = tmp_path / "idx"
    store = Datastore.from_corpora([world.corpus()])
    old = Retriever.open(store, "dense", CountingEmbedder(), index_dir=index_dir)
    old_dir = find_build(
        index_dir, "dense", DenseIndex.fingerprint(store, old.index.embedder, DenseSettings())
    )
    assert old_dir is not None

    class DiesHalfway(CountingEmbedder):
        def encode(self, texts):
            if self.calls == 1:  # the second chunk
                raise Crash("killed")
            return super().encode(texts)

    rows = [*world.rows, {"id": "added", "text": "A new passage."}]
    world.corpus_path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    changed = Datastore.from_corpora([world.corpus()])
    with pytest.raises(Crash):
        Retriever.open(
            changed, "dense", DiesHalfway(), dense=DenseSettings(encode_chunk=50), index_dir=index_dir
        )
    new_fingerprint = DenseIndex.fingerprint(changed, CountingEmbedder(), DenseSettings(encode_chunk=50))
    assert find_build(index_dir, "dense", new_fingerprint) is None
    assert sorted(p.name for p in index_dir.iterdir()) == [old_dir.name]  # no half-written directory
    # The old corpus still opens from the old build, without embedding anything.
    embedder = CountingEmbedder()
    assert Retriever.open(store, "dense", embedder, index_dir=index_dir).built == {"dense": False}
    assert embedder.calls == 0


def test_a_crash_while_writing_the_index_file_leaves_no_index(world, tmp_path, monkeypatch):
    import faiss

    def write_half_then_die(index, path):
        with open(path, "wb") as handle:
            handle.write(b"\x00" * 100)
        raise Crash("disk full")

    monkeypatch.setattr(faiss, "write_index", write_half_then_die)
    with pytest.raises(Crash):
        open_dense(world, tmp_path / "idx", CountingEmbedder())
    assert list((tmp_path / "idx").iterdir()) == []
    monkeypatch.undo()
    embedder = CountingEmbedder()
    assert open_dense(world, tmp_path / "idx", embedder).built == {"dense": True}  # next run builds it


def test_a_directory_without_manifest_is_not_trusted(world, tmp_path):
    retriever = open_dense(world, tmp_path / "idx", CountingEmbedder())
    build = next((tmp_path / "idx").glob("dense-*"))
    (build / MANIFEST).unlink()  # as if someone copied the files by hand and stopped half-way
    embedder = CountingEmbedder()
    again = open_dense(world, tmp_path / "idx", embedder)
    assert again.built == {"dense": True} and embedder.texts == len(retriever.datastore)


@pytest.mark.parametrize("index_type", ["ivf", "hnsw"])
def test_approximate_indexes_agree_with_flat_on_planted_queries(world, tmp_path, index_type):
    flat = open_dense(world, tmp_path / "flat", CountingEmbedder())
    approximate = open_dense(world, tmp_path / index_type, CountingEmbedder(), index=index_type, nprobe=8)
    queries = [f"{seed.inputs['question']} {seed.inputs['context']}" for seed in world.seeds]
    exact = [{h.position for h in hits} for hits in flat.search(queries, 10)]
    found = [{h.position for h in hits} for hits in approximate.search(queries, 10)]
    recall = np.mean([len(a & b) / len(a) for a, b in zip(exact, found, strict=True)])
    assert recall >= 0.9
    # Similarities are exact even when the search is approximate.
    encoded = approximate.index.encode_queries(queries[:1])
    positions = np.array(sorted(exact[0]))
    assert np.allclose(
        approximate.index.similarity(encoded, positions), flat.index.similarity(encoded, positions)
    )


def test_bm25_index_is_reused_and_rebuilt_on_settings_change(world, tmp_path, monkeypatch):
    import bm25s

    calls = []
    original_index = bm25s.BM25.index
    monkeypatch.setattr(
        bm25s.BM25, "index", lambda self, *a, **k: calls.append(1) or original_index(self, *a, **k)
    )
    store = Datastore.from_corpora([world.corpus()])
    first = Retriever.open(store, "bm25", index_dir=tmp_path / "idx")
    second = Retriever.open(store, "bm25", index_dir=tmp_path / "idx")
    assert (first.built, second.built, len(calls)) == ({"bm25": True}, {"bm25": False}, 1)
    assert Retriever.open(store, "bm25", bm25=BM25Settings(k1=1.2), index_dir=tmp_path / "idx").built == {
        "bm25": True
    }
    query = [world.seeds[1].inputs["question"]]
    assert [h.position for h in first.search(query, 5)[0]] == [h.position for h in second.search(query, 5)[0]]


def test_search_results_are_best_first_with_scores_in_range(world, tmp_path):
    store = Datastore.from_corpora([world.corpus()])
    for backend in ("dense", "bm25", "hybrid"):
        retriever = Retriever.open(store, backend, CountingEmbedder(), index_dir=tmp_path / "idx")
        hits = retriever.search([world.seeds[2].inputs["question"], "zzzz unknownword"], 7)
        scores = [h.score for h in hits[0]]
        assert len(hits[0]) == 7 and scores == sorted(scores, reverse=True), backend
        assert all(-1.0 <= s <= 1.0 + 1e-6 for s in scores)
        if backend == "bm25":
            assert hits[1] == []  # no shared word: nothing found rather than arbitrary passages
    with pytest.raises(TypeError, match="list of queries"):
        retriever.search("a single string", 3)


def test_threads_setting_sets_faiss_threads(world, tmp_path):
    import faiss

    before = faiss.omp_get_max_threads()
    try:
        open_dense(world, tmp_path / "idx", CountingEmbedder(), threads=1)
        assert faiss.omp_get_max_threads() == 1
    finally:
        faiss.omp_set_num_threads(before)
