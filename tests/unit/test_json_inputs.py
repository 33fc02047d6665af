"""JSON a person wrote: an object that gives a key twice is an error naming the file (the line, for JSON Lines)
and the key, never read as its last value; and an error about a JSON Lines (or text) file names the line of the
file, blank lines counted, as an editor shows it, while a CSV file's errors keep naming its data rows."""

from __future__ import annotations

import json

import pytest

from irtnet._io import read_json
from irtnet.errors import DataError


def _write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return path


# -------------------------------------------------------------------------------------- a key given twice
def test_read_json_refuses_a_key_given_twice_naming_the_file_and_the_key(tmp_path):
    top = _write(tmp_path, "top.json", '{"a": 1, "b": 2, "a": 3}')
    with pytest.raises(DataError, match=r"top.json, field 'a': the key 'a' appears twice in one object") as err:
        read_json(top, dict)
    assert err.value.file == str(top) and err.value.field == "a"
    nested = _write(tmp_path, "nested.json", '[{"x": {"k": 1, "k": 1}}]')
    with pytest.raises(DataError, match=r"nested.json, field 'k': the key 'k' appears twice"):
        read_json(nested, list)
    ok = _write(tmp_path, "ok.json", '{"a": {"a": 1}, "b": [{"a": 2}]}')  # the same key in other objects is fine
    assert read_json(ok) == {"a": {"a": 1}, "b": [{"a": 2}]}


def test_a_texts_or_answers_file_refuses_a_key_given_twice(tmp_path):
    from irtnet.api.inputs import read_answers, read_texts

    lines = _write(tmp_path, "answers.jsonl",
                   '{"text": "a", "correct": 1}\n\n{"text": "b", "correct": 1, "correct": 0}\n')
    with pytest.raises(DataError, match=r"answers.jsonl, line 3, field 'correct': the key 'correct' appears twice"):
        read_answers(lines)
    listed = _write(tmp_path, "texts.json", '[{"text": "a"}, {"text": "b", "text": "c"}]')
    with pytest.raises(DataError, match=r"texts.json, field 'text': the key 'text' appears twice"):
        read_texts(listed)


def test_the_importers_refuse_a_key_given_twice(tmp_path):
    from irtnet.data.importers.long import column_map, import_long

    lines = _write(tmp_path, "x.jsonl", '{"model": "a", "query": "q1", "label": 1}\n'
                                        '{"model": "a", "query": "q2", "label": 1, "label": 0}\n')
    with pytest.raises(DataError, match=r"x.jsonl, line 2, field 'label': the key 'label' appears twice"):
        import_long(lines, default_benchmark="b")
    listed = _write(tmp_path, "x.json", '[{"model": "a", "model": "b", "query": "q1", "label": 1}]')
    with pytest.raises(DataError, match=r"x.json, field 'model': the key 'model' appears twice"):
        import_long(listed, default_benchmark="b")
    mapping = _write(tmp_path, "map.json", '{"model": "system", "model": "who"}')
    with pytest.raises(DataError, match=r"map.json, field 'model': the key 'model' appears twice"):
        column_map(str(mapping))


# ------------------------------------------------------------------------------- lines of a JSON Lines file
def test_texts_and_answers_errors_name_the_line_blank_lines_counted(tmp_path):
    from irtnet.api.inputs import read_answers, read_texts

    texts = _write(tmp_path, "q.jsonl", '{"text": "a"}\n\n\n{"query": " "}\n')
    with pytest.raises(DataError, match=r"q.jsonl, line 4, field 'query': no text") as err:
        read_texts(texts)
    assert err.value.line == 4 and err.value.row is None
    bad_json = _write(tmp_path, "b.jsonl", '{"text": "a"}\n\n{"text": \n')
    with pytest.raises(DataError, match=r"b.jsonl, line 3: not valid JSON"):
        read_texts(bad_json)
    answers = _write(tmp_path, "a.jsonl", '\n{"text": "a", "correct": 1}\n\n{"text": "b", "correct": 2}\n')
    with pytest.raises(DataError, match=r"a.jsonl, line 4, field 'correct': 2 is not in \[0, 1\]"):
        read_answers(answers)
    lines = tmp_path / "t.txt"
    lines.write_bytes(b"first\n\n\nbad \xff byte\n")
    with pytest.raises(DataError, match=r"t.txt, line 4: not UTF-8 text"):
        read_texts(lines)
    # a CSV keeps naming its data rows, the header not counted; a JSON list its items
    csv = _write(tmp_path, "a.csv", "text,correct\na,1\nb,2\n")
    with pytest.raises(DataError, match=r"a.csv, row 2, field 'correct': '2' is not in \[0, 1\]"):
        read_answers(csv)
    listed = _write(tmp_path, "a.json", json.dumps([{"text": "a", "correct": 1}, {"text": "b", "correct": 2}]))
    with pytest.raises(DataError, match=r"a.json, row 2, field 'correct': 2 is not in \[0, 1\]"):
        read_answers(listed)


