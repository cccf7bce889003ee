// latent-geodesics explore: the page. Plain JavaScript, no build step; talks to the JSON routes and listens
// to the server-sent events of /api/events. window.lg holds what the page has shown (read by the browser test).
"use strict";

const METHODS = ["linear", "slerp", "geodesic"];
const COLOURS = { linear: "#888", slerp: "#2b8a3e", geodesic: "#0a66c2" };
const PLOT = { W: 600, H: 180, L: 62, R: 110, T: 12, B: 26 }; // the speed plot's box and margins
const $ = (id) => document.getElementById(id);
const lg = window.lg = { shown: [], events: 0, played: 0, run: null, busy: false, map: null };
const state = { info: null, samples: [], picked: [], paths: {}, chain: {}, t: 0, playing: false, mapPicks: [],
                finalShown: false, done: null, ended: null };

function readable(v) {
  // 280, 2,475, 0.012: no exponent for the lengths and distances people read
  if (!Number.isFinite(v)) return String(v);
  if (Math.abs(v) >= 1) return v.toLocaleString("en-US", { maximumFractionDigits: Math.abs(v) >= 100 ? 0 : 1 });
  return v === 0 ? "0" : String(Number(v.toPrecision(2)));
}

function niceTop(v) {
  // the smallest round number (1, 1.5, 2 ... 8 times a power of ten) at or above v: round tick values
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10]) if (m * p >= v * (1 - 1e-9)) return m * p;
  return 10 * p;
}

async function api(method, url, body) {
  const opts = { method, headers: {} };
  if (body !== undefined) { opts.headers["Content-Type"] = "application/json"; opts.body = JSON.stringify(body); }
  const r = await fetch(url, opts);
  let data = {};
  try { data = await r.json(); } catch (e) { data = { error: r.statusText }; }
  if (!r.ok) throw new Error(data.error || `HTTP ${r.status}`);
  return data;
}

function showError(text) {
  const el = $("error");
  el.textContent = text || "";
  el.hidden = !text;
}

function setBusy(busy) {
  lg.busy = busy;
  $("cancel").disabled = !busy;
  $("map-button").disabled = busy;
  updateSolveButton();
}

function updateSolveButton() {
  $("solve").disabled = lg.busy || state.picked.length < 2;
}

// ---------------------------------------------------------------------------------------------------------
// samples
// ---------------------------------------------------------------------------------------------------------

function renderSamples(samples) {
  state.samples = samples;
  const known = new Set(samples.map((s) => s.id));
  state.picked = state.picked.filter((id) => known.has(id));
  const grid = $("grid");
  grid.textContent = "";
  for (const s of samples) {
    const b = document.createElement("button");
    b.type = "button";
    b.className = "sample";
    b.dataset.id = s.id;
    b.title = s.photo ? `${s.label} (projected photo, LPIPS ${s.lpips})` : s.label;
    const img = document.createElement("img");
    img.src = `${s.image}?v=${encodeURIComponent(s.id)}`;
    img.alt = s.label;
    b.appendChild(img);
    if (s.photo) {
      const tag = document.createElement("span");
      tag.className = "tag";
      tag.textContent = "photo";
      b.appendChild(tag);
    }
    b.addEventListener("click", () => togglePick(s.id));
    grid.appendChild(b);
  }
  renderPicks();
}

function togglePick(id) {
  const i = state.picked.indexOf(id);
  if (i >= 0) state.picked.splice(i, 1);
  else if (state.picked.length < (state.info ? state.info.limits.waypoints : 6)) state.picked.push(id);
  renderPicks();
}

