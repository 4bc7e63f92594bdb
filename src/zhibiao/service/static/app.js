// 绩效目标起草助手: plain JS, no build step. Talks to /codes, /suggest, /audit, /normalize.
"use strict";

// Labels, messages and fixes come from the audit's codes file (GET /codes): one name per check,
// the same on the page, in the API, the xlsx and the html report. These few are only a fallback
// for when /codes cannot be read.
const FALLBACK_LABELS = { blank_name: "缺少指标名称" };
const FIELDS = ["level1", "level2", "level3", "description", "value", "basis"];
const FIELD_LABELS = {
  level1: "一级指标", level2: "二级指标", level3: "三级指标", description: "绩效指标描述",
  value: "指标值", basis: "指标值确定依据",
};
const LEVEL1_ORDER = ["产出指标", "成本指标", "效益指标", "满意度指标"];
const LEVEL2_OF = {
  产出指标: ["数量指标", "质量指标", "时效指标", "成本指标"],
  成本指标: ["经济成本指标", "社会成本指标", "生态环境成本指标"],
  效益指标: ["经济效益指标", "社会效益指标", "生态效益指标", "可持续影响指标"],
  满意度指标: ["服务对象满意度指标"],
};
const LEVEL2_ORDER = ["数量指标", "质量指标", "时效指标", "成本指标", "经济成本指标", "社会成本指标",
  "生态环境成本指标", "经济效益指标", "社会效益指标", "生态效益指标", "可持续影响指标", "服务对象满意度指标"];
const VALUE_SOURCE_TEXT = {
  description: "数值取自项目描述",
  budget: "按预算数填写",
  library: "常用写法，请填入本项目的数值",
  past_projects: "相似项目的常用值",
};
// A past project this similar counts as close when /suggest does not say (no_close_project);
// below it (0.13 …) a neighbour is not "similar" and is not listed.
const CLOSE_PROJECT = 0.4;

const state = {
  codes: {}, rows: [], projects: [], current: null, projectFindings: [],
  auditSeq: 0, suggestSeq: 0, suggestAbort: null, auditAbort: null,
};
const $ = (sel) => document.querySelector(sel);

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

// A debounced call that can be cancelled: a submit or an 添加 click must not be followed by a late
// automatic request that redraws the list under the cursor.
function debounce(fn, ms) {
  let t = null;
  const call = (...args) => { clearTimeout(t); t = setTimeout(() => { t = null; fn(...args); }, ms); };
  call.cancel = () => { clearTimeout(t); t = null; };
  return call;
}

function setStatus(text, isError = false) {
  const s = $("#status");
  s.textContent = text || "";
  s.title = text || "";
  s.classList.toggle("error", !!isError);
}

function codeInfo(code) {
  return state.codes[code] || { label: FALLBACK_LABELS[code] || code, severity: "", message: "", suggestion: "" };
}

const STATUS_TEXT = {
  413: "文件过大（不超过 10 MB、5000 条指标）",
  415: "文件类型不支持，请上传 .xlsx、.xls、.csv、.docx 或 .txt 格式的绩效目标表",
  422: "文件无法读取，或其中没有找到绩效指标表",
  503: "模型未加载，请联系管理员运行 zhibiao train",
};

// The clerk sees Chinese only; the service's own detail (often English) goes to the title and the console.
async function errorInfo(resp) {
  let detail = "";
  try {
    const body = await resp.json();
    const d = body.detail;
    detail = typeof d === "string" ? d : JSON.stringify(d);
  } catch (_) {
    detail = `HTTP ${resp.status}`;
  }
  return { text: STATUS_TEXT[resp.status] || `服务出错（代码 ${resp.status}），请稍后再试`, detail };
}

async function postJSON(url, payload, signal) {
  const resp = await fetch(url, {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(payload), signal,
  });
  if (!resp.ok) {
    const info = await errorInfo(resp);
    const err = new Error(info.text);
    err.status = resp.status;
    err.detail = info.detail;
    throw err;
  }
  return resp;
}

function projectInfo() {
  const budget = parseFloat($("#budget").value);
  return {
    project_name: $("#project-name").value.trim(),
    description: $("#project-desc").value.trim(),
    budget: Number.isFinite(budget) && budget >= 0 ? budget : null,
  };
}

const multi = () => state.projects.length > 1;
const visibleRows = () => state.rows.filter((r) => !multi() || r.project_id === state.current);
const rowKey = (pid, loc) => `${pid || ""}|${loc || ""}`;

