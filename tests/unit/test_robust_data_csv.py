"""Truncated, short and long CSV rows are errors naming file, row and field, in every CSV importer."""

from __future__ import annotations

import gzip

import pytest

from irtnet.data.importers import import_table
from irtnet.data.importers._source import read_frame
from irtnet.data.importers.embedllm import import_embedllm
from irtnet.data.importers.long import import_long
from irtnet.data.importers.routerbench import import_routerbench
from irtnet.data.importers.swebench import import_swebench
from irtnet.data.importers.wide import import_wide
from irtnet.errors import DataError

EMBEDLLM = "model_id,prompt_id,prompt,label,category\na,1,What is 2+2?,1,math\nb,1,What is 2+2?,0,math\n"
LONG = "model,query,label\na,q1,1\nb,q1,0\na,q2,1\n"


def _write(tmp_path, text, name="s.csv"):
    path = tmp_path / name
    path.write_bytes(text.encode())
    return path


# ---------------------------------------------------------------- embedllm
@pytest.mark.parametrize("text,message", [
    # cut right after a comma: the last row lacks its last field
    (EMBEDLLM + "c,1,What is 2+2?,", r"s.csv, row 3, field 'category': the row has 4 fields, the header 5: "
                                     r"missing 'category' \(the file ends mid-row: truncated\?\)"),
    # cut inside an id
    (EMBEDLLM + "c,1", r"s.csv, row 3, field 'prompt': the row has 2 fields, the header 5: "
                       r"missing 'prompt', 'label', 'category' \(the file ends mid-row"),
    # a row with two fields in the middle of the file
    (EMBEDLLM.replace("b,1,What is 2+2?,0,math", "b,1"), r"s.csv, row 2, field 'prompt': the row has 2 fields"),
    # a row with more fields than the header, first row (pandas would take column 1 as an index)
    (EMBEDLLM.replace("a,1,What is 2+2?,1,math", "a,1,What is 2+2?,1,math,x"),
     r"s.csv, row 1, field 'column 6': the row has 6 fields, the header only 5"),
    # ... and a later row
    (EMBEDLLM + "c,1,q,1,math,x,y\n", r"s.csv, row 3, field 'column 6': the row has 7 fields, the header only 5"),
    # the outcome field itself is absent
    (EMBEDLLM + "c,1,q\n", r"s.csv, row 3, field 'label': the row has 3 fields, the header 5"),
    # complete field count, but the file stops right after the last separator
    (EMBEDLLM + "c,1,q,1,", r"s.csv, row 3, field 'category': the file ends right after a separator"),
    # an opened quote runs to the end of the file
    (EMBEDLLM + 'c,1,"What is\n3+3?,1,math\n', r"s.csv, row 3, field 'label': .*unterminated quote"),
])
def test_truncated_or_misshapen_embedllm_rows_are_errors(tmp_path, text, message):
    with pytest.raises(DataError, match=message):
        import_embedllm(_write(tmp_path, text))


def test_embedllm_folder_names_the_bad_file(tmp_path):
    _write(tmp_path, EMBEDLLM, "train.csv")
    _write(tmp_path, EMBEDLLM.replace("a,", "c,") + "d,1", "test.csv")
    with pytest.raises(DataError, match=r"test.csv, row 3, field 'prompt'"):
        import_embedllm(tmp_path)


def test_fine_rows_keep_importing(tmp_path):
    # no final newline after a complete row, a quoted newline, a blank and a whitespace-only line
    text = EMBEDLLM.replace("What is 2+2?", '"What is\n2+2?"') + "\n   \nc,2,Hi,1,chat"
    t = import_embedllm(_write(tmp_path, text))
    assert t.n_models == 3 and t.n_queries == 2 and len(t.responses) == 3
    # an empty outcome cell of a complete, newline-terminated row is still "not observed", counted
    t = import_long(_write(tmp_path, LONG + "b,q2,\n"), default_benchmark="b")
    assert t.report.skipped == {"missing outcome ('label' empty): not observed": 1}
    # blank lines before the header are skipped, as pandas does
    assert len(read_frame(_write(tmp_path, "\n\n" + LONG))) == 3
    # a field longer than the csv module's default limit (128 KiB) is fine
    t = import_long(_write(tmp_path, LONG + f"b,{'q' * 200_000},1\n"), default_benchmark="b")
    assert t.n_queries == 3


def test_row_numbers_count_data_rows_not_lines(tmp_path):
    text = 'model,query,label\na,"q\n1",1\n\nb,q1\n'
    with pytest.raises(DataError, match=r"s.csv, row 2, field 'label': the row has 2 fields, the header 3"):
        import_long(_write(tmp_path, text), default_benchmark="b")