function renderPicks() {
  for (const b of document.querySelectorAll(".sample")) {
    const k = state.picked.indexOf(b.dataset.id);
    b.classList.toggle("picked", k >= 0);
    const old = b.querySelector(".badge");
    if (old) old.remove();
    if (k >= 0) {
      const badge = document.createElement("span");
      badge.className = "badge";
      badge.textContent = k === 0 ? "A" : k === state.picked.length - 1 ? "B" : String(k);
      b.appendChild(badge);
    }
  }
  const label = (id) => (state.samples.find((s) => s.id === id) || { label: id }).label;
  $("selection").textContent = state.picked.length ? state.picked.map(label).join(" \u2192 ") : "no samples picked";
  updateSolveButton();
}

async function sendPhoto(file) {
  showError("");
  const r = await fetch("/api/upload?name=" + encodeURIComponent(file.name), { method: "POST", body: file });
  let data = {};
  try { data = await r.json(); } catch (e) { data = { error: r.statusText }; }
  if (!r.ok) showError(`${file.name}: ${data.error || r.status}`);
}

// ---------------------------------------------------------------------------------------------------------
// paths, player and speed plot
// ---------------------------------------------------------------------------------------------------------

function resetRun(id) {
  lg.run = id;
  state.paths = {};
  state.chain = {};
  state.finalShown = false;
  state.done = null;
  state.ended = null;
  $("downloads").hidden = true;
  $("levels").textContent = "";
  for (const m of METHODS) {
    $("caption-" + m).textContent = "";
    const c = $("canvas-" + m);
    c.getContext("2d").clearRect(0, 0, c.width, c.height);
  }
  $("speed").textContent = "";
  $("play").disabled = true;
  $("scrub").disabled = true;
}

function loadPath(path, seq) {
  // Levels arrive faster than their pictures may load: each method shows its paths one after another, in the
  // order the server sent them, so every level is drawn (none is skipped by a later one that loaded first).
  const run = lg.run;
  const img = new Image();
  const loaded = new Promise((resolve) => { img.onload = () => resolve(true); img.onerror = () => resolve(false); });
  img.src = `${path.url}?seq=${seq}`;
  state.chain[path.method] = (state.chain[path.method] || Promise.resolve()).then(() => loaded).then((ok) => {
    if (!ok || run !== lg.run) return;
    state.paths[path.method] = { ...path, img };
    lg.shown.push({ name: path.name, method: path.method, frames: path.frames, nodes: path.nodes || path.frames,
                    final: !!path.final, level: path.level || null, width: img.naturalWidth, at: Date.now() });
    const what = path.method !== "geodesic" ? `${path.frames} frames`
      : path.final ? `final, ${path.frames} frames` : `level ${path.level}: ${path.nodes} points (solving\u2026)`;
    $("caption-" + path.method).textContent = `(${what}, length ${readable(path.length)})`;
    if (path.method === "geodesic") {
      state.finalShown = state.finalShown || !!path.final;
      showLevels();
    }
    $("play").disabled = false;
    $("scrub").disabled = false;
    drawFrames();
    drawSpeed();
  });
}

function showLevels() {
  // what the geodesic's picture is now: a level while solving, the final path, then the finished run
  const g = state.paths.geodesic;
  let text = "";
  if (state.done) {
    const s = state.done;
    text = `done: lengths geodesic ${readable(s.geodesic.length)}, linear ${readable(s.linear.length)}, ` +
      `slerp ${readable(s.slerp.length)}`;
  } else if (state.ended) {
    text = g ? `${g.final ? "final geodesic" : "geodesic level " + g.level} shown; solve ${state.ended}` : "";
  } else if (state.finalShown) {
    text = "final geodesic shown; writing the downloads\u2026";
  } else if (g) {
    text = `geodesic level ${g.level} shown; solving on\u2026`;
  }
  $("levels").textContent = text;
}

function position() {
  // the easing curves come from the server (latent_geodesics.video.easing), sampled evenly in time
  const curve = state.info && state.info.easing_curves[$("easing").value];
  if (!curve) return state.t;
  const x = state.t * (curve.length - 1), i = Math.min(Math.floor(x), curve.length - 2);
  return curve[i] + (x - i) * (curve[i + 1] - curve[i]);
}