def test_a_benchmark_name_found_bad_after_reading_is_named_at_its_line(tmp_path):
    from irtnet.api.inputs import read_texts
    from irtnet.api.texts import check_benchmarks
    from irtnet.data.vocab import Vocab

    from irtnet.predictors.base import Router

    class Named(Router):  # never fitted or scored here
        name, groups_ = "named", Vocab("benchmark", ["gsm8k", "math"])
        fit = scores = None

    path = _write(tmp_path, "pool.jsonl", '{"text": "a", "benchmark": "math"}\n\n\n{"text": "b", "benchmark": "mth"}\n')
    _, benchmarks = read_texts(path)
    with pytest.raises(DataError, match=r"pool.jsonl, line 4, field 'benchmark': unknown benchmark 'mth'"):
        check_benchmarks(Named(), benchmarks, path)
    with pytest.raises(DataError, match=r"gone.jsonl, row 2, field 'benchmark'"):  # no file to read the line from
        check_benchmarks(Named(), ["math", "mth"], tmp_path / "gone.jsonl")


def test_encode_reads_name_the_line_of_a_jsonl_or_text_file(tmp_path):
    from irtnet.data.encode_pool import read_texts

    column = _write(tmp_path, "c.jsonl", '{"text": "a"}\n\n\n{"text": 5}\n')
    with pytest.raises(DataError, match=r"c.jsonl, line 4, field 'text': the text is '5' of type int"):
        read_texts(column)
    plain = tmp_path / "p.txt"
    plain.write_bytes(b"a\n\n\x00b\n")
    with pytest.raises(DataError, match=r"p.txt, line 3: a NUL character"):
        read_texts(plain)
    csv = _write(tmp_path, "c.csv", "id,text\n1,a\n2,\n")
    with pytest.raises(DataError, match=r"c.csv, row 2, field 'text': the text is empty"):
        read_texts(csv)


def test_an_imported_jsonl_file_names_the_line_of_a_bad_record(tmp_path):
    from irtnet.data.importers.long import import_long

    path = _write(tmp_path, "s.jsonl", '{"model": "a", "query": "q1", "label": 1}\n\n'
                                       '{"model": "a", "query": "q2", "label": "maybe"}\n')
    with pytest.raises(DataError, match=r"s.jsonl, line 3, field 'label': label is not 0/1") as err:
        import_long(path, default_benchmark="b")
    assert err.value.line == 3
    broken = _write(tmp_path, "t.jsonl", '{"model": "a", "query": "q1", "label": 1}\n\n{"model": \n')
    with pytest.raises(DataError, match=r"t.jsonl, line 3: not valid JSON"):
        import_long(broken, default_benchmark="b")
    rows = _write(tmp_path, "s.csv", "model,query,label\na,q1,1\na,q2,maybe\n")
    with pytest.raises(DataError, match=r"s.csv, row 2, field 'label': label is not 0/1"):
        import_long(rows, default_benchmark="b")


# -------------------------------------------------------- a key given twice in settings, options and requests
def test_a_json_config_file_refuses_a_key_given_twice(tmp_path):
    from irtnet.config import read_config_file
    from irtnet.errors import ConfigError

    cfg = _write(tmp_path, "run.json", '{"model": {"preset": "small", "params": {"train": {"lr": 1, "lr": 2}}}}')
    with pytest.raises(ConfigError, match=r"run.json: the key 'lr' appears twice in one object; give it once"):
        read_config_file(cfg)
    toml = _write(tmp_path, "run.toml", '[model]\npreset = "small"\npreset = "default"\n')
    with pytest.raises(ConfigError, match=r"run.toml: not valid TOML"):  # TOML refuses a repeated key itself
        read_config_file(toml)
    assert read_config_file(_write(tmp_path, "ok.json", '{"a": {"k": 1}, "b": {"k": 2}}')) == {"a": {"k": 1},
                                                                                            "b": {"k": 2}}


def test_a_json_upstreams_file_refuses_a_key_given_twice(tmp_path):
    pytest.importorskip("fastapi")
    from irtnet.errors import ConfigError
    from irtnet.serve.upstreams import load_upstreams

    path = _write(tmp_path, "up.json", '{"models": {"m1": {"base_url": "http://a/v1", "base_url": "http://b/v1"}}}')
    with pytest.raises(ConfigError, match=r"up.json: the key 'base_url' appears twice in one object; give it once"):
        load_upstreams(path, ["m1"])
    ok = _write(tmp_path, "ok.json", '{"models": {"m1": {"base_url": "http://a/v1"}}}')
    assert load_upstreams(ok, ["m1"])["m1"].base_url == "http://a/v1"


