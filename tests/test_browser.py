"""The drafting page end to end, in headless Chromium (Debian's package) driven by Playwright.

The service runs with uvicorn on 127.0.0.1 (a free port) in a background thread; the
browser types a project, sees grouped suggestions, adds one, sees an audit flag for a bad
edit, downloads the draft as .xlsx and opens it with openpyxl; and uploads a draft.

Skips with the reason when /usr/bin/chromium (CI: scripts/ci_browser_deps.sh), Playwright
or the trained models are missing.
"""
from __future__ import annotations

import os
import socket
import threading
import time
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("ZHIBIAO_CHROMIUM", "/usr/bin/chromium")
if not Path(CHROMIUM).exists():
    pytest.skip(f"{CHROMIUM} not installed (run scripts/ci_browser_deps.sh)", allow_module_level=True)
pytest.importorskip("playwright.sync_api", reason="playwright not installed (pip install playwright)")
pytest.importorskip("uvicorn", reason="uvicorn not installed (service extra)")

import uvicorn  # noqa: E402
from openpyxl import Workbook, load_workbook  # noqa: E402
from playwright.sync_api import expect, sync_playwright  # noqa: E402

from zhibiao.classify import NORMALIZER_FILE  # noqa: E402
from zhibiao.recommend import RECOMMENDER_FILE  # noqa: E402
from zhibiao.resources import models_dir  # noqa: E402
from zhibiao.forms import STANDARD_HEADERS  # noqa: E402
from zhibiao.service.app import create_app  # noqa: E402

if not ((models_dir() / NORMALIZER_FILE).exists() and (models_dir() / RECOMMENDER_FILE).exists()):
    pytest.skip(f"trained models missing in {models_dir()} (run `zhibiao train`)", allow_module_level=True)

# This network is closed: without the background-networking flags Chromium keeps dialling out.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
TIMEOUT_MS = 30_000
expect.set_options(timeout=TIMEOUT_MS)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server_url():
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, name="zhibiao-test-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 120            # the models load in the lifespan
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            pytest.fail("the service did not start")
        time.sleep(0.1)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=15)


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser, server_url, request):
    context = browser.new_context(accept_downloads=True, locale="zh-CN", viewport={"width": 1280, "height": 1000})
    context.set_default_timeout(TIMEOUT_MS)
    pg = context.new_page()
    errors = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    pg.goto(server_url + "/")
    yield pg
    if os.environ.get("ZHIBIAO_SCREENSHOTS"):
        shot = Path(os.environ["ZHIBIAO_SCREENSHOTS"]) / f"{request.node.name}.png"
        pg.screenshot(path=str(shot), full_page=True)
    context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


def _flags(row):
    return row.get_attribute("data-flags") or ""


