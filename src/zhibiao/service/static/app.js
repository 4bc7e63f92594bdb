// 绩效目标起草助手: plain JS, no build step. Talks to /suggest, /audit, /normalize.
"use strict";

const FLAG_LABELS = {
  category_mismatch: "二级指标与内容不符",
  unit_mismatch: "计量单位与指标不符",
  missing_value: "缺少指标值",
  not_measurable: "指标值不可衡量",
  unmatched_indicator: "未匹配标准指标",
  template_copy: "疑似照搬模板",
  copy_paste: "疑似复制粘贴",
  implausible_value: "数值不合理",
  unusual_for_project: "与项目类型不常见",
  missing_category: "缺少必填类别",
  duplicate_indicator: "指标重复",
  blank_name: "缺少指标名称",
};
const INFO_FLAGS = new Set(["unmatched_indicator", "unusual_for_project"]);
const FIELDS = [
  ["level1", "col-l1"], ["level2", "col-l2"], ["level3", "col-l3"],
  ["description", "col-desc"], ["value", "col-value"], ["basis", "col-basis"],
];
const LEVEL1_ORDER = ["产出指标", "成本指标", "效益指标", "满意度指标"];
const LEVEL2_ORDER = ["数量指标", "质量指标", "时效指标", "成本指标", "经济成本指标", "社会成本指标",
  "生态环境成本指标", "经济效益指标", "社会效益指标", "生态效益指标", "可持续影响指标", "服务对象满意度指标"];

const state = { rows: [], findings: [], auditSeq: 0, suggestSeq: 0 };
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

function debounce(fn, ms) {
  let t = null;
  return (...args) => { clearTimeout(t); t = setTimeout(() => fn(...args), ms); };
}

function setStatus(text, isError = false) {
  const s = $("#status");
  s.textContent = text || "";
  s.title = text || "";
  s.classList.toggle("error", !!isError);
}

const STATUS_TEXT = {
  413: "内容过大（上传文件不超过 10 MB）",
  415: "文件类型不支持（请上传 .xlsx / .xls / .csv / .docx / .txt）",
  422: "内容无法读取或填写有误",
  503: "模型未加载，请先运行 zhibiao train",
};

// A Chinese summary for the clerk, then the service's one-line detail.
async function errorText(resp) {
  let detail = "";
  try {
    const body = await resp.json();
    const d = body.detail;
    if (typeof d === "string") detail = d;
    else if (Array.isArray(d)) detail = d.map((e) => `${(e.loc || []).slice(1).join(".")}: ${e.msg}`).join("；");
    else detail = JSON.stringify(body);
  } catch (_) {
    detail = `HTTP ${resp.status}`;
  }
  const zh = STATUS_TEXT[resp.status] || `服务出错（HTTP ${resp.status}）`;
  return `${zh}。${detail}`;
}