function drawFrames() {
  const u = position();
  for (const m of METHODS) {
    const p = state.paths[m];
    if (!p) continue;
    const c = $("canvas-" + m);
    if (c.width !== p.width || c.height !== p.height) { c.width = p.width; c.height = p.height; }
    const i = Math.round(u * (p.frames - 1));
    const ctx = c.getContext("2d");
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(p.img, i * p.width, 0, p.width, p.height, 0, 0, p.width, p.height);
  }
}

function svg(tag, attrs, text) {
  const el = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  if (text !== undefined) el.textContent = text;
  return el;
}

function drawSpeed() {
  const box = $("speed");
  box.textContent = "";
  const { W, H, L, R, T, B } = PLOT;
  const shown = METHODS.filter((m) => state.paths[m]);
  if (!shown.length) return;
  const top = niceTop(Math.max(...shown.flatMap((m) => state.paths[m].steps), 1e-12) * 1.05);
  const x = (t) => L + t * (W - L - R);
  const y = (v) => H - B - (v / top) * (H - T - B);
  box.appendChild(svg("line", { x1: L, y1: H - B, x2: W - R, y2: H - B, stroke: "#999" }));
  box.appendChild(svg("line", { x1: L, y1: T, x2: L, y2: H - B, stroke: "#999" }));
  box.appendChild(svg("text", { x: L, y: H - 6 }, "position along the path \u2192"));
  for (const v of [0, top / 2, top]) {
    box.appendChild(svg("line", { x1: L - 4, y1: y(v), x2: L, y2: y(v), stroke: "#999" }));
    box.appendChild(svg("text", { x: L - 6, y: y(v) + 4, "text-anchor": "end", class: "tick" }, readable(v)));
  }
  // the unit: distance under the solve's metric, per step between frames
  const metric = state.paths[shown[0]].metric;
  const yl = (T + H - B) / 2;
  box.appendChild(svg("text", { x: 11, y: yl, "text-anchor": "middle", transform: `rotate(-90 11 ${yl})`,
                                class: "axis" }, metric ? `${metric} distance per step` : "distance per step"));
  shown.forEach((m, k) => {
    const steps = state.paths[m].steps;
    const pts = steps.map((v, i) => `${x((i + 0.5) / steps.length).toFixed(1)},${y(v).toFixed(1)}`).join(" ");
    box.appendChild(svg("polyline", { points: pts, fill: "none", stroke: COLOURS[m], "stroke-width": 2 }));
    box.appendChild(svg("text", { x: W - R + 8, y: T + 14 + 16 * k, fill: COLOURS[m] }, `${m} step length`));
  });
  const cursor = svg("line", { x1: x(position()), y1: T, x2: x(position()), y2: H - B, stroke: "#e8590c" });
  cursor.id = "speed-cursor";
  box.appendChild(cursor);
}

function moveCursor() {
  const c = $("speed-cursor");
  if (!c) return;
  const xx = PLOT.L + position() * (PLOT.W - PLOT.L - PLOT.R);
  c.setAttribute("x1", xx);
  c.setAttribute("x2", xx);
}

function setT(t) {
  state.t = Math.min(1, Math.max(0, t));
  $("scrub").value = Math.round(state.t * 1000);
  drawFrames();
  moveCursor();
}

function play() {
  if (state.playing) { state.playing = false; $("play").textContent = "Play"; return; }
  state.playing = true;
  $("play").textContent = "Pause";
  const frames = Math.max(...METHODS.map((m) => (state.paths[m] ? state.paths[m].frames : 2)));
  const seconds = Math.max(1.5, frames / 12);
  let last = performance.now();
  if (state.t >= 1) setT(0);
  const step = (now) => {
    if (!state.playing) return;
    const t = state.t + (now - last) / 1000 / seconds;
    last = now;
    lg.played += 1;
    if (t >= 1) { setT(1); state.playing = false; $("play").textContent = "Play"; return; }
    setT(t);
    requestAnimationFrame(step);
  };
  requestAnimationFrame(step);
}