function payloadRow(r) {
  const out = {};
  for (const f of FIELDS) out[f] = r[f] || "";
  out.location = r.location;
  if (multi()) {
    out.project_id = r.project_id;
    out.project_name = r.project_name || "";
  }
  return out;
}

function auditPayload() {
  if (multi()) {
    return { rows: state.rows.map(payloadRow), projects: state.projects.map(projectPayload) };
  }
  return { ...projectInfo(), rows: state.rows.map(payloadRow) };
}

function projectPayload(p) {
  const out = {};
  for (const k of ["project_id", "project_name", "purpose", "goals", "department", "source", "table_title"]) {
    out[k] = p[k] === null || p[k] === undefined ? "" : String(p[k]);
  }
  out.budget_wan = typeof p.budget_wan === "number" ? p.budget_wan : null;
  return out;
}

// ------------------------------------------------------------------ suggestions
function cancelSuggest() {
  suggestSoon.cancel();
  if (state.suggestAbort) state.suggestAbort.abort();
  state.suggestAbort = null;
  state.suggestSeq++;
}

async function runSuggest(explicit = false) {
  const info = projectInfo();
  const text = info.project_name || info.description;
  const box = $("#suggestions");
  const hint = $("#suggest-hint");
  hint.textContent = "";
  if (!text) {
    if (explicit) {
      hint.textContent = "请先填写项目名称（或项目描述），再获取建议指标。";
      $("#project-name").focus();
    }
    box.dataset.state = "idle";
    return;
  }
  cancelSuggest();
  const seq = state.suggestSeq;
  const controller = new AbortController();
  state.suggestAbort = controller;
  box.dataset.state = "loading";
  setStatus("正在生成建议…");
  try {
    const payload = { text, description: info.project_name ? info.description : "", k: 12 };
    if (info.budget !== null) payload.budget = info.budget;
    const rows = visibleRows().map(payloadRow).filter((r) => r.level3.trim());
    if (rows.length) payload.draft = rows.map(({ project_id, project_name, ...r }) => r);
    const data = await (await postJSON("/suggest", payload, controller.signal)).json();
    if (seq !== state.suggestSeq) return;
    renderSuggestions(data);
    box.dataset.state = "ready";
    setStatus(`已生成 ${data.suggestions.length} 条建议`);
  } catch (err) {
    if (err.name === "AbortError" || seq !== state.suggestSeq) return;
    box.dataset.state = "error";
    setStatus(`建议失败：${err.message}`, true);
  } finally {
    if (state.suggestAbort === controller) state.suggestAbort = null;
  }
}
const suggestSoon = debounce(() => runSuggest(false), 600);

function renderSuggestions(data) {
  const box = $("#suggestions");
  box.replaceChildren();
  const project = data.project;
  if (project && (project.sector || (project.archetypes || []).length)) {
    const parts = [];
    if (project.sector && project.sector !== "通用") parts.push(`行业：${project.sector}`);
    if ((project.archetypes || []).length) parts.push(`资金用途：${project.archetypes.join("、")}`);
    if (parts.length) box.append(el("p", { class: "project-kind", "data-testid": "project-kind" }, `本项目识别为 ${parts.join(" · ")}`));
  }
  if (!data.suggestions.length) {
    box.append(el("p", { class: "hint", text: "没有可建议的指标（草稿可能已覆盖全部类别）。" }));
  }
  const groups = new Map();
  for (const s of data.suggestions) {
    const l1 = s.level1 || "其他";
    if (!groups.has(l1)) groups.set(l1, new Map());
    const l2 = s.category || "其他";
    if (!groups.get(l1).has(l2)) groups.get(l1).set(l2, []);
    groups.get(l1).get(l2).push(s);
  }
  const order = [...groups.keys()].sort((a, b) => rank(a) - rank(b));
  for (const l1 of order) {
    const g1 = el("div", { class: "group-l1", "data-testid": "suggestion-group", "data-level1": l1 },
      el("h3", { text: l1 }));
    const level2s = [...groups.get(l1).entries()].sort((a, b) => rank(a[0], LEVEL2_ORDER) - rank(b[0], LEVEL2_ORDER));
    for (const [l2, items] of level2s) {
      const g2 = el("div", { class: "group-l2", "data-level2": l2 }, el("h4", { text: l2 }));
      for (const s of items) g2.append(suggestionCard(s));
      g1.append(g2);
    }
    box.append(g1);
  }
  renderNeighbours(data);
}

