// The studio's page: forms that start jobs on the server, their progress (Server-Sent Events),
// and results that play and draw themselves (piano roll, waveform). Nothing loads from elsewhere.
"use strict";

const studio = { models: [], sources: [], programs: [], effects: [], player: null, uploadLimit: 0 };
const $ = (id) => document.getElementById(id);

function element(tag, attributes = {}, ...children) {
  const made = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) {
    if (key === "class") made.className = value;
    else if (key === "text") made.textContent = value;
    else if (key.startsWith("on")) made.addEventListener(key.slice(2), value);
    else if (value !== null && value !== undefined && value !== false) made.setAttribute(key, value);
  }
  for (const child of children) if (child) made.append(child);
  return made;
}

// -- talking to the server --

async function call(path, options = {}) {
  const response = await fetch(path, options);
  let body = null;
  try { body = await response.json(); } catch (err) { body = null; }
  if (!response.ok) throw new Error((body && body.error) || `the studio answered ${response.status}`);
  return body;
}

const post = (path, data) => call(path, {
  method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(data),
});

function say(text, kind = "error") {
  const box = $("message");
  box.textContent = text;
  box.className = `message ${kind}`;
  box.hidden = !text;
}

async function refresh() {
  const state = await call("/api/state");
  Object.assign(studio, { models: state.models, sources: state.sources, programs: state.programs,
                          effects: state.effects, player: state.player, uploadLimit: state.upload_limit });
  showPlayer();
  fillModels();
  fillSources();
  return state;
}

function showPlayer() {
  const line = $("player-status");
  if (studio.player.ok) {
    line.textContent = `MIDI plays through FluidSynth (${studio.player.soundfont})`;
    line.className = "status ok";
  } else {
    line.textContent = studio.player.message;
    line.className = "status warn";
  }
}

// -- models --

function modelLabel(model) {
  const where = model.bundled ? "bundled" : `step ${model.step}`;
  return `${model.run} — ${model.recipe}, makes ${model.makes} (${where})`;
}

function fillSelect(select, models, empty) {
  const chosen = select.value;
  select.replaceChildren(...models.map((m) => element("option", { value: m.run, text: modelLabel(m) })));
  if (models.some((m) => m.run === chosen)) select.value = chosen;
  if (empty) { empty.hidden = models.length > 0; }
  select.disabled = models.length === 0;
}

function fillModels() {
  const usable = studio.models.filter((m) => !m.error);
  fillSelect($("gen-model"), usable.filter((m) => m.controls.length > 0));
  fillSelect($("int-model"), usable.filter((m) => m.generator === "latent"), $("int-missing"));
  fillSelect($("mix-model"), usable.filter((m) => m.generator === "autoencoder"), $("mix-missing"));
  fillSelect($("ins-model"), usable.filter((m) => m.generator === "one-shot"), $("ins-missing"));
  $("int-go").disabled = $("int-model").disabled;
  $("mix-go").disabled = $("mix-model").disabled;
  $("ins-go").disabled = $("ins-model").disabled;
  for (const select of document.querySelectorAll("select.effects")) {
    if (!select.options.length) select.replaceChildren(...studio.effects.map((e) => element("option", { value: e, text: e })));
  }
  const program = $("ren-program");
  if (!program.options.length) {
    program.append(element("option", { value: "", text: "the file's own instruments" }));
    studio.programs.forEach((name, number) => program.append(element("option", { value: String(number), text: `${number} ${name}` })));
  }
  showControls();
  fillRuns();
}

function chosenModel() {
  return studio.models.find((m) => m.run === $("gen-model").value);
}

