"""Readers for .docx, .xlsx and .csv, on fixtures generated here."""
from __future__ import annotations

import docx
import openpyxl
import pytest

from zhibiao.ingest import extract, extract_all

HEADER = ["一级指标", "二级指标", "三级指标", "绩效指标描述", "指标值", "指标值确定依据"]


def _vmerge(table, col, r0, r1):
    table.cell(r0, col).merge(table.cell(r1, col))


@pytest.fixture
def two_table_docx(tmp_path):
    d = docx.Document()
    d.add_paragraph("道路工程项目绩效目标表")
    d.add_paragraph("项目名称：道路工程")
    d.add_paragraph("项目编码：D-001")
    d.add_paragraph("预算金额：300000元")
    t = d.add_table(rows=5, cols=6)
    for i, h in enumerate(HEADER):
        t.cell(0, i).text = h
    data = [["产出指标", "数量指标", "道路长度", "新建道路长度", "≥2公里", "合同"],
            ["", "", "绿化面积", "", "1000平方米", "合同"],
            ["", "质量指标", "验收合格率", "验收合格率", "100%", "标准"],
            ["满意度指标", "服务对象满意度指标", "群众满意度", "", "≥90%", "问卷"]]
    for r, values in enumerate(data, start=1):
        for c, v in enumerate(values):
            if v:
                t.cell(r, c).text = v
    _vmerge(t, 0, 1, 3)                      # 产出指标 over three rows
    _vmerge(t, 1, 1, 2)                      # 数量指标 over two rows
    t.cell(2, 2).merge(t.cell(2, 3))         # 三级指标 and 描述 as one wide cell
    t.cell(2, 2).text = "绿化面积"
    d.add_paragraph("绿化养护项目绩效目标表")
    d.add_paragraph("项目名称：绿化养护")
    d.add_paragraph("项目资金主要用途：全区绿化养护")
    t2 = d.add_table(rows=2, cols=6)
    for i, h in enumerate(HEADER):
        t2.cell(0, i).text = h
    for c, v in enumerate(["效益指标", "生态效益指标", "绿化覆盖率", "覆盖率", "≥40%", "规划"]):
        t2.cell(1, c).text = v
    path = tmp_path / "两表.docx"
    d.save(path)
    return path


def test_docx_two_tables_merged_cells(two_table_docx):
    result = extract_all(two_table_docx)
    rows, projects = result.rows, result.projects
    assert len(rows) == 5 and len(projects) == 2
    assert rows.project_name.tolist() == ["道路工程"] * 4 + ["绿化养护"]
    assert rows.location.tolist() == ["T1!R2", "T1!R3", "T1!R4", "T1!R5", "T2!R2"]
    green = rows.iloc[1]
    assert (green.level1, green.level2, green.level3, green.value) == ("产出指标", "数量指标", "绿化面积", "1000平方米")
    assert "filled_down" not in green.warnings        # a real merge, not a guess
    assert rows.iloc[2].level1 == "产出指标" and rows.iloc[2].level2 == "质量指标"
    p = projects.set_index("project_name")
    assert p.loc["道路工程", "project_code"] == "D-001"
    assert p.loc["道路工程", "budget_wan"] == pytest.approx(30.0)
    assert p.loc["绿化养护", "purpose"] == "全区绿化养护"
    assert p.loc["道路工程", "table_title"] == "道路工程项目绩效目标表"


def _save(wb, path):
    wb.save(path)
    return path