function renderNeighbours(data) {
  const nb = $("#neighbours");
  nb.replaceChildren();
  const all = data.neighbours || [];
  let close = all.filter((n) => Number(n.score) >= CLOSE_PROJECT);
  if (data.no_close_project === false && !close.length && all.length) close = all.slice(0, 1);
  const none = data.no_close_project === true || (data.no_close_project === undefined && !close.length);
  if (none) {
    nb.append(el("p", { class: "no-close", "data-testid": "no-close-project" },
      "没有找到相近的历史项目：以下建议来自标准指标库和同类项目的通用做法，指标值请按本项目实际填写。"));
    return;
  }
  nb.append(el("div", { text: "相近的历史项目（建议参考了它们的指标）：" }),
    el("ol", {}, close.slice(0, 5).map((n) => el("li", { "data-testid": "neighbour" }, neighbourLabel(n)))));
}

// a project of the user's own corpus store names its table: file and year
function neighbourLabel(n) {
  if (n.origin !== "store") return n.project_name;
  return `${n.project_name}（本单位档案：${n.source}${n.year ? `，${n.year}年` : ""}）`;
}

function rank(name, order = LEVEL1_ORDER) {
  const i = order.indexOf(name);
  return i < 0 ? order.length : i;
}

function suggestionCard(s) {
  const examples = (s.examples || []).slice(0, 3);
  const meta = [];
  if (s.basis) meta.push(`依据：${s.basis}`);
  if (s.value_source && VALUE_SOURCE_TEXT[s.value_source]) meta.push(VALUE_SOURCE_TEXT[s.value_source]);
  if (s.support > 0) meta.push(`${s.support} 个历史项目采用`);
  if (s.sources && s.sources.length) {
    meta.push("本单位档案：" + s.sources.map((x) => [x.source, x.location].filter(Boolean).join(" ")).join("；"));
  }
  if (s.weight !== undefined && s.weight !== null) meta.push(`建议分值 ${s.weight}`);
  const alternatives = (s.alternatives || []).filter((a) => a.suggested_level3 || a.indicator_name);
  const card = el("div", {
    class: "suggestion", "data-testid": "suggestion", "data-indicator-id": s.indicator_id,
    "data-category": s.category,
  },
  el("div", {}, el("span", { class: "name", "data-testid": "suggestion-name", text: s.suggested_level3 }),
    el("span", { class: "value", "data-testid": "suggestion-value", text: s.suggested_value || "（请填写）" })),
  meta.length ? el("div", { class: "meta", text: meta.join(" · ") }) : null,
  examples.length ? el("ul", { class: "examples", title: "相近项目的写法" },
    examples.map((e) => el("li", { text: e }))) : null,
  alternatives.length ? el("div", { class: "alternatives", "data-testid": "alternatives" }, "也可选：",
    alternatives.map((a) => el("button", {
      type: "button", class: "link", "data-testid": "add-alternative",
      onclick: (ev) => addSuggestion({ ...s, ...a, basis: s.basis }, ev.target),
    }, a.suggested_level3 || a.indicator_name))) : null,
  el("button", { type: "button", class: "add", "data-testid": "add-suggestion", onclick: (ev) => addSuggestion(s, ev.target) },
    "添加"));
  return card;
}

function addSuggestion(s, button) {
  cancelSuggest();   // a pending automatic refresh would redraw the list under the next click
  $("#suggestions").dataset.state = "ready";
  state.rows.push(newRow({
    level1: s.level1 || "", level2: s.category || "", level3: s.suggested_level3 || s.indicator_name || "",
    value: s.suggested_value || "", basis: s.basis || "",
  }));
  if (button) {
    button.disabled = true;
    button.textContent = "已添加";
    const card = button.closest(".suggestion");
    if (card && button.classList.contains("add")) card.classList.add("added");
  }
  renderDraft();
  scheduleAudit();
}

let rowCounter = 0;
function newRow(fields) {
  const r = { level1: "", level2: "", level3: "", description: "", value: "", basis: "", findings: [], audited: false };
  Object.assign(r, fields);
  if (multi()) {
    r.project_id = state.current;
    r.project_name = (state.projects.find((p) => p.project_id === state.current) || {}).project_name || "";
  }
  if (!r.location) r.location = `new${++rowCounter}`;
  return r;
}