def test_suggest_add_edit_audit_download(page, tmp_path):
    page.get_by_test_id("project-name").fill("农村环卫保洁项目")
    page.get_by_test_id("project-desc").fill("购买农村保洁服务，实现村庄垃圾日产日清")
    page.get_by_test_id("suggest-btn").click()

    suggestions = page.get_by_test_id("suggestion")
    expect(suggestions.first).to_be_visible()
    expect(page.get_by_test_id("suggestions")).to_have_attribute("data-state", "ready")
    # grouped by 一级 then 二级, with values and the similar projects behind them
    groups = page.get_by_test_id("suggestion-group")
    assert groups.count() >= 2
    assert "产出指标" in [groups.nth(i).get_attribute("data-level1") for i in range(groups.count())]
    expect(page.get_by_test_id("neighbour").first).to_be_visible()
    quantity = page.locator('[data-testid=suggestion][data-category="数量指标"]').first
    expect(quantity).to_be_visible()
    name = quantity.get_by_test_id("suggestion-name").inner_text()
    assert quantity.get_by_test_id("suggestion-value").inner_text()

    # add it to the draft
    quantity.get_by_test_id("add-suggestion").click()
    rows = page.get_by_test_id("draft-row")
    expect(rows).to_have_count(1)
    row = rows.first
    expect(row.locator("[data-field=level3]")).to_have_value(name)
    expect(row.locator("[data-field=level2]")).to_have_value("数量指标")
    expect(page.get_by_test_id("audit-state")).to_have_attribute("data-state", "done")

    # a bad edit: a qualitative target under 数量指标 is flagged, live
    row.locator("[data-field=value]").fill("提高")
    expect(row.locator('[data-flag="not_measurable"]')).to_be_visible()
    assert "not_measurable" in _flags(row)
    # project-level findings (the other required groups are still missing)
    expect(page.get_by_test_id("finding").first).to_be_visible()

    # fix it: the flag goes away
    row.locator("[data-field=value]").fill("≥20个")
    expect(row.locator('[data-flag="not_measurable"]')).to_have_count(0)
    row.locator("[data-field=value]").fill("提高")
    expect(row.locator('[data-flag="not_measurable"]')).to_be_visible()

    # download the draft in the standard layout
    with page.expect_download() as info:
        page.get_by_test_id("download-btn").click()
    download = info.value
    assert download.suggested_filename.endswith(".xlsx")
    path = tmp_path / "draft.xlsx"
    download.save_as(path)
    ws = load_workbook(path).active
    cells = [list(r) for r in ws.iter_rows(values_only=True)]
    assert cells[0][0] == "农村环卫保洁项目绩效目标表"
    header = next(i for i, r in enumerate(cells) if r[0] == "一级指标")
    assert cells[header][:6] == STANDARD_HEADERS
    first = cells[header + 1]
    assert first[1] == "数量指标" and first[2] == name and first[4] == "提高"
    assert "not_measurable" in (first[cells[header].index("审核标记")] or "")


def test_upload_draft_then_audit(page, tmp_path):
    wb = Workbook()
    ws = wb.active
    ws.append(["城区道路维修项目绩效目标表"])
    ws.append(["项目名称", "城区道路维修项目"])
    ws.append(STANDARD_HEADERS)
    ws.append(["产出指标", "数量指标", "维修道路长度", "", "提高", "年度计划"])
    ws.append(["产出指标", "质量指标", "验收合格率", "", "≥95%", "行业标准"])
    ws.append(["满意度指标", "服务对象满意度指标", "群众满意度", "", "≥90%", "工作经验"])
    path = tmp_path / "道路维修草稿.xlsx"
    wb.save(path)

    page.get_by_test_id("upload-input").set_input_files(str(path))
    rows = page.get_by_test_id("draft-row")
    expect(rows).to_have_count(3)
    expect(page.get_by_test_id("project-name")).to_have_value("城区道路维修项目")
    expect(rows.nth(0).locator('[data-flag="not_measurable"]')).to_be_visible()
    expect(rows.nth(1).locator("[data-field=value]")).to_have_value("≥95%")
    # edit the uploaded draft: audited again
    rows.nth(0).locator("[data-field=value]").fill("≥15公里")
    expect(rows.nth(0).locator('[data-flag="not_measurable"]')).to_have_count(0)


def test_upload_of_a_non_document_shows_the_error(page, tmp_path):
    bad = tmp_path / "照片.xlsx"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 100)
    page.get_by_test_id("upload-input").set_input_files(str(bad))
    status = page.get_by_test_id("status")
    expect(status).to_contain_text("上传失败")
    expect(status).to_contain_text("not an Excel workbook")
    expect(page.get_by_test_id("draft-row")).to_have_count(0)


def test_openapi_docs_render_offline(browser, server_url):
    from zhibiao.service.app import _local_swagger_assets
    if _local_swagger_assets() is None:
        pytest.skip("swagger-ui-py not installed: /docs loads Swagger UI from a CDN")
    pg = browser.new_page()
    pg.goto(server_url + "/docs")
    expect(pg.locator(".opblock-summary-path", has_text="/suggest")).to_be_visible()
    pg.close()