# ---------------------------------------------------------------- long (CSV, TSV, compressed)
@pytest.mark.parametrize("name,text,message", [
    ("s.csv", LONG + "b,q", r"s.csv, row 4, field 'label': the row has 2 fields, the header 3: missing 'label'"),
    ("s.csv", LONG + "b,q2,", r"s.csv, row 4, field 'label': the file ends right after a separator"),
    ("s.csv", LONG.replace("b,q1,0", "b,q1,0,0"), r"s.csv, row 2, field 'column 4': the row has 4 fields"),
    ("s.tsv", LONG.replace(",", "\t") + "b\tq", r"s.tsv, row 4, field 'label': the row has 2 fields"),
    ("s.tsv", LONG.replace(",", "\t") + "b\tq2\t", r"s.tsv, row 4, field 'label': the file ends right after"),
])
def test_long_rejects_short_long_and_cut_off_rows(tmp_path, name, text, message):
    with pytest.raises(DataError, match=message):
        import_long(_write(tmp_path, text, name), default_benchmark="b")


def test_compressed_csv_is_checked_after_decompression(tmp_path):
    path = tmp_path / "s.csv.gz"
    path.write_bytes(gzip.compress((LONG + "b,q").encode()))
    with pytest.raises(DataError, match=r"s.csv.gz, row 4, field 'label': the row has 2 fields"):
        read_frame(path)
    with pytest.raises(DataError, match=r"s.csv.gz, row 4, field 'label'"):
        import_table("long", path, default_benchmark="b")


def test_a_texts_file_is_checked_too(tmp_path):
    texts = _write(tmp_path, "query,text\nq1,one\nq2", "texts.csv")
    with pytest.raises(DataError, match=r"texts.csv, row 2, field 'text': the row has 1 fields"):
        import_long(_write(tmp_path, LONG), default_benchmark="b", texts_file=str(texts))


# ---------------------------------------------------------------- wide
@pytest.mark.parametrize("header,text,message", [
    (True, "model,i1,i2\na,1,0\nb,1", r"m.csv, row 2, field 'i2': the row has 2 fields, the header 3"),
    (True, "model,i1,i2\na,1,0\nb,1,", r"m.csv, row 2, field 'i2': the file ends right after a separator"),
    (True, "model,i1,i2\na,1,0,1\nb,1,0\n", r"m.csv, row 1, field 'column 4': the row has 4 fields"),
    (False, "1,0,1\n0,1", r"m.csv, row 2, field 'column 3': the row has 2 fields, the header 3"),
    (False, "1,0,1\n0,1,", r"m.csv, row 2, field 'column 3': the file ends right after a separator"),
])
def test_wide_rejects_short_long_and_cut_off_rows(tmp_path, header, text, message):
    with pytest.raises(DataError, match=message):
        import_wide(_write(tmp_path, text, "m.csv"), header=header)


def test_wide_without_final_newline_is_fine(tmp_path):
    t = import_wide(_write(tmp_path, "model,i1,i2\na,1,0\nb,,1", "m.csv"))
    assert t.n_models == 2 and t.report.skipped == {"empty cells (not observed)": 1}


# ---------------------------------------------------------------- routerbench, swebench (scored CSV.GZ)
def test_routerbench_rejects_a_truncated_file(tmp_path):
    text = ("sample_id,prompt,eval_name,m1,m2\narc.1,\"['Q1']\",arc,1,0\narc.2,\"['Q2']\",arc,0,1\n"
            "arc.3,\"['Q3']\",arc,1,")
    with pytest.raises(DataError, match=r"arc_test.csv, row 3, field 'm2': the file ends right after"):
        import_routerbench(_write(tmp_path, text, "arc_test.csv"))
    with pytest.raises(DataError, match=r"arc_test.csv, row 3, field 'm1': the row has 3 fields"):
        import_routerbench(_write(tmp_path, text[: text.rindex(",1,")], "arc_test.csv"))


def test_swebench_rejects_a_short_row(tmp_path):
    path = tmp_path / "swebench_verified_bash_only_scored.csv.gz"
    path.write_bytes(gzip.compress(b"system,instance_id,resolved,cost_usd\nA,django-1,1,0.5\nB,django-1\n"))
    with pytest.raises(DataError, match=r"scored.csv.gz, row 2, field 'resolved': the row has 2 fields"):
        import_swebench(tmp_path)