def test_command_line_options_of_json_text_refuse_a_key_given_twice():
    from irtnet.cli.compare import parse_dataset, parse_model
    from irtnet.data.importers import parse_options
    from irtnet.errors import ConfigError

    with pytest.raises(ConfigError, match=r"^--model '.*': the key 'lr' appears twice in one object; give it once$"):
        parse_model('{"name": "x", "model": "irtnet", "params": {"train": {"lr": 1, "lr": 2}}}')
    with pytest.raises(ConfigError, match=r"^--dataset '.*': the key 'path' appears twice in one object"):
        parse_dataset('{"name": "d", "format": "long", "path": "a.csv", "path": "b.csv"}')
    with pytest.raises(ConfigError, match=r"^option exclude_models='.*': the key 'a' appears twice in one object"):
        parse_options("long", ['exclude_models=[{"a": 1, "a": 2}]'])
    assert parse_model('{"name": "x", "params": {"a": {"k": 1}, "b": {"k": 2}}}')["params"]["b"] == {"k": 2}
    assert parse_options("long", ['exclude_models=["m1", "m2"]']) == {"exclude_models": ["m1", "m2"]}


def test_an_auto_detected_import_refuses_a_key_given_twice(tmp_path):
    """Format sniffing reads only key names (which a repeated key does not change); the importer it picks
    then refuses the file, naming the line and the key."""
    from irtnet.data.importers import import_table

    path = _write(tmp_path, "mmlu.json", '[{"question": "Q", "question": "R", "scores": {"m1": 1}}]')
    with pytest.raises(DataError, match=r"mmlu.json, field 'question': the key 'question' appears twice"):
        import_table("auto", path)
    inner = _write(tmp_path, "gsm8k.json", '[{"question": "Q", "scores": {"m1": 1, "m2": 0, "m1": 0}}]')
    with pytest.raises(DataError, match=r"gsm8k.json, field 'm1': the key 'm1' appears twice"):
        import_table("auto", inner)


# ------------------------------------------------------------------------ rows of a JSON list count from 1
def test_a_json_list_names_its_first_item_row_1_like_a_csv_its_first_data_row(tmp_path):
    from irtnet.data.importers.long import import_long

    listed = _write(tmp_path, "x.json", json.dumps([{"model": "a", "query": "q1", "label": "maybe"},
                                                    {"model": "a", "query": "q2", "label": 1}]))
    with pytest.raises(DataError, match=r"x.json, row 1, field 'label': label is not 0/1") as err:
        import_long(listed, default_benchmark="b")
    assert err.value.row == 1 and err.value.line is None
    rows = _write(tmp_path, "x.csv", "model,query,label\na,q1,maybe\na,q2,1\n")
    with pytest.raises(DataError, match=r"x.csv, row 1, field 'label': label is not 0/1"):
        import_long(rows, default_benchmark="b")


def test_a_json_lines_file_counts_lines_in_its_messages_not_rows(tmp_path):
    from irtnet.data.importers.long import import_long

    path = _write(tmp_path, "s.jsonl", '{"model": "a", "query": "q1", "label": 2}\n\n'
                                       '{"model": "a", "query": "q2", "label": 3}\n')
    with pytest.raises(DataError, match=r"s.jsonl, line 1, field 'label': .*\(got 2; 2 such lines\)$"):
        import_long(path, outcome_kind="binary", default_benchmark="b")
    tied = _write(tmp_path, "t.jsonl", '{"model": "a", "query": "q1", "label": 1}\n\n'
                                       '{"model": "a", "query": "q1", "label": 0}\n')
    with pytest.raises(DataError, match=r"t.jsonl: .* tie \(label 1 at line 1, label 0 at line 3\)"):
        import_long(tied, outcome_kind="binary", default_benchmark="b")


# ------------------------------------------------------------------------- texts and answers files (bug bash 2)
def test_a_txt_texts_file_refuses_a_blank_line_naming_it(tmp_path):
    from irtnet.api.inputs import read_texts

    for content, line in ((b"first\n\nsecond\n", 2), (b"first\nsecond\n  \n", 3), (b"\n", 1)):
        path = tmp_path / "q.txt"
        path.write_bytes(content)
        with pytest.raises(DataError, match=rf"q.txt, line {line}: a blank line: a .txt file holds one text per line"):
            read_texts(path)
    path.write_bytes(b"first\nsecond\n")  # the last line's own line end is no blank line
    assert read_texts(path) == (["first", "second"], [None, None])


