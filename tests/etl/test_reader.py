"""The streaming reader: line numbers, raw text, multi-line CSV fields, BOM, JSON forms."""

from __future__ import annotations

from pathlib import Path

import pytest

from etl.reader import FileSource, ReadError, chunked, detect_format, object_records


def _records(path: Path, fmt: str | None = None, encoding: str = "utf-8") -> list:
    with FileSource(path, detect_format(path, fmt), encoding) as src:
        return list(src.records())


def test_csv_line_numbers_survive_quoted_newlines_and_blank_lines(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_bytes(b'\xef\xbb\xbfid,text\r\n1,"two\r\nlines"\r\n\r\n2,plain\r\n3\r\n')
    recs = _records(path)
    assert [(r.line_no, r.data, r.error is None) for r in recs] == [
        (2, {"id": "1", "text": "two\r\nlines"}, True),
        (5, {"id": "2", "text": "plain"}, True),
        (6, None, False),
    ]
    assert recs[0].raw == '1,"two\r\nlines"'
    assert "header has 2" in recs[2].error


def test_jsonl_and_json_array(tmp_path: Path) -> None:
    lines = tmp_path / "x.jsonl"
    lines.write_text('{"a": 1}\n\n[1]\n{"b": \n', encoding="utf-8")
    recs = _records(lines)
    assert [(r.line_no, r.data) for r in recs] == [(1, {"a": 1}), (3, None), (4, None)]
    assert recs[1].error == "malformed JSON: not an object"
    array = tmp_path / "x.json"
    array.write_text('[{"a": 1}, {"a": 2}]', encoding="utf-8")
    assert detect_format(array) == "json"
    assert [(r.line_no, r.data) for r in _records(array)] == [(1, {"a": 1}), (2, {"a": 2})]
    array.write_text('[{"a": 1}, ', encoding="utf-8")  # truncated array
    with pytest.raises(ReadError):
        _records(array)


def test_gb18030_needs_its_encoding(tmp_path: Path) -> None:
    path = tmp_path / "gb.csv"
    path.write_bytes("id,text\n1,网格员上报\n".encode("gb18030"))
    with pytest.raises(ReadError, match="gb18030"):
        _records(path)
    assert _records(path, encoding="gb18030")[0].data == {"id": "1", "text": "网格员上报"}


def test_checksum_and_chunks(tmp_path: Path) -> None:
    import hashlib

    path = tmp_path / "x.csv"
    body = "id\n" + "".join(f"{i}\n" for i in range(25))
    path.write_text(body, encoding="utf-8")
    with FileSource(path, "csv") as src:
        sizes = [len(c) for c in chunked(src.records(), 10)]
        assert src.checksum == hashlib.sha256(body.encode()).hexdigest()
    assert sizes == [10, 10, 5]
    assert [r.line_no for r in object_records([{"x": 1}, '{"y": 2}', 7])] == [1, 2, 3]


def test_plain_and_quoted_lines_parse_as_the_csv_module_does() -> None:
    import csv as csvmod
    import io as iomod

    from etl.reader import csv_records

    text = ('id,a,b\n1,x,y\n2,"q, r",z\n3,"multi\nline",w\n\n4, sp ,\n5,a\n6,"x""y",\x00z\n'
            '7,,\r\n8,"bad"x,y\n9,e,f\n')
    got = list(csv_records(iomod.StringIO(text, newline="")))
    good = [r for r in got if r.data is not None]
    expected = list(csvmod.DictReader(iomod.StringIO(text.replace("\x00", ""), newline="")))
    expected = [r for r in expected if None not in r and None not in r.values()]
    assert [r.data for r in good] == expected
    assert [(r.line_no, r.data is None) for r in got] == [
        (2, False), (3, False), (4, False), (7, False), (8, True), (9, False), (10, False),
        (11, False), (12, False)]
    assert got[1].raw == '2,"q, r",z' and got[2].raw == '3,"multi\nline",w'
    assert got[5].raw == '6,"x""y",z'
