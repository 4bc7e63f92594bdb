"""Fit to the project (unusual_for_project) on a single draft: the cases of issue 15."""
import pandas as pd

from zhibiao.audit.fit import fit_findings


def _draft(project, rows):
    return pd.DataFrame([{"project_id": "d", "project_name": project, "location": f"r{i}", "level2": l2,
                          "level3": l3, "value": "≥1"} for i, (l2, l3) in enumerate(rows)])


def _flagged(project, rows):
    return {f["level3"] for f in fit_findings(_draft(project, rows))}


def test_rows_of_another_kind_of_project_are_flagged():
    assert _flagged("党组织活动经费", [
        ("数量指标", "开展主题党日活动次数"), ("质量指标", "农村部分计划生育家庭奖励扶助金发放标准"),
        ("时效指标", "扶助资金到位率"), ("服务对象满意度指标", "党员满意度")]) == {
        "农村部分计划生育家庭奖励扶助金发放标准", "扶助资金到位率"}
    assert _flagged("高标准农田建设", [
        ("数量指标", "高标准农田建设面积"), ("数量指标", "计划生育奖励扶助人数"),
        ("数量指标", "新建道路长度"), ("质量指标", "保洁质量达标率")]) == {
        "计划生育奖励扶助人数", "新建道路长度", "保洁质量达标率"}


def test_benefits_generic_rows_and_unknown_projects_are_left_alone():
    # a road brings jobs: benefits may cross sectors; 验收合格率 names no sector
    assert _flagged("城区道路维修项目", [("社会效益指标", "带动就业人数"), ("质量指标", "验收合格率"),
                                        ("数量指标", "维修道路长度")]) == set()
    # a project whose name says nothing about its sector: no evidence, no finding
    assert _flagged("草稿", [("数量指标", "计划生育奖励扶助人数")]) == set()


def test_the_finding_says_why_in_chinese():
    f = fit_findings(_draft("高标准农田建设", [("数量指标", "计划生育奖励扶助人数")]))[0]
    assert f["code"] == "unusual_for_project" and f["label"] == "与项目类型不符"
    assert "高标准农田建设" in f["message"] and "农林水" in f["message"]
    assert f["suggestion"]