def test_a_texts_file_refuses_an_id_given_twice_naming_both_records(tmp_path):
    from irtnet.api.inputs import read_texts

    lines = _write(tmp_path, "q.jsonl",
                   '{"text": "a", "id": "x"}\n\n{"text": "b", "id": "y"}\n{"text": "c", "id": "x"}\n')
    with pytest.raises(DataError, match=r"q.jsonl, line 4, field 'id': the id 'x' is given twice, in line 1 and here"):
        read_texts(lines)
    csv = _write(tmp_path, "q.csv", "text,id\na,1\nb,\nc,\nd,1\n")  # empty cells: no id
    with pytest.raises(DataError, match=r"q.csv, row 4, field 'id': the id '1' is given twice, in row 1 and here"):
        read_texts(csv)
    same = _write(tmp_path, "same.json", json.dumps([{"text": "a", "id": 1}, {"text": "b", "id": "1"}]))
    with pytest.raises(DataError, match=r"row 2, field 'id': the id '1' is given twice"):  # as a pool file reads it
        read_texts(same)
    ok = _write(tmp_path, "ok.json", json.dumps([{"text": "a", "id": 1}, {"text": "b", "id": "pool-4"}, {"text": "c"},
                                                 {"text": "d", "id": None}, {"text": "e", "id": None}]))
    assert read_texts(ok)[0] == ["a", "b", "c", "d", "e"]  # ids are optional, and none is made up for a text


@pytest.mark.parametrize("name, content, message", [
    ("a.jsonl", '{"text": "a", "correct": true}\n', r"line 1, field 'correct': true \(a JSON boolean\) is not a"),
    ("a.jsonl", '{"text": "a", "label": false}\n', r"line 1, field 'label': false \(a JSON boolean\) is not a number"),
    ("a.json", '[{"text": "a", "score": "1"}]', r"row 1, field 'score': '1' \(JSON text: write the number without"),
    ("a.csv", "text,correct\na,true\n", r"row 1, field 'correct': 'true' is not a number in \[0, 1\]"),
], ids=["json-true", "json-false", "json-text", "csv-true"])
def test_a_label_is_a_number_in_json_as_in_csv(tmp_path, name, content, message):
    from irtnet.api.inputs import read_answers

    with pytest.raises(DataError, match=message):
        read_answers(_write(tmp_path, name, content))


def test_numeric_labels_still_read_in_json_and_csv(tmp_path):
    from irtnet.api.inputs import read_answers

    lines = '{"text": "a", "correct": 1}\n{"text": "b", "correct": 0.5}\n'
    _, labels, _ = read_answers(_write(tmp_path, "a.jsonl", lines))
    assert labels.tolist() == [1.0, 0.5]
    _, labels, _ = read_answers(_write(tmp_path, "a.csv", "text,correct\na,1\nb,0.25\n"))
    assert labels.tolist() == [1.0, 0.25]


def test_an_empty_benchmark_offers_leaving_it_out_only_where_the_file_may(tmp_path):
    from irtnet.api.inputs import _given_benchmark, _load_records, read_answers, read_texts

    texts = _write(tmp_path, "q.jsonl", '{"text": "a", "benchmark": ""}\n')
    with pytest.raises(DataError, match=r"line 1, field 'benchmark': '' is not a benchmark name: give one the model "
                                        r"knows, or leave the field out \(or null\) for a text of a new benchmark"):
        read_texts(texts)
    with pytest.raises(DataError, match=r"or leave the field out"):
        read_answers(_write(tmp_path, "a.jsonl", '{"text": "a", "benchmark": "", "correct": 1}\n'))
    row = _load_records(texts)[0]  # a reader where the benchmark is needed (a pool): no such offer
    with pytest.raises(DataError, match=r"'' is not a benchmark name: give the name of a benchmark$"):
        _given_benchmark(row, texts, 0)


def test_onboard_answers_refuse_a_query_that_is_an_item_id_of_the_run(tmp_path):
    from irtnet.api.inputs import read_answers

    path = _write(tmp_path, "ids.jsonl", '{"query": "What is 2+2?", "label": 1}\n\n{"query": "q000178", "label": 0}\n')
    with pytest.raises(DataError, match=r"ids.jsonl, line 3, field 'query': 'q000178' is a query id of the run's "
                                        r"table, not a text: onboard reads the text .* `irtnet estimate RUN --answers"):
        read_answers(path, {"q000178", "q000001"})
    assert read_answers(path)[0] == ["What is 2+2?", "q000178"]  # no ids known (a checkpoint): texts
    texts = _write(tmp_path, "t.jsonl", '{"text": "q000178", "label": 0}\n')  # only `query` is an id's field
    assert read_answers(texts, {"q000178"})[0] == ["q000178"]
