// Phota playground: plain JavaScript over the public API (/v1/phota), no build step.
"use strict";

const API = `${location.origin}/v1/phota`;
const $ = (sel) => document.querySelector(sel);
const state = { key: "", mode: "", op: "edit", profiles: [], trainFiles: [] };

// --- HTTP -------------------------------------------------------------------------------------

class ApiError extends Error {
  constructor(status, body, requestId) {
    const detail = body && body.detail;
    const text = Array.isArray(detail) ? detail.map((d) => `${(d.loc || []).join(".")}: ${d.msg}`).join("; ")
      : (detail || `HTTP ${status}`);
    const type = body && (body.error_type || body.type);
    super(`${type ? type + ": " : ""}${text}`);
    this.status = status;
    this.requestId = (body && body.request_id) || requestId;
  }
}

async function api(method, path, { json, body, headers = {}, raw = false } = {}) {
  const init = { method, headers: { "X-API-Key": state.key, ...headers } };
  if (json !== undefined) { init.body = JSON.stringify(json); init.headers["Content-Type"] = "application/json"; }
  else if (body !== undefined) { init.body = body; }
  const res = await fetch(API + path, init);
  if (!res.ok) {
    let parsed = null;
    try { parsed = await res.json(); } catch (_) { /* not JSON */ }
    throw new ApiError(res.status, parsed, res.headers.get("X-Request-Id"));
  }
  return raw ? res : res.json();
}

function showError(err) {
  const box = $("#error");
  if (!err) { box.hidden = true; box.textContent = ""; return; }
  box.hidden = false;
  box.textContent = err.requestId ? `${err.message} (request ${err.requestId})` : String(err.message || err);
}

async function guarded(fn) {
  showError(null);
  try { return await fn(); } catch (err) { showError(err); return undefined; }
}

// --- key and usage ------------------------------------------------------------------------------

async function connect(key) {
  state.key = key.trim();
  const me = await api("GET", "/");
  state.mode = me.mode;
  localStorage.setItem("phota.key", state.key);
  $("#account").textContent = `Connected: account ${me.account} · ${me.mode} key · API ${me.version}` +
    (me.mode === "test" ? " · test mode: local emulator, nothing is charged" : "");
  $("#account").classList.remove("muted");
  $("#app").hidden = false;
  $("#usage").hidden = me.mode !== "live";
  await Promise.all([refreshProfiles(), me.mode === "live" ? refreshUsage() : null]);
}

async function refreshUsage() {
  const usage = await api("GET", "/usage");
  const t = usage.totals;
  $("#balance").textContent = `$${t.balance_usd}`;
  $("#held").textContent = `$${t.held_usd}`;
  $("#charged").textContent = `$${t.charged_usd}`;
  const rows = usage.entries.slice(-10).reverse().map((e) =>
    `<tr><td>${esc(e.created_at)}</td><td>${esc(e.kind)}</td><td>$${esc(e.amount_usd)}</td><td>${esc(e.description || "")}</td></tr>`);
  $("#ledger tbody").innerHTML = rows.join("");
}

function esc(text) {
  return String(text).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
}

// --- uploads ------------------------------------------------------------------------------------

async function upload(file) {
  const type = file.type || "application/octet-stream";
  const res = await api("POST", "/uploads", { body: file, headers: { "Content-Type": type } });
  return res.url;
}

async function uploadAll(files, onProgress) {
  const urls = new Array(files.length);
  let next = 0, done = 0;
  async function worker() {
    while (next < files.length) {
      const i = next++;
      urls[i] = await upload(files[i]);
      onProgress(++done, files.length);
    }
  }
  await Promise.all(Array.from({ length: Math.min(4, files.length) }, worker));
  return urls;
}

// --- profiles -----------------------------------------------------------------------------------

async function pictureUrl(profileId) {
  const res = await api("GET", `/profiles/${encodeURIComponent(profileId)}/profile_picture`, { raw: true });
  return URL.createObjectURL(await res.blob());
}