function showControls() {
  const model = chosenModel();
  const controls = model ? model.controls : [];
  for (const field of $("tab-generate").querySelectorAll("[data-control]")) {
    field.hidden = !field.dataset.control.split(" ").some((c) => controls.includes(c));
  }
  if (!model) return;
  const kinds = { autoregressive: "generates one token after another", latent: "draws phrases from its latent space",
                  "one-shot": "makes single notes, each a new timbre", noise: "makes clips from noise" };
  $("gen-about").textContent = `${model.recipe}: ${kinds[model.generator] || ""}; trained on ${model.data || "its corpus"}.`;
  $("gen-length-unit").textContent = `(${model.length_unit}s)`;
  const length = $("gen-length");
  if (length.dataset.model !== model.run) {  // a sensible length for each kind of model
    length.value = model.makes === ".txt" ? 400 : model.length_unit === "16th-note step" ? 64 : 256;
    length.dataset.model = model.run;
  }
  if (model.pitches) { $("gen-pitch").min = model.pitches[0]; $("gen-pitch").max = model.pitches[1]; }
  const primer = $("gen-primer");
  const vae = controls.includes("similar_to");
  $("gen-primer-title").textContent = vae ? "Vary a phrase (optional)" : "Continue from (optional)";
  primer.dataset.kind = controls.includes("primer_audio") ? "audio" : "midi";
  fillSource(primer);
  $("gen-go").textContent = "Generate";
}

// -- sources: uploads, recordings, bundled primers and earlier results --

function fillSources() {
  for (const box of document.querySelectorAll(".source")) fillSource(box);
}

function fillSource(box) {
  if (!box.querySelector("select")) buildSource(box);
  const select = box.querySelector("select");
  const chosen = box.dataset.chosen || select.value || box.dataset.default || "";
  const fitting = studio.sources.filter((s) => s.kind === box.dataset.kind);
  const options = fitting.map((s) => element("option", { value: s.id, text: s.name }));
  if (box.dataset.optional) options.unshift(element("option", { value: "", text: "nothing: start fresh" }));
  else if (!fitting.length) options.push(element("option", { value: "", text: `upload or record ${box.dataset.kind === "midi" ? "a MIDI file" : "a sound"} first` }));
  select.replaceChildren(...options);
  if (fitting.some((s) => s.id === chosen)) select.value = chosen;
  box.querySelector(".record-audio").hidden = box.dataset.kind !== "audio";
  box.querySelector(".record-midi").hidden = box.dataset.kind !== "midi" || !navigator.requestMIDIAccess;
  box.querySelector("input[type=file]").accept = box.dataset.kind === "midi" ? ".mid,.midi,audio/midi" : "audio/*";
}

function buildSource(box) {
  const select = element("select", { "aria-label": "source", onchange: () => { box.dataset.chosen = select.value; } });
  const file = element("input", { type: "file", hidden: true, onchange: () => {
    if (file.files.length) upload(file.files[0], file.files[0].name, box);
    file.value = "";
  } });
  box.append(select, file,
    element("button", { class: "small", text: "Upload…", onclick: () => file.click() }),
    element("button", { class: "small record-audio", text: "● Record", onclick: (e) => recordAudio(e.target, box) }),
    element("button", { class: "small record-midi", text: "● Play in (MIDI)", onclick: (e) => recordMidi(e.target, box) }));
}

async function upload(blob, name, box) {
  if (blob.size > studio.uploadLimit) {
    say(`${name} is over the upload limit of ${Math.round(studio.uploadLimit / 2 ** 20)} MB; give a shorter recording or a smaller file`);
    return;
  }
  const form = new FormData();
  form.append("file", blob, name);
  try {
    const stored = await call("/api/uploads", { method: "POST", body: form });
    say(`${stored.name}: ${stored.about}`, "info");
    box.dataset.chosen = stored.id;
    await refresh();
    if (box.dataset.kind !== stored.kind) say(`${stored.name} is ${stored.kind === "midi" ? "a MIDI file" : "a recording"}; this needs ${box.dataset.kind === "midi" ? "a MIDI file" : "a recording"}`);
  } catch (err) {
    say(err.message);
  }
}

async function recordAudio(button, box) {
  if (button.recorder) { button.recorder.stop(); return; }
  try {
    const stream = await navigator.mediaDevices.getUserMedia({ audio: true });
    const recorder = new MediaRecorder(stream);
    const pieces = [];
    recorder.ondataavailable = (e) => pieces.push(e.data);
    recorder.onstop = () => {
      stream.getTracks().forEach((t) => t.stop());
      button.recorder = null;
      button.textContent = "● Record";
      button.classList.remove("recording");
      const type = recorder.mimeType || "audio/webm";
      upload(new Blob(pieces, { type }), `recording.${type.includes("ogg") ? "ogg" : "webm"}`, box);
    };
    recorder.start();
    button.recorder = recorder;
    button.textContent = "■ Stop";
    button.classList.add("recording");
  } catch (err) {
    say(`cannot record: ${err.message}; allow the microphone, or upload a recording`);
  }
}

