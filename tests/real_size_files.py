"""Invented records at the seed-paper datasets' real sizes, in each dataset's original file format.

Nothing here is dataset text: words come from small invented vocabularies, drawn with a seeded generator, so
the same call writes the same files. Sizes are the public datasets' (GSM8K 7,473 / 1,319, SST-2 67,349 / 872,
SQuAD 87,599 / 10,570, ...); lengths follow their shapes (GSM8K solutions of two to eight steps with a long
tail past 512 tokens, SQuAD paragraphs of 80 to 400 words, SST-2 train phrases shorter than its dev
sentences). `write(task, folder, scale=1.0)` writes one task's files; `scale` shrinks every split by that
factor (for the training tests) while keeping the format and the length distribution.
"""

from __future__ import annotations

import csv
import json
import random
from collections.abc import Callable
from pathlib import Path

from taskexpert.tasks.readers.snips import INTENTS

WORDS = [
    "amber",
    "basin",
    "cobalt",
    "dune",
    "ember",
    "fjord",
    "grove",
    "harbor",
    "isle",
    "juniper",
    "kettle",
    "lantern",
    "meadow",
    "nectar",
    "orchard",
    "pebble",
    "quarry",
    "ridge",
    "saddle",
    "thicket",
    "umber",
    "valley",
    "willow",
    "yarrow",
    "zephyr",
    "brook",
    "cinder",
    "delta",
    "fennel",
    "glade",
    "hollow",
    "inlet",
    "jasper",
    "knoll",
    "ledge",
    "marsh",
    "nook",
    "oxbow",
    "prairie",
    "quill",
    "reef",
    "shoal",
    "tundra",
    "upland",
    "vale",
    "wharf",
]
NAMES = [
    "Avi",
    "Bela",
    "Cato",
    "Dara",
    "Eno",
    "Fira",
    "Galo",
    "Hana",
    "Ivo",
    "Juno",
    "Kiri",
    "Lumo",
    "Mira",
    "Nilo",
    "Orin",
    "Pema",
]
ITEMS = [
    "marbles",
    "stamps",
    "apples",
    "pencils",
    "tickets",
    "shells",
    "coins",
    "cards",
    "buttons",
    "ribbons",
]
# The public datasets' sizes: (train, test) records, and validation where the dataset ships one.
SIZES = {
    "gsm8k": (7473, 1319),
    "trec": (5452, 500),
    "sst2": (67349, 872),
    "snips": (13784, 700),
    "mnli": (392702, 9815),
    "casehold": (45000, 3600, 3900),
    "squad": (87599, 10570),
    "bbh": (27, 250),  # subtasks, examples per subtask
    "mconala": (0, 896),  # no train file: the reader takes the first 10 test items
    "pubmedqa": (1000, 0),  # one file, cut in order by the drllama split
}


def _words(rng: random.Random, low: int, high: int) -> str:
    return " ".join(rng.choices(WORDS, k=rng.randint(low, high)))


def _scaled(count: int, scale: float) -> int:
    return max(1, round(count * scale))


def _gsm8k_solution(rng: random.Random) -> tuple[str, int]:
    """A worked solution in GSM8K's style (calculator annotations, `#### N`); one in fifty runs long."""
    steps = rng.randint(2, 8) if rng.random() > 0.02 else rng.randint(10, 16)
    total, lines = rng.randint(2, 50), []
    for _ in range(steps):
        add = rng.randint(1, 30)
        lines.append(
            f"{rng.choice(NAMES)} then gets {add} more, so {total}+{add} = <<{total}+{add}={total + add}>>{total + add}."
        )
        total += add
    return "\n".join(lines) + f"\n#### {total}", total


def gsm8k(folder: Path, scale: float, rng: random.Random) -> None:
    for name, count in zip(("train.jsonl", "test.jsonl"), SIZES["gsm8k"], strict=True):
        with (folder / name).open("w", encoding="utf-8") as out:
            for _ in range(_scaled(count, scale)):
                solution, _ = _gsm8k_solution(rng)
                question = (
                    f"{rng.choice(NAMES)} has {rng.randint(2, 90)} {rng.choice(ITEMS)} near the "
                    f"{_words(rng, 8, 40)}. How many {rng.choice(ITEMS)} are there at the end?"
                )
                out.write(json.dumps({"question": question, "answer": solution}) + "\n")