// ---------------------------------------------------------------------------------------------------------
// the map
// ---------------------------------------------------------------------------------------------------------

function drawMap(map) {
  lg.map = map;
  if (!map) return;
  const label = (id) => (state.samples.find((s) => s.id === id) || { label: id }).label;
  for (const kind of ["geodesic", "linear"]) {
    const box = $("map-" + kind);
    box.textContent = "";
    const xy = map[kind];
    const all = map.geodesic.concat(map.linear);
    const xs = all.map((p) => p[0]), ys = all.map((p) => p[1]);
    const cx = (Math.max(...xs) + Math.min(...xs)) / 2, cy = (Math.max(...ys) + Math.min(...ys)) / 2;
    const span = Math.max(Math.max(...xs) - Math.min(...xs), Math.max(...ys) - Math.min(...ys), 1e-12);
    const s = 210 / span; // room for the thumbnails beside the points
    xy.forEach((p, i) => {
      const id = map.ids[i];
      const px = 140 + (p[0] - cx) * s, py = 160 - (p[1] - cy) * s;
      const c = svg("circle", { cx: px.toFixed(1), cy: py.toFixed(1), r: 7, "data-id": id, tabindex: 0,
                                role: "button", "aria-label": label(id) });
      c.appendChild(svg("title", {}, label(id)));
      if (state.mapPicks.includes(id)) c.classList.add("picked");
      c.addEventListener("click", () => mapPick(id));
      c.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); mapPick(id); } });
      box.appendChild(c);
      const sample = state.samples.find((x) => x.id === id);
      if (sample) box.appendChild(svg("image", { href: sample.image, x: (px + 8).toFixed(1), y: (py - 24).toFixed(1),
                                                 width: 22, height: 22 }));
      box.appendChild(svg("text", { x: (px + 9).toFixed(1), y: (py + 10).toFixed(1) }, label(id).replace("seed ", "")));
    });
  }
  $("map-note").textContent = `${map.ids.length} samples, ${map.pairs} pairs under ${map.metric}` +
    (map.median_ratio ? `; geodesics are ${map.median_ratio.toFixed(2)}\u00d7 the straight line (median)` : "");
}

function mapPick(id) {
  if (state.mapPicks.includes(id)) state.mapPicks = state.mapPicks.filter((x) => x !== id);
  else state.mapPicks.push(id);
  if (state.mapPicks.length === 2) {
    state.picked = state.mapPicks.slice();
    state.mapPicks = [];
    renderPicks();
    solve();
  }
  drawMap(lg.map);
}

// ---------------------------------------------------------------------------------------------------------
// jobs and events
// ---------------------------------------------------------------------------------------------------------

async function solve() {
  showError("");
  const body = {
    waypoints: state.picked.slice(),
    metric: $("metric").value,
    realism: $("realism-on").checked ? Number($("realism").value) : null,
    frames: Number($("frames").value),
    easing: $("easing").value,
  };
  try { await api("POST", "/api/solve", body); } catch (e) { showError(e.message); }
}

function onEvent(ev) {
  lg.events += 1;
  if (ev.kind === "job") {
    const running = ev.state === "queued" || ev.state === "running";
    setBusy(running);
    if (ev.id.startsWith("solve-") && ev.state === "queued") resetRun(ev.id);
    const what = ev.state === "done" && ev.id.startsWith("solve-") ? "done (downloads below)"
      : ev.state;
    $("status").textContent = `${ev.id}: ${what}${ev.error ? " \u2014 " + ev.error : ""}`;
    if (ev.state === "failed") showError(ev.error);
    if (!running) $("progress").value = ev.state === "done" ? 1 : 0;
    if (ev.id === lg.run && (ev.state === "failed" || ev.state === "cancelled")) {
      state.ended = ev.state;
      showLevels();
    }
  } else if (ev.kind === "progress") {
    $("status").textContent = `${ev.job}: ${ev.stage}${ev.note ? " (" + ev.note + ")" : ""}`;
    if (ev.total) $("progress").value = Math.min(1, ev.done / ev.total);
    else $("progress").removeAttribute("value"); // a stage without a count: the bar says "working"
  } else if (ev.kind === "path") {
    if (ev.run !== lg.run) resetRun(ev.run);
    loadPath(ev.path, ev.seq);
  } else if (ev.kind === "done") {
    showDone(ev.files, ev.summary);
  } else if (ev.kind === "samples") {
    renderSamples(ev.samples);
  } else if (ev.kind === "map") {
    drawMap(ev.map);
  }
}