// MIDI played in on a keyboard (Web MIDI, where the browser has it), kept as a MIDI file
async function recordMidi(button, box) {
  if (button.take) {
    const take = button.take;
    take.access.inputs.forEach((input) => { input.onmidimessage = null; });
    button.take = null;
    button.textContent = "● Play in (MIDI)";
    button.classList.remove("recording");
    if (!take.events.length) { say("nothing was played in"); return; }
    upload(new Blob([midiFile(take.events)], { type: "audio/midi" }), "played-in.mid", box);
    return;
  }
  try {
    const access = await navigator.requestMIDIAccess();
    if (!access.inputs.size) { say("no MIDI keyboard is connected"); return; }
    const take = { access, events: [], start: performance.now() };
    access.inputs.forEach((input) => {
      input.onmidimessage = (m) => {
        const kind = m.data[0] & 0xf0;
        if (kind === 0x90 || kind === 0x80) take.events.push([m.timeStamp - take.start, m.data[0] & 0xf0, m.data[1], m.data[2]]);
      };
    });
    button.take = take;
    button.textContent = "■ Stop";
    button.classList.add("recording");
  } catch (err) {
    say(`cannot open MIDI input: ${err.message}`);
  }
}

function midiFile(events) {  // a type-0 MIDI file at 120 qpm, 480 ticks a quarter note
  const bytes = [];
  const variable = (value) => {
    const out = [value & 0x7f];
    while ((value >>= 7)) out.unshift((value & 0x7f) | 0x80);
    return out;
  };
  let last = 0;
  const first = events[0][0];
  for (const [time, kind, pitch, velocity] of events) {
    const tick = Math.round((time - first) * 0.96);  // 480 ticks per 500 ms
    bytes.push(...variable(tick - last), kind, pitch, velocity);
    last = tick;
  }
  bytes.push(0, 0xff, 0x2f, 0);
  const size = bytes.length;
  return new Uint8Array([0x4d, 0x54, 0x68, 0x64, 0, 0, 0, 6, 0, 0, 0, 1, 0x01, 0xe0,
    0x4d, 0x54, 0x72, 0x6b, (size >>> 24) & 255, (size >>> 16) & 255, (size >>> 8) & 255, size & 255, ...bytes]);
}

const sourceOf = (id) => $(id).querySelector("select").value;

// -- jobs --

const number = (id) => ($(id).value === "" ? null : Number($(id).value));

function generateForm() {
  const model = chosenModel();
  const form = { model: model.run };
  const has = (c) => model.controls.includes(c);
  if (has("length")) form.length = number("gen-length");
  if (has("seconds")) form.seconds = number("gen-seconds");
  if (has("bars")) form.bars = number("gen-bars");
  if (has("pitch")) form.pitch = number("gen-pitch");
  if (has("temperature")) form.temperature = number("gen-temperature");
  if (has("top_p")) form.top_p = number("gen-top-p");
  if (has("num_outputs")) form.num_outputs = number("gen-outputs");
  if (has("seed")) form.seed = number("gen-seed");
  if (has("primer_text") && $("gen-primer-text").value) form.primer = $("gen-primer-text").value;
  const primer = sourceOf("gen-primer");
  if (primer && (has("primer_midi") || has("primer_audio"))) form.primer = primer;
  if (primer && has("similar_to")) form.similar_to = primer;
  return form;
}

async function start(path, form) {
  say("");
  try {
    follow(await post(path, form));
  } catch (err) {
    say(err.message);
  }
}