def test_xlsx_split_selfeval_header_row5(tmp_path):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "自评"
    ws["A1"] = "2021年度项目支出绩效自评表"
    ws.merge_cells("A1:G1")
    ws["A2"], ws["B2"] = "项目名称", "就业补助"
    ws["A3"], ws["B3"] = "预算数", "1,100万元"
    ws.append([])
    ws.append(["一级指标", "三级指标", "指标\n性质", "指标值", "计量\n单位", "实际完成值", "备注"])  # row 5
    ws.append(["产出指标", "培训人数", "≥", 500, "人", 520, ""])
    ws.append([None, "发放准确率", "大于等于", 95, "%", 0.97, ""])
    ws.append([None, "服务质量", "定性", "提升", "", "明显提升", ""])
    ws["F7"].number_format = "0%"
    ws.merge_cells("A6:A8")
    ws.append(["合计", "", "", "", "", "", ""])
    ws.append(["说明", "请在此处说明原因", "", "", "", "", ""])
    rows = extract(_save(wb, tmp_path / "自评.xlsx"))
    assert rows.location.tolist() == ["自评!B6", "自评!B7", "自评!B8"]
    assert rows.value.tolist() == ["≥500人", "≥95%", "提升"]
    assert rows.value_op_raw.tolist() == ["≥", "大于等于", "定性"]
    assert rows.actual_value.tolist() == ["520", "97%", "明显提升"]
    assert rows.level1.tolist() == ["产出指标"] * 3
    assert rows.budget_wan.iloc[0] == 1100.0 and rows.year.iloc[0] == "2021"


def test_xlsx_department_form_indicators_below_budget(tmp_path):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws["A1"] = "2024年市级部门整体预算绩效目标表"
    ws["A2"], ws["B2"] = "部门名称", "某某局"
    ws["A3"], ws["B3"], ws["C3"], ws["D3"] = "预算整体情况", "部门预算支出", "预算金额（万元）", "收入来源"
    ws["B4"], ws["C4"] = "基本支出", 100.5
    ws["A6"], ws["B6"], ws["C6"], ws["D6"], ws["E6"] = "绩效指标", "一级指标", "二级指标", "三级指标", "指标值"
    ws["B7"], ws["C7"], ws["D7"], ws["E7"] = "产出指标", "质量指标", "补贴发放准确率", 0.95
    ws["E7"].number_format = "0%"
    ws["C8"] = "成本指标"                        # a 二级 line without indicator
    ws["B9"], ws["C9"], ws["D9"], ws["E9"] = "满意度指标", "服务对象满意度指标", "群众满意度", "≥90%"
    ws.merge_cells("A6:A9")
    result = extract_all(_save(wb, tmp_path / "部门.xlsx"))
    rows = result.rows
    assert rows.level3.tolist() == ["补贴发放准确率", "群众满意度"]
    assert rows.value.tolist() == ["95%", "≥90%"]
    assert rows.department.tolist() == ["某某局"] * 2
    assert rows.location.tolist() == ["Sheet!D7", "Sheet!D9"]


CSV_TEXT = "一级指标,二级指标,三级指标名称,年度指标值\n产出指标,数量指标,{name},≥20个\n,,覆盖率,≥95%\n"


@pytest.mark.parametrize("encoding,name", [("gbk", "新建道路长度"), ("gb18030", "𠀀字检测数量"),
                                           ("utf-8", "新建道路长度"), ("utf-8-sig", "新建道路长度")])
def test_csv_encodings(tmp_path, encoding, name):
    path = tmp_path / f"{encoding}.csv"
    path.write_bytes(CSV_TEXT.format(name=name).encode(encoding))
    rows = extract(path)
    assert rows.level3.tolist() == [name, "覆盖率"]
    assert rows.value.tolist() == ["≥20个", "≥95%"]
    assert rows.level1.tolist() == ["产出指标", "产出指标"]
    assert rows.location.tolist() == ["R2", "R3"]


def test_text_dump_in_gbk(tmp_path):
    text = "测试项目绩效目标表\n\n\t项目名称\n\t测试\n\n\t一级指标\n\t三级指标\n\t指标值\n\n\t产出\n\n指标\n\t长度\n\t5米\n"
    path = tmp_path / "gbk.txt"
    path.write_bytes(text.encode("gbk"))
    rows = extract([path])
    assert rows[["location", "level1", "level3", "value", "project_name"]].values.tolist() == [
        ["L10", "产出指标", "长度", "5米", "测试"]]


