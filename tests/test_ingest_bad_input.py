"""Bad input: a typed exception from the API, a one-line error and non-zero exit from the CLI."""
from __future__ import annotations

import io

import docx
import pytest
from typer.testing import CliRunner

from zhibiao.cli import app
from zhibiao.errors import (CorruptDocument, EmptyDocument, EncryptedDocument, FileNotFound, InputError,
                            NoIndicatorTable, UnsupportedFormat)
from zhibiao.ingest import FileTooLarge, extract, extract_all

GOOD = "好项目绩效目标表\n\n\t项目名称\n\t好项目\n\n\t一级指标\n\t三级指标\n\t指标值\n\n\t产出指标\n\t长度\n\t5米\n"


def _docx_bytes() -> bytes:
    d = docx.Document()
    d.add_paragraph("只有文字，没有表格。")
    buf = io.BytesIO()
    d.save(buf)
    return buf.getvalue()


def _encrypted_ooxml() -> bytes:
    """The shape of a password-protected .xlsx: an OLE2 container with an EncryptedPackage stream."""
    ole = bytearray(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 1016)
    ole += "EncryptedPackage".encode("utf-16-le") + b"\x00" * 512
    return bytes(ole)


CASES = {  # name: (file name, content or None for "do not create", exception)
    "missing": ("nope.txt", None, FileNotFound),
    "empty": ("empty.txt", b"", EmptyDocument),
    "xlsx_not_zip": ("fake.xlsx", "这不是表格".encode(), CorruptDocument),
    "truncated_docx": ("cut.docx", _docx_bytes()[:2000], CorruptDocument),
    "encrypted": ("locked.xlsx", _encrypted_ooxml(), EncryptedDocument),
    "png_as_txt": ("image.txt", b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, UnsupportedFormat),
    "binary_as_txt": ("blob.txt", bytes(range(256)) * 4, UnsupportedFormat),
    "unknown_suffix": ("slides.pptx", b"PK\x03\x04whatever", UnsupportedFormat),
    "prose_only": ("prose.txt", "一、总体绩效目标\n\n做好各项工作。\n".encode(), NoIndicatorTable),
    "docx_without_table": ("prose.docx", _docx_bytes(), NoIndicatorTable),
    "xls_that_is_text": ("old.xls", b"not an excel file at all", CorruptDocument),
    # past the csv module's own field limit (131,072): the cell limit's refusal, not csv's message
    "csv_field_past_csv_limit": ("huge.csv", ("三级指标,指标值\n满意度," + "9" * 200_000 + "\n").encode(), FileTooLarge),
}


def _make(tmp_path, name):
    filename, content, exc = CASES[name]
    path = tmp_path / filename
    if content is not None:
        path.write_bytes(content)
    return path, exc


@pytest.mark.parametrize("name", sorted(CASES))
def test_api_raises_typed_error(tmp_path, name):
    path, exc = _make(tmp_path, name)
    with pytest.raises(exc) as info:
        extract(path)
    assert isinstance(info.value, InputError)
    message = str(info.value)
    assert "\n" not in message and path.name in message
    if exc is FileTooLarge:
        assert "limit of a cell" in message


@pytest.mark.parametrize("name", sorted(CASES))
def test_cli_one_line_error(tmp_path, name):
    path, _ = _make(tmp_path, name)
    result = CliRunner().invoke(app, ["extract", str(path), "-o", str(tmp_path / "out.csv")])
    assert result.exit_code != 0
    assert "Traceback" not in result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and path.name in errors[0]


def test_size_limit(tmp_path, monkeypatch):
    path = tmp_path / "big.txt"
    path.write_text(GOOD * 50, encoding="utf-8")
    monkeypatch.setenv("ZHIBIAO_MAX_FILE_MB", "0.001")
    with pytest.raises(FileTooLarge, match="limit"):
        extract(path)
    monkeypatch.delenv("ZHIBIAO_MAX_FILE_MB")
    assert len(extract(path)) == 50


def test_batch_collects_failures(tmp_path):
    good = tmp_path / "good.txt"
    good.write_text(GOOD, encoding="utf-8")
    bad, _ = _make(tmp_path, "xlsx_not_zip")
    result = extract_all([bad, str(good), tmp_path / "missing.docx"], errors="collect")
    assert result.rows.level3.tolist() == ["长度"]
    assert [type(f) for f in result.failures] == [CorruptDocument, FileNotFound]
    with pytest.raises(CorruptDocument):
        extract_all([good, bad], errors="raise")


def test_cli_batch_writes_the_good_file(tmp_path):
    good = tmp_path / "good.txt"
    good.write_text(GOOD, encoding="utf-8")
    bad, _ = _make(tmp_path, "png_as_txt")
    out = tmp_path / "rows.csv"
    result = CliRunner().invoke(app, ["extract", str(good), str(bad), "-o", str(out)])
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert "1 of 2 files" in result.output
    assert "长度" in out.read_text(encoding="utf-8-sig")
