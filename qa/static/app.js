// Ask page: POST /ask, render the cited answer. Every piece of server data goes into the page through
// textContent / attributes of elements built here, never through innerHTML: documents are user content.
"use strict";

(function () {
  const $ = (id) => document.getElementById(id);
  const form = $("ask-form");
  const input = $("question");
  const button = $("ask-button");
  const modeLlm = $("mode-llm");

  const TIMING_LABELS = {
    normalise: "规范化", retrieve: "检索", retrieval: "检索", bm25: "关键词检索", dense: "向量检索", embed: "向量化",
    fuse: "融合", rerank: "重排", answer: "作答", llm: "大模型", total: "共计",
  };

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

  function setStatus(text) { $("status").textContent = text; }

  function showError(message) {
    const box = $("error");
    box.replaceChildren(el("strong", null, "出错了："), message);
    box.hidden = false;
    $("result").hidden = true;
  }

  async function ask(question) {
    question = question.trim();
    if (!question) return;
    $("error").hidden = true;
    button.disabled = true;
    setStatus("正在检索知识库…");
    history.replaceState(null, "", "?q=" + encodeURIComponent(question));
    try {
      // Without an LLM option on the page the server's default mode decides.
      const mode = $("mode-option").hidden ? null : (modeLlm.checked ? "llm" : "extractive");
      const payload = { question: question, mode: mode };
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
        const message = data && data.error && data.error.message;
        showError(message || `服务返回错误（HTTP ${response.status}），请稍后再试。`);
        return;
      }
      render(data);
    } finally {
      button.disabled = false;
      setStatus("");
    }
  }

  function render(data) {
    const citations = data.citations || [];
    const passages = data.passages || [];
    $("answer-box").classList.toggle("abstained", Boolean(data.abstained));
    $("answer-heading").textContent = data.abstained ? "知识库中没有找到答案" : "答案";
    $("answer").replaceChildren(...answerNodes(data.answer || "", citations));
    renderModeNote(data);

    $("citations").replaceChildren(...citations.map((c) => citationItem(c, passages)));
    $("citations-heading").hidden = citations.length === 0;

    $("passages").replaceChildren(...passages.map(passageItem));
    const more = $("more-passages");
    more.hidden = passages.length === 0;
    more.open = Boolean(data.abstained);
    more.querySelector("summary").textContent =
      (data.abstained ? "可能相关的资料" : "检索到的相关段落") + `（${passages.length}）`;

    $("timings").textContent = timingsText(data.timings_ms || {});
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

  function timingsText(timings) {
    const parts = [];
    for (const [key, value] of Object.entries(timings)) {
      if (key.startsWith("llm_sentences") || typeof value !== "number") continue;
      parts.push(`${TIMING_LABELS[key] || key} ${Math.round(value)} 毫秒`);
    }
    return parts.length ? "用时：" + parts.join(" · ") : "";
  }

  async function showLlmOption() {
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

  form.addEventListener("submit", (event) => { event.preventDefault(); ask(input.value); });
  input.addEventListener("keydown", (event) => {
    // Enter asks; Shift+Enter is a new line; Enter while an IME composes Chinese only confirms the word.
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      ask(input.value);
    }
  });
  for (const sample of document.querySelectorAll("#samples .sample")) {
    sample.addEventListener("click", () => { input.value = sample.textContent; ask(input.value); });
  }

  // ?q= links (from the case library) fill the box and ask once the page knows the answer modes.
  const prefill = new URLSearchParams(location.search).get("q");
  if (prefill) input.value = prefill;
  showLlmOption().then(() => { if (prefill) ask(prefill); });
})();
