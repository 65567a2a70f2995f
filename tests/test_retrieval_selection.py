"""ReBase selection on a generated corpus: planted passages rank first, evaluation copies never appear."""

from __future__ import annotations

import pytest
from test_retrieval_support import CountingEmbedder, make_planted_world

from taskexpert.errors import ConfigError
from taskexpert.retrieval import (
    Datastore,
    ExclusionSettings,
    HybridSettings,
    Retriever,
    SelectionSettings,
    select_for_task,
)

INSTRUCTION = "Answer a research question about a treatment with yes, no or maybe given a study abstract."
# The generated near-duplicate keeps every word of an evaluation context; with the hashing embedder
# its cosine is about 0.9, so the test threshold sits below that (MiniLM paraphrases score higher).
EXCLUDE = ExclusionSettings(near_duplicate_cosine=0.85)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    return make_planted_world(tmp_path_factory.mktemp("world"))


@pytest.fixture(scope="module")
def retrievers(world, tmp_path_factory):
    store = Datastore.from_corpora([world.corpus()])
    index_dir = tmp_path_factory.mktemp("indexes")
    embedder = CountingEmbedder()
    return {
        "dense": Retriever.open(store, "dense", embedder, index_dir=index_dir),
        "bm25": Retriever.open(store, "bm25", index_dir=index_dir),
        "hybrid": Retriever.open(store, "hybrid", embedder, index_dir=index_dir),
        "hybrid_rrf": Retriever.open(
            store, "hybrid", embedder, hybrid=HybridSettings(fusion="rrf"), index_dir=index_dir
        ),
    }


def select(retriever, world, k, evaluation=None, **settings):
    settings = SelectionSettings(**{"exclude": EXCLUDE, **settings})
    evaluation = world.evaluation if evaluation is None else evaluation
    return select_for_task(retriever, world.seeds, evaluation, INSTRUCTION, k, settings)


@pytest.mark.parametrize("backend", ["dense", "bm25", "hybrid", "hybrid_rrf"])
def test_planted_passages_rank_first_and_copies_never_appear(world, retrievers, backend):
    selection = select(retrievers[backend], world, k=len(world.planted_ids))
    assert {r.passage.row_id for r in selection} == world.planted_ids
    assert [r.rank for r in selection] == list(range(1, len(world.planted_ids) + 1))
    scores = [r.score for r in selection]
    assert scores == sorted(scores, reverse=True)

    everything = select(retrievers[backend], world, k=200)
    selected_ids = {r.passage.row_id for r in everything}
    assert not selected_ids & world.copy_ids
    assert everything.excluded["evaluation_overlap"] == 2  # the copied context and the quoted question


def test_exclusions_are_counted_by_reason(world, retrievers):
    selection = select(retrievers["dense"], world, k=200)
    assert selection.excluded == {"evaluation_overlap": 2, "near_duplicate": 1, "duplicate_text": 0}
    assert "excluded: 2 evaluation_overlap, 1 near_duplicate" in selection.summary()
    # Without a dense index the near-duplicate check compares word counts: the edited copy is caught too.
    assert select(retrievers["bm25"], world, k=200).excluded["near_duplicate"] == 1


def test_without_evaluation_records_the_copies_would_be_selected(world, retrievers):
    """The exclusion, not the ranking, keeps the copies out."""
    selection = select(retrievers["dense"], world, k=20, evaluation=[])
    assert world.copy_ids <= {r.passage.row_id for r in selection}
    assert sum(selection.excluded.values()) == 0


def test_scores_are_the_mean_of_the_three_similarities(world, retrievers):
    for record in select(retrievers["dense"], world, k=5):
        mean = (record.input_similarity + record.output_similarity + record.instruction_similarity) / 3
        assert record.score == pytest.approx(mean)
        planted_topic = record.passage.row_id[len("planted")]
        assert record.nearest_seed_id == f"seed{planted_topic}"
        assert set(record.to_dict()) >= {"text", "provenance", "score", "nearest_seed_id"}
        assert record.to_dict()["provenance"]["corpus"] == "generated"


def test_seed_aggregation_max_or_mean(world, retrievers):
    import numpy as np

    from taskexpert.retrieval.selection import seed_input

    retriever = retrievers["dense"]
    per_seed = retriever.index.similarity(
        retriever.index.encode_queries([seed_input(seed) for seed in world.seeds]),
        np.arange(len(retriever.datastore)),
    )
    for aggregation, reduce in (("max", np.max), ("mean", np.mean)):
        for record in select(retriever, world, k=5, seed_aggregation=aggregation):
            expected = reduce(per_seed[:, record.position])
            assert record.input_similarity == pytest.approx(float(expected), abs=1e-5)


def test_widening_per_query_k_until_k_records_survive(world, retrievers):
    wide = select(retrievers["dense"], world, k=120, per_query_k=2)
    assert len(wide) == 120 and wide.per_query_k >= 16
    assert len({r.position for r in wide}) == 120
    assert not {r.passage.row_id for r in wide} & world.copy_ids


def test_duplicate_texts_are_selected_once(tmp_path):
    world = make_planted_world(tmp_path)
    planted = next(row for row in world.rows if row["id"] == "planted00")
    world.rows.append({"id": "planted00_again", "text": planted["text"]})
    world.corpus_path.write_text("".join(__import__("json").dumps(row) + "\n" for row in world.rows))
    retriever = Retriever.open(
        Datastore.from_corpora([world.corpus()]), "dense", CountingEmbedder(), index_dir=tmp_path / "i"
    )
    selection = select(retriever, world, k=20)
    texts = [r.text for r in selection]
    assert len(texts) == len(set(texts)) and selection.excluded["duplicate_text"] == 1


def test_bad_arguments_are_config_errors(world, retrievers):
    retriever = retrievers["bm25"]
    with pytest.raises(ConfigError, match="at least one seed"):
        select_for_task(retriever, [], world.evaluation, INSTRUCTION, 5)
    with pytest.raises(ConfigError, match="instruction is empty"):
        select_for_task(retriever, world.seeds, world.evaluation, "  ", 5)
    with pytest.raises(ConfigError, match="k must be at least 1"):
        select_for_task(retriever, world.seeds, world.evaluation, INSTRUCTION, 0)
    with pytest.raises(ConfigError, match="seed_aggregation='median'"):
        SelectionSettings(seed_aggregation="median")