def test_xls_merged_and_percent(tmp_path):
    xlwt = pytest.importorskip("xlwt")  # only to write the fixture; reading uses xlrd
    wb = xlwt.Workbook()
    ws = wb.add_sheet("S1")
    ws.write(0, 0, "测试项目绩效目标表")
    for i, h in enumerate(["一级指标", "二级指标", "三级指标", "指标值"]):
        ws.write(4, i, h)
    ws.write_merge(5, 6, 0, 0, "产出指标")
    ws.write(5, 1, "数量指标"), ws.write(5, 2, "长度"), ws.write(5, 3, "5米")
    ws.write(6, 1, "质量指标"), ws.write(6, 2, "合格率"), ws.write(6, 3, 0.95, xlwt.easyxf(num_format_str="0%"))
    path = tmp_path / "t.xls"
    wb.save(str(path))
    rows = extract(path)
    assert rows[["location", "level1", "level3", "value"]].values.tolist() == [
        ["S1!C6", "产出指标", "长度", "5米"], ["S1!C7", "产出指标", "合格率", "95%"]]


def _indicator_table(d, name, level3):
    d.add_paragraph(f"{name}项目绩效目标表")
    t = d.add_table(rows=2, cols=6)
    for i, h in enumerate(HEADER):
        t.cell(0, i).text = h
    for c, v in enumerate(["产出指标", "数量指标", level3, "", "≥1个", "计划"]):
        t.cell(1, c).text = v
    return t


def test_docx_document_department_applies_unless_a_table_states_its_own(tmp_path):
    d = docx.Document()
    d.add_paragraph("某某县2024年部门预算绩效目标")
    d.add_paragraph("部门名称：某某县交通运输局")        # prose before the tables: the document's
    _indicator_table(d, "道路养护", "养护里程")
    d.add_paragraph("桥梁检测项目绩效目标表")
    t = d.add_table(rows=3, cols=6)
    t.cell(0, 0).text, t.cell(0, 1).text = "实施单位", "某某县公路管理站"  # this table's own
    for i, h in enumerate(HEADER):
        t.cell(1, i).text = h
    for c, v in enumerate(["产出指标", "数量指标", "检测桥梁数", "", "≥5座", "计划"]):
        t.cell(2, c).text = v
    _indicator_table(d, "客运补贴", "补贴线路数")
    path = tmp_path / "部门.docx"
    d.save(path)
    projects = extract_all(path).projects
    assert projects.department.tolist() == ["某某县交通运输局", "某某县公路管理站", "某某县交通运输局"]


def test_docx_unit_line_names_the_department_and_unit_note_is_not_one(tmp_path):
    d = docx.Document()
    d.add_paragraph("单位：某某区财政局")                  # 单位：<organisation>, not a money unit
    _indicator_table(d, "财政信息化", "系统数")
    path = tmp_path / "单位.docx"
    d.save(path)
    assert extract(path).department.tolist() == ["某某区财政局"]

    d = docx.Document()
    d.add_paragraph("单位：万元")                          # a money unit: no department
    _indicator_table(d, "财政信息化", "系统数")
    d.save(path)
    assert extract(path).department.tolist() == [""]


def test_xlsx_department_in_a_column_labelled_table(tmp_path):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["机构设置情况"])
    ws.append(["单位名称", "单位性质", "单位规格", "经费保障形式"])  # labels over values
    ws.append(["某某市生态环境局", "行政单位", "正处级", "财政拨款"])
    ws.append([])
    ws.append(["大气监测项目绩效目标表"])
    ws.append(HEADER)
    ws.append(["产出指标", "数量指标", "监测站点数", "", "≥3个", "计划"])
    rows = extract(_save(wb, tmp_path / "机构.xlsx"))
    assert rows.department.tolist() == ["某某市生态环境局"]