function follow(job) {
  const bar = element("progress", { max: 1 });
  const line = element("span", { class: "progress-text", text: "waiting for the job before it" });
  const note = element("p", { class: "job-note" });
  const cancel = element("button", { class: "small cancel", text: "Cancel", onclick: () => post(`/api/jobs/${job.id}/cancel`, {}).catch((e) => say(e.message)) });
  const panel = element("div", { class: "job", id: `job-${job.id}` },
    element("div", { class: "job-head" }, element("strong", { text: job.title }), cancel), bar, line, note);
  $("jobs").append(panel);
  const events = new EventSource(`/api/jobs/${job.id}/events`);
  events.onmessage = (message) => {
    const now = JSON.parse(message.data);
    showProgress(now, bar, line);
    note.textContent = now.messages.length ? now.messages[now.messages.length - 1] : "";
    if (["done", "failed", "cancelled"].includes(now.state)) {
      events.close();
      panel.remove();
      if (now.state === "done") {
        say(`${now.title}: done`, "info");
        now.results.slice().reverse().forEach((r) => addResult(r, true));
        refresh();
      } else if (now.state === "cancelled") say(`${now.title}: cancelled`, "info");
      else say(`${now.title}: ${now.error}`);
    }
  };
  events.onerror = () => { if (events.readyState === EventSource.CLOSED) panel.remove(); };
}

function showProgress(job, bar, line) {
  const p = job.progress;
  if (job.state === "queued") { line.textContent = "waiting for the job before it"; return; }
  if (!p) { line.textContent = "loading the model"; bar.removeAttribute("value"); return; }
  const unit = p.unit === "s" ? " s" : ` ${p.unit}s`;
  const shown = (v) => (p.unit === "s" ? v.toFixed(1) : Math.round(v));
  if (p.total) {
    bar.max = p.total;
    bar.value = Math.min(p.done, p.total);
  } else bar.removeAttribute("value");
  const left = p.eta !== null && p.eta !== undefined ? ` · ${Math.ceil(p.eta)} s left` : "";
  line.textContent = `${p.task}: ${shown(p.done)}${p.total ? " / " + shown(p.total) : ""}${unit}${left}`;
}

// -- results --

function addResult(result, fresh) {
  $("no-results").hidden = true;
  const card = element("article", { class: `result ${result.kind}` + (fresh ? " fresh" : "") });
  const download = element("a", { class: "download", href: `/api/files/${result.id}?download=1`, download: "",
                                   text: `Download ${result.name.slice(result.name.lastIndexOf("."))}` });
  card.append(element("header", {}, element("h3", { text: result.title }), download));
  if (result.kind === "text") {
    card.append(element("pre", { class: "text", text: result.text }));
  } else {
    const canvas = element("canvas", { class: result.kind === "midi" ? "roll" : "wave" });
    card.append(canvas);
    let audio = null;
    const draw = result.kind === "midi" ? () => drawRoll(canvas, result.notes, audio) : () => drawWave(canvas, result.waveform, audio);
    if (result.audio) {
      audio = element("audio", { src: `/api/files/${result.audio}`, preload: "auto" });
      const play = element("button", { class: "play", text: "▶ Play" });
      const time = element("span", { class: "time", text: "0:00" });
      const followPlayhead = () => { draw(); if (!audio.paused) requestAnimationFrame(followPlayhead); };
      play.addEventListener("click", () => { if (audio.paused) audio.play().catch((e) => say(`cannot play: ${e.message}`)); else audio.pause(); });
      audio.addEventListener("play", () => { play.textContent = "❚❚ Pause"; followPlayhead(); });
      audio.addEventListener("pause", () => { play.textContent = "▶ Play"; });
      audio.addEventListener("ended", () => { play.textContent = "▶ Play"; draw(); });
      audio.addEventListener("loadedmetadata", draw);
      audio.addEventListener("timeupdate", () => { time.textContent = clock(audio.currentTime) + " / " + clock(audio.duration || 0); });
      canvas.addEventListener("click", (e) => {
        if (!audio.duration) return;
        audio.currentTime = audio.duration * (e.offsetX / canvas.clientWidth);
        draw();
      });
      card.append(element("div", { class: "player" }, play, time, audio));
    } else if (result.player_error) {
      card.append(element("p", { class: "warn", text: result.player_error }));
    }
    requestAnimationFrame(draw);
    window.addEventListener("resize", draw);
  }
  $("results").prepend(card);
}

const clock = (s) => `${Math.floor(s / 60)}:${String(Math.floor(s % 60)).padStart(2, "0")}`;