async function refreshProfiles() {
  const { profiles } = await api("GET", "/profiles/ids");
  state.profiles = profiles;
  const list = $("#profiles");
  list.innerHTML = "";
  for (const p of profiles) {
    const li = document.createElement("li");
    li.dataset.profileId = p.profile_id;
    li.innerHTML = `<img alt=""><div><code>${esc(p.profile_id)}</code> <span class="badge ${esc(p.status)}">${esc(p.status)}</span>` +
      `${p.tag ? ` <span class="muted">${esc(p.tag)}</span>` : ""}</div><span style="flex:1"></span>` +
      `<button class="small mention">[[id]]</button><button class="small danger delete">delete</button>`;
    li.querySelector(".mention").addEventListener("click", () => insertMention(p.profile_id));
    li.querySelector(".delete").addEventListener("click", () => guarded(async () => {
      if (!confirm(`Delete profile ${p.profile_id} everywhere?`)) return;
      await api("DELETE", `/profiles/${encodeURIComponent(p.profile_id)}`);
      await refreshProfiles();
    }));
    if (p.status === "READY") pictureUrl(p.profile_id).then((u) => { li.querySelector("img").src = u; }).catch(() => {});
    list.appendChild(li);
  }
  const helpers = $("#mention-helpers");
  helpers.innerHTML = "";
  for (const p of profiles.filter((x) => x.status === "READY")) {
    const b = document.createElement("button");
    b.type = "button";
    b.textContent = `[[${p.profile_id}]]`;
    b.addEventListener("click", () => insertMention(p.profile_id));
    helpers.appendChild(b);
  }
}

function insertMention(profileId) {
  const box = $("#prompt");
  const token = `[[${profileId}]]`;
  const at = box.selectionStart ?? box.value.length;
  const before = box.value.slice(0, at), after = box.value.slice(box.selectionEnd ?? at);
  const pad = before && !before.endsWith(" ") ? " " : "";
  box.value = `${before}${pad}${token} ${after}`.replace(/\s+$/, " ");
  box.focus();
}

function setTrainFiles(files) {
  state.trainFiles = Array.from(files).filter((f) => f.size > 0);
  const strip = $("#photo-strip");
  strip.innerHTML = "";
  for (const f of state.trainFiles) {
    const img = document.createElement("img");
    img.src = URL.createObjectURL(f);
    img.alt = f.name;
    img.title = f.name;
    strip.appendChild(img);
  }
  const n = state.trainFiles.length;
  $("#train").disabled = n < 5 || n > 50;
  $("#train-status").textContent = n ? `${n} photo(s) selected${n < 5 || n > 50 ? " — a profile needs 5 to 50" : ""}` : "";
}

async function train() {
  const files = state.trainFiles;
  const bar = $("#upload-progress");
  $("#train").disabled = true;
  $("#trained").hidden = true;
  bar.hidden = false; bar.max = files.length; bar.value = 0;
  try {
    const status = $("#train-status");
    const urls = await uploadAll(files, (done, total) => { bar.value = done; status.textContent = `Uploading ${done}/${total}…`; });
    const body = { image_urls: urls, training_tier: $("#tier").value };
    if ($("#tag").value.trim()) body.tag = $("#tag").value.trim();
    const { profile_id: id } = await api("POST", "/profiles/add", { json: body });
    await refreshProfiles();
    const started = Date.now();
    for (;;) {
      const s = await api("GET", `/profiles/${encodeURIComponent(id)}/status`);
      status.textContent = `Profile ${id}: ${s.status}${s.message ? " — " + s.message : ""} (${Math.round((Date.now() - started) / 1000)} s)`;
      status.dataset.status = s.status;
      if (s.status === "READY") {
        $("#trained-picture").src = await pictureUrl(id);
        $("#trained-id").textContent = id;
        $("#trained").hidden = false;
        break;
      }
      if (s.status === "ERROR" || s.status === "INACTIVE") break;
      await new Promise((r) => setTimeout(r, 1000));
    }
    await refreshProfiles();
  } finally {
    bar.hidden = true;
    $("#train").disabled = state.trainFiles.length < 5;
  }
}

// --- studio -------------------------------------------------------------------------------------

function selectOp(op) {
  state.op = op;
  for (const t of document.querySelectorAll(".tab")) t.classList.toggle("active", t.dataset.op === op);
  for (const el of document.querySelectorAll("[data-for]")) el.hidden = !el.dataset.for.split(" ").includes(op);
  $("#input-images").multiple = op === "edit";
  $("#input-label").textContent = op === "edit" ? "Input image(s)" : "Input image";
}