def test_xlsx_label_beside_a_label_is_no_department(tmp_path):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["大气监测项目绩效目标表"])
    ws.append(["单位名称", "单位性质"])                     # header of an empty form
    ws.append(HEADER)
    ws.append(["产出指标", "数量指标", "监测站点数", "", "≥3个", "计划"])
    rows = extract(_save(wb, tmp_path / "空表.xlsx"))
    assert rows.department.tolist() == [""]


def test_xlsx_unlabelled_department_beside_the_unit_note(tmp_path):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["大气监测项目绩效目标表"])
    ws.append(["917003某某区政府办公室", "", "单位：万元"])
    ws.append(["项目名称", "大气监测", "预算数", 12])
    ws.append(HEADER)
    ws.append(["产出指标", "数量指标", "监测站点数", "", "≥3个", "计划"])
    result = extract_all(_save(wb, tmp_path / "表头.xlsx"))
    assert result.rows.department.tolist() == ["917003某某区政府办公室"]
    assert result.projects.budget_wan.tolist() == [12.0]      # the note still sets the money unit


def test_xlsx_unit_note_beside_a_caption_is_no_department(tmp_path):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["部门收支总表", "", "单位：万元"])             # a caption, not an organisation
    ws.append(["大气监测项目绩效目标表"])
    ws.append(HEADER)
    ws.append(["产出指标", "数量指标", "监测站点数", "", "≥3个", "计划"])
    assert extract(_save(wb, tmp_path / "收支.xlsx")).department.tolist() == [""]


def test_xlsx_split_columns_keep_the_operator_of_a_percent_value(tmp_path):
    """指标性质 ≥ over an 指标值 typed as an Excel percentage (0.8 shown as 80%) or written "95%"."""
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["项目名称", "就业补助资金"])
    ws.append(["一级指标", "二级指标", "三级指标", "指标性质", "指标值", "计量单位", "指标值确定依据"])
    ws.append(["产出指标", "质量指标", "就业率", "≥", 0.8, "%", "历史"])
    ws["E3"].number_format = "0%"
    ws.append(["产出指标", "质量指标", "合格率", "≥", "95%", "%", "历史"])
    ws.append(["产出指标", "质量指标", "差错率", "反向", "5%", "", "制度"])
    ws.append(["产出指标", "时效指标", "拨付时长", "≤", 10, "天", "制度"])
    rows = extract([_save(wb, tmp_path / "split.xlsx")])
    assert list(rows["value"]) == ["≥80%", "≥95%", "≤5%", "≤10天"]


def test_docx_two_row_header_symbol_number_unit(tmp_path):
    """指标值 spanning 符号 / 数值 / 单位 in a second header row."""
    d = docx.Document()
    d.add_paragraph("项目名称：城区道路改造")
    t = d.add_table(rows=4, cols=6)
    for j, h in enumerate(["一级指标", "二级指标", "三级指标", "指标值", "", ""]):
        t.cell(0, j).text = h
    t.cell(0, 3).merge(t.cell(0, 5))
    for j in range(3):
        t.cell(0, j).merge(t.cell(1, j))
    for j, h in zip((3, 4, 5), ("符号", "数值", "单位")):
        t.cell(1, j).text = h
    for r, vals in enumerate([("产出指标", "数量指标", "新建道路长度", "≥", "2", "公里"),
                              ("产出指标", "质量指标", "验收合格率", "=", "100", "%")], start=2):
        for j, v in enumerate(vals):
            t.cell(r, j).text = v
    path = tmp_path / "twohdr.docx"
    d.save(path)
    rows = extract([path])
    assert list(rows["level3"]) == ["新建道路长度", "验收合格率"]
    assert list(rows["value"]) == ["≥2公里", "=100%"]


