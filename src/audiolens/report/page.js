"use strict";
// The audiolens report: builds the summary, the table and the detail view from the JSON in
// the page. Every value goes into the page as text (textContent, attributes of our own
// choosing), never as HTML; no inline event handlers, no inline styles (the page's
// Content-Security-Policy would refuse both).
(function () {
  const data = JSON.parse(document.getElementById("report-data").textContent);
  const cols = data.columns;
  const rows = data.rows;
  const colIndex = {};
  cols.forEach(function (c, i) { colIndex[c.key] = i; });
  const collator = new Intl.Collator(undefined, { numeric: true, sensitivity: "base" });
  const lowerPaths = rows.map(function (r) { return String(r[0]).toLowerCase(); });
  const state = { sort: -1, dir: 1, filters: [], search: "", page: 0, size: 100, view: [] };
  const details = {};

  // -- small helpers ----------------------------------------------------------------------

  function el(tag, attrs, children) {
    const node = document.createElement(tag);
    for (const key in attrs || {}) {
      if (/^on/i.test(key) || key === "style") throw new Error("not allowed: " + key);
      if (key === "text") node.textContent = attrs[key];
      else if (key === "class") node.className = attrs[key];
      else node.setAttribute(key, attrs[key]);
    }
    for (const child of children || []) {
      if (child !== null && child !== undefined) {
        node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
      }
    }
    return node;
  }

  function svg(tag, attrs, text) {
    const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
    for (const key in attrs || {}) {
      if (/^on/i.test(key) || key === "style" || /href$/i.test(key)) throw new Error(key);
      node.setAttribute(key, attrs[key]);
    }
    if (text !== undefined) node.textContent = text;
    return node;
  }

  // a file name's bytes that are not UTF-8 arrive as lone surrogates U+DC80-U+DCFF (Python's
  // surrogateescape): shown as \xNN, as are controls and invisible formatting characters
  const HIDDEN = /(?<![\uD800-\uDBFF])[\uDC80-\uDCFF]|[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]/g;
  const NAMED = { "\n": "\\n", "\r": "\\r", "\t": "\\t" };

  function shownText(s) {
    return s.replace(HIDDEN, function (c) {
      const n = c.charCodeAt(0);
      if (n >= 0xdc80 && n <= 0xdcff) return "\\x" + (n - 0xdc00).toString(16);
      if (NAMED[c]) return NAMED[c];
      return n < 0x100 ? "\\x" + n.toString(16).padStart(2, "0") : "\\u" + n.toString(16).padStart(4, "0");
    });
  }

  function fmt(v) {
    if (v === null || v === undefined) return "";
    if (typeof v === "number") return Number.isInteger(v) ? String(v) : String(+v.toFixed(3));
    if (typeof v === "object") return shownText(JSON.stringify(v));
    return shownText(String(v));
  }

  function clock(t) {
    if (typeof t !== "number") return "";
    const m = Math.floor(t / 60);
    const s = t - 60 * m;
    return m + ":" + (s < 10 ? "0" : "") + s.toFixed(1);
  }

  function bytes(n) {
    if (typeof n !== "number") return "";
    const units = ["B", "KB", "MB", "GB", "TB"];
    let i = 0;
    while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
    return (i ? n.toFixed(1) : String(n)) + " " + units[i];
  }

  function facts(pairs) {
    const dl = el("dl", { class: "facts" });
    for (const [k, v] of pairs) {
      if (v === null || v === undefined || v === "") continue;
      dl.appendChild(el("dt", { text: k }));
      dl.appendChild(el("dd", { text: fmt(v) }));
    }
    return dl;
  }

  function getDetails(i) {  // each file's details are a JSON block of their own, read when shown
    if (!(i in details)) details[i] = JSON.parse(document.getElementById("file-" + i).textContent);
    return details[i];
  }

  // -- filters and sorting ----------------------------------------------------------------

  function numberTest(text) {
    const t = text.trim();
    if (!t) return null;
    let m = t.match(/^(-?\d*\.?\d+)\s*\.\.\s*(-?\d*\.?\d+)$/);
    if (m) {
      const lo = +m[1], hi = +m[2];
      return function (v) { return v !== null && v >= lo && v <= hi; };
    }
    m = t.match(/^(>=|<=|>|<|=)\s*(-?\d*\.?\d+)$/);
    if (m) {
      const x = +m[2];
      const ops = {
        ">": function (v) { return v > x; }, "<": function (v) { return v < x; },
        ">=": function (v) { return v >= x; }, "<=": function (v) { return v <= x; },
        "=": function (v) { return v === x; },
      };
      const op = ops[m[1]];
      return function (v) { return v !== null && op(v); };
    }
    if (t === "-") return function (v) { return v === null; };
    if (/^-?\d*\.?\d+$/.test(t)) {
      const decimals = (t.split(".")[1] || "").length;
      const x = +t, half = 0.5 * Math.pow(10, -decimals);
      return function (v) { return v !== null && v >= x - half && v < x + half; };
    }
    return undefined; // not a number filter
  }

  function compileFilters() {
    const tests = [];
    cols.forEach(function (c, i) {
      const raw = state.filters[i];
      if (raw === undefined || raw === "") return;
      if (c.kind === "enum") {
        tests.push(function (r) { return raw === "\u0000none" ? r[i] === null : fmt(r[i]) === raw; });
      } else if (c.kind === "num") {
        const t = numberTest(raw);
        if (t) tests.push(function (r) { return t(r[i]); });
        else if (t === undefined) tests.push(function () { return false; });
      } else {
        const needle = raw.toLowerCase();
        tests.push(function (r) { return r[i] !== null && String(r[i]).toLowerCase().includes(needle); });
      }
    });
    return tests;
  }

  function refresh(keepPage) {
    const tests = compileFilters();
    const needle = state.search.toLowerCase();
    const view = [];
    for (let i = 0; i < rows.length; i++) {
      if (needle && !lowerPaths[i].includes(needle)) continue;
      let ok = true;
      for (const t of tests) { if (!t(rows[i])) { ok = false; break; } }
      if (ok) view.push(i);
    }
    if (state.sort >= 0) {
      const k = state.sort, dir = state.dir, num = cols[k].kind === "num";
      view.sort(function (a, b) {
        const x = rows[a][k], y = rows[b][k];
        if (x === null || y === null) return x === y ? a - b : x === null ? 1 : -1;
        const c = num ? x - y : collator.compare(String(x), String(y));
        return c ? dir * c : a - b;
      });
    }
    state.view = view;
    if (!keepPage) state.page = 0;
    renderBody();
  }

  // -- the table ----------------------------------------------------------------------------

  const table = document.getElementById("files");
  const thead = table.tHead;
  const tbody = table.tBodies[0];

  function buildHead() {
    const names = el("tr");
    const filters = el("tr", { class: "filters" });
    cols.forEach(function (c, i) {
      const th = el("th", { scope: "col", title: c.title, "data-key": c.key },
        [el("button", { type: "button", text: c.label, "data-col": String(i) })]);
      names.appendChild(th);
      let input;
      if (c.kind === "enum") {
        const values = Array.from(new Set(rows.map(function (r) { return r[i]; })));
        const hasNone = values.includes(null);
        const shownValues = values.filter(function (v) { return v !== null; }).map(fmt);
        shownValues.sort(collator.compare);
        input = el("select", { "data-col": String(i), "aria-label": "Filter " + c.label },
          [el("option", { value: "", text: "all" })]
            .concat(shownValues.map(function (v) { return el("option", { value: v, text: v }); }))
            .concat(hasNone ? [el("option", { value: "\u0000none", text: "(none)" })] : []));
      } else {
        input = el("input", {
          type: "text", "data-col": String(i), "aria-label": "Filter " + c.label,
          placeholder: c.kind === "num" ? ">x <x a..b" : "contains",
        });
      }
      filters.appendChild(el("th", {}, [input]));
    });
    thead.appendChild(names);
    thead.appendChild(filters);
  }

  function cell(c, v) {
    if (c.key === "file") {
      const d = document.createElement("td");
      d.className = "file";
      const s = String(v);
      const cut = s.lastIndexOf("/") + 1;
      d.appendChild(el("span", { class: "folder", text: s.slice(0, cut) }));
      d.appendChild(el("span", { class: "name", text: s.slice(cut) }));
      d.title = s;
      return d;
    }
    if ((c.key === "verdict" || c.key === "status") && v !== null) {
      return el("td", {}, [el("span", { class: "badge " + String(v).split(" ")[0], text: fmt(v) })]);
    }
    return el("td", { class: c.kind === "num" ? "num" : "", text: fmt(v) });
  }

  function renderBody() {
    const pages = Math.max(1, Math.ceil(state.view.length / state.size));
    state.page = Math.min(state.page, pages - 1);
    const start = state.page * state.size;
    const frag = document.createDocumentFragment();
    const selected = currentFile();
    for (const i of state.view.slice(start, start + state.size)) {
      const tr = el("tr", { "data-i": String(i), tabindex: "0" });
      if (i === selected) tr.className = "selected";
      const r = rows[i];
      cols.forEach(function (c, k) { tr.appendChild(cell(c, r[k])); });
      frag.appendChild(tr);
    }
    tbody.replaceChildren(frag);
    const n = state.view.length;
    document.getElementById("count").textContent = (n === rows.length)
      ? n.toLocaleString() + " files"
      : n.toLocaleString() + " of " + rows.length.toLocaleString() + " files";
    document.getElementById("page").textContent = "page " + (state.page + 1) + " of " + pages;
    document.getElementById("prev").disabled = state.page === 0;
    document.getElementById("next").disabled = state.page >= pages - 1;
    thead.querySelectorAll("th[data-key]").forEach(function (th, k) {
      if (k === state.sort) th.setAttribute("aria-sort", state.dir > 0 ? "ascending" : "descending");
      else th.removeAttribute("aria-sort");
    });
  }

  function setFilter(key, value) {
    const i = colIndex[key];
    if (i === undefined) return;
    state.filters[i] = value;
    const input = thead.querySelector('[data-col="' + i + '"]:is(input, select)');
    if (input) input.value = value;
    refresh(false);
    document.getElementById("table-section").scrollIntoView();
  }

  // -- the summary --------------------------------------------------------------------------

  function card(title, children, wide) {
    return el("div", { class: wide ? "card wide" : "card" }, [el("h2", { text: title })].concat(children));
  }

  function bars(pairs, key, kinds) {
    const box = el("div", { class: "bars" });
    const most = Math.max.apply(null, pairs.map(function (p) { return p[1]; }).concat([1]));
    for (const [value, n] of pairs) {
      const label = fmt(value);
      const filterable = key && colIndex[key] !== undefined && cols[colIndex[key]].kind === "enum";
      const name = filterable
        ? el("button", { type: "button", text: label, "data-filter": key, "data-value": label,
          title: "show these files" })
        : el("span", { text: label });
      const bar = el("div", { class: "bar" + (kinds ? " " + label : "") });
      bar.style.width = (100 * n / most).toFixed(1) + "%";
      box.append(name, el("div", {}, [bar]), el("span", { class: "muted", text: n.toLocaleString() }));
    }
    return box;
  }

  function histogram(bins, unit) {
    const box = el("div", { class: "hist" });
    const most = Math.max.apply(null, bins.map(function (b) { return b[2]; }).concat([1]));
    for (const [lo, hi, n] of bins) {
      const d = el("div", { title: lo + "-" + hi + " " + unit + ": " + n });
      d.style.height = (100 * n / most).toFixed(1) + "%";
      box.appendChild(d);
    }
    const axis = el("div", { class: "hist-axis" }, [
      el("span", { text: bins.length ? bins[0][0] + " " + unit : "" }),
      el("span", { text: bins.length ? bins[bins.length - 1][1] + " " + unit : "" }),
    ]);
    return [box, axis];
  }

  function buildSummary() {
    const s = data.summary;
    const out = document.getElementById("summary");
    const failedFiles = s.files - s.files_ok;
    out.appendChild(card("Files", [
      el("div", { class: "big", text: s.files.toLocaleString() }),
      el("p", { class: "muted", text: s.files_ok.toLocaleString() + " fully analyzed, " +
        failedFiles.toLocaleString() + " with failures" }),
      el("p", { text: s.with_duration
        ? s.hours.toFixed(2) + " hours of audio (" + s.with_duration.toLocaleString() + " files of known length)"
        : "no task reported durations" }),
    ]));
    const taskRows = Object.keys(s.tasks).map(function (t) {
      return el("tr", {}, [el("td", { text: t }), el("td", { class: "num", text: String(s.tasks[t].ok) }),
        el("td", { class: "num", text: String(s.tasks[t].failed) })]);
    });
    out.appendChild(card("Tasks", [el("table", {}, [
      el("thead", {}, [el("tr", {}, [el("th", { text: "task" }), el("th", { text: "ok" }), el("th", { text: "failed" })])]),
      el("tbody", {}, taskRows)])]));
    if (s.verdicts.length) {
      const parts = [bars(s.verdicts, "verdict", true)];
      if (s.origins.length) {
        parts.push(el("h3", { text: "transcodes were made from" }), bars(s.origins.slice(0, 8), null));
      }
      out.appendChild(card("Quality", parts));
    }
    if (s.tempo.length) {
      const parts = [el("h3", { text: "tempo (BPM)" })].concat(histogram(s.tempo, "BPM"));
      if (s.meters.length) parts.push(el("h3", { text: "meter" }), bars(s.meters, "meter"));
      out.appendChild(card("Beats", parts));
    }
    if (s.keys.length) out.appendChild(card("Keys", [bars(s.keys.slice(0, 24), "key")]));
    if (s.lufs) {
      out.appendChild(card("Loudness (LUFS)", [facts([["lowest", s.lufs.min], ["10%", s.lufs.p10],
        ["median", s.lufs.median], ["90%", s.lufs.p90], ["highest", s.lufs.max]])]
        .concat(histogram(s.lufs_histogram, "LUFS"))));
    }
    if (s.languages.length) out.appendChild(card("Languages", [bars(s.languages.slice(0, 12), "language")]));
    if (s.speakers.length) out.appendChild(card("Speakers per file", [bars(s.speakers, null)]));
    if (s.failures.length) out.appendChild(card("Failures", [messageList(s.failures, "error", "failure")], true));
    if (s.warnings.length) out.appendChild(card("Decode warnings", [messageList(s.warnings, "warning", "warning")], true));
    if (s.runs.length) out.appendChild(card("Runs", [runTable(s.runs)], true));
  }

  function messageList(groups, cls, kind) {
    const ul = el("ul", { class: "failures" });
    for (const g of groups.slice(0, 30)) {
      const files = g.files.slice(0, 5).map(function (i) {
        return el("button", { type: "button", class: "linkish", "data-open": String(i),
          text: String(rows[i][0]).split("/").pop() });
      });
      const li = el("li", {}, [el("strong", { text: g.task + ": " }), el("span", { class: cls, text: g.message }),
        el("span", { class: "muted", text: " (" + g.count + (g.count === 1 ? " file" : " files") + ") " })]);
      files.forEach(function (b, k) { if (k) li.appendChild(document.createTextNode(", ")); li.appendChild(b); });
      ul.appendChild(li);
    }
    if (groups.length > 30) ul.appendChild(el("li", { class: "muted", text: (groups.length - 30) + " more kinds of " + kind }));
    return ul;
  }

  function runTable(runs) {
    const head = ["run", "started", "tasks", "device", "workers", "files", "analyzed", "skipped",
      "failed", "seconds", "files/s", "status"];
    const body = runs.map(function (r) {
      const started = new Date(r.started * 1000).toLocaleString();
      return el("tr", {}, [r.id, started, r.tasks.join(", "), r.device, r.workers, r.total, r.done,
        r.skipped, r.failed, r.seconds, r.files_per_s, r.status].map(function (v) {
        return el("td", { text: fmt(v) });
      }));
    });
    return el("div", { class: "scroll" }, [el("table", { class: "runs" }, [
      el("thead", {}, [el("tr", {}, head.map(function (h) { return el("th", { text: h }); }))]),
      el("tbody", {}, body)])]);
  }

  // -- the detail view ----------------------------------------------------------------------

  function currentFile() {
    const m = location.hash.match(/^#file=(\d+)$/);
    const i = m ? +m[1] : -1;
    return i >= 0 && i < rows.length ? i : -1;
  }

  function timeline(tasks) {
    const by = {};
    for (const t of tasks) if (t.status === "ok") by[t.task] = t.result;
    const lanes = [];
    let end = 0;
    for (const t of tasks) if (t.result && typeof t.result.duration === "number") end = Math.max(end, t.result.duration);
    const sections = by.structure && Array.isArray(by.structure.segments) ? by.structure.segments : null;
    if (sections && sections.length) lanes.push(["sections", sections]);
    const beats = by.beats && Array.isArray(by.beats.beats) ? by.beats : null;
    if (beats && beats.beats.length) lanes.push(["beats", beats]);
    const turns = by.speakers && Array.isArray(by.speakers.turns) ? by.speakers.turns : [];
    const voices = Array.from(new Set(turns.map(function (t) { return t.speaker; })));
    voices.forEach(function (v) { lanes.push(["speaker", v]); });
    const speech = by.speech && Array.isArray(by.speech.segments) ? by.speech.segments : [];
    if (speech.length) lanes.push(["speech", speech]);
    if (!lanes.length || end <= 0) return null;
    const W = 1000, left = 110, laneH = 26, top = 22;
    const H = top + lanes.length * laneH + 4;
    const x = function (t) { return left + (W - left - 6) * Math.min(Math.max(t / end, 0), 1); };
    const g = svg("svg", { class: "timeline", viewBox: "0 0 " + W + " " + H, role: "img",
      "aria-label": "timeline of the file" });
    const step = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 1800].find(function (s) { return end / s <= 10; }) || 3600;
    for (let t = 0; t <= end; t += step) {
      g.appendChild(svg("line", { x1: x(t), x2: x(t), y1: top - 4, y2: H, stroke: "#d8dde5" }));
      g.appendChild(svg("text", { x: x(t) + 2, y: 15 }, clock(t)));
    }
    const hue = function (label) {  // labels next to each other (A, B; SPEAKER_1, _2) far apart
      let h = 0;
      for (const ch of String(label)) h = (h * 31 + ch.codePointAt(0)) % 1000003;
      return "hsl(" + Math.round((h * 137.508) % 360) + ",60%,62%)";
    };
    lanes.forEach(function ([kind, what], k) {
      const y = top + k * laneH;
      const name = kind === "speaker" ? fmt(what) : kind;
      g.appendChild(svg("text", { x: 4, y: y + 18 }, name.length > 12 ? name.slice(0, 11) + "\u2026" : name));
      const box = function (a, b, fill, tip, text) {
        const r = svg("rect", { x: x(a), y: y + 3, width: Math.max(x(b) - x(a), 1), height: laneH - 6, fill: fill });
        r.appendChild(svg("title", {}, tip));
        g.appendChild(r);
        if (text && x(b) - x(a) > 16) g.appendChild(svg("text", { x: x(a) + 3, y: y + 18 }, text));
      };
      if (kind === "sections") {
        for (const s of what) box(s.start, s.end, hue(s.label), fmt(s.label) + " " + clock(s.start) + "-" + clock(s.end), fmt(s.label));
      } else if (kind === "beats") {
        const down = new Set(what.downbeats || []);
        for (const b of what.beats) {
          const d = down.has(b);
          g.appendChild(svg("line", { x1: x(b), x2: x(b), y1: d ? y + 2 : y + 8, y2: y + laneH - 2,
            stroke: d ? "#b3261e" : "#2458b3", "stroke-width": d ? 2 : 1 }));
        }
      } else if (kind === "speaker") {
        for (const t of turns) if (t.speaker === what) box(t.start, t.end, hue(what), fmt(what) + " " + clock(t.start) + "-" + clock(t.end));
      } else {
        for (const s of what) box(s.start, s.end, s.speaker ? hue(s.speaker) : "#9aa7b8", clock(s.start) + " " + fmt(s.text));
      }
    });
    return g;
  }

  const RENDER = {
    quality: function (r) {
      const o = r.origin, c = r.claimed || {}, k = r.content || {};
      return [facts([
        ["verdict", r.verdict], ["class", r.bitrate_class],
        ["made from", o ? o.codec + (o.bitrate_kbps ? " " + o.bitrate_kbps + " kb/s" : "") : null],
        ["cutoff", typeof r.cutoff_hz === "number" ? (r.cutoff_hz / 1000).toFixed(2) + " kHz" : null],
        ["confidence", r.confidence],
        ["the file says", [c.codec, c.bitrate_kbps ? c.bitrate_kbps + " kb/s" : null, c.vbr ? "VBR" : null,
          c.class ? "class " + c.class : null, c.encoder].filter(Boolean).join(", ")],
        ["the content sounds like", k["class"] ? k["class"] + " (p " + fmt(k.p) + ")" : null],
      ])];
    },
    beats: function (r) {
      return [facts([["tempo", r.tempo !== null ? r.tempo + " BPM" : "no steady beat"], ["meter", r.meter],
        ["beats", (r.beats || []).length], ["downbeats", (r.downbeats || []).length],
        ["confidence", r.confidence], ["beats file", r.beats_path]])];
    },
    structure: function (r) {
      const list = (r.segments || []).map(function (s) { return fmt(s.label) + " " + clock(s.start) + "-" + clock(s.end); });
      return [facts([["form", r.form], ["sections", list.join(", ")]])];
    },
    notes: function (r) {
      const names = ["C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B"];
      const note = function (p) { return names[p % 12] + (Math.floor(p / 12) - 1); };
      const range = r.pitch_range ? note(r.pitch_range[0]) + " to " + note(r.pitch_range[1]) : null;
      return [facts([["notes", r.count], ["range", range], ["engine", r.engine], ["MIDI file", r.midi_path]])];
    },
    key: function (r) {
      const other = (r.sections || []).map(function (s) { return fmt(s.key) + " " + clock(s.start) + "-" + clock(s.end); });
      return [facts([["key", r.key !== null ? r.key : "no tonal content"],
        ["Camelot / Open Key", r.camelot ? r.camelot + " / " + r.open_key : null],
        ["confidence", r.confidence], ["modulates to", other.join(", ")]])];
    },
    loudness: function (r) {
      const unit = function (v, u) { return typeof v === "number" ? v.toFixed(2) + " " + u : null; };
      return [facts([["integrated", r.integrated_lufs !== null ? unit(r.integrated_lufs, "LUFS") : "silent"],
        ["loudness range", unit(r.lra_lu, "LU")], ["true peak", unit(r.true_peak_dbtp, "dBTP")],
        ["sample peak", unit(r.sample_peak_dbfs, "dBFS")],
        ["ReplayGain 2.0 track gain", unit(r.track_gain_db, "dB")], ["track peak", r.track_peak]])];
    },
    speech: function (r) {
      const box = el("div", { class: "transcript" });
      for (const s of r.segments || []) {
        box.appendChild(el("p", {}, [el("span", { class: "when", text: clock(s.start) + " " }),
          s.speaker ? el("strong", { text: fmt(s.speaker) + ": " }) : null, fmt(s.text)]));
      }
      return [facts([["language", r.language ? r.language + " (p " + fmt(r.language_probability) + ")" : "no speech"],
        ["speech", typeof r.speech_duration === "number" ? r.speech_duration.toFixed(1) + " s" : null],
        ["model", r.model]]), box];
    },
    speakers: function (r) {
      const time = r.speaking_time || {};
      const who = (r.speakers || []).map(function (s) { return s + " " + fmt(time[s]) + " s"; });
      return [facts([["speakers", who.join(", ") || "none"], ["turns", (r.turns || []).length],
        ["speech", r.speech], ["method", r.method], ["RTTM file", r.rttm_path]])];
    },
  };

  function generic(r) {
    return [facts(Object.keys(r).map(function (k) { return [k, r[k]]; }))];
  }

  // the folder form's pictures of one kind (a task's, or "waveform"), and why one is missing
  function pictures(d, kind) {
    const out = [];
    for (const p of (d.pictures || {})[kind] || []) {
      out.push(el("div", { class: "pictures" }, [el("a", { href: p.src, target: "_blank", rel: "noopener" },
        [el("img", { src: p.src, alt: p.alt, loading: "lazy" })])]));
    }
    if ((d.missing || {})[kind]) out.push(el("p", { class: "muted", text: d.missing[kind] }));
    return out;
  }

  function renderDetail() {
    const i = currentFile();
    const aside = document.getElementById("detail");
    tbody.querySelectorAll("tr.selected").forEach(function (tr) { tr.classList.remove("selected"); });
    if (i < 0) { aside.hidden = true; return; }
    const d = getDetails(i);
    const body = document.getElementById("detail-body");
    const parts = [el("h2", { text: d.name }), el("p", { class: "folder", text: d.folder }),
      facts([["size", bytes(d.size)], ["status", rows[i][1]]])];
    const line = timeline(d.tasks);
    if (line) parts.push(el("h3", { text: "timeline" }), line);
    const wave = pictures(d, "waveform");
    if (wave.length) parts.push(el("h3", { text: "beats and sections over the waveform" }), ...wave);
    for (const t of d.tasks) {
      parts.push(el("h3", {}, [t.task + " ", el("span", { class: "badge " + t.status, text: t.status })]));
      for (const w of t.warnings || []) parts.push(el("p", { class: "warning", text: "warning: " + w }));
      if (t.status !== "ok") { parts.push(el("p", { class: "error", text: t.error || "failed" })); continue; }
      parts.push.apply(parts, (RENDER[t.task] || generic)(t.result || {}));
      parts.push(el("p", { class: "muted", text: "on " + (t.device || "?") + " in " + fmt(t.elapsed_s) + " s, task version " + t.version }));
      parts.push.apply(parts, pictures(d, t.task));
    }
    body.replaceChildren.apply(body, parts);
    aside.hidden = false;
    const tr = tbody.querySelector('tr[data-i="' + i + '"]');
    if (tr) tr.classList.add("selected");
    document.getElementById("close").focus();
  }

  function open(i) { location.hash = "file=" + i; }
  function close() {
    if (currentFile() >= 0) history.pushState(null, "", location.pathname + location.search);
    renderDetail();
  }

  // -- wiring -------------------------------------------------------------------------------

  thead.addEventListener("click", function (ev) {
    const b = ev.target.closest("button[data-col]");
    if (!b) return;
    const k = +b.dataset.col;
    if (state.sort === k) state.dir = -state.dir; else { state.sort = k; state.dir = 1; }
    refresh(false);
  });
  function filterChanged(ev) {
    const t = ev.target;
    if (!t.dataset || t.dataset.col === undefined || t.tagName === "BUTTON") return;
    if (state.filters[+t.dataset.col] === t.value) return;
    state.filters[+t.dataset.col] = t.value;
    const c = cols[+t.dataset.col];
    if (c.kind === "num") t.setAttribute("aria-invalid", String(numberTest(t.value) === undefined));
    refresh(false);
  }
  thead.addEventListener("input", filterChanged);
  thead.addEventListener("change", filterChanged);
  tbody.addEventListener("click", function (ev) {
    const tr = ev.target.closest("tr[data-i]");
    if (tr) open(+tr.dataset.i);
  });
  tbody.addEventListener("keydown", function (ev) {
    const tr = ev.target.closest("tr[data-i]");
    if (tr && ev.key === "Enter") open(+tr.dataset.i);
  });
  document.getElementById("summary").addEventListener("click", function (ev) {
    const f = ev.target.closest("button[data-filter]");
    if (f) setFilter(f.dataset.filter, f.dataset.value);
    const o = ev.target.closest("button[data-open]");
    if (o) open(+o.dataset.open);
  });
  document.getElementById("search").addEventListener("input", function (ev) {
    state.search = ev.target.value;
    refresh(false);
  });
  document.getElementById("clear").addEventListener("click", function () {
    state.filters = [];
    state.search = "";
    document.getElementById("search").value = "";
    thead.querySelectorAll("input, select").forEach(function (x) { x.value = ""; x.removeAttribute("aria-invalid"); });
    refresh(false);
  });
  document.getElementById("page-size").addEventListener("change", function (ev) {
    state.size = +ev.target.value;
    refresh(false);
  });
  document.getElementById("prev").addEventListener("click", function () { state.page--; renderBody(); });
  document.getElementById("next").addEventListener("click", function () { state.page++; renderBody(); });
  document.getElementById("close").addEventListener("click", close);
  document.addEventListener("keydown", function (ev) { if (ev.key === "Escape") close(); });
  window.addEventListener("hashchange", renderDetail);

  buildSummary();
  buildHead();
  refresh(false);
  if (currentFile() >= 0) {
    if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", renderDetail);
    else renderDetail();
  }
  document.documentElement.dataset.ready = "true";
  performance.mark("audiolens-ready");
})();
