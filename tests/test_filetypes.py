"""One table of file types: what extract reads, the batch engine and the service accept (DESIGN §9)."""
import pytest

from zhibiao.errors import InputError
from zhibiao.ingest import SUPPORTED_SUFFIXES, check_head

ZIP = b"PK\x03\x04" + b"\0" * 60
OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 56


def test_the_office_and_text_types_are_read():
    assert {".txt", ".csv", ".docx", ".xlsx", ".xlsm", ".xls", ".pdf", ".doc", ".wps", ".et"} <= set(SUPPORTED_SUFFIXES)


@pytest.mark.parametrize("name,head", [("表.xlsm", ZIP), ("表.xlsx", ZIP), ("表.xls", OLE), ("表.docx", ZIP),
                                       ("表.csv", "项目名称,三级指标\n".encode("gbk")), ("表.txt", "三级指标".encode())])
def test_sniff_accepts_what_the_suffix_says(name, head):
    assert check_head(name, head).suffix == name[name.rindex("."):]


@pytest.mark.parametrize("name,head,says", [("表.png", b"\x89PNG", "unsupported file type"),
                                            ("表.xlsx", b"plain text", "not a zip package"),
                                            ("表.csv", ZIP, "binary")])
def test_sniff_refuses_other_content(name, head, says):
    with pytest.raises(InputError, match=says):
        check_head(name, head)


def test_the_service_accepts_every_type_extract_reads():
    pytest.importorskip("fastapi", reason="service extra not installed")
    from zhibiao.service.uploads import check_upload
    assert check_upload("预算表.xlsm", ZIP) == ".xlsm"     # the service used to answer 415


def test_the_batch_engine_reads_every_document_type(tmp_path):
    from zhibiao.batch.readers import _classify_input
    from zhibiao.errors import InputError
    for suffix in SUPPORTED_SUFFIXES:
        path = tmp_path / f"doc{suffix}"
        path.write_bytes(b"x")
        assert _classify_input(0, path).kind == "document", suffix
    (tmp_path / "notes.abc").write_bytes(b"x")
    with pytest.raises(InputError, match="not a rows file or document"):
        _classify_input(0, tmp_path / "notes.abc")


def test_an_xlsm_upload_is_normalized_like_an_xlsx(tmp_path):
    """Excel's macro-enabled workbook: `zhibiao extract a.xlsm` read it while the service answered 415."""
    pytest.importorskip("fastapi", reason="service extra not installed")
    from fastapi.testclient import TestClient
    from openpyxl import Workbook

    from zhibiao.service import app as service
    wb = Workbook()
    ws = wb.active
    ws.append(["城区道路维修项目绩效目标表"])
    ws.append(["项目名称", "城区道路维修"])
    ws.append(["一级指标", "二级指标", "三级指标", "指标值"])
    ws.append(["产出指标", "数量指标", "维修道路长度", "≥1200米"])
    ws.append(["满意度指标", "服务对象满意度指标", "群众满意度", "≥90%"])
    path = tmp_path / "道路维修.xlsm"
    wb.save(path)
    with TestClient(service.create_app()) as client:
        r = client.post("/normalize", files={"file": (path.name, path.read_bytes(), "application/octet-stream")})
    assert r.status_code == 200, r.text
    rows = r.json()["rows"]
    assert [x["level3"] for x in rows] == ["维修道路长度", "群众满意度"]
    assert [x["category"] for x in rows] == ["数量指标", "服务对象满意度指标"]
