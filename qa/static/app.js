// Ask page: POST /ask, render the cited answer. Every piece of server data goes into the page through
// textContent / attributes of elements built here, never through innerHTML: documents are user content.
"use strict";

(function () {
  const $ = (id) => document.getElementById(id);
  const form = $("ask-form");
  const input = $("question");
  const button = $("ask-button");
  const modeLlm = $("mode-llm");

  const HISTORY_KEY = "jiceng.ask.history";
  const HISTORY_MAX = 12;
  const FILTER_FIELDS = ["kind", "region", "path", "tags"];
  const KIND_LABELS = { case: "案例", policy: "政策文件", user: "上传文件" };
  const TIMING_LABELS = {
    cache: "缓存命中（重复的问题）", normalise: "规范化问题", embed: "问题向量化", dense: "向量检索",
    bm25: "关键词检索", fuse: "结果融合", rank: "排序", retrieve: "检索", retrieval: "检索", rerank: "重排",
    answer: "组织答案", llm: "大模型撰写与核对", total: "共计",
  };

  // Limits of this server (GET /config); until it answers, the usual defaults.
  const limits = { max_question_chars: 500, feedback_note_max_chars: 1000, feedback_max_citations: 20 };
  // The answer on screen, for copying and feedback.
  let current = null;

  // Build an element; `props` are DOM properties (className, href, id, ...), children strings become text.
  function el(tag, props, ...children) {
    const node = document.createElement(tag);
    Object.assign(node, props || {});
    for (const child of children) {
      if (child !== null && child !== undefined) node.append(child);
    }
    return node;
  }

  // Links come from the server; anything but a same-site path (e.g. "javascript:") becomes inert.
  function safeHref(url) { return typeof url === "string" && /^\/(?!\/)/.test(url) ? url : "#"; }

  // Characters as the server counts them (code points), of the text that will be sent.
  function charCount(text) { return Array.from(text.trim()).length; }

  function setStatus(text) { $("status").textContent = text; }

  function showError(message) {
    const box = $("error");
    box.replaceChildren(el("strong", null, "出错了："), message);
    box.hidden = false;
    $("result").hidden = true;
  }

  function errorMessage(data, response) {
    const message = data && data.error && data.error.message;
    return message || `服务返回错误（HTTP ${response.status}），请稍后再试。`;
  }

  // --- question box: counter, limit, empty question -------------------------------------------------

  function questionProblem(question) {
    const n = charCount(question);
    if (n === 0) return "请先输入问题，例如：什么是功德银行？";
    if (n > limits.max_question_chars) {
      return `问题太长：现有 ${n} 字，最多 ${limits.max_question_chars} 字，请删减 ${n - limits.max_question_chars} 字后再提问。`;
    }
    return "";
  }

  function showQuestionMessage(text, kind) {
    const box = $("question-msg");
    box.textContent = text;
    box.dataset.kind = text ? kind || "" : "";
    box.hidden = !text;
    input.classList.toggle("invalid", Boolean(text));
    input.setAttribute("aria-invalid", text ? "true" : "false");
  }

  function updateCounter() {
    const n = charCount(input.value);
    const over = n > limits.max_question_chars;
    const counter = $("counter");
    counter.textContent = `${n} / ${limits.max_question_chars} 字`;
    counter.classList.toggle("over", over);
    // Past the limit say so at once, and take it back once the text fits; nothing is cut off.
    if (over) showQuestionMessage(questionProblem(input.value), "over");
    else if ($("question-msg").dataset.kind === "over" || n > 0) showQuestionMessage("");
  }

  // --- filters -------------------------------------------------------------------------------------

  function selectedFilters() {
    const filters = {};
    for (const field of FILTER_FIELDS) {
      const value = $(`filter-${field}`).value;
      if (value) filters[field] = [value];
    }
    return filters;
  }

  function describeFilters(filters) {
    return Object.entries(filters)
      .map(([field, values]) => values.map((v) => (field === "kind" ? KIND_LABELS[v] || v : v)).join("、"))
      .join(" · ");
  }

  function updateFiltersSummary() {
    const text = describeFilters(selectedFilters());
    $("filters-active").textContent = text ? `（已选：${text}）` : "";
  }

  function fillSelect(field, values, label) {
    const select = $(`filter-${field}`);
    const options = [...values.entries()]
      .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0], "zh-CN"))
      .map(([value, count]) => {
        const option = el("option", { value: value }, `${label ? label(value) : value}（${count}）`);
        return option;
      });
    select.replaceChildren(el("option", { value: "" }, "全部"), ...options);
  }

  // Values offered are those of the indexed documents (GET /documents metadata), with their counts.
  async function loadFilterValues() {
    let documents;
    try {
      const response = await fetch("documents");
      if (!response.ok) return;
      documents = await response.json();
    } catch (err) { return; }
    const counts = { kind: new Map(), region: new Map(), path: new Map(), tags: new Map() };
    const bump = (field, value) => {
      if (typeof value === "string" && value.trim()) counts[field].set(value, (counts[field].get(value) || 0) + 1);
    };
    for (const doc of documents) {
      const meta = doc.metadata || {};
      bump("kind", doc.kind);
      bump("region", meta.region);
      for (const field of ["path", "tags"]) {
        const values = Array.isArray(meta[field]) ? meta[field] : [meta[field]];
        for (const value of values) bump(field, value);
      }
    }
    fillSelect("kind", counts.kind, (v) => KIND_LABELS[v] || v);
    for (const field of ["region", "path", "tags"]) fillSelect(field, counts[field]);
    for (const field of FILTER_FIELDS) {
      const select = $(`filter-${field}`);
      select.disabled = counts[field].size === 0;
      select.addEventListener("change", updateFiltersSummary);
    }
  }

  // --- local history -------------------------------------------------------------------------------

  function readHistory() {
    try {
      const items = JSON.parse(localStorage.getItem(HISTORY_KEY) || "[]");
      return Array.isArray(items) ? items.filter((q) => typeof q === "string" && q) : [];
    } catch (err) { return []; }
  }

  function remember(question) {
    const items = [question, ...readHistory().filter((q) => q !== question)].slice(0, HISTORY_MAX);
    try { localStorage.setItem(HISTORY_KEY, JSON.stringify(items)); } catch (err) { /* storage off: no history */ }
    renderHistory();
  }

  function renderHistory() {
    const items = readHistory();
    $("history").replaceChildren(...items.map((q) => {
      const item = el("button", { type: "button", className: "sample history-item", title: q }, q);
      item.addEventListener("click", () => { input.value = q; updateCounter(); ask(q); });
      return item;
    }));
    $("history-box").hidden = items.length === 0;
  }

  // --- asking --------------------------------------------------------------------------------------

  async function ask(question) {
    const problem = questionProblem(question);
    if (problem) {
      showQuestionMessage(problem, charCount(question) ? "over" : "empty");
      input.focus();
      return;
    }
    question = question.trim();
    showQuestionMessage("");
    $("error").hidden = true;
    button.disabled = true;
    const result = $("result");
    result.classList.add("loading");  // the old answer stays, dimmed, until the new one replaces it
    result.setAttribute("aria-busy", "true");
    const filters = selectedFilters();
    const scope = describeFilters(filters);
    setStatus(scope ? `正在检索知识库（范围：${scope}）…` : "正在检索知识库…");
    history.replaceState(null, "", "?q=" + encodeURIComponent(question));
    try {
      // Without an LLM option on the page the server's default mode decides.
      const mode = $("mode-option").hidden ? null : (modeLlm.checked ? "llm" : "extractive");
      const payload = { question: question, mode: mode };
      if (Object.keys(filters).length) payload.filters = filters;
      let response;
      try {
        response = await fetch("ask", {
          method: "POST",
          headers: { "Content-Type": "application/json" },
          body: JSON.stringify(payload),
        });
      } catch (err) {
        showError("无法连接知识库服务，请检查网络或稍后再试。");
        return;
      }
      let data = null;
      try { data = await response.json(); } catch (err) { /* non-JSON body: message below */ }
      if (!response.ok) {
        showError(errorMessage(data, response));
        return;
      }
      remember(question);
      render(data, question, scope);
    } finally {
      button.disabled = false;
      result.classList.remove("loading");
      result.removeAttribute("aria-busy");
      setStatus("");
    }
  }

  function render(data, question, scope) {
    const citations = data.citations || [];
    const passages = data.passages || [];
    current = { question: question, data: data, scope: scope };
    $("answer-box").classList.toggle("abstained", Boolean(data.abstained));
    $("answer-heading").textContent = data.abstained ? "知识库中没有找到答案" : "答案";
    $("answer").replaceChildren(...answerNodes(data.answer || "", citations));
    renderModeNote(data);
    resetFeedback();

    $("citations").replaceChildren(...citations.map((c) => citationItem(c, passages)));
    $("citations-heading").hidden = citations.length === 0;

    $("passages").replaceChildren(...passages.map(passageItem));
    const more = $("more-passages");
    more.hidden = passages.length === 0;
    more.open = Boolean(data.abstained);
    more.querySelector("summary").textContent =
      (data.abstained ? "可能相关的资料" : "检索到的相关段落") + `（${passages.length}）`;

    renderTimings(data.timings_ms || {});
    $("result").hidden = false;
  }

  // Answer text with each [n] turned into a link to citation n.
  function answerNodes(text, citations) {
    const known = new Set(citations.map((c) => c.n));
    const nodes = [];
    let last = 0;
    for (const match of text.matchAll(/\[(\d+)\]/g)) {
      nodes.push(text.slice(last, match.index));
      const n = Number(match[1]);
      if (known.has(n)) {
        const link = el("a", { className: "marker", href: `#cite-${n}`, title: `查看引文 ${n}` }, `[${n}]`);
        link.dataset.n = String(n);
        link.addEventListener("click", (event) => { event.preventDefault(); focusCitation(n); });
        nodes.push(link);
      } else {
        nodes.push(match[0]);
      }
      last = match.index + match[0].length;
    }
    nodes.push(text.slice(last));
    return nodes;
  }

  function focusCitation(n) {
    const target = $(`cite-${n}`);
    if (!target) return;
    for (const item of document.querySelectorAll(".citation.active")) item.classList.remove("active");
    target.classList.add("active");
    target.scrollIntoView({ behavior: "smooth", block: "center" });
    target.focus({ preventScroll: true });
  }

  // The cited passage with the quote marked; offsets are code points (Python), so slice code points.
  function quotedPassage(citation, passages) {
    const passage = passages.find(
      (p) => p.doc_id === citation.doc_id && p.start <= citation.start && citation.end <= p.end,
    );
    if (passage) {
      const chars = Array.from(passage.text);
      const a = citation.start - passage.start;
      const b = citation.end - passage.start;
      const quote = chars.slice(a, b).join("");
      if (quote === citation.quote) {
        return el("blockquote", { className: "passage-text" },
          chars.slice(0, a).join(""), el("mark", { className: "quote" }, quote), chars.slice(b).join(""));
      }
    }
    return el("blockquote", { className: "passage-text" }, el("mark", { className: "quote" }, citation.quote));
  }

  // Title, then the section path unless it only repeats the title (top-level chunks).
  function titleNodes(item) {
    const nodes = [el("strong", null, item.title || item.doc_id)];
    if (item.section && item.section !== item.title) {
      nodes.push(el("span", { className: "section" }, ` › ${item.section}`));
    }
    return nodes;
  }

  function citationItem(citation, passages) {
    const heading = el("div", { className: "cite-head" },
      el("span", { className: "cite-n" }, `[${citation.n}]`), " ",
      ...titleNodes(citation));
    const link = el("a", { className: "source-link", href: safeHref(citation.url) },
      String(citation.url).startsWith("/library/") ? "在案例库中阅读原文 →" : "查看原文 →");
    const item = el("li", { className: "citation", id: `cite-${citation.n}`, tabIndex: -1 },
      heading, quotedPassage(citation, passages), link);
    item.dataset.docId = citation.doc_id;
    return item;
  }

  function passageItem(passage) {
    return el("li", { className: "passage" },
      el("div", { className: "cite-head" },
        ...titleNodes(passage)),
      el("p", { className: "passage-text" }, passage.text),
      el("a", { className: "source-link", href: safeHref(passage.url) }, "查看原文 →"));
  }

  function renderModeNote(data) {
    const note = $("mode-note");
    const timings = data.timings_ms || {};
    let text = "";
    if (data.mode === "llm") {
      text = "本答案由大模型撰写，每句话都已与所引原文核对。";
      const dropped = timings.llm_sentences_dropped || 0;
      if (dropped > 0) text += `已删去 ${dropped} 句在原文中找不到依据的内容。`;
    } else if (data.mode === "llm-fallback" && !data.abstained) {
      text = "大模型暂不可用或其答案未通过引文核对，以下为直接摘自原文的答案。";
    }
    note.textContent = text;
    note.hidden = !text;
  }

  // Total in the summary line, each stage in Chinese behind the toggle.
  function renderTimings(timings) {
    const stages = Object.entries(timings)
      .filter(([key, value]) => !key.startsWith("llm_sentences") && typeof value === "number" && key !== "total");
    const total = typeof timings.total === "number" ? timings.total : stages.reduce((s, [, v]) => s + v, 0);
    const cached = "cache" in timings;
    $("timings-summary").textContent = `用时 ${formatMs(total)}` + (cached ? "（重复的问题，直接取自缓存）" : "");
    $("timings-list").replaceChildren(...stages.map(([key, value]) =>
      el("li", null, `${TIMING_LABELS[key] || `其他步骤（${key}）`}：${formatMs(value)}`)));
    $("timings").hidden = !(stages.length || typeof timings.total === "number");
  }

  function formatMs(ms) { return ms < 1 ? "不到 1 毫秒" : `${Math.round(ms)} 毫秒`; }

  // --- copy ----------------------------------------------------------------------------------------

  // The answer with its citations as plain text: what a cadre pastes into a report or a chat.
  function answerAsText() {
    if (!current) return "";
    const { data, question, scope } = current;
    const lines = [`问：${question}`];
    if (scope) lines.push(`（检索范围：${scope}）`);
    lines.push(data.abstained ? `答：${data.answer}（知识库中没有找到答案）` : `答：${data.answer}`);
    const citations = data.citations || [];
    if (citations.length) {
      lines.push("", "出处：");
      for (const c of citations) {
        const where = [c.title || c.doc_id, c.section && c.section !== c.title ? c.section : ""].filter(Boolean);
        lines.push(`[${c.n}] ${where.join(" › ")}`, `    「${c.quote}」`);
        if (safeHref(c.url) !== "#") lines.push(`    ${new URL(c.url, location.href).href}`);
      }
    }
    lines.push("", "—— 摘自基层治理知识库");
    return lines.join("\n");
  }

  function copyWithSelection(text) {
    const area = el("textarea", { value: text, readOnly: true, className: "offscreen" });
    document.body.append(area);
    area.select();
    let ok = false;
    try { ok = document.execCommand("copy"); } catch (err) { ok = false; }
    area.remove();
    return ok;
  }

  async function copyAnswer() {
    const text = answerAsText();
    window.jicengAsk.lastCopyText = text;  // what the button copied, for tests and for the curious
    let ok = false;
    if (navigator.clipboard && window.isSecureContext) {
      try { await navigator.clipboard.writeText(text); ok = true; } catch (err) { ok = false; }
    }
    if (!ok) ok = copyWithSelection(text);
    const copy = $("copy-answer");
    copy.textContent = ok ? "已复制 ✓" : "复制失败，请手动选择";
    setTimeout(() => { copy.textContent = "复制答案"; }, 2000);
  }

  // --- feedback ------------------------------------------------------------------------------------

  function resetFeedback() {
    for (const id of ["feedback-up", "feedback-down", "feedback-correct"]) {
      $(id).disabled = false;
      $(id).classList.remove("chosen");
    }
    $("feedback-status").textContent = "";
    $("feedback-form").hidden = true;
    $("feedback-note").value = "";
    updateNoteCounter();
  }

  function updateNoteCounter() {
    const n = charCount($("feedback-note").value);
    const counter = $("note-counter");
    counter.textContent = `${n} / ${limits.feedback_note_max_chars} 字`;
    counter.classList.toggle("over", n > limits.feedback_note_max_chars);
  }

  function openFeedbackForm(required) {
    const formBox = $("feedback-form");
    formBox.hidden = false;
    formBox.dataset.required = required ? "1" : "";
    $("feedback-note").placeholder = required ? "例如：参与率应为 70% 以上，见[1]" : "可不填，直接提交";
    $("feedback-note").focus();
  }

  async function sendFeedback(rating, note) {
    if (!current) return;
    const citations = (current.data.citations || []).slice(0, limits.feedback_max_citations)
      .map((c) => ({ doc_id: c.doc_id, start: c.start, end: c.end, quote: c.quote }));
    const payload = { question: current.question, rating: rating, citations: citations };
    if (note) payload.note = note;
    const status = $("feedback-status");
    status.textContent = "正在提交…";
    let response;
    let data = null;
    try {
      response = await fetch("feedback", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(payload),
      });
      try { data = await response.json(); } catch (err) { /* message below */ }
    } catch (err) {
      status.textContent = "反馈未能提交：无法连接服务，请稍后再试。";
      return;
    }
    if (!response.ok) {
      status.textContent = "反馈未能提交：" + errorMessage(data, response);
      return;
    }
    for (const id of ["feedback-up", "feedback-down", "feedback-correct"]) $(id).disabled = true;
    $(rating === "up" ? "feedback-up" : "feedback-down").classList.add("chosen");
    $("feedback-form").hidden = true;
    status.textContent = rating === "up" ? "谢谢！已记下这个答案有帮助。" : "谢谢！您的意见已提交，将用于改进答案。";
    status.dataset.feedbackId = String(data && data.id);
  }

  $("feedback-up").addEventListener("click", () => sendFeedback("up", ""));
  $("feedback-down").addEventListener("click", () => openFeedbackForm(false));
  $("feedback-correct").addEventListener("click", () => openFeedbackForm(true));
  $("feedback-cancel").addEventListener("click", () => { $("feedback-form").hidden = true; });
  $("feedback-note").addEventListener("input", updateNoteCounter);
  $("feedback-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const note = $("feedback-note").value.trim();
    const status = $("feedback-status");
    if ($("feedback-form").dataset.required && !note) {
      status.textContent = "请写下哪里不对，再提交纠错。";
      return;
    }
    if (charCount(note) > limits.feedback_note_max_chars) {
      status.textContent = `说明太长：最多 ${limits.feedback_note_max_chars} 字，请删减后再提交。`;
      return;
    }
    sendFeedback("down", note);
  });

  // --- start ---------------------------------------------------------------------------------------

  async function loadServerInfo() {
    try {
      const response = await fetch("config");
      if (response.ok) Object.assign(limits, await response.json());
    } catch (err) { /* defaults stay */ }
    updateCounter();
    updateNoteCounter();
    try {
      const response = await fetch("healthz");
      const health = await response.json();
      const llm = health && health.llm;
      if (llm && llm.configured) {
        $("mode-option").hidden = false;
        modeLlm.checked = llm.default_mode === "llm";
        if (!llm.reachable) $("mode-option").append("（当前连接不上，将显示摘录式答案）");
      }
    } catch (err) { /* health is optional for the page */ }
  }

  window.jicengAsk = { lastCopyText: "", answerAsText: answerAsText, limits: limits };

  form.addEventListener("submit", (event) => { event.preventDefault(); ask(input.value); });
  input.addEventListener("input", updateCounter);
  input.addEventListener("keydown", (event) => {
    // Enter asks; Shift+Enter is a new line; Enter while an IME composes Chinese only confirms the word.
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      ask(input.value);
    }
  });
  for (const sample of document.querySelectorAll("#samples .sample")) {
    sample.addEventListener("click", () => { input.value = sample.textContent; updateCounter(); ask(input.value); });
  }
  $("copy-answer").addEventListener("click", copyAnswer);
  $("filters-clear").addEventListener("click", () => {
    for (const field of FILTER_FIELDS) $(`filter-${field}`).value = "";
    updateFiltersSummary();
  });
  $("history-clear").addEventListener("click", () => {
    try { localStorage.removeItem(HISTORY_KEY); } catch (err) { /* nothing stored */ }
    renderHistory();
  });

  renderHistory();
  updateCounter();
  loadFilterValues();
  // ?q= links (from the case library) fill the box and ask once the page knows its limits and answer modes.
  const prefill = new URLSearchParams(location.search).get("q");
  if (prefill) { input.value = prefill; updateCounter(); }
  loadServerInfo().then(() => { if (prefill) ask(prefill); });
})();
