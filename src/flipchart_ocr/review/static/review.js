// The sheet view: editing, saving on its own, drafts that survive, conflicts shown, keyboard.
// Plain JS, no build step and nothing from another origin (the page's CSP allows
// only this file). User text only ever reaches the page through textContent.
//
// Never lose a keystroke:
// - every edit is kept in localStorage (a draft per field, with the text it was
//   made against) until the file holds it: a reload, a crash or a refused save
//   loses nothing, and the next visit restores it;
// - saves run one after another; a save sends each field's text and its base
//   (what this page last had from the file), and the answer only marks a field
//   saved if its text is still what was sent: typing during a save stays unsaved;
// - a field changed elsewhere meanwhile (a second tab, an editor) is a conflict:
//   both texts stay on screen until the reviewer chooses;
// - single keys never act: outside a text box, typing goes into the current field.
"use strict";

(function () {
  const page = JSON.parse(document.getElementById("page-data").textContent);
  const AUTOSAVE_MS = 1000; // after typing stops
  const POLL_MS = 2500;
  const RETRY_MS = 5000; // a save the server did not answer is tried again // how often the page asks whether the file or the sheet changed
  const NOTICE_KEY = page.storageKey + ":notice"; // a notice to show after a reload
  const byId = (id) => document.getElementById(id);
  const statusEl = byId("status");
  const banner = byId("banner");
  const bannerText = byId("banner-text");
  const bannerReload = byId("banner-reload");
  const notice = byId("notice");
  const noticeText = byId("notice-text");
  const reviewedBox = byId("reviewed");
  const skipBox = byId("skip");
  const templateSelect = byId("template");
  const templateHint = byId("template-hint");

  let version = page.version;
  let sheetStamp = page.sheetStamp;
  let active = 0;
  let saved = { reviewed: page.reviewed, skip: page.skip, template: page.templateOverride || "" };
  let autosaveTimer = null;
  let queue = Promise.resolve(true);
  let lastKeyAt = 0;
  let reloadWanted = false;

  const fields = page.fields.map((state, index) => {
    const section = byId("field-" + state.id);
    return {
      state,
      index,
      section,
      textarea: section.querySelector("textarea"),
      crop: section.querySelector(".crop"),
      ocr: section.querySelector(".ocr"),
      diff: section.querySelector(".diff"),
      origin: section.querySelector(".tag.origin"),
      warnings: section.querySelector(".warnings"),
      fixes: section.querySelector(".fixes"),
      conflictBox: section.querySelector(".conflict"),
      base: state.text, // the field's text in the file, as this page last had it
      conflict: null, // {theirs, yours} while both are shown
      box: null,
    };
  });
  const fieldById = (id) => fields.find((f) => f.state.id === id);

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
    return canonical(field.textarea.value) !== field.base;
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

  // Whole-word matches of `word` in `text`: [start, end] pairs.
  function wordMatches(text, word) {
    const escaped = word.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
    const pattern = new RegExp("(?<![\\p{L}\\p{N}_])" + escaped + "(?![\\p{L}\\p{N}_])", "gu");
    return Array.from(text.matchAll(pattern), (m) => [m.index, m.index + m[0].length]);
  }

  // Change the text box as typing would: the browser's undo (Ctrl+Z) takes it back.
  function typeInto(field, start, end, text) {
    const textarea = field.textarea;
    textarea.focus({ preventScroll: true });
    textarea.setSelectionRange(start, end);
    if (!document.execCommand("insertText", false, text)) {
      textarea.setRangeText(text, start, end, "end"); // no undo, but never lost
      textarea.dispatchEvent(new Event("input"));
    }
  }

  // -- drafts: unsaved text kept in this browser until the file has it ------------------

  const drafts = {
    key: page.storageKey + ":" + page.sheetId,
    read() {
      try {
        return JSON.parse(localStorage.getItem(this.key) || "{}");
      } catch (error) {
        return {};
      }
    },
    write(all) {
      try {
        if (Object.keys(all).length) localStorage.setItem(this.key, JSON.stringify(all));
        else localStorage.removeItem(this.key);
      } catch (error) {
        showBanner("Cannot keep unsaved text in this browser (" + error + "); save often.", false);
      }
    },
    keep(field) {
      const all = this.read();
      all[field.state.id] = { text: field.textarea.value, base: field.base, at: Date.now() };
      this.write(all);
    },
    // Only a draft this very text made: another tab may have kept a newer one.
    drop(fieldId, text) {
      const all = this.read();
      if (all[fieldId] && (text === undefined || canonical(all[fieldId].text) === canonical(text))) {
        delete all[fieldId];
        this.write(all);
      }
    },
  };

  function restoreDrafts() {
    const all = drafts.read();
    let restored = 0;
    const orphans = [];
    for (const [fieldId, draft] of Object.entries(all)) {
      const field = fieldById(fieldId);
      if (!field) {
        orphans.push([fieldId, draft.text]);
        continue;
      }
      if (canonical(draft.text) === field.base) {
        drafts.drop(fieldId);
        continue;
      }
      field.textarea.value = draft.text;
      restored++;
      if (canonical(draft.base) !== field.base) {
        setConflict(field, field.base, draft.text); // the file changed since the draft began
      }
    }
    showOrphans(orphans);
    if (restored) {
      showNotice(
        "Restored unsaved text of " + restored + " field" + (restored === 1 ? "" : "s") +
          " kept in this browser; it is saved now unless it clashes with the file.",
      );
      scheduleAutosave(0);
    }
  }

  function showOrphans(orphans) {
    const box = byId("orphans");
    const list = byId("orphan-list");
    list.replaceChildren(
      ...orphans.map(([fieldId, text]) => {
        const item = document.createElement("li");
        const name = document.createElement("strong");
        name.textContent = fieldId + ": ";
        const body = document.createElement("pre");
        body.textContent = text;
        body.lang = "de";
        item.append(name, body);
        return item;
      }),
    );
    box.hidden = !orphans.length;
    byId("orphans-drop").onclick = () => {
      for (const [fieldId] of orphans) drafts.drop(fieldId);
      box.hidden = true;
    };
  }

  // -- conflicts --------------------------------------------------------------------------

  function setConflict(field, theirs, yours) {
    field.conflict = { theirs, yours };
    field.conflictBox.querySelector(".theirs").textContent = theirs || "(empty)";
    field.conflictBox.querySelector(".yours").textContent = yours || "(empty)";
    field.conflictBox.hidden = false;
    field.section.classList.add("clash");
  }

  function clearConflict(field) {
    field.conflict = null;
    field.conflictBox.hidden = true;
    field.section.classList.remove("clash");
  }

  function useTheirs(field) {
    const theirs = field.conflict.theirs;
    field.base = theirs;
    clearConflict(field);
    typeInto(field, 0, field.textarea.value.length, theirs);
  }

  function keepMine(field) {
    field.base = field.conflict.theirs; // saved over what the file has now, knowingly
    clearConflict(field);
    drafts.keep(field);
    renderState(field);
    save();
  }

  // -- showing a field ----------------------------------------------------------------------

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
      const el = document.createElement(part.kind === "same" ? "span" : part.kind);
      el.textContent = part.text;
      body.append(el);
    }
    diff.append(body);
  }

  // What OCR read, word by word: doubtful words marked by a sign as well as colour, and
  // a word a word list chose shown with what the reader saw.
  function renderOcr(field) {
    const box = field.ocr;
    const caption = document.createElement("span");
    caption.className = "caption";
    caption.textContent = "OCR";
    const lines = field.state.lines.map((line) => {
      const row = document.createElement("div");
      row.className = "line" + (line.low ? " low" : "");
      row.title = "confidence " + Math.round(line.confidence);
      const words = line.words.length ? line.words : [{ text: line.text, low: false, readAs: null }];
      words.forEach((word, i) => {
        if (i) row.append(" ");
        const span = document.createElement("span");
        span.className = "word" + (word.low ? " low" : "") + (word.readAs ? " replaced" : "");
        if (word.low) {
          const hint = document.createElement("span");
          hint.className = "visually-hidden";
          hint.textContent = "doubtful: ";
          span.append(hint);
        }
        span.append(word.text);
        if (word.confidence !== undefined) span.title = "confidence " + Math.round(word.confidence);
        if (word.readAs) {
          const seen = document.createElement("small");
          seen.className = "read-as";
          seen.textContent = " (read: " + word.readAs + ")";
          span.append(seen);
          span.title += "; the word list changed what the reader saw, " + word.readAs;
        }
        row.append(span);
      });
      return row;
    });
    if (!lines.length) {
      const empty = document.createElement("div");
      empty.className = "line empty";
      empty.textContent = "(nothing read)";
      lines.push(empty);
    }
    box.replaceChildren(caption, ...lines);
  }

  // Each fix learned from other sheets on its own line, while the text still has its word.
  function renderFixes(field) {
    const list = field.fixes.querySelector("ul");
    const text = field.textarea.value;
    const offered = field.state.fixes.filter((fix) => wordMatches(text, fix.old).length);
    list.replaceChildren(
      ...offered.map((fix) => {
        const item = document.createElement("li");
        const what = document.createElement("span");
        what.textContent = fix.old + " \u2192 " + fix.new;
        const button = document.createElement("button");
        button.type = "button";
        button.className = "use-fix";
        button.textContent = "Use it";
        button.setAttribute("aria-label", "Replace " + fix.old + " by " + fix.new);
        button.addEventListener("click", () => useFix(field, fix));
        item.append(what, " ", button);
        return item;
      }),
    );
    field.fixes.hidden = !offered.length;
    field.offered = offered;
  }

  function useFix(field, fix) {
    const text = field.textarea.value;
    const matches = wordMatches(text, fix.old);
    if (!matches.length) return;
    const start = matches[0][0];
    const end = matches[matches.length - 1][1];
    // one edit for all of them, so one Ctrl+Z takes the fix back
    typeInto(field, start, end, replaceWords(text.slice(start, end), fix.old, fix.new));
    showStatus("Used " + fix.old + " \u2192 " + fix.new + " (Ctrl+Z undoes it).");
  }

  function replaceWords(text, old, replacement) {
    let out = "";
    let last = 0;
    for (const [start, end] of wordMatches(text, old)) {
      out += text.slice(last, start) + replacement;
      last = end;
    }
    return out + text.slice(last);
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
    field.textarea.readOnly = !field.state.editable;
    field.section.querySelector(".readonly-note").hidden = field.state.editable;
    renderDiff(field);
    renderFixes(field);
    updateTitle();
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
    const figure = byId("sheet-figure");
    figure.querySelectorAll(".box").forEach((box) => box.remove());
    if (!page.size) return;
    const frame = [0, 0, page.size[0], page.size[1]];
    for (const field of fields) {
      // a mouse shortcut to the field; keyboard users have Alt+arrows and Tab
      const box = document.createElement("a");
      box.href = "#field-" + field.state.id;
      box.className = "box" + (field.state.lowLines ? " low" : "");
      box.title = field.state.label || field.state.id;
      box.tabIndex = -1;
      box.setAttribute("aria-hidden", "true");
      place(box, field.state.box, frame);
      box.addEventListener("click", (event) => {
        event.preventDefault();
        focusField(field.index);
      });
      figure.append(box);
      field.box = box;
    }
  }

  function drawLineBoxes(field) {
    field.crop.querySelectorAll(".line-box").forEach((box) => box.remove());
    for (const line of field.state.lines) {
      if (!line.low) continue;
      const box = document.createElement("div");
      box.className = "line-box low";
      box.title = "low confidence (" + Math.round(line.confidence) + "): " + line.text;
      place(box, line.bbox, field.state.box);
      field.crop.append(box);
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

  // Select the next doubtful word after the caret, in this field or the ones after it.
  function nextDoubtfulWord() {
    for (let step = 0; step <= fields.length; step++) {
      const field = fields[(active + step) % fields.length];
      const from = step === 0 ? field.textarea.selectionEnd : 0;
      const found = field.state.doubtful
        .flatMap((word) => wordMatches(field.textarea.value, word).map((m) => [...m, word]))
        .filter(([start]) => start >= from)
        .sort((a, b) => a[0] - b[0])[0];
      if (found) {
        const [start, end, word] = found;
        field.textarea.focus({ preventScroll: true });
        field.textarea.setSelectionRange(start, end);
        setActive(field.index);
        showStatus(describeWord(field, word));
        return;
      }
    }
    showStatus("No doubtful word left in the text.");
  }

  function describeWord(field, text) {
    for (const line of field.state.lines) {
      const word = line.words.find((w) => w.text === text);
      if (!word) continue;
      const sure = "read with confidence " + Math.round(word.confidence);
      return word.readAs
        ? "\u201c" + text + "\u201d: a word list chose it; the reader saw \u201c" + word.readAs + "\u201d (" + sure + ")."
        : "\u201c" + text + "\u201d: " + sure + ".";
    }
    return "\u201c" + text + "\u201d";
  }

  function toggleZoom(field) {
    const on = field.section.classList.toggle("zoomed");
    field.section.querySelector(".zoom-crop").setAttribute("aria-pressed", String(on));
    if (on) field.crop.scrollIntoView({ block: "nearest" });
  }

  function toggleSheetZoom() {
    const on = byId("layout").classList.toggle("sheet-zoomed");
    byId("zoom-sheet").setAttribute("aria-pressed", String(on));
  }

  async function goTo(url, what) {
    if (!url) {
      showStatus(what || "This is the last sheet in that direction.");
      return;
    }
    if (isDirty() && !(await save())) return;
    window.location.assign(url);
  }

  async function reviewAndNext() {
    reviewedBox.checked = true;
    onFlagsChanged();
    if (!(await save())) return;
    window.location.assign(page.nextToReviewUrl || page.overviewUrl);
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

  function showNotice(message) {
    noticeText.textContent = message;
    notice.hidden = false;
  }

  function scheduleAutosave(delay) {
    clearTimeout(autosaveTimer);
    autosaveTimer = setTimeout(save, delay === undefined ? AUTOSAVE_MS : delay);
  }

  // Saves run one after another; each sends what is unsaved when it starts.
  function save() {
    clearTimeout(autosaveTimer);
    queue = queue.then(saveOnce, saveOnce);
    return queue;
  }

  function saveRequest() {
    const body = { fields: {} };
    for (const field of fields) {
      if (field.conflict || !field.state.editable || !isFieldDirty(field)) continue;
      body.fields[field.state.id] = { text: field.textarea.value.normalize("NFC"), base: field.base };
    }
    const wanted = wantedFlags();
    for (const key of changedFlags()) body[key] = wanted[key];
    if ("template" in body) body.templateBase = saved.template;
    return body;
  }

  async function saveOnce() {
    if (!version) {
      showBanner("The corrections file cannot be used (see above); nothing can be saved.", true);
      return false;
    }
    const body = saveRequest();
    const count = Object.keys(body.fields).length;
    const flags = changedFlags();
    if (!count && !flags.length) {
      const clashes = fields.filter((f) => f.conflict).length;
      showStatus(clashes ? "Choose a text where both are shown." : isDirty() ? "" : "All changes saved.");
      return !clashes;
    }
    showStatus("Saving…");
    let response;
    let result;
    try {
      response = await fetch(page.saveUrl, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        credentials: "same-origin",
        body: JSON.stringify(body),
      });
      result = await response.json().catch(() => ({ error: response.status + " " + response.statusText }));
    } catch (error) {
      showStatus("Not saved: the text is kept in this browser.");
      showBanner("The review server does not answer: is `flipchart-ocr review` still running? (" + error + ")", false);
      scheduleAutosave(RETRY_MS); // tried again until it answers
      return false;
    }
    if (!response.ok) {
      showStatus("Not saved: the text is kept in this browser.");
      showBanner(result.error || "not saved", false);
      return false;
    }
    hideBanner();
    applyState(result, body);
    if (result.setAside && result.setAside.length) showNotice(result.message);
    const clashes = result.conflicts.length;
    if (clashes) {
      showStatus("Not saved: " + clashes + " field" + (clashes === 1 ? "" : "s") + " changed elsewhere meanwhile.");
      return false;
    }
    if (isDirty()) {
      showStatus("Saved; newer typing not yet.");
      scheduleAutosave();
    } else {
      showStatus(result.changed ? "All changes saved." : "Nothing changed.");
    }
    return true;
  }

  // Take in the file's state (a save's answer or a poll). ``sent``: what this page sent.
  function applyState(result, sent) {
    version = result.version;
    const flagsSent = sent || {};
    saved = { reviewed: result.reviewed, skip: result.skip, template: result.templateOverride || "" };
    // a box changed again while saving stays as the reviewer left it
    for (const [box, key] of [[reviewedBox, "reviewed"], [skipBox, "skip"]]) {
      if (!(key in flagsSent) || box.checked === flagsSent[key]) box.checked = saved[key];
    }
    if (!("template" in flagsSent) || templateSelect.value === flagsSent.template) {
      templateSelect.value = saved.template;
    }
    onFlagsChanged(true);
    if (result.progress) {
      byId("progress-done").textContent = result.progress.reviewed;
      byId("progress-total").textContent = result.progress.total;
      page.nextToReviewUrl = result.nextToReviewUrl;
    }
    const conflicts = Object.fromEntries((result.conflicts || []).map((c) => [c.field, c]));
    if (conflicts.template) {
      showBanner("The template was changed elsewhere meanwhile (to \u201c" + (conflicts.template.theirs || "as read") + "\u201d); choose again.", false);
    }
    for (const state of result.fields) {
      const field = fieldById(state.id);
      if (field) takeField(field, state, sent && sent.fields[state.id], conflicts[state.id]);
    }
  }

  function takeField(field, state, sentField, conflict) {
    const before = field.base;
    const value = field.textarea.value;
    field.state = Object.assign(field.state, state);
    if (conflict) {
      setConflict(field, conflict.theirs, value);
    } else if (sentField) {
      field.base = state.text;
      if (value === sentField.text) {
        // not typed on since: the file decides (e.g. a text set back to the OCR shows
        // the file's replacements)
        if (canonical(value) !== state.text) setValueKeepingCaret(field, state.text);
        drafts.drop(state.id, sentField.text);
      } else {
        drafts.keep(field); // typed on during the save: unsaved, against the new base
      }
    } else if (state.text !== before) {
      // changed in the file by someone else
      if (!isFieldDirty(field) || field.conflict) {
        field.base = state.text;
        if (!field.conflict && canonical(value) === before) setValueKeepingCaret(field, state.text);
        if (field.conflict) setConflict(field, state.text, value);
      } else if (canonical(value) === state.text) {
        field.base = state.text;
        drafts.drop(state.id);
      } else {
        setConflict(field, state.text, value);
      }
    }
    renderState(field);
  }

  function setValueKeepingCaret(field, text) {
    const textarea = field.textarea;
    const [start, end] = [textarea.selectionStart, textarea.selectionEnd];
    textarea.value = text;
    if (document.activeElement === textarea) {
      textarea.setSelectionRange(Math.min(start, text.length), Math.min(end, text.length));
    }
  }

  // -- the file or the sheet changed on disk ----------------------------------------------

  async function poll() {
    if (document.hidden) return;
    let result;
    try {
      const response = await fetch(page.stateUrl, { credentials: "same-origin" });
      result = await response.json();
    } catch (error) {
      return; // the server is gone: the next save says so
    }
    if (!result.ok) {
      showBanner("The corrections file cannot be used now: " + (result.error || "?"), false);
      if (result.sheetStamp && result.sheetStamp !== sheetStamp) sheetReadAgain(null);
      return;
    }
    if (result.sheetStamp !== sheetStamp) {
      sheetReadAgain(result);
      return;
    }
    if (result.version !== version) applyState(result, null);
  }

  // `process` wrote this sheet again: new fields, texts and crops.
  function sheetReadAgain(result) {
    const sameFields =
      result !== null &&
      result.fields.length === fields.length &&
      result.fields.every((f, i) => f.id === fields[i].state.id);
    if (result) sheetStamp = result.sheetStamp;
    if (!sameFields) {
      for (const field of fields) if (isFieldDirty(field)) drafts.keep(field);
      showNotice("This sheet was read again by `process` with other fields: reloading it (unsaved text is kept).");
      sessionStorage.setItem(NOTICE_KEY, "This sheet was read again by `process` with other fields: they are shown now.");
      reloadWanted = true;
      reloadWhenIdle();
      return;
    }
    page.size = result.size;
    byId("sheet-image").src = sheetImageUrl();
    applyState(result, null);
    for (const field of fields) {
      field.crop.querySelector("img").src = field.state.cropUrl;
      renderOcr(field);
      drawLineBoxes(field);
    }
    drawSheetBoxes();
    setActive(active);
    showNotice("This sheet was read again by `process`: its texts and crops are updated.");
  }

  function sheetImageUrl() {
    const image = byId("sheet-image");
    return image.src.replace(/\?.*$/, "") + "?v=" + encodeURIComponent(sheetStamp);
  }

  function reloadWhenIdle() {
    if (!reloadWanted) return;
    if (Date.now() - lastKeyAt < AUTOSAVE_MS) {
      setTimeout(reloadWhenIdle, 300);
      return;
    }
    window.location.reload();
  }

  // -- find and replace in all sheets ------------------------------------------------------

  const replaceDialog = byId("replace-dialog");
  const replaceFind = byId("replace-find");
  const replaceWith = byId("replace-with");
  const replaceResult = byId("replace-result");

  function openReplace() {
    const field = fields[active];
    const selected = field ? field.textarea.value.slice(field.textarea.selectionStart, field.textarea.selectionEnd) : "";
    if (selected && !selected.includes("\n")) replaceFind.value = selected;
    replaceResult.textContent = "";
    replaceDialog.showModal();
    replaceFind.focus();
    replaceFind.select();
  }

  async function replaceCall(url) {
    const response = await fetch(url, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      credentials: "same-origin",
      body: JSON.stringify({ find: replaceFind.value, replace: replaceWith.value }),
    });
    const result = await response.json().catch(() => ({ error: response.status + " " + response.statusText }));
    if (!response.ok) throw new Error(result.error || "refused");
    return result;
  }

  function describeReplace(result, done) {
    const fieldsCount = result.fields.length;
    let text =
      (done ? "Replaced " : "Would replace ") + result.occurrences + " time" + (result.occurrences === 1 ? "" : "s") +
      " in " + fieldsCount + " field" + (fieldsCount === 1 ? "" : "s") + ".";
    if (result.keptInCorrected.length) {
      text += " " + result.keptInCorrected.length + " corrected field" +
        (result.keptInCorrected.length === 1 ? " keeps its" : "s keep their") + " text (" +
        result.keptInCorrected.map((w) => w.sheet + "/" + w.field).join(", ") + ").";
    }
    return text;
  }

  async function previewReplace() {
    try {
      replaceResult.textContent = describeReplace(await replaceCall(page.replacePreviewUrl), false);
    } catch (error) {
      replaceResult.textContent = "Not counted: " + error.message;
    }
  }

  async function applyReplace() {
    await save(); // this page's edits first: they are the newer text
    try {
      const result = await replaceCall(page.replaceUrl);
      replaceResult.textContent = describeReplace(result, true);
      await poll();
    } catch (error) {
      replaceResult.textContent = "Not replaced: " + error.message;
    }
  }

  // -- keyboard ----------------------------------------------------------------------------

  // Where keys type or choose by themselves; on a button or a link only Space and Enter do.
  const TYPES_ITSELF =
    "textarea, input:not([type=checkbox]):not([type=radio]):not([type=button]), select, [contenteditable]";
  const CONTROL = "button, a, input, summary";

  function onKeyDown(event) {
    lastKeyAt = Date.now();
    const ctrl = event.ctrlKey || event.metaKey;
    if (replaceDialog.open) return; // the dialog has its own keys (Esc closes it)
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
        KeyA: () => useNextFix(fields[active]),
        KeyH: openReplace,
        KeyL: nextLowField,
        KeyR: toggleReviewed,
        KeyW: nextDoubtfulWord,
        KeyZ: () => (event.shiftKey ? toggleSheetZoom() : toggleZoom(fields[active])),
      };
      const action = actions[event.code] || actions[event.key];
      if (action) {
        event.preventDefault();
        action();
      }
      return;
    }
    if (ctrl || event.altKey || event.metaKey) return;
    const target = event.target instanceof Element ? event.target : document.body;
    if (target.closest(TYPES_ITSELF)) {
      if (event.key === "Escape" && target.matches("textarea")) target.blur();
      return;
    }
    // Elsewhere a key that types goes into the current field, at its caret: never lost.
    const onControl = Boolean(target.closest(CONTROL));
    const printable = event.key.length === 1 && !(onControl && event.key === " ");
    const edits = !onControl && ["Backspace", "Delete", "Enter"].includes(event.key);
    const field = fields[active];
    if ((printable || edits) && field && !field.textarea.readOnly) {
      field.textarea.focus({ preventScroll: true }); // the key lands there, at its caret
      setActive(field.index);
    }
  }

  function useNextFix(field) {
    if (!field || !field.offered || !field.offered.length) {
      showStatus("No learned fix for this field.");
      return;
    }
    useFix(field, field.offered[0]);
  }

  function toggleReviewed() {
    reviewedBox.checked = !reviewedBox.checked;
    onFlagsChanged();
  }

  // Reviewed and skip are saved at once; a template change waits for Save (it sets
  // corrections of fields the new template lacks aside), so the hint says what it does.
  function onFlagsChanged(fromFile) {
    const changed = changedFlags();
    const selected = templateSelect.value;
    const other = Boolean(selected) && selected !== page.template;
    templateHint.hidden = !other;
    byId("template-change").textContent = changed.includes("template") ? templateChangeHint(selected) : "";
    if (!fromFile && (changed.includes("reviewed") || changed.includes("skip"))) save();
    else if (changed.includes("template")) showStatus("Template not yet changed: Ctrl+S or Save applies it.");
    updateTitle();
  }

  function templateChangeHint(selected) {
    const wanted = page.templateFields[selected || page.template] || fields.map((f) => f.state.id);
    const keep = fields.filter((f) => wanted.includes(f.state.id)).map((f) => f.state.id);
    const aside = fields
      .filter((f) => !wanted.includes(f.state.id) && (f.state.origin === "corrected" || isFieldDirty(f)))
      .map((f) => f.state.id);
    let text = "Saving makes this sheet " + (selected || page.template) + ".";
    if (keep.length) text += " Carried over: " + keep.join(", ") + ".";
    if (aside.length) text += " Your corrections of " + aside.join(", ") + " (no such field there) are kept as comments in the corrections file.";
    return text;
  }

  // -- start -------------------------------------------------------------------------------

  for (const field of fields) {
    field.textarea.addEventListener("focus", () => setActive(field.index));
    field.textarea.addEventListener("input", () => {
      if (isFieldDirty(field) || field.conflict) drafts.keep(field);
      else drafts.drop(field.state.id);
      if (field.conflict) {
        field.conflict.yours = field.textarea.value;
        field.conflictBox.querySelector(".yours").textContent = field.textarea.value || "(empty)";
      }
      field.section.classList.toggle("dirty", isFieldDirty(field));
      renderDiff(field);
      renderFixes(field);
      updateTitle();
      if (isFieldDirty(field)) showStatus("Unsaved (saves itself in a moment)…");
      scheduleAutosave();
    });
    field.conflictBox.querySelector(".use-theirs").addEventListener("click", () => useTheirs(field));
    field.conflictBox.querySelector(".keep-mine").addEventListener("click", () => keepMine(field));
    field.section.querySelector(".revert").addEventListener("click", () => {
      typeInto(field, 0, field.textarea.value.length, field.state.ocr);
      showStatus("Set back to the OCR text (Ctrl+Z undoes it).");
    });
    field.section.querySelector(".zoom-crop").addEventListener("click", () => toggleZoom(field));
    // A look at the photo keeps the caret where it was: typing goes on in the field.
    field.crop.addEventListener("mousedown", (event) => event.preventDefault());
    field.crop.addEventListener("click", () => {
      focusField(field.index);
      toggleZoom(field);
    });
    renderOcr(field);
    drawLineBoxes(field);
    renderState(field);
  }
  for (const control of [reviewedBox, skipBox, templateSelect]) {
    control.addEventListener("change", () => onFlagsChanged(false));
  }
  byId("save").addEventListener("click", () => save());
  byId("zoom-sheet").addEventListener("click", toggleSheetZoom);
  byId("find-replace").addEventListener("click", openReplace);
  byId("replace-apply").addEventListener("click", applyReplace);
  byId("replace-close").addEventListener("click", () => replaceDialog.close());
  byId("replace-form").addEventListener("submit", (event) => {
    event.preventDefault();
    previewReplace();
  });
  replaceDialog.addEventListener("close", () => focusField(active));
  byId("notice-close").addEventListener("click", () => (notice.hidden = true));
  bannerReload.addEventListener("click", () => window.location.reload());
  document.addEventListener("keydown", onKeyDown);
  window.addEventListener("beforeunload", (event) => {
    if (reloadWanted) return;
    if (isDirty()) {
      for (const field of fields) if (isFieldDirty(field)) drafts.keep(field);
      event.preventDefault();
      event.returnValue = "";
    }
  });
  window.addEventListener("focus", poll);
  document.addEventListener("visibilitychange", poll);
  setInterval(poll, POLL_MS);
  drawSheetBoxes();
  const pending = sessionStorage.getItem(NOTICE_KEY);
  if (pending) {
    sessionStorage.removeItem(NOTICE_KEY);
    showNotice(pending);
  }
  restoreDrafts();
  onFlagsChanged(true);
  if (fields.length) focusField(0);
})();