// ------------------------------------------------------------------ draft table
function levelSelect(row, field, options) {
  const current = row[field] || "";
  const select = el("select", { "data-field": field, "data-testid": `cell-${field}`, "aria-label": FIELD_LABELS[field] });
  const all = [...options];
  if (current && !all.includes(current)) all.unshift(current);   // the clerk's own text, kept as written
  select.append(el("option", { value: "", text: "（请选择）" }));
  for (const o of all) select.append(el("option", { value: o, text: o, selected: o === current }));
  select.value = current;
  select.addEventListener("change", () => {
    row[field] = select.value;
    if (field === "level1") renderDraft();   // the 二级 list follows the 一级
    scheduleAudit();
  });
  return select;
}

function autoGrow(area) {
  area.style.height = "auto";
  area.style.height = `${area.scrollHeight + 2}px`;
}

function renderDraft() {
  const body = $("#draft-body");
  body.replaceChildren();
  const rows = visibleRows();
  rows.forEach((row) => {
    const i = state.rows.indexOf(row);
    const tr = el("tr", { "data-testid": "draft-row", "data-row-index": String(i) });
    for (const field of FIELDS) {
      let input;
      if (field === "level1") input = levelSelect(row, field, LEVEL1_ORDER);
      else if (field === "level2") {
        input = levelSelect(row, field, LEVEL2_OF[row.level1] || LEVEL2_ORDER);
      } else {
        input = el("textarea", {
          rows: "1", "data-field": field, "data-testid": `cell-${field}`, "aria-label": FIELD_LABELS[field],
          maxlength: field === "description" ? "4000" : "500",
        });
        input.value = row[field] || "";
        input.addEventListener("input", () => { row[field] = input.value; autoGrow(input); scheduleAudit(); });
      }
      tr.append(el("td", { class: `col-${field}`, "data-label": FIELD_LABELS[field] }, input));
    }
    tr.append(el("td", { class: "flags", "data-testid": "row-flags", "data-label": "审核提示" }));
    tr.append(el("td", { class: "col-actions" }, el("button", {
      type: "button", title: "删除此行", "data-testid": "delete-row",
      onclick: () => { state.rows.splice(state.rows.indexOf(row), 1); renderDraft(); scheduleAudit(); },
    }, "删除")));
    body.append(tr);
    renderRowFlags(row);
  });
  body.querySelectorAll("textarea").forEach(autoGrow);
  $("#draft-empty").hidden = rows.length > 0;
}

function findingDetail(f) {
  const info = codeInfo(f.code);
  const label = f.label || info.label;
  const severity = f.severity || info.severity;
  const cls = `finding sev-${severity || "none"}`;
  const short = !f.location && f.message;   // a project-level hint says what it is about in one line
  return el("details", { class: cls, "data-testid": "finding-detail", "data-code": f.code },
    el("summary", {}, el("span", { class: "flag", "data-testid": "flag", "data-flag": f.code, text: label }),
      severity ? el("span", { class: "severity", text: severity === "高" ? "须修改" : severity === "中" ? "应修改" : "请核实" }) : null,
      short ? el("span", { class: "summary-text", text: f.message }) : null),
    short ? null : el("p", { class: "explain", "data-testid": "finding-message" }, f.message || info.message.replace(/\{[a-z_0-9]+\}/g, "…")),
    (f.suggestion || info.suggestion) ? el("p", { class: "fix", "data-testid": "finding-fix" },
      el("b", { text: "怎么改：" }), f.suggestion || info.suggestion) : null);
}

function renderRowFlags(row) {
  const i = state.rows.indexOf(row);
  const tr = document.querySelector(`#draft-body tr[data-row-index="${i}"]`);
  if (!tr) return;
  const cell = tr.querySelector("td.flags");
  cell.replaceChildren();
  const findings = row.findings || [];
  for (const f of findings) cell.append(findingDetail(f));
  if (!findings.length && row.audited) cell.append(el("span", { class: "ok", "data-testid": "row-ok", text: "✓ 未发现问题" }));
  tr.classList.toggle("flagged", findings.some((f) => (f.severity || codeInfo(f.code).severity) !== "低"));
  tr.dataset.flags = findings.map((f) => f.code).join(";");
}

// ------------------------------------------------------------------ audit
const scheduleAudit = debounce(runAudit, 400);

function splitFlags(v) {
  if (Array.isArray(v)) return v.filter(Boolean);
  return String(v || "").split(";").map((s) => s.trim()).filter(Boolean);
}