function showDone(files, summary) {
  $("dl-video").href = files["video.mp4"];
  $("dl-path").href = files["path.npz"];
  $("dl-report").href = files["report.json"];
  $("downloads").hidden = false;
  state.done = summary;
  showLevels();
}

function listen(after) {
  const source = new EventSource(`/api/events?after=${after}`);
  source.onmessage = (e) => onEvent(JSON.parse(e.data));
}

async function init() {
  const info = state.info = await api("GET", "/api/info");
  $("model").textContent = `${info.model}: images ${info.image_shape.join("\u00d7")}, latent ` +
    `${info.latent_shape.join("\u00d7")}, on ${info.device}`;
  for (const m of info.metrics) $("metric").add(new Option(m, m, m === info.default_metric, m === info.default_metric));
  for (const e of info.easings) $("easing").add(new Option(e, e));
  $("frames").max = info.limits.frames;
  $("realism-on").disabled = $("realism").disabled = !info.realism;
  $("realism").value = info.default_realism;
  renderSamples(info.samples);
  drawMap(info.map);
  setBusy(!!info.job && (info.job.state === "queued" || info.job.state === "running"));
  if (info.job && info.job.run) {
    resetRun(info.job.id);
    for (const m of METHODS) if (info.job.run.paths[m]) loadPath(info.job.run.paths[m], info.events);
    if (info.job.run.files && info.job.run.summary) showDone(info.job.run.files, info.job.run.summary);
    else if (info.job.state === "failed" || info.job.state === "cancelled") state.ended = info.job.state;
  }
  listen(info.events);

  $("reseed").addEventListener("click", () => api("POST", "/api/samples", { reseed: null })
    .then((d) => renderSamples(d.samples)).catch((e) => showError(e.message)));
  $("show-seeds").addEventListener("click", () => {
    const seeds = $("seeds").value.split(/[ ,]+/).filter(Boolean).map(Number);
    api("POST", "/api/samples", { seeds }).then((d) => renderSamples(d.samples)).catch((e) => showError(e.message));
  });
  $("clear").addEventListener("click", () => { state.picked = []; renderPicks(); });
  $("solve").addEventListener("click", solve);
  $("cancel").addEventListener("click", () => api("POST", "/api/cancel").catch((e) => showError(e.message)));
  $("play").addEventListener("click", play);
  $("scrub").addEventListener("input", () => { state.playing = false; setT(Number($("scrub").value) / 1000); });
  $("easing").addEventListener("change", () => { drawFrames(); drawSpeed(); });
  $("map-button").addEventListener("click", () => { showError("");
    api("POST", "/api/map", { metric: $("metric").value }).catch((e) => showError(e.message)); });
  $("file").addEventListener("change", () => { if ($("file").files[0]) sendPhoto($("file").files[0]); });
  const drop = $("drop");
  document.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
  document.addEventListener("dragleave", () => drop.classList.remove("over"));
  document.addEventListener("drop", (e) => {
    e.preventDefault();
    drop.classList.remove("over");
    if (e.dataTransfer.files[0]) sendPhoto(e.dataTransfer.files[0]);
  });
}

init().catch((e) => showError(`cannot load the page: ${e.message}`));