function mime(b64) {
  if (b64.startsWith("iVBOR")) return "image/png";
  if (b64.startsWith("/9j/")) return "image/jpeg";
  return "image/webp";
}

function figure(src, caption, cls) {
  const fig = document.createElement("figure");
  fig.className = cls;
  fig.innerHTML = `<img alt="${esc(caption)}"><figcaption></figcaption>`;
  fig.querySelector("img").src = src;
  fig.querySelector("figcaption").textContent = caption;
  return fig;
}

async function run() {
  const op = state.op;
  const inputs = Array.from($("#input-images").files);
  const reference = $("#reference-image").files[0];
  const prompt = $("#prompt").value.trim();
  const body = { include_identity_scores: true, num_output_images: Number($("#num-images").value) };
  if (prompt) body.prompt = prompt;
  if (op === "edit" || op === "generate") {
    body.base_model = $("#base-model").value;
    body.aspect_ratio = $("#aspect-ratio").value;
  }
  const needs = op === "generate" ? 0 : 1;
  if (inputs.length < needs) throw new Error(`${op} needs an input image`);
  if (op === "remix" && !reference) throw new Error("remix needs a reference image");
  const status = $("#run-status");
  $("#run").disabled = true;
  try {
    status.textContent = "Uploading inputs…";
    const files = op === "edit" ? inputs : op === "generate" ? [] : [inputs[0]];
    const urls = await uploadAll(op === "remix" ? [files[0], reference] : files, () => {});
    if (op === "edit") body.images = urls;
    if (op === "enhance") body.image = urls[0];
    if (op === "remix") { body.input_image = urls[0]; body.reference_image = urls[1]; }
    const readyIds = state.profiles.filter((p) => p.status === "READY").map((p) => p.profile_id);
    if (op !== "generate" && readyIds.length) body.profile_ids = readyIds;  // recognise anyone trained
    status.textContent = `Running ${op}…`;
    const started = performance.now();
    const res = await api("POST", `/${op}`, { json: body });
    status.textContent = `${op} done in ${((performance.now() - started) / 1000).toFixed(1)} s`;
    const out = $("#results");
    out.innerHTML = "";
    (op === "remix" ? [files[0], reference] : files).forEach((f, i) =>
      out.appendChild(figure(URL.createObjectURL(f), op === "remix" && i === 1 ? `reference: ${f.name}` : `input: ${f.name}`, "input")));
    res.images.forEach((b64, i) => {
      const scores = (res.identity_scores || [])[i] || {};
      const text = Object.entries(scores).map(([id, s]) => `${id}: ${s.toFixed(3)}`).join(", ");
      out.appendChild(figure(`data:${mime(b64)};base64,${b64}`, `output ${i + 1}${text ? " · identity " + text : " · no known face"}`, "output"));
    });
    const subjects = Object.entries(res.known_subjects.counts || {});
    const p = document.createElement("p");
    p.className = "subjects";
    p.id = "known-subjects";
    p.textContent = `known_subjects: ${subjects.length ? subjects.map(([id, n]) => `${id} ×${n}`).join(", ") : "none"}`;
    out.appendChild(p);
    if (state.mode === "live") await refreshUsage();
  } finally {
    $("#run").disabled = false;
  }
}

// --- wiring -------------------------------------------------------------------------------------

$("#key-form").addEventListener("submit", (e) => { e.preventDefault(); guarded(() => connect($("#api-key").value)); });
$("#photos").addEventListener("change", (e) => setTrainFiles(e.target.files));
const zone = $("#dropzone");
zone.addEventListener("dragover", (e) => { e.preventDefault(); zone.classList.add("over"); });
zone.addEventListener("dragleave", () => zone.classList.remove("over"));
zone.addEventListener("drop", (e) => { e.preventDefault(); zone.classList.remove("over"); setTrainFiles(e.dataTransfer.files); });
$("#train").addEventListener("click", () => guarded(train));
$("#refresh-profiles").addEventListener("click", () => guarded(refreshProfiles));
for (const t of document.querySelectorAll(".tab")) t.addEventListener("click", () => selectOp(t.dataset.op));
$("#run").addEventListener("click", () => guarded(run));
selectOp("edit");
const saved = localStorage.getItem("phota.key");
if (saved) { $("#api-key").value = saved; guarded(() => connect(saved)); }
