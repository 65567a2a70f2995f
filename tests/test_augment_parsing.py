"""Teacher answers to record fields: tolerant of fences and prose, strict about the schema; prompt templates."""

from __future__ import annotations

import pytest
from data_fixtures import qa_record

from taskexpert.augment.jobs import new_jobs, rewrite_jobs
from taskexpert.augment.label_judge import judge_values
from taskexpert.augment.parsing import Rejection, parse_fields
from taskexpert.augment.prompts import PromptTemplate
from taskexpert.errors import ConfigError
from taskexpert.tasks import load_task
from taskexpert.teachers.json_text import closes_json_object, first_json_object

ALL = ("question", "context", "long_answer", "label")
LABELS = load_task("pubmedqa").labels
GOOD = '{"question": "Does it work?", "context": "A trial.", "long_answer": "It did.", "label": "Yes."}'


@pytest.mark.parametrize(
    "text",
    [
        GOOD,
        f"```json\n{GOOD}\n```",
        f"Sure! Here is the record:\n{GOOD}\nI hope this helps {{not json}}.",
        f"{{broken: json}} then the real one {GOOD}",
    ],
    ids=["bare", "code-fence", "prose-around", "after-a-broken-object"],
)
def test_the_first_json_object_is_found_around_fences_and_prose(text):
    assert parse_fields(text, ALL, LABELS) == {
        "question": "Does it work?",
        "context": "A trial.",
        "long_answer": "It did.",
        "label": "yes",
    }


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("The answer is yes.", "no_json_object"),
        ('{"question": "unterminated', "invalid_json"),
        ('{"question": "Q?", "context": "C", "long_answer": "L"}', "missing_field:label"),
        ('{"question": "  ", "context": "C", "long_answer": "L", "label": "no"}', "empty_field:question"),
        ('{"question": ["Q?"], "context": "C", "long_answer": "L", "label": "no"}', "not_a_string:question"),
        ('{"question": "Q?", "context": "C", "long_answer": "L", "label": "probably"}', "invalid_label"),
    ],
)
def test_invalid_answers_are_rejected_with_a_reason(text, reason):
    result = parse_fields(text, ALL, LABELS)
    assert isinstance(result, Rejection) and result.reason == reason


def test_extra_keys_are_ignored_and_only_requested_fields_are_required():
    assert parse_fields('{"question": "Q?", "note": 3}', ("question",)) == {"question": "Q?"}


def test_json_closing_tracks_strings_and_nesting():
    assert not closes_json_object('{"question": "a } inside a string')
    assert closes_json_object('{"question": "a } inside", "x": {"y": 1}} trailing')
    assert not closes_json_object('{"q": "escaped \\" quote }')
    assert first_json_object("[1, 2] then {}") == {}


def write_template(tmp_path, text, name="t.txt"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return PromptTemplate.load(path)


def test_sections_become_messages_and_a_final_assistant_section_is_a_prefill(tmp_path):
    template = write_template(
        tmp_path,
        '# a comment\n[system]\nBe brief.\n[user]\nRewrite {{question}}\n[assistant]\n{"question": "\n',
    )
    messages = template.render({"question": "Is it?"})
    assert messages == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Rewrite Is it?"},
        {"role": "assistant", "content": '{"question": "'},
    ]
    assert len(template.hash) == 12


def test_a_file_without_sections_is_one_user_message(tmp_path):
    assert write_template(tmp_path, "Hello {{label}}").render({"label": "yes"}) == [
        {"role": "user", "content": "Hello yes"}
    ]


def test_unknown_placeholders_and_missing_files_name_the_file(tmp_path):
    template = write_template(tmp_path, "[user]\n{{questoin}}", name="typo.txt")
    with pytest.raises(ConfigError, match=r"typo.txt: placeholder \{\{questoin\}\} is unknown"):
        template.render({"question": "x"})
    with pytest.raises(ConfigError, match="nowhere.txt not found"):
        PromptTemplate.load("prompts/nowhere.txt")


PUBMEDQA = load_task("pubmedqa")
NEW = "prompts/new/classification.txt"


def test_default_prompts_fill_every_placeholder():
    seeds = [
        qa_record(id=f"r{i}", question=f"Q{i}?", context=f"C{i}", long_answer=f"L{i}", label="no")
        for i in range(4)
    ]
    rewrite = rewrite_jobs(
        PUBMEDQA, seeds, PromptTemplate.load("prompts/rewrite.txt"), ["question", "long_answer"], 2
    )
    assert [job.record_id for job in rewrite[:2]] == ["r0-rewrite-0", "r0-rewrite-1"]
    user = rewrite[0].request.messages[1][1]
    assert '{"question": "Q0?", "long_answer": "L0"}' in user and "{{" not in user
    assert rewrite[0].request.prefill == '{"question": "'
    new = new_jobs(PUBMEDQA, seeds, seeds, PromptTemplate.load(NEW), n_per_seed=2, examples_per_prompt=3)
    assert len(new) == 8 and new[0].meta["example_ids"][0] == "r0" and len(new[0].meta["example_ids"]) == 3
    again = new_jobs(PUBMEDQA, seeds, seeds, PromptTemplate.load(NEW), n_per_seed=2, examples_per_prompt=3)
    assert [job.request for job in again] == [job.request for job in new]  # example draws repeat
    judge = PromptTemplate.load("prompts/judge.txt").render(judge_values(PUBMEDQA, seeds[0]))
    assert judge[-1] == {"role": "assistant", "content": '{"label": "'}


def test_rewrite_keeps_the_parent_label_and_provenance():
    parent = qa_record(id="p1", question="Old?", context="Ctx", long_answer="LA", label="maybe")
    job = rewrite_jobs(PUBMEDQA, [parent], PromptTemplate.load("prompts/rewrite.txt"))[0]
    record = job.to_record({"question": "New wording?"}, "teacher-x")
    assert (record.inputs["question"], record.inputs["context"], record.target) == (
        "New wording?",
        "Ctx",
        "maybe",
    )
    assert (record.source, record.parent_id, record.teacher) == ("rewrite", "p1", "teacher-x")
    assert record.meta == {"prompt_hash": job.prompt_hash, "sample_index": 0}


def test_fields_that_cannot_be_written_are_config_errors():
    parent = [qa_record(id="p", question="Q?", context="C", label="yes")]
    with pytest.raises(ConfigError, match="method.rewrite.fields has 'label'"):
        rewrite_jobs(PUBMEDQA, parent, PromptTemplate.load("prompts/rewrite.txt"), ["label"])
    with pytest.raises(ConfigError, match="must include 'label'"):
        new_jobs(PUBMEDQA, parent, parent, PromptTemplate.load(NEW), ["question", "context"])
