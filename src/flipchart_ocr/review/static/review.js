// The sheet view: keyboard navigation, live diff against the OCR text, saving.
// Plain JS, no build step and nothing from another origin (the page's CSP allows
// only this file). User text only ever reaches the page through textContent.
"use strict";

(function () {
  const page = JSON.parse(document.getElementById("page-data").textContent);
  const statusEl = document.getElementById("status");
  const banner = document.getElementById("banner");
  const bannerText = document.getElementById("banner-text");
  const bannerReload = document.getElementById("banner-reload");
  const reviewedBox = document.getElementById("reviewed");
  const skipBox = document.getElementById("skip");
  const templateSelect = document.getElementById("template");
  const templateHint = document.getElementById("template-hint");

  let version = page.version;
  let saving = false;
  let active = 0;
  let saved = { reviewed: page.reviewed, skip: page.skip, template: page.templateOverride || "" };

  const fields = page.fields.map((state, index) => {
    const section = document.getElementById("field-" + state.id);
    return {
      state,
      index,
      section,
      textarea: section.querySelector("textarea"),
      crop: section.querySelector(".crop"),
      diff: section.querySelector(".diff"),
      origin: section.querySelector(".tag.origin"),
      warnings: section.querySelector(".warnings"),
      suggestion: section.querySelector(".suggestion"),
      saved: state.text,
      box: null,
    };
  });

  // -- text ---------------------------------------------------------------------------

  // The same rule as corrections.canonical_text: NFC, no trailing spaces or blank lines.
  function canonical(text) {
    return text
      .normalize("NFC")
      .replace(/\r\n?/g, "\n")
      .split("\n")
      .map((line) => line.replace(/\s+$/u, ""))
      .join("\n")
      .replace(/\n+$/, "");
  }

  function isFieldDirty(field) {
    return canonical(field.textarea.value) !== field.saved;
  }

  function wantedFlags() {
    return { reviewed: reviewedBox.checked, skip: skipBox.checked, template: templateSelect.value };
  }

  function changedFlags() {
    const wanted = wantedFlags();
    return Object.keys(wanted).filter((key) => wanted[key] !== saved[key]);
  }

  function isDirty() {
    return fields.some(isFieldDirty) || changedFlags().length > 0;
  }

  // -- word diff (OCR -> current text) -----------------------------------------------

  function tokens(text) {
    return text.split(/(\s+)/u).filter((token) => token !== "");
  }

  // Longest common subsequence over words: texts of a field are a few dozen words.
  function wordDiff(before, after) {
    const a = tokens(before);
    const b = tokens(after);
    const n = a.length;
    const m = b.length;
    const table = Array.from({ length: n + 1 }, () => new Uint16Array(m + 1));
    for (let i = n - 1; i >= 0; i--) {
      for (let j = m - 1; j >= 0; j--) {
        table[i][j] = a[i] === b[j] ? table[i + 1][j + 1] + 1 : Math.max(table[i + 1][j], table[i][j + 1]);
      }
    }
    const parts = [];
    let i = 0;
    let j = 0;
    const push = (kind, text) => {
      const last = parts[parts.length - 1];
      if (last && last.kind === kind) last.text += text;
      else parts.push({ kind, text });
    };
    while (i < n && j < m) {
      if (a[i] === b[j]) {
        push("same", a[i]);
        i++;
        j++;
      } else if (table[i + 1][j] >= table[i][j + 1]) {
        push("del", a[i++]);
      } else {
        push("ins", b[j++]);
      }
    }
    while (i < n) push("del", a[i++]);
    while (j < m) push("ins", b[j++]);
    return parts;
  }

  function renderDiff(field) {
    const text = canonical(field.textarea.value);
    const diff = field.diff;
    diff.replaceChildren();
    const caption = document.createElement("span");
    caption.className = "caption";
    if (text === field.state.ocr) {
      caption.textContent = "Same as OCR";
      diff.classList.add("unchanged");
      diff.append(caption);
      return;
    }
    diff.classList.remove("unchanged");
    caption.textContent = "Changes against OCR";
    diff.append(caption);
    const body = document.createElement("div");
    body.className = "diff-body";
    for (const part of wordDiff(field.state.ocr, text)) {
      const tag = part.kind === "same" ? "span" : part.kind;
      const el = document.createElement(tag);
      el.textContent = part.text;
      body.append(el);
    }
    diff.append(body);
  }

  function renderState(field) {
    const corrected = field.state.origin === "corrected";
    field.origin.textContent = corrected ? "corrected" : "OCR";
    field.origin.classList.toggle("ok", corrected);
    field.section.classList.toggle("dirty", isFieldDirty(field));
    field.warnings.replaceChildren(
      ...field.state.warnings.map((warning) => {
        const item = document.createElement("li");
        item.textContent = warning;
        return item;
      }),
    );
    renderDiff(field);
    renderSuggestion(field);
    updateTitle();
  }

  // A suggestion learned from the other sheets' corrections: shown while the text
  // differs from it, applied only when the reviewer asks (Alt+A or the button).
  function renderSuggestion(field) {
    const suggestion = field.state.suggestion;
    const offer = Boolean(suggestion) && canonical(field.textarea.value) !== suggestion;
    field.suggestion.hidden = !offer;
    if (!offer) return;
    field.suggestion.querySelector(".suggested-fixes").textContent = field.state.suggestionFixes
      .map(([oldText, newText]) => oldText + " \u2192 " + newText)
      .join(", ");
  }

  function useSuggestion(field) {
    if (!field || !field.state.suggestion || field.suggestion.hidden) return;
    field.textarea.value = field.state.suggestion;
    field.textarea.dispatchEvent(new Event("input"));
    field.textarea.focus();
  }

  function updateTitle() {
    const mark = isDirty() ? "• " : "";
    document.title = mark + document.title.replace(/^• /, "");
  }

  // -- boxes on the sheet and on the crops ---------------------------------------------

  function percent(value, total) {
    return (100 * value) / total + "%";
  }

  function place(el, box, frame) {
    el.style.left = percent(box[0] - frame[0], frame[2]);
    el.style.top = percent(box[1] - frame[1], frame[3]);
    el.style.width = percent(box[2], frame[2]);
    el.style.height = percent(box[3], frame[3]);
  }

  function drawSheetBoxes() {
    const figure = document.getElementById("sheet-figure");
    if (!page.size) return;
    const frame = [0, 0, page.size[0], page.size[1]];
    for (const field of fields) {
      const box = document.createElement("a");
      box.href = "#field-" + field.state.id;
      box.className = "box" + (field.state.lowLines ? " low" : "");
      box.title = field.state.label || field.state.id;
      box.tabIndex = -1;
      place(box, field.state.box, frame);
      box.addEventListener("click", (event) => {
        event.preventDefault();
        focusField(field.index);
      });
      figure.append(box);
      field.box = box;
    }
  }

  function drawLineBoxes() {
    for (const field of fields) {
      for (const line of field.state.lines) {
        if (!line.low) continue;
        const box = document.createElement("div");
        box.className = "line-box low";
        box.title = "low confidence (" + Math.round(line.confidence) + "): " + line.text;
        place(box, line.bbox, field.state.box);
        field.crop.append(box);
      }
    }
  }

  // -- focus and navigation -------------------------------------------------------------

  function setActive(index) {
    active = index;
    for (const field of fields) {
      const on = field.index === index;
      field.section.classList.toggle("active", on);
      if (field.box) field.box.classList.toggle("active", on);
    }
    // Centre the whole field (crop and text): a shortcut must never land off screen.
    fields[index].section.scrollIntoView({ block: "center", inline: "nearest" });
  }

  function focusField(index) {
    if (!fields.length) return;
    const target = fields[(index + fields.length) % fields.length];
    const textarea = target.textarea;
    if (document.activeElement !== textarea) {
      textarea.focus({ preventScroll: true });
      // a shortcut lands at the end of the text, ready to add or fix the last word
      textarea.setSelectionRange(textarea.value.length, textarea.value.length);
    }
    setActive(target.index); // also when it already had the focus
  }

  function nextLowField() {
    for (let step = 1; step <= fields.length; step++) {
      const candidate = fields[(active + step) % fields.length];
      if (candidate.state.lowLines > 0) {
        focusField(candidate.index);
        return;
      }
    }
    showStatus("No field has low-confidence lines.");
  }

  async function goTo(url) {
    if (!url) {
      showStatus("This is the last sheet in that direction.");
      return;
    }
    if (isDirty() && !(await save())) return;
    window.location.assign(url);
  }

  async function reviewAndNext() {
    reviewedBox.checked = true;
    if (!(await save())) return;
    if (page.nextUrl) window.location.assign(page.nextUrl);
    else window.location.assign(page.overviewUrl);
  }

  // -- saving ----------------------------------------------------------------------------

  function showStatus(message) {
    statusEl.textContent = message;
  }

  function showBanner(message, offerReload) {
    bannerText.textContent = message;
    bannerReload.hidden = !offerReload;
    banner.hidden = false;
  }

  function hideBanner() {
    banner.hidden = true;
  }

  function saveRequest() {
    const body = { version: version, fields: {} };
    for (const field of fields) {
      if (isFieldDirty(field)) body.fields[field.state.id] = field.textarea.value.normalize("NFC");
    }
    const wanted = wantedFlags();
    for (const key of changedFlags()) body[key] = wanted[key];
    return body;
  }

  async function save() {
    if (saving) return false;
    if (!version) {
      showBanner("The corrections file cannot be used (see above); nothing can be saved.", true);
      return false;
    }
    const body = saveRequest();
    const count = Object.keys(body.fields).length;
    if (!count && !changedFlags().length) {
      showStatus("Nothing to save.");
      return true;
    }
    saving = true;
    showStatus("Saving…");
    try {
      const response = await fetch(page.saveUrl, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        credentials: "same-origin",
        body: JSON.stringify(body),
      });
      const result = await response.json().catch(() => ({ error: response.status + " " + response.statusText }));
      if (!response.ok) {
        showStatus("Not saved.");
        showBanner(result.error || "not saved", response.status === 409);
        return false;
      }
      applySaved(result, Object.keys(body.fields));
      hideBanner();
      const what = count ? count + " field" + (count === 1 ? "" : "s") : "sheet settings";
      showStatus(result.changed ? "Saved " + what + "." : "Nothing changed.");
      return true;
    } catch (error) {
      showStatus("Not saved.");
      showBanner("The review server does not answer: is `flipchart-ocr review` still running? (" + error + ")", false);
      return false;
    } finally {
      saving = false;
    }
  }

  function applySaved(result, sentIds) {
    version = result.version;
    saved = { reviewed: result.reviewed, skip: result.skip, template: result.templateOverride || "" };
    reviewedBox.checked = result.reviewed;
    skipBox.checked = result.skip;
    templateSelect.value = saved.template;
    templateHint.hidden = !(saved.template && saved.template !== page.template);
    for (const state of result.fields) {
      const field = fields.find((f) => f.state.id === state.id);
      if (!field) continue;
      field.state = Object.assign(field.state, state);
      field.saved = state.text;
      // The file decides: e.g. a text set back to the OCR shows the file's replacements.
      if (sentIds.includes(state.id) && canonical(field.textarea.value) !== state.text) {
        field.textarea.value = state.text;
      }
      renderState(field);
    }
  }

  // -- keyboard ----------------------------------------------------------------------------

  function onKeyDown(event) {
    const typing = event.target.matches("textarea, input, select");
    const ctrl = event.ctrlKey || event.metaKey;
    if (ctrl && !event.altKey && event.key.toLowerCase() === "s") {
      event.preventDefault();
      save();
      return;
    }
    if (ctrl && event.key === "Enter") {
      event.preventDefault();
      reviewAndNext();
      return;
    }
    if (event.altKey && !ctrl) {
      // event.code, not event.key: Alt+letter types a character on some layouts
      const actions = {
        ArrowDown: () => focusField(active + 1),
        ArrowUp: () => focusField(active - 1),
        PageDown: () => goTo(page.nextUrl),
        PageUp: () => goTo(page.previousUrl),
        KeyA: () => useSuggestion(fields[active]),
        KeyL: nextLowField,
        KeyR: toggleReviewed,
      };
      const action = actions[event.key] || actions[event.code];
      if (action) {
        event.preventDefault();
        action();
      }
      return;
    }
    if (typing) {
      if (event.key === "Escape") event.target.blur();
      return;
    }
    if (ctrl || event.altKey) return;
    const plain = {
      j: () => focusField(active + 1),
      k: () => focusField(active - 1),
      a: () => useSuggestion(fields[active]),
      l: nextLowField,
      n: () => goTo(page.nextUrl),
      p: () => goTo(page.previousUrl),
      r: toggleReviewed,
      Enter: () => focusField(active),
    };
    const action = plain[event.key];
    if (action) {
      event.preventDefault();
      action();
    }
  }

  function toggleReviewed() {
    reviewedBox.checked = !reviewedBox.checked;
    onFlagsChanged();
  }

  function onFlagsChanged() {
    const changed = changedFlags();
    showStatus(changed.length ? "Unsaved: " + changed.join(", ") + " (Ctrl+S saves)" : "");
    templateHint.hidden = !(templateSelect.value && templateSelect.value !== page.template);
    updateTitle();
  }

  // -- start -------------------------------------------------------------------------------

  for (const field of fields) {
    field.textarea.addEventListener("focus", () => setActive(field.index));
    field.textarea.addEventListener("input", () => {
      field.section.classList.toggle("dirty", isFieldDirty(field));
      renderDiff(field);
      renderSuggestion(field);
      updateTitle();
    });
    field.suggestion
      .querySelector(".use-suggestion")
      .addEventListener("click", () => useSuggestion(field));
    renderState(field);
  }
  for (const control of [reviewedBox, skipBox, templateSelect]) {
    control.addEventListener("change", onFlagsChanged);
  }
  document.getElementById("save").addEventListener("click", () => save());
  bannerReload.addEventListener("click", () => window.location.reload());
  document.addEventListener("keydown", onKeyDown);
  window.addEventListener("beforeunload", (event) => {
    if (isDirty()) {
      event.preventDefault();
      event.returnValue = "";
    }
  });
  drawSheetBoxes();
  drawLineBoxes();
  if (fields.length) focusField(0);
})();