function sized(canvas) {
  const ratio = window.devicePixelRatio || 1;
  canvas.width = Math.max(1, Math.round(canvas.clientWidth * ratio));
  canvas.height = Math.max(1, Math.round(canvas.clientHeight * ratio));
  const context = canvas.getContext("2d");
  context.setTransform(ratio, 0, 0, ratio, 0, 0);
  return [context, canvas.clientWidth, canvas.clientHeight];
}

function playhead(context, audio, seconds, width, height) {
  if (!audio || !audio.currentTime) return;
  const x = (audio.currentTime / (audio.duration || seconds || 1)) * width;
  context.fillStyle = "#e4572e";
  context.fillRect(x, 0, 1.5, height);
}

function drawRoll(canvas, roll, audio) {
  const [context, width, height] = sized(canvas);
  context.fillStyle = "#1d2230";
  context.fillRect(0, 0, width, height);
  const notes = roll.notes;
  if (!notes.length) return;
  const pitches = notes.map((n) => n[2]);
  const low = Math.min(...pitches) - 2, high = Math.max(...pitches) + 2;
  const row = height / (high - low + 1);
  const seconds = audio && audio.duration ? audio.duration : roll.seconds;
  for (let pitch = low; pitch <= high; pitch++) {  // the black keys' rows a shade darker, C lines marked
    const y = height - (pitch - low + 1) * row;
    if ([1, 3, 6, 8, 10].includes(pitch % 12)) { context.fillStyle = "#181c28"; context.fillRect(0, y, width, row); }
    if (pitch % 12 === 0) {
      context.fillStyle = "#2e3548";
      context.fillRect(0, y + row - 1, width, 1);
      context.fillStyle = "#7d869c";
      context.font = "10px system-ui, sans-serif";
      context.fillText(`C${pitch / 12 - 1}`, 4, y + row - 3);
    }
  }
  for (const [start, end, pitch, velocity, drum] of notes) {
    const x = (start / seconds) * width;
    const w = Math.max(2, ((end - start) / seconds) * width - 1);
    const light = 45 + (velocity / 127) * 25;
    context.fillStyle = drum ? `hsl(30, 70%, ${light}%)` : `hsl(${200 - velocity / 3}, 75%, ${light}%)`;
    context.fillRect(x, height - (pitch - low + 1) * row + 0.5, w, Math.max(1.5, row - 1));
  }
  playhead(context, audio, seconds, width, height);
}

function drawWave(canvas, waveform, audio) {
  const [context, width, height] = sized(canvas);
  context.fillStyle = "#1d2230";
  context.fillRect(0, 0, width, height);
  const peaks = waveform.peaks;
  const middle = height / 2;
  context.fillStyle = "#5fb3d9";
  peaks.forEach(([low, high], i) => {
    const x = (i / peaks.length) * width;
    const top = middle - high * middle * 0.95, bottom = middle - low * middle * 0.95;
    context.fillRect(x, top, Math.max(1, width / peaks.length), Math.max(1, bottom - top));
  });
  playhead(context, audio, waveform.seconds, width, height);
}

// -- runs --

function fillRuns() {
  const body = $("runs-body");
  const chosen = body.dataset.chosen;
  body.replaceChildren(...studio.models.map((m) => {
    const best = m.best_val_loss === null || m.best_val_loss === undefined ? "–" : m.best_val_loss.toFixed(4);
    const row = element("tr", { tabindex: "0", onclick: () => showLosses(m.run), onkeydown: (e) => { if (e.key === "Enter") showLosses(m.run); } },
      element("td", { text: m.run + (m.bundled ? " (bundled)" : "") }), element("td", { text: m.recipe }),
      element("td", { class: "num", text: String(m.step) }), element("td", { class: "num", text: best }));
    if (m.run === chosen) row.classList.add("chosen");
    return row;
  }));
}

async function showLosses(run) {
  $("runs-body").dataset.chosen = run;
  fillRuns();
  try {
    const losses = await call(`/api/losses?run=${encodeURIComponent(run)}`);
    $("loss-title").textContent = `Loss curves: ${run}`;
    drawLosses($("loss-plot"), losses);
  } catch (err) {
    say(err.message);
  }
}