TREC_FINE = {
    "ABBR": ["abb", "exp"],
    "DESC": ["def", "desc", "manner", "reason"],
    "ENTY": ["animal", "color", "food", "other"],
    "HUM": ["ind", "gr", "desc"],
    "LOC": ["city", "country", "other"],
    "NUM": ["count", "date", "money", "period"],
}
TREC_SHARES = {"ABBR": 0.016, "DESC": 0.213, "ENTY": 0.229, "HUM": 0.223, "LOC": 0.153, "NUM": 0.166}


def trec(folder: Path, scale: float, rng: random.Random) -> None:
    labels, shares = list(TREC_SHARES), list(TREC_SHARES.values())
    for name, count in zip(("train_5500.label", "TREC_10.label"), SIZES["trec"], strict=True):
        lines = []
        for _ in range(_scaled(count, scale)):
            coarse = rng.choices(labels, shares)[0]
            lines.append(f"{coarse}:{rng.choice(TREC_FINE[coarse])} What {_words(rng, 3, 14)} ?")
        (folder / name).write_text("\n".join(lines) + "\n", encoding="latin-1")


def sst2(folder: Path, scale: float, rng: random.Random) -> None:
    # Train holds phrases of the parse trees (short), dev whole sentences (longer).
    for name, count, (low, high) in (
        ("train.tsv", SIZES["sst2"][0], (1, 20)),
        ("dev.tsv", SIZES["sst2"][1], (8, 40)),
    ):
        rows = [
            f"{_words(rng, low, high)} \t{int(rng.random() < 0.56)}" for _ in range(_scaled(count, scale))
        ]
        (folder / name).write_text("sentence\tlabel\n" + "\n".join(rows) + "\n", encoding="utf-8")


SNIPS_INTENTS = INTENTS  # the intents the reader reads, one folder each