def test_xlsx_projects_stacked_on_one_sheet_with_titles_and_footers(tmp_path):
    """A department's export: per project a title row (with 单位：万元), metadata, header, indicators,
    and a 填表人/联系电话 footer. Titles and footers are no indicators; each budget keeps its unit."""
    wb = openpyxl.Workbook()
    ws = wb.active
    for name, code, budget, rows in [
            ("就业补助资金", "130100-24-001", 500, [("产出指标", "数量指标", "培训人数", "≥500人次"),
                                              ("满意度指标", "服务对象满意度指标", "满意度", "≥90%")]),
            ("公益性岗位补贴", "130100-24-002", 200, [("产出指标", "数量指标", "岗位数", "≥80个")])]:
        r = ws.max_row + 2 if ws.max_row > 1 else 1
        ws.cell(r, 1, f"{name}绩效目标表")
        ws.merge_cells(start_row=r, start_column=1, end_row=r, end_column=3)
        ws.cell(r, 4, "单位：万元")
        ws.append(["项目名称", name, "项目编码", code])
        ws.append(["主管部门", "某区人力资源和社会保障局", "预算数", budget])
        ws.append(["一级指标", "二级指标", "三级指标", "指标值"])
        for row in rows:
            ws.append(list(row))
        ws.append(["填表人：张三", "", "联系电话：0311-1234567", "填报日期：2024年1月5日"])
    result = extract_all([_save(wb, tmp_path / "stacked.xlsx")])
    rows, projects = result.rows, result.projects
    assert list(rows["level3"]) == ["培训人数", "满意度", "岗位数"]
    assert list(rows["project_name"]) == ["就业补助资金", "就业补助资金", "公益性岗位补贴"]
    assert not rows["warnings"].str.contains("budget_unit").any()
    assert list(projects["budget_wan"]) == [500.0, 200.0]
    assert list(projects["table_title"]) == ["就业补助资金绩效目标表", "公益性岗位补贴绩效目标表"]


def test_docx_header_repeated_on_a_new_page_is_one_project(tmp_path):
    d = docx.Document()
    d.add_paragraph("项目名称：城区道路改造项目")
    header = ["一级指标", "二级指标", "三级指标", "指标值"]
    body = [header, ("产出指标", "数量指标", "新建道路长度", "≥2公里"), ("产出指标", "质量指标", "验收合格率", "100%"),
            header, ("产出指标", "时效指标", "完工时间", "2024年12月31日前")]
    t = d.add_table(rows=len(body), cols=4)
    for r, vals in enumerate(body):
        for j, v in enumerate(vals):
            t.cell(r, j).text = v
    d.save(tmp_path / "rephdr.docx")
    result = extract_all([tmp_path / "rephdr.docx"])
    assert list(result.rows["level3"]) == ["新建道路长度", "验收合格率", "完工时间"]
    assert len(result.projects) == 1 and result.projects["project_name"][0] == "城区道路改造项目"


def test_two_targets_on_two_lines_of_a_cell_stay_two_numbers(tmp_path):
    from zhibiao import parse_value
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["项目名称", "老旧小区改造"])
    ws.append(["一级指标", "二级指标", "三级指标", "指标值"])
    ws.append(["产出指标", "数量指标", "改造户数", "120户\n80户"])
    ws.append(["产出指标", "质量指标", "达标率", "≥90%\n≥95%"])
    ws.append(["产出指标", "质量指标", "绿化\n面积", "1200\n平方米"])
    rows = extract([_save(wb, tmp_path / "lines.xlsx")])
    assert list(rows["level3"]) == ["改造户数", "达标率", "绿化面积"]
    assert [p.number for p in parse_value(rows["value"][0]).numbers] == [120, 80]
    assert [p.number for p in parse_value(rows["value"][1]).numbers] == [90, 95]
    assert parse_value(rows["value"][2]).number == 1200