function drawLosses(canvas, losses) {
  const [context, width, height] = sized(canvas);
  const left = 52, right = 12, top = 12, bottom = 28;
  context.fillStyle = "#ffffff";
  context.fillRect(0, 0, width, height);
  const points = losses.train.concat(losses.validation);
  context.font = "12px system-ui, sans-serif";
  if (!points.length) { context.fillStyle = "#555"; context.fillText("no losses recorded yet", left, height / 2); return; }
  const steps = points.map((p) => p[0]), values = points.map((p) => p[1]);
  const x0 = Math.min(0, ...steps), x1 = Math.max(...steps) || 1;
  let y0 = Math.min(...values), y1 = Math.max(...values);
  if (y1 - y0 < 1e-9) { y0 -= 0.5; y1 += 0.5; }
  const x = (step) => left + ((step - x0) / (x1 - x0)) * (width - left - right);
  const y = (value) => top + (1 - (value - y0) / (y1 - y0)) * (height - top - bottom);
  context.strokeStyle = "#dde1ea";
  context.fillStyle = "#555";
  for (let i = 0; i <= 4; i++) {
    const value = y0 + ((y1 - y0) * i) / 4;
    context.beginPath(); context.moveTo(left, y(value)); context.lineTo(width - right, y(value)); context.stroke();
    context.fillText(value.toFixed(2), 6, y(value) + 4);
  }
  context.fillText("0", left, height - 10);
  context.fillText(`step ${x1}`, width - right - 60, height - 10);
  const line = (series, color) => {
    context.strokeStyle = color; context.fillStyle = color; context.lineWidth = 2;
    context.beginPath();
    series.forEach(([step, value], i) => (i ? context.lineTo(x(step), y(value)) : context.moveTo(x(step), y(value))));
    context.stroke();
    series.forEach(([step, value]) => context.fillRect(x(step) - 2, y(value) - 2, 4, 4));
    context.lineWidth = 1;
  };
  line(losses.train, "#3a7bd5");
  line(losses.validation, "#e4572e");
  context.fillStyle = "#3a7bd5"; context.fillText("training", width - right - 150, top + 12);
  context.fillStyle = "#e4572e"; context.fillText("validation", width - right - 80, top + 12);
}

// -- the page --

function showTab(name) {
  for (const button of document.querySelectorAll(".tabs button")) button.classList.toggle("active", button.dataset.tab === name);
  for (const panel of document.querySelectorAll(".panel")) panel.hidden = panel.id !== `tab-${name}`;
}

window.addEventListener("DOMContentLoaded", async () => {
  for (const button of document.querySelectorAll(".tabs button")) button.addEventListener("click", () => showTab(button.dataset.tab));
  $("gen-model").addEventListener("change", showControls);
  $("gen-go").addEventListener("click", () => start("/api/generate", generateForm()));
  $("int-go").addEventListener("click", () => start("/api/interpolate", {
    model: $("int-model").value, first: sourceOf("int-first"), last: sourceOf("int-last"), steps: number("int-steps") }));
  $("mix-weight").addEventListener("input", () => { $("mix-weight-shown").textContent = Number($("mix-weight").value).toFixed(2); });
  $("mix-go").addEventListener("click", () => start("/api/mix", {
    model: $("mix-model").value, first: sourceOf("mix-first"), second: sourceOf("mix-second"), weight: number("mix-weight") }));
  $("ins-go").addEventListener("click", () => start("/api/render", {
    source: sourceOf("ins-source"), instrument: $("ins-model").value, effects: $("ins-effects").value }));
  $("ren-go").addEventListener("click", () => start("/api/render", {
    source: sourceOf("ren-source"), program: $("ren-program").value || null, effects: $("ren-effects").value }));
  try {
    const state = await refresh();
    const melody = studio.models.find((m) => m.makes === ".mid" && m.generator === "autoregressive");
    if (melody) { $("gen-model").value = melody.run; showControls(); }
    state.results.slice().reverse().forEach((r) => addResult(r, false));
    state.jobs.forEach(follow);
    document.body.dataset.ready = "true";
  } catch (err) {
    say(`cannot reach the studio: ${err.message}`);
  }
});
