"""Splits on an invented 1000-item PQA-L: Dr. LLaMA's file-order split and the official ground-truth test set."""

import json
import shutil
from collections import Counter

import pytest
from data_fixtures import (
    PQAL_LABEL_COUNTS,
    SAMPLE_DATA,
    SAMPLE_GROUND_TRUTH,
    data_config,
    write_json,
    write_pqal_with_ground_truth,
)

from taskexpert.data.loading import load_splits
from taskexpert.data.splits import drllama_split, official_split
from taskexpert.errors import ConfigError, DataError
from taskexpert.tasks import load_task
from taskexpert.tasks.readers.pubmedqa import read_official

LABELS = ("yes", "no", "maybe")


@pytest.fixture(scope="module")
def pqal(tmp_path_factory):
    directory = tmp_path_factory.mktemp("pqal")
    data_path, ground_truth_path, data, ground_truth = write_pqal_with_ground_truth(directory)
    return {
        "dir": directory,
        "data_path": data_path,
        "ground_truth_path": ground_truth_path,
        "pmids": list(data),
        "ground_truth": ground_truth,
        "records": read_official(data_path),
    }


def split_official(pqal, seed=0, val_size=50, train_size=450):
    return official_split(
        pqal["records"], pqal["ground_truth"], str(pqal["ground_truth_path"]), val_size, train_size, seed
    )


def official_config(pqal, seed=0, **overrides):
    split = {"name": "official", "train_size": 450, "val_size": 50, "seed": seed}
    return data_config(path=str(pqal["data_path"]), format="auto", split=split, **overrides)


def test_invented_data_has_pqal_shape(pqal):
    records = pqal["records"]
    assert len(records) == 1000
    assert Counter(r.target for r in records) == Counter(PQAL_LABEL_COUNTS)
    assert [r.id for r in records] == pqal["pmids"]
    assert len(pqal["ground_truth"]) == 500
    # labels are shuffled through the file, not in blocks
    assert Counter(r.target for r in records[:100])["maybe"] < 100


# --- drllama -------------------------------------------------------------------------------------


def test_drllama_split_is_file_order(pqal):
    splits = drllama_split(pqal["records"])
    ids = splits.ids()
    assert (len(ids["train"]), len(ids["validation"]), len(ids["test"])) == (450, 50, 500)
    assert ids["train"] == pqal["pmids"][:450]
    assert ids["validation"] == pqal["pmids"][450:500]
    assert ids["test"] == pqal["pmids"][500:]


def test_drllama_split_through_config(pqal):
    config = data_config(
        path=str(pqal["data_path"]),
        format="auto",
        split={"name": "drllama", "train_size": 450, "val_size": 50, "test_size": 500},
    )
    assert load_splits(config).ids() == drllama_split(pqal["records"]).ids()


def test_drllama_split_on_the_bundled_sample():
    splits = load_splits(data_config())  # conf/data/pubmedqa_sample.yaml as shipped: 36/8/16 of 60
    ids = [r.id for r in read_official(SAMPLE_DATA)]
    assert splits.ids() == {"train": ids[:36], "validation": ids[36:44], "test": ids[44:60]}


def test_drllama_split_with_too_few_records_is_config_error(pqal):
    with pytest.raises(ConfigError, match=r"needs 1000 records.*has 999"):
        drllama_split(pqal["records"][:999])
    with pytest.raises(ConfigError, match="train_size"):
        load_splits(
            data_config(split={"name": "drllama", "train_size": 450, "val_size": 50, "test_size": 500})
        )


def limited(pqal, seed=0, **limits):
    split = {"name": "drllama", "train_size": 450, "val_size": 50, "test_size": 500, "seed": seed}
    return load_splits(data_config(path=str(pqal["data_path"]), split=split, **limits), load_task("pubmedqa"))


def test_train_limit_draws_a_seeded_stratified_seed_set(pqal):
    full = [r.id for r in limited(pqal).train]
    drawn = limited(pqal, train_limit=100).train
    ids = [r.id for r in drawn]
    assert len(ids) == 100 and set(ids) < set(full)
    assert ids == [i for i in full if i in set(ids)]  # file order kept
    full_counts = Counter(r.target for r in limited(pqal).train)
    for label, count in Counter(r.target for r in drawn).items():  # stratified: within one of the exact share
        assert abs(count - 100 * full_counts[label] / 450) < 1, label
    assert [r.id for r in limited(pqal, train_limit=100).train] == ids  # same seed, same draw
    assert [r.id for r in limited(pqal, seed=1, train_limit=100).train] != ids
    assert limited(pqal, train_limit=100).test == limited(pqal).test  # evaluation items never move


def test_train_fraction_and_test_limit(pqal):
    splits = limited(pqal, train_fraction=0.1, test_limit=30)
    assert len(splits.train) == 45
    assert [r.id for r in splits.test] == pqal["pmids"][500:530]  # the first 30 test items
    assert splits.settings["train_fraction"] == 0.1 and splits.settings["test_limit"] == 30
    with pytest.raises(ConfigError, match="not both"):
        limited(pqal, train_fraction=0.1, train_limit=10)
    with pytest.raises(ConfigError, match="train_fraction"):
        limited(pqal, train_fraction=1.5)


# --- official ------------------------------------------------------------------------------------