async function runAudit() {
  const seq = ++state.auditSeq;
  const indicator = $("#audit-state");
  if (state.auditAbort) state.auditAbort.abort();
  if (!state.rows.length) {
    state.projectFindings = [];
    renderFindings();
    indicator.dataset.state = "idle";
    indicator.textContent = "";
    return;
  }
  const controller = new AbortController();
  state.auditAbort = controller;
  indicator.dataset.state = "running";
  indicator.textContent = "审核中…";
  const payload = auditPayload();
  try {
    let data;
    try {
      data = await (await postJSON("/audit", payload, controller.signal)).json();
    } catch (err) {
      if (err.status !== 503) throw err;   // audit unavailable: row flags from /normalize
      data = await (await postJSON("/normalize", payload, controller.signal)).json();
    }
    if (seq !== state.auditSeq) return;
    applyAudit(data);
    indicator.dataset.state = "done";
    indicator.textContent = `已审核 ${new Date().toLocaleTimeString("zh-CN")}`;
  } catch (err) {
    if (err.name === "AbortError" || seq !== state.auditSeq) return;
    indicator.dataset.state = "error";
    indicator.textContent = `审核失败：${err.message}`;
    indicator.title = err.detail || "";
  }
}

// Findings are matched to rows by (project, location); the rows were sent in order, so the
// response's rows line up with state.rows.
function applyAudit(data) {
  const byKey = new Map();
  const single = !multi();
  state.rows.forEach((r, i) => {
    const out = (data.rows || [])[i] || {};
    r.findings = [];
    r.audited = true;
    if (!("findings" in data)) {   // /normalize fallback: the row flags only
      r.findings = splitFlags(out.flags).map((code) => ({ code }));
    }
    byKey.set(rowKey(single ? "" : r.project_id, r.location), r);
  });
  state.projectFindings = [];
  for (const f of data.findings || []) {
    const item = { ...f, code: f.code || "finding" };
    const target = f.location && byKey.get(rowKey(single ? "" : f.project_id, f.location));
    if (target) target.findings.push(item);
    else state.projectFindings.push(item);
  }
  visibleRows().forEach(renderRowFlags);
  renderFindings();
  renderProjectPicker();
}

function renderFindings() {
  const box = $("#findings");
  box.replaceChildren();
  const items = state.projectFindings.filter((f) => !multi() || f.project_id === state.current);
  if (!items.length) return;
  const name = multi() ? (state.projects.find((p) => p.project_id === state.current) || {}).project_name
    : projectInfo().project_name;
  box.append(el("h3", { "data-testid": "project-findings-title", text: `整个项目的审核提示：${name || "本项目"}` }),
    el("div", { class: "project-findings" }, items.map((f) => {
      const d = findingDetail(f);
      d.setAttribute("data-testid", "finding");
      return d;
    })));
}

// ------------------------------------------------------------------ projects of an upload
function projectProblemCount(pid) {
  const rowN = state.rows.filter((r) => r.project_id === pid).reduce((n, r) => n + (r.findings || []).length, 0);
  return rowN + state.projectFindings.filter((f) => f.project_id === pid).length;
}

function renderProjectPicker() {
  const wrap = $("#project-picker-wrap");
  const picker = $("#project-picker");
  wrap.hidden = !multi();
  if (!multi()) return;
  picker.replaceChildren();
  state.projects.forEach((p, i) => {
    const n = state.rows.filter((r) => r.project_id === p.project_id).length;
    const problems = projectProblemCount(p.project_id);
    picker.append(el("option", { value: p.project_id, selected: p.project_id === state.current },
      `${i + 1}. ${p.project_name || "未命名项目"}（${n} 条指标，${problems} 个问题）`));
  });
  picker.value = state.current;
}

function selectProject(pid) {
  state.current = pid;
  const p = state.projects.find((x) => x.project_id === pid) || {};
  $("#project-name").value = p.project_name || "";
  $("#project-desc").value = p.purpose || "";
  $("#budget").value = typeof p.budget_wan === "number" ? p.budget_wan : "";
  renderProjectPicker();
  renderDraft();
  renderFindings();
}

function syncProjectFields() {
  if (!multi()) return;
  const p = state.projects.find((x) => x.project_id === state.current);
  if (!p) return;
  const info = projectInfo();
  p.project_name = info.project_name;
  p.purpose = info.description;
  p.budget_wan = info.budget;
  for (const r of state.rows) if (r.project_id === p.project_id) r.project_name = p.project_name;
  scheduleAudit();
}