def test_xlsx_tall_merged_row_is_one_indicator_but_two_targets_stay_two(tmp_path):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["项目名称", "城区道路改造项目"])
    ws.append(["一级指标", "二级指标", "三级指标", "指标值", "指标值确定依据"])
    ws.append(["产出指标", "数量指标", "新建道路长度", "≥2公里", "合同约定"])
    ws.append([None, None, None, None, "（2023年签订）"])          # the basis goes on below
    for col in "ABCD":
        ws.merge_cells(f"{col}3:{col}4")
    ws.append(["产出指标", "质量指标", "验收合格率", "≥95%", "规范"])
    ws.append([None, None, None, "100%", "合同"])                  # one name, a second target
    for col in "ABC":
        ws.merge_cells(f"{col}5:{col}6")
    rows = extract([_save(wb, tmp_path / "tall.xlsx")])
    assert list(rows["level3"]) == ["新建道路长度", "验收合格率", "验收合格率"]
    assert list(rows["value"]) == ["≥2公里", "≥95%", "100%"]
    assert rows["basis"][0] == "合同约定 （2023年签订）"


def test_docx_metadata_on_one_line_and_generic_titles(tmp_path):
    """"项目名称：X　　主管部门：Y　　预算金额：100万元" on one line, under the same generic title per project."""
    d = docx.Document()
    for title, meta, level3 in [
            ("2024年度项目支出绩效目标表", "项目名称：城区道路改造项目\u3000\u3000主管部门：某区住房和城乡建设局\u3000\u3000预算金额：100万元",
             "新建道路长度"),
            ("2024年度项目支出绩效目标表", "项目名称：农村环卫保洁项目\t主管部门：某区农业农村局\t单位：万元", "保洁面积")]:
        d.add_paragraph(title)
        d.add_paragraph(meta)
        t = d.add_table(rows=2, cols=4)
        for j, v in enumerate(["一级指标", "二级指标", "三级指标", "指标值"]):
            t.cell(0, j).text = v
        for j, v in enumerate(["产出指标", "数量指标", level3, "≥10"]):
            t.cell(1, j).text = v
    d.save(tmp_path / "metaline.docx")
    result = extract_all([tmp_path / "metaline.docx"])
    p = result.projects
    assert list(p["project_name"]) == ["城区道路改造项目", "农村环卫保洁项目"]
    assert list(p["department"]) == ["某区住房和城乡建设局", "某区农业农村局"]
    assert list(p["table_title"]) == ["2024年度项目支出绩效目标表"] * 2
    assert p["budget_wan"][0] == 100.0
    assert not result.rows["warnings"].str.contains("title_mismatch").any()


def test_a_blank_form_is_a_project_without_indicators(tmp_path):
    """A header and nothing under it: the project is kept (the audit reports 缺少绩效指标), not lost."""
    from zhibiao.audit import RuleNormalizer, audit_files
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["项目名称", "城区道路维修"])
    ws.append(["一级指标", "二级指标", "三级指标", "指标值"])
    ws.append(["产出指标", "数量指标", "维修道路长度", "≥1200米"])
    ws.append([])
    ws.append(["项目名称", "法律援助经费"])
    ws.append(["一级指标", "二级指标", "三级指标", "指标值"])
    two = _save(wb, tmp_path / "two.xlsx")
    d = docx.Document()
    d.add_paragraph("项目名称：法律援助经费")
    t = d.add_table(rows=3, cols=4)
    for j, h in enumerate(["一级指标", "二级指标", "三级指标", "指标值"]):
        t.cell(0, j).text = h
    d.save(tmp_path / "blank.docx")
    result = extract_all([two, tmp_path / "blank.docx"])
    assert list(result.rows["level3"]) == ["维修道路长度"] and not result.failures
    assert list(result.projects["project_name"]) == ["城区道路维修", "法律援助经费", "法律援助经费"]
    assert list(result.projects["n_indicators"]) == [1, 0, 0]
    report = audit_files([two, tmp_path / "blank.docx"], normalizer=RuleNormalizer())
    assert (report.findings["code"] == "no_indicators").sum() == 2