async function postJSON(url, payload) {
  const resp = await fetch(url, {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(payload),
  });
  if (!resp.ok) {
    const err = new Error(await errorText(resp));
    err.status = resp.status;
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

function draftPayloadRows() {
  return state.rows.map((r, i) => ({
    level1: r.level1 || "", level2: r.level2 || "", level3: r.level3 || "",
    description: r.description || "", value: r.value || "", basis: r.basis || "",
    location: `row${i + 1}`,
  }));
}

// ------------------------------------------------------------------ suggestions
async function runSuggest() {
  const info = projectInfo();
  const text = info.project_name || info.description;
  const box = $("#suggestions");
  if (!text) {
    box.dataset.state = "idle";
    return;
  }
  const seq = ++state.suggestSeq;
  box.dataset.state = "loading";
  setStatus("正在生成建议…");
  try {
    const payload = { text, description: info.project_name ? info.description : "", k: 12 };
    if (info.budget !== null) payload.budget = info.budget;
    const rows = draftPayloadRows().filter((r) => r.level3.trim());
    if (rows.length) payload.draft = rows;
    const resp = await postJSON("/suggest", payload);
    const data = await resp.json();
    if (seq !== state.suggestSeq) return;
    renderSuggestions(data);
    box.dataset.state = "ready";
    setStatus(`已生成 ${data.suggestions.length} 条建议`);
  } catch (err) {
    if (seq !== state.suggestSeq) return;
    box.dataset.state = "error";
    setStatus(`建议失败：${err.message}`, true);
  }
}

function renderSuggestions(data) {
  const box = $("#suggestions");
  box.replaceChildren();
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
  const nb = $("#neighbours");
  nb.replaceChildren();
  if (data.neighbours && data.neighbours.length) {
    nb.append(el("div", { text: "相似的历史项目：" }),
      el("ol", {}, data.neighbours.slice(0, 5).map((n) =>
        el("li", { "data-testid": "neighbour" }, `${n.project_name}（相似度 ${n.score.toFixed(2)}）`))));
  }
}

function rank(name, order = LEVEL1_ORDER) {
  const i = order.indexOf(name);
  return i < 0 ? order.length : i;
}

function suggestionCard(s) {
  const examples = (s.examples || []).slice(0, 3);
  const card = el("div", {
    class: "suggestion", "data-testid": "suggestion", "data-indicator-id": s.indicator_id,
    "data-category": s.category,
  },
  el("div", {}, el("span", { class: "name", "data-testid": "suggestion-name", text: s.suggested_level3 }),
    el("span", { class: "value", "data-testid": "suggestion-value", text: s.suggested_value || "（定性）" })),
  el("div", { class: "meta" },
    `依据：${s.basis || "—"} · 标准指标：${s.indicator_name || "—"} · 得分 ${Number(s.score).toFixed(2)} · `
    + `${s.support} 个相似项目采用`),
  examples.length ? el("ul", { class: "examples", title: "来自相似项目" },
    examples.map((e) => el("li", { text: e }))) : null,
  el("button", { type: "button", "data-testid": "add-suggestion", onclick: (ev) => addSuggestion(s, ev.target) },
    "添加"));
  return card;
}

function addSuggestion(s, button) {
  state.rows.push({
    level1: s.level1 || "", level2: s.category || "", level3: s.suggested_level3 || s.indicator_name || "",
    description: "", value: s.suggested_value || "", basis: s.basis || "", flags: [], findings: [],
  });
  if (button) {
    button.disabled = true;
    button.textContent = "已添加";
    button.closest(".suggestion").classList.add("added");
  }
  renderDraft();
  scheduleAudit();
}

// ------------------------------------------------------------------ draft table
function renderDraft() {
  const body = $("#draft-body");
  body.replaceChildren();
  state.rows.forEach((row, i) => {
    const tr = el("tr", { "data-testid": "draft-row", "data-row-index": String(i) });
    for (const [field, cls] of FIELDS) {
      const input = el("input", {
        type: "text", value: row[field] || "", "data-field": field, "data-testid": `cell-${field}`,
        "aria-label": field, maxlength: field === "description" ? "4000" : "500",
      });
      input.addEventListener("input", () => { row[field] = input.value; scheduleAudit(); });
      tr.append(el("td", { class: cls }, input));
    }
    tr.append(el("td", { class: "flags", "data-testid": "row-flags" }));
    tr.append(el("td", {}, el("button", {
      type: "button", title: "删除此行", "data-testid": "delete-row",
      onclick: () => { state.rows.splice(i, 1); renderDraft(); scheduleAudit(); },
    }, "删除")));
    body.append(tr);
    renderRowFlags(i);
  });
  $("#draft-empty").hidden = state.rows.length > 0;
}

function renderRowFlags(i) {
  const tr = document.querySelector(`#draft-body tr[data-row-index="${i}"]`);
  if (!tr) return;
  const row = state.rows[i];
  const cell = tr.querySelector("td.flags");
  cell.replaceChildren();
  const codes = [...new Set([...(row.flags || []), ...(row.findings || []).map((f) => f.code)])];
  const serious = codes.filter((c) => !INFO_FLAGS.has(c));
  for (const code of codes) {
    const finding = (row.findings || []).find((f) => f.code === code);
    cell.append(el("span", {
      class: INFO_FLAGS.has(code) ? "flag info" : "flag", "data-flag": code, "data-testid": "flag",
      title: finding ? [finding.message, finding.suggestion].filter(Boolean).join("\n建议：") : code,
      text: (finding && finding.label) || FLAG_LABELS[code] || code,
    }));
  }
  if (!codes.length && row.audited) cell.append(el("span", { class: "ok", text: "✓ 通过" }));
  tr.classList.toggle("flagged", serious.length > 0);
  tr.dataset.flags = codes.join(";");
}

// ------------------------------------------------------------------ audit
const scheduleAudit = debounce(runAudit, 400);

function splitFlags(v) {
  if (Array.isArray(v)) return v.filter(Boolean);
  return String(v || "").split(";").map((s) => s.trim()).filter(Boolean);
}

function findingCode(f) {
  return f.code || f.flag || f.check || f.kind || f.type || "finding";
}

function findingMessage(f) {
  const msg = f.message || f.detail || f.explanation || "";
  return f.suggestion ? `${msg}（建议：${f.suggestion}）` : msg;
}

async function runAudit() {
  const seq = ++state.auditSeq;
  const indicator = $("#audit-state");
  const rows = draftPayloadRows();
  if (!rows.length) {
    state.findings = [];
    renderFindings();
    indicator.dataset.state = "idle";
    indicator.textContent = "";
    return;
  }
  indicator.dataset.state = "running";
  indicator.textContent = "审核中…";
  const payload = { ...projectInfo(), rows };
  try {
    let data;
    try {
      data = await (await postJSON("/audit", payload)).json();
    } catch (err) {
      if (err.status !== 503) throw err;   // audit unavailable: row flags from /normalize
      data = await (await postJSON("/normalize", payload)).json();
    }
    if (seq !== state.auditSeq) return;
    applyAudit(data, (r, i) => `row${i + 1}`);
    indicator.dataset.state = "done";
    indicator.textContent = `已审核 ${new Date().toLocaleTimeString("zh-CN")}`;
  } catch (err) {
    if (seq !== state.auditSeq) return;
    indicator.dataset.state = "error";
    indicator.textContent = `审核失败：${err.message}`;
  }
}

function applyAudit(data, locationOf) {
  const byLocation = new Map();
  const outByLocation = new Map((data.rows || []).map((o) => [o.location, o]));
  state.rows.forEach((r, i) => {
    const loc = locationOf(r, i);
    const out = (loc && outByLocation.get(loc)) || data.rows[i] || {};
    r.flags = splitFlags(out.flags);
    r.findings = [];
    r.audited = true;
    byLocation.set(loc || out.location, r);
  });
  state.findings = [];
  for (const f of data.findings || []) {
    const item = { ...f, code: findingCode(f), message: findingMessage(f) };
    const target = f.location && byLocation.get(f.location);
    if (target) target.findings.push(item);
    else state.findings.push(item);
  }
  state.rows.forEach((_, i) => renderRowFlags(i));
  renderFindings();
}

function renderFindings() {
  const box = $("#findings");
  box.replaceChildren();
  if (!state.findings.length) return;
  box.append(el("h3", { text: "项目层面的审核提示" }),
    el("ul", {}, state.findings.map((f) => el("li", { "data-testid": "finding", "data-flag": f.code },
      el("span", { class: INFO_FLAGS.has(f.code) ? "flag info" : "flag",
        text: f.label || FLAG_LABELS[f.code] || f.code }),
      f.severity ? el("span", { class: "severity", text: `【${f.severity}】` }) : null,
      " ", f.message || ""))));
}

// ------------------------------------------------------------------ upload / download
async function uploadDraft(file) {
  const form = new FormData();
  form.append("file", file, file.name);
  setStatus(`正在读取 ${file.name}…`);
  const indicator = $("#audit-state");
  indicator.dataset.state = "running";
  try {
    let resp = await fetch("/audit", { method: "POST", body: form });
    if (resp.status === 503) resp = await fetch("/normalize", { method: "POST", body: form });
    if (!resp.ok) throw new Error(await errorText(resp));
    const data = await resp.json();
    state.auditSeq++;
    state.rows = data.rows.map((r) => ({
      level1: r.level1 || "", level2: r.level2 || "", level3: r.level3 || "",
      description: r.description || "", value: r.value || "", basis: r.basis || "",
    }));
    const project = (data.projects || [])[0];
    if (project) {
      if (!$("#project-name").value.trim() && project.project_name) $("#project-name").value = project.project_name;
      if (!$("#project-desc").value.trim() && project.purpose) $("#project-desc").value = project.purpose;
      if (!$("#budget").value && project.budget_wan !== null && project.budget_wan !== undefined) {
        $("#budget").value = project.budget_wan;
      }
    }
    renderDraft();
    applyAudit(data, (r, i) => (data.rows[i] || {}).location);
    indicator.dataset.state = "done";
    indicator.textContent = `已审核 ${new Date().toLocaleTimeString("zh-CN")}`;
    const extra = (data.failures || []).length ? `（${data.failures.length} 处无法读取）` : "";
    setStatus(`已读入 ${data.rows.length} 条指标${extra}`);
  } catch (err) {
    indicator.dataset.state = "error";
    setStatus(`上传失败：${err.message}`, true);
  }
}

async function downloadDraft() {
  const rows = draftPayloadRows().filter((r) => r.level3.trim());
  if (!rows.length) {
    setStatus("草稿为空，无法下载", true);
    return;
  }
  try {
    const resp = await postJSON("/normalize?format=xlsx", { ...projectInfo(), rows });
    const blob = await resp.blob();
    const url = URL.createObjectURL(blob);
    const a = el("a", { href: url, download: `${projectInfo().project_name || "草稿"}绩效目标表.xlsx` });
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
  const suggestSoon = debounce(runSuggest, 600);
  $("#project-form").addEventListener("submit", (ev) => { ev.preventDefault(); runSuggest(); });
  $("#project-name").addEventListener("input", suggestSoon);
  $("#project-desc").addEventListener("input", suggestSoon);
  $("#budget").addEventListener("input", suggestSoon);
  $("#add-row").addEventListener("click", () => {
    state.rows.push({ level1: "", level2: "", level3: "", description: "", value: "", basis: "" });
    renderDraft();
    const inputs = document.querySelectorAll('#draft-body input[data-field="level3"]');
    if (inputs.length) inputs[inputs.length - 1].focus();
  });
  $("#upload-input").addEventListener("change", (ev) => {
    const file = ev.target.files[0];
    if (file) uploadDraft(file);
    ev.target.value = "";
  });
  $("#download-btn").addEventListener("click", downloadDraft);
  renderDraft();
  fetch("/health").then((r) => r.json()).then((h) => {
    if (!h.models_loaded) setStatus(`模型未加载：${h.detail}`, true);
  }).catch(() => setStatus("服务不可用", true));
}

document.addEventListener("DOMContentLoaded", init);