// ------------------------------------------------------------------ upload / download
async function uploadDraft(file) {
  const form = new FormData();
  form.append("file", file, file.name);
  const msg = $("#upload-msg");
  msg.textContent = `正在读取“${file.name}”…`;
  msg.className = "upload-msg";
  const indicator = $("#audit-state");
  indicator.dataset.state = "running";
  try {
    let resp = await fetch("/audit", { method: "POST", body: form });
    if (resp.status === 503) resp = await fetch("/normalize", { method: "POST", body: form });
    if (!resp.ok) {
      const info = await errorInfo(resp);
      const err = new Error(info.text);
      err.detail = info.detail;
      throw err;
    }
    const data = await resp.json();
    state.auditSeq++;
    state.projects = (data.projects || []).filter((p) => p.project_id);
    state.rows = data.rows.map((r, i) => {
      const row = { findings: [], audited: false };
      for (const f of FIELDS) row[f] = r[f] === null || r[f] === undefined ? "" : String(r[f]);
      row.project_id = r.project_id || "";
      row.project_name = r.project_name || "";
      row.location = r.location || `row${i + 1}`;
      return row;
    });
    if (multi()) {
      state.current = state.projects[0].project_id;
    } else {
      state.projects = [];
      const project = (data.projects || [])[0];
      if (project) {
        if (project.project_name) $("#project-name").value = project.project_name;
        if (project.purpose) $("#project-desc").value = project.purpose;
        if (typeof project.budget_wan === "number") $("#budget").value = project.budget_wan;
      }
    }
    applyAudit(data);
    if (multi()) selectProject(state.current);
    else renderDraft();
    indicator.dataset.state = "done";
    indicator.textContent = `已审核 ${new Date().toLocaleTimeString("zh-CN")}`;
    const extra = (data.failures || []).length ? `（${data.failures.length} 处无法读取）` : "";
    const nProjects = Math.max(1, state.projects.length);
    msg.textContent = `已读入“${file.name}”：${nProjects} 个项目，${data.rows.length} 条指标${extra}`;
    setStatus(msg.textContent);
  } catch (err) {
    indicator.dataset.state = "error";
    msg.textContent = `无法读取“${file.name}”：${err.message}`;
    msg.title = err.detail || "";
    msg.className = "upload-msg error";
    setStatus("");
  }
}

async function downloadDraft() {
  const payload = auditPayload();
  payload.rows = payload.rows.filter((r) => r.level3.trim());
  if (!payload.rows.length) {
    setStatus("草稿为空，无法下载", true);
    return;
  }
  try {
    const resp = await postJSON("/normalize?format=xlsx", payload);
    const blob = await resp.blob();
    const url = URL.createObjectURL(blob);
    const name = multi() ? "绩效目标表" : `${projectInfo().project_name || "草稿"}绩效目标表`;
    const a = el("a", { href: url, download: `${name}.xlsx` });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
    setStatus("已生成 Excel");
  } catch (err) {
    setStatus(`下载失败：${err.message}`, true);
  }
}

// ------------------------------------------------------------------ wiring
function init() {
  $("#project-form").addEventListener("submit", (ev) => { ev.preventDefault(); cancelSuggest(); runSuggest(true); });
  for (const id of ["#project-name", "#project-desc", "#budget"]) {
    $(id).addEventListener("input", () => { $("#suggest-hint").textContent = ""; syncProjectFields(); suggestSoon(); });
  }
  $("#project-picker").addEventListener("change", (ev) => selectProject(ev.target.value));
  $("#add-row").addEventListener("click", () => {
    state.rows.push(newRow({}));
    renderDraft();
    const inputs = document.querySelectorAll('#draft-body textarea[data-field="level3"]');
    if (inputs.length) inputs[inputs.length - 1].focus();
  });
  $("#upload-input").addEventListener("change", (ev) => {
    const file = ev.target.files[0];
    if (file) uploadDraft(file);
    ev.target.value = "";
  });
  $("#download-btn").addEventListener("click", downloadDraft);
  renderDraft();
  fetch("/codes").then((r) => r.json()).then((codes) => {
    for (const c of codes) if (!c.key.includes(".")) state.codes[c.key] = c;
    document.body.dataset.codes = "ready";
  }).catch(() => { document.body.dataset.codes = "error"; });
  fetch("/health").then((r) => r.json()).then((h) => {
    if (!h.models_loaded) setStatus(`模型未加载：${h.detail}`, true);
  }).catch(() => setStatus("服务不可用", true));
}

document.addEventListener("DOMContentLoaded", init);