def test_official_test_is_exactly_the_ground_truth(pqal):
    splits = split_official(pqal)
    test_ids = [r.id for r in splits.test]
    assert len(test_ids) == 500
    assert set(test_ids) == set(pqal["ground_truth"])
    assert all(r.target == pqal["ground_truth"][r.id] for r in splits.test)


def test_official_train_and_validation_avoid_the_test_set(pqal):
    splits = split_official(pqal)
    train_ids, val_ids = [r.id for r in splits.train], [r.id for r in splits.validation]
    assert (len(train_ids), len(val_ids)) == (450, 50)
    assert not set(train_ids) & set(pqal["ground_truth"])
    assert not set(val_ids) & set(pqal["ground_truth"])
    assert not set(train_ids) & set(val_ids)
    assert set(train_ids) | set(val_ids) == set(pqal["pmids"]) - set(pqal["ground_truth"])


def test_official_train_and_validation_keep_file_order(pqal):
    position = {pmid: index for index, pmid in enumerate(pqal["pmids"])}
    splits = split_official(pqal)
    for part in (splits.train, splits.validation):
        positions = [position[r.id] for r in part]
        assert positions == sorted(positions)


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4])
def test_official_validation_is_label_stratified(pqal, seed):
    splits = split_official(pqal, seed=seed)
    rest = [r for r in pqal["records"] if r.id not in pqal["ground_truth"]]
    rest_counts = Counter(r.target for r in rest)
    val_counts = Counter(r.target for r in splits.validation)
    for label in LABELS:
        expected = 50 * rest_counts[label] / len(rest)
        # stratified: within one item of the exact share (a plain random draw of 50 misses this ~97% of the time)
        assert abs(val_counts[label] - expected) < 1, (label, val_counts, expected)


def test_official_same_seed_same_split(pqal):
    assert split_official(pqal, seed=3).ids() == split_official(pqal, seed=3).ids()


def test_official_different_seed_different_split(pqal):
    first, second = split_official(pqal, seed=0).ids(), split_official(pqal, seed=1).ids()
    assert first["validation"] != second["validation"]
    assert set(first["test"]) == set(second["test"])


def test_official_smaller_train_size_is_a_subset_of_the_rest(pqal):
    splits = split_official(pqal, train_size=200)
    assert len(splits.train) == 200
    assert len(splits.validation) == 50
    assert not {r.id for r in splits.train} & (set(pqal["ground_truth"]) | {r.id for r in splits.validation})


def test_official_too_large_train_size_is_config_error(pqal):
    with pytest.raises(ConfigError, match="451"):
        split_official(pqal, train_size=451)


def test_official_ground_truth_found_beside_the_data_file(pqal):
    config = official_config(pqal, seed=2)
    assert config.ground_truth is None
    assert load_splits(config).ids() == split_official(pqal, seed=2).ids()


def test_official_ground_truth_from_an_explicit_path(pqal, tmp_path):
    data_path = tmp_path / "data" / "ori_pqal.json"
    data_path.parent.mkdir()
    shutil.copy(pqal["data_path"], data_path)
    elsewhere = tmp_path / "labels" / "gt.json"
    elsewhere.parent.mkdir()
    shutil.copy(pqal["ground_truth_path"], elsewhere)
    split = {"name": "official", "train_size": 450, "val_size": 50, "seed": 0}
    config = data_config(path=str(data_path), split=split, ground_truth=str(elsewhere))
    assert load_splits(config).ids() == split_official(pqal).ids()
    config.ground_truth = None  # no test_ground_truth.json beside this copy of the data
    with pytest.raises(DataError, match="does not exist") as caught:
        load_splits(config)
    assert str(data_path.with_name("test_ground_truth.json")) in str(caught.value)


def test_official_ground_truth_pmid_missing_from_data(pqal, tmp_path):
    ground_truth = dict(pqal["ground_truth"])
    ground_truth["99999999"] = "yes"
    bad = write_json(tmp_path / "gt.json", ground_truth)
    split = {"name": "official", "train_size": 450, "val_size": 50, "seed": 0}
    config = data_config(path=str(pqal["data_path"]), split=split, ground_truth=str(bad))
    with pytest.raises(DataError, match="not found in the data file") as caught:
        load_splits(config)
    assert str(bad) in str(caught.value)
    assert "99999999" in str(caught.value)


def test_official_ground_truth_label_disagreeing_with_data(pqal, tmp_path):
    ground_truth = dict(pqal["ground_truth"])
    pmid = next(iter(ground_truth))
    ground_truth[pmid] = next(label for label in LABELS if label != ground_truth[pmid])
    bad = write_json(tmp_path / "gt.json", ground_truth)
    with pytest.raises(DataError, match="the data file says") as caught:
        official_split(pqal["records"], ground_truth, str(bad))
    assert str(bad) in str(caught.value)
    assert pmid in str(caught.value)


def test_official_split_on_the_bundled_sample():
    config = data_config(split={"name": "official", "train_size": 32, "val_size": 8, "seed": 0})
    splits = load_splits(config)
    ground_truth_ids = set(json.loads(SAMPLE_GROUND_TRUTH.read_text(encoding="utf-8")))
    assert {r.id for r in splits.test} == ground_truth_ids
    assert (len(splits.train), len(splits.validation), len(splits.test)) == (32, 8, 20)