def snips(folder: Path, scale: float, rng: random.Random) -> None:
    train, test = (count // len(SNIPS_INTENTS) for count in SIZES["snips"])
    for intent in SNIPS_INTENTS:
        (folder / intent).mkdir(parents=True, exist_ok=True)
        for name, count in ((f"train_{intent}_full.json", train), (f"validate_{intent}.json", test)):
            utterances = [
                {
                    "data": [
                        {"text": f"{_words(rng, 1, 4)} "},
                        {"text": _words(rng, 1, 3), "entity": "object_name"},
                        {"text": f" {_words(rng, 0, 5)}"},
                    ]
                }
                for _ in range(_scaled(count, scale))
            ]
            (folder / intent / name).write_text(json.dumps({intent: utterances}), encoding="utf-8")


MNLI_HEADER = [
    "index",
    "promptID",
    "pairID",
    "genre",
    "sentence1_binary_parse",
    "sentence2_binary_parse",
    "sentence1_parse",
    "sentence2_parse",
    "sentence1",
    "sentence2",
    "label1",
    "gold_label",
]
MNLI_LABELS = ["entailment", "neutral", "contradiction"]


def mnli(folder: Path, scale: float, rng: random.Random) -> None:
    for name, count in zip(("train.tsv", "dev_matched.tsv"), SIZES["mnli"], strict=True):
        lines = ["\t".join(MNLI_HEADER)]
        for index in range(_scaled(count, scale)):
            premise, hypothesis, label = _words(rng, 5, 50), _words(rng, 3, 18), rng.choice(MNLI_LABELS)
            parse1, parse2 = f"( {premise} )", f"( {hypothesis} )"
            lines.append(
                "\t".join(
                    [
                        str(index),
                        str(index // 3),
                        f"{index}{label[0]}",
                        "fiction",
                        parse1,
                        parse2,
                        f"(ROOT {parse1})",
                        f"(ROOT {parse2})",
                        premise,
                        hypothesis,
                        label,
                        label,
                    ]
                )
            )
        (folder / name).write_text("\n".join(lines) + "\n", encoding="utf-8")


def casehold(folder: Path, scale: float, rng: random.Random) -> None:
    train, test, dev = SIZES["casehold"]
    columns = ["example_id", "citing_prompt", *(f"holding_{index}" for index in range(5)), "label"]
    for name, count in (("train.csv", train), ("dev.csv", dev), ("test.csv", test)):
        with (folder / name).open("w", encoding="utf-8", newline="") as out:
            writer = csv.writer(out)
            writer.writerow(columns)
            for number in range(_scaled(count, scale)):
                prompt = f"{_words(rng, 60, 200)}. See Vale v. Reef, {rng.randint(1, 999)} F.3d {rng.randint(1, 999)} (<HOLDING>). {_words(rng, 5, 30)}."
                holdings = [f"holding that {_words(rng, 6, 20)}" for _ in range(5)]
                writer.writerow([number, prompt, *holdings, rng.randint(0, 4)])


def squad(folder: Path, scale: float, rng: random.Random) -> None:
    for name, count in zip(("train-v1.1.json", "dev-v1.1.json"), SIZES["squad"], strict=True):
        left, articles = _scaled(count, scale), []
        while left > 0:
            paragraphs = []
            for _ in range(rng.randint(20, 60)):
                context = _words(rng, 80, 400)
                questions = []
                for _ in range(min(left, rng.randint(3, 7))):
                    tokens = context.split(" ")
                    start = rng.randrange(len(tokens) - 3)
                    answer = " ".join(tokens[start : start + rng.randint(1, 3)])
                    offset = len(" ".join(tokens[:start])) + (1 if start else 0)
                    questions.append(
                        {
                            "answers": [{"answer_start": offset, "text": answer}],
                            "question": f"What {_words(rng, 4, 15)}?",
                            "id": f"{name[:3]}{left:06d}",
                        }
                    )
                    left -= 1
                if questions:
                    paragraphs.append({"context": context, "qas": questions})
            articles.append({"title": f"Article_{len(articles)}", "paragraphs": paragraphs})
        (folder / name).write_text(json.dumps({"data": articles, "version": "1.1"}), encoding="utf-8")


def bbh(folder: Path, scale: float, rng: random.Random) -> None:
    subtasks, per_subtask = SIZES["bbh"]
    for number in range(subtasks):
        examples = [
            {"input": f"Sort the following words alphabetically: List: {_words(rng, 5, 120)}", "target": ""}
            for _ in range(_scaled(per_subtask, scale))
        ]
        for example in examples:
            example["target"] = " ".join(sorted(example["input"].split(": List: ")[1].split()))
        payload = {"canary": "invented for taskexpert's tests", "examples": examples}
        (folder / f"subtask_{number:02d}.json").write_text(json.dumps(payload), encoding="utf-8")


def mconala(folder: Path, scale: float, rng: random.Random) -> None:
    kana = "あいうえおかきくけこさしすせそたちつてとなにぬねの"
    items = [
        {
            "question_id": 10000 + number,
            "intent": "".join(rng.choices(kana, k=rng.randint(8, 40))),
            "rewritten_intent": None,
            "snippet": f"{rng.choice(WORDS)}({rng.choice(WORDS)}[::{rng.randint(1, 9)}])",
        }
        for number in range(_scaled(SIZES["mconala"][1], scale))
    ]
    (folder / "ja_test.json").write_text(json.dumps(items, ensure_ascii=False), encoding="utf-8")


def pubmedqa(folder: Path, scale: float, rng: random.Random) -> None:
    records = {}
    for number in range(_scaled(SIZES["pubmedqa"][0], scale)):
        decision = rng.choices(["yes", "no", "maybe"], [0.55, 0.34, 0.11])[0]
        records[str(30000000 + number)] = {
            "QUESTION": f"Does {_words(rng, 5, 20)}?",
            "CONTEXTS": [_words(rng, 40, 120) for _ in range(rng.randint(2, 4))],
            "LABELS": ["BACKGROUND", "METHODS", "RESULTS"][: rng.randint(2, 3)],
            "MESHES": [rng.choice(WORDS).title() for _ in range(4)],
            "YEAR": str(rng.randint(1990, 2018)),
            "reasoning_required_pred": decision,
            "reasoning_free_pred": decision,
            "final_decision": decision,
            "LONG_ANSWER": _words(rng, 15, 60),
        }
    (folder / "ori_pqal.json").write_text(json.dumps(records), encoding="utf-8")


WRITERS: dict[str, Callable[[Path, float, random.Random], None]] = {
    "gsm8k": gsm8k,
    "trec": trec,
    "sst2": sst2,
    "snips": snips,
    "mnli": mnli,
    "casehold": casehold,
    "squad": squad,
    "bbh": bbh,
    "mconala": mconala,
    "pubmedqa": pubmedqa,
}


def write(task: str, folder: Path, scale: float = 1.0, seed: int = 0) -> Path:
    """Write `task`'s files at `scale` times the real size into `folder` (created); returns `data.path` for
    them (the folder, or PubMedQA's single file)."""
    folder.mkdir(parents=True, exist_ok=True)
    WRITERS[task](folder, scale, random.Random(f"{task}:{seed}"))
    return folder / "ori_pqal.json" if task == "pubmedqa" else folder


if __name__ == "__main__":
    import sys
    import time

    for name in sys.argv[2:] or WRITERS:
        began = time.perf_counter()
        write(name, Path(sys.argv[1]) / name)
        print(f"{name}: {time.perf_counter() - began:.1f} s")
