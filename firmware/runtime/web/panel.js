// The emulator's web panel: the door (call button, LEDs, strike relay, door contact, microphone,
// speaker level) and the flat's phone (answer, hang up, open, keypad, call the door, level), a SIP
// ladder, the call statistics and an event log. Plain ES module, no dependencies, no build step.
//
// Data: GET /api/status and GET /api/emulator for the state (at start, on every (re)connection of
// the event stream, and shortly after `output` events, which also refreshes the LEDs), then the
// server-sent events of GET /api/events: sip door output flat level stats log error registration
// door_opened (see docs/architecture.md, "The emulator's web panel").
//
// Test hooks (id and data-testid are the same unless noted):
//   call-button          click = {"action":"click"}; held >= 250 ms = "press" ... "release"
//                        (the door ignores presses for call.cooldown_s, 3 s, after a call)
//   door-state           data-state = IDLE | CALLING | RINGING | IN_CALL
//   leds                 holds one [data-testid="led-<name>"] per LED: data-pattern, data-lit
//   relay-state          data-state = "on" | "off"
//   relay-countdown      "2.4 s" while the strike is energised, else empty; data-remaining-ms
//                        (empty until the status refresh when the event lacks the time left)
//   door-sensor          toggle button, data-state = "open" | "closed", aria-pressed
//   mic-source           <select> of the sources GET /api/emulator lists
//   door-speaker-level, flat-rx-level   role="meter", data-db, aria-valuenow
//   api-call, api-hangup, api-open      the firmware's own actions (POST /api/call ...)
//   flat-state           data-state = IDLE | RINGING | CALLING | IN_CALL
//   flat-ringing         visible only while the flat rings; data-state = "ringing" | "idle"
//   flat-peer            who the flat talks to
//   flat-answer, flat-hangup, flat-open, flat-call-door   disabled unless the flat's state allows
//                        them (Playwright's click() waits for that), all enabled while it is unknown
//   keypad-0 ... keypad-9, keypad-*, keypad-#   (ids keypad-star and keypad-hash), enabled in a
//                        call; keypad-sent shows the digits sent in this call
//   ladder               data-call-id; each arrow [data-testid="ladder-arrow"] with data-label
//                        ("INVITE", "180 Ringing", "200 OK", "ACK", "BYE"), data-cseq, data-from,
//                        data-to; ladder-pick selects an earlier call
//   stats                [data-stat="codec" | "packets_sent" | "packets_received" | "loss" |
//                        "jitter_ms" | "rtt_ms" | "playout_delay_ms" | "concealed_ms"]; stats-when
//   event-log            <ol>, newest first, each <li data-level="info|warning|error">
//   error-banner         shown (not [hidden]) with one <li> per error; the stream's own entry
//                        goes when it reconnects, the others on "Dismiss"
//   registration-state   data-state = REGISTERED | DISABLED | RETRYING | ...
//   connection-state     data-state = "connecting" | "live" | "reconnecting"; version

import { Ladder, el, fmtClock } from "./ladder.js";

const $ = (id) => document.getElementById(id);

// hal/devices.py LED_PATTERNS: lit/dark steps in ms, or steady.
const LED_PATTERNS = {
  OFF: { steps: [], lit: false },
  ON: { steps: [], lit: true },
  IDLE: { steps: [], lit: false, about: "dark: not registered yet" },
  REGISTERED: { steps: [100, 1900], about: "heartbeat: registered, ready" },
  CALLING: { steps: [500, 500], about: "blinking: ringing the flat" },
  IN_CALL: { steps: [], lit: true, about: "steady: in a call" },
  DOOR_OPEN: { steps: [100, 100], about: "fast blink: strike energised" },
  ERROR: { steps: [100, 150, 100, 650], about: "double blink: registration failing" },
};
const DOOR_TEXT = { IDLE: "idle", CALLING: "calling the flat", RINGING: "incoming call", IN_CALL: "in call" };
const FLAT_TEXT = { IDLE: "idle", RINGING: "ringing", CALLING: "calling the door", IN_CALL: "in call" };
const REG_TEXT = {
  REGISTERED: "registered",
  DISABLED: "no registrar (direct calls)",
  REGISTERING: "registering…",
  RETRYING: "registration failing",
  UNREGISTERED: "not registered",
  UNREGISTERING: "unregistering…",
};
const REFUSALS = {
  in_progress: "a call is being set up or is up",
  cooldown: "the button rests after a call (cooldown)",
  rate_limited: "too many calls this hour",
  no_targets: "no call targets configured",
  no_call: "there is no call",
};
const MIC_TEXT = { voice: "Voice clip", tone: "Tone (1 kHz)", silence: "Silence", laptop: "Laptop microphone" };
const HOLD_MS = 250; // a press held this long is sent as press ... release, shorter as one click
const LEVEL_FLOOR_DB = -60;
const MAX_LOG = 200;

const view = {
  door: "",
  flat: "",
  relayOn: false,
  relayOffAt: null, // performance.now() when the pulse should end
  sensorOpen: false,
  leds: new Map(), // name -> {node, pattern, since, lit}
  levels: {}, // meter id -> performance.now() of the last level
  stats: {},
  statsWhen: "", // "this call" | "last call" | ""
  sent: "",
};
const ladder = new Ladder($("ladder"), $("ladder-head"), $("ladder-body"), $("ladder-pick"));

// -- errors and the log ------------------------------------------------------------------------
const errors = new Map(); // key -> text; "stream" is the event stream's own entry
let errorSeq = 0;

function showError(text, key = `e${++errorSeq}`) {
  errors.delete(key);
  errors.set(key, text);
  const others = [...errors.keys()].filter((k) => k !== "stream");
  if (others.length > 3) errors.delete(others[0]); // the oldest goes; the stream's entry stays
  renderErrors();
}

function clearError(key) {
  if (errors.delete(key)) renderErrors();
}

function renderErrors() {
  $("error-list").replaceChildren(...[...errors.values()].map((text) => el("li", {}, text)));
  $("error-banner").hidden = errors.size === 0;
  $("error-dismiss").hidden = [...errors.keys()].every((key) => key === "stream");
}

function addLog(level, text, tMs) {
  const time = tMs == null ? "panel" : fmtClock(tMs);
  const item = el("li", { "data-level": level }, el("time", {}, time), el("span", { class: "lvl" }, level), el("span", {}, text));
  const list = $("event-log");
  list.prepend(item);
  while (list.children.length > MAX_LOG) list.lastElementChild.remove();
}

// -- talking to the firmware -------------------------------------------------------------------
async function api(method, path, body) {
  let response;
  try {
    response = await fetch(path, {
      method,
      cache: "no-store",
      headers: body ? { "Content-Type": "application/json" } : {},
      body: body ? JSON.stringify(body) : undefined,
    });
  } catch (exc) {
    throw new Error(`the firmware does not answer (${exc.message})`);
  }
  let data = null;
  try {
    data = await response.json();
  } catch {
    // not JSON: the status line says enough
  }
  if (!response.ok || (data && data.ok === false)) {
    const why = (data && data.error) || `HTTP ${response.status} ${response.statusText}`;
    throw new Error(REFUSALS[why] || why);
  }
  return data || {};
}

/** POST an action; a refusal or failure goes to the banner and the log. */
async function act(what, path, body) {
  try {
    return await api("POST", path, body);
  } catch (exc) {
    showError(`${what}: ${exc.message}`);
    addLog("error", `${what}: ${exc.message}`);
    return null;
  }
}

async function refreshStatus() {
  try {
    applyStatus(await api("GET", "/api/status"));
    clearError("status");
  } catch (exc) {
    showError(`Cannot read the firmware's status: ${exc.message}`, "status");
  }
}

async function refreshEmulator() {
  try {
    applyEmulator(await api("GET", "/api/emulator"));
    clearError("emulator");
  } catch (exc) {
    showError(`Cannot read the emulator's state: ${exc.message}`, "emulator");
  }
}

let statusTimer = null;
function refreshStatusSoon() {
  clearTimeout(statusTimer);
  statusTimer = setTimeout(refreshStatus, 150);
}

// -- the event stream --------------------------------------------------------------------------
let stream = null;
let attempts = 0;
let retryMs = 1000;
const seen = new Set(); // events already handled: the stream replays recent ones on every connect
const seenOrder = [];

function connect() {
  setConnection(stream ? "reconnecting" : "connecting");
  stream = new EventSource("/api/events");
  attempts += 1;
  stream.onopen = () => {
    retryMs = 1000;
    setConnection("live");
    if (attempts > 1) {
      addLog("info", "event stream connected again");
      refreshStatus(); // what changed while the stream was down
      refreshEmulator();
    }
    clearError("stream");
  };
  stream.onmessage = (message) => {
    let event;
    try {
      event = JSON.parse(message.data);
    } catch {
      return; // not ours
    }
    if (!event || typeof event.type !== "string") return;
    if (event.type !== "level") {
      const key = message.data;
      if (seen.has(key)) return;
      seen.add(key);
      seenOrder.push(key);
      if (seenOrder.length > 1000) seen.delete(seenOrder.shift());
    }
    try {
      handle(event);
    } catch (exc) {
      showError(`Panel error on a "${event.type}" event: ${exc.message}`, "handler");
    }
  };
  stream.onerror = () => {
    // Reconnect ourselves: the browser gives up for good on an HTTP error or a wrong content type.
    stream.close();
    setConnection("reconnecting");
    if (!errors.has("stream")) addLog("warning", "event stream lost: reconnecting");
    showError("The event stream is down: reconnecting…", "stream");
    setTimeout(connect, retryMs);
    retryMs = Math.min(retryMs * 2, 10000);
  };
}

function setConnection(state) {
  const node = $("connection-state");
  node.dataset.state = state;
  document.body.dataset.connection = state;
  node.textContent = { connecting: "connecting…", live: "live", reconnecting: "reconnecting…" }[state];
}

function handle(ev) {
  switch (ev.type) {
    case "sip":
      ladder.add(ev);
      break;
    case "door":
      if (ev.state !== view.door) addLog("info", `door: ${DOOR_TEXT[ev.state] || ev.state}`, ev.t_ms);
      setDoor(ev.state);
      break;
    case "flat":
      if (ev.state !== view.flat) addLog("info", `flat: ${FLAT_TEXT[ev.state] || ev.state}`, ev.t_ms);
      setFlat(ev.state, ev.peer);
      break;
    case "output":
      onOutput(ev);
      break;
    case "level":
      setLevel("door-speaker-level", ev.door_speaker_db);
      setLevel("flat-rx-level", ev.flat_rx_db);
      break;
    case "stats": {
      const { type, t_ms: tMs, ...stats } = ev;
      setStats(stats, view.door === "IN_CALL" || view.flat === "IN_CALL" ? "this call" : "last call");
      break;
    }
    case "registration":
      addLog("info", `registration: ${regText(ev)}`, ev.t_ms);
      setRegistration(ev);
      break;
    case "door_opened":
      addLog("info", `door opened by ${ev.by || "?"} (${ev.method || "?"})`, ev.t_ms);
      break;
    case "log":
      addLog(ev.level || "info", ev.text || "", ev.t_ms);
      break;
    case "error":
      addLog("error", ev.text || "error", ev.t_ms);
      showError(ev.text || "the firmware reported an error");
      break;
    default:
      break; // a newer firmware's event: nothing to show
  }
}

// -- applying state ----------------------------------------------------------------------------
function applyStatus(s) {
  $("version").textContent = [s.version && `firmware ${s.version}`, s.board].filter(Boolean).join(" · ");
  if (s.registration) setRegistration(s.registration);
  if (s.door) setDoor(s.door.state);
  if (s.relay) setRelay(Boolean(s.relay.on), remainingMs(s.relay, s.t_ms ?? s.now_ms));
  if (s.leds) {
    for (const [name, pattern] of Object.entries(s.leds)) setLed(name, pattern);
    for (const name of view.leds.keys()) if (!(name in s.leds)) removeLed(name);
  }
  const sensorOpen = s.door_sensor ? s.door_sensor.open : s.door && s.door.door_open;
  if (typeof sensorOpen === "boolean") setSensor(sensorOpen);
  const call = s.call && s.call.stats;
  if (call) setStats(call, "this call", true);
  else if (s.last_call_stats) setStats(s.last_call_stats, "last call", true);
  else if (s.stats) setStats(s.stats, "last call", true);
}

function applyEmulator(e) {
  if (e.flat) setFlat(e.flat.state, e.flat.peer);
  if (e.mic) setMic(e.mic.sources || [], e.mic.source);
  if (e.audio) {
    $("mic-source").title = e.audio.backend === "alsa" ? "door audio: the laptop's sound card" : "door audio: simulated";
  }
}

function setPill(id, state, text) {
  const node = $(id);
  node.dataset.state = state || "";
  node.textContent = text;
}

function setDoor(state) {
  view.door = state || "";
  setPill("door-state", state, DOOR_TEXT[state] || state || "—");
  if (state === "CALLING" || state === "RINGING") resetCallView();
  if (state === "IDLE" && view.statsWhen === "this call") setStats(view.stats, "last call", true);
  idleCheck();
}

function setFlat(state, peer) {
  const was = view.flat;
  view.flat = state || "";
  setPill("flat-state", state, FLAT_TEXT[state] || state || "—");
  const ringing = state === "RINGING";
  $("flat-ringing").dataset.state = ringing ? "ringing" : "idle";
  $("flat-ringing-peer").textContent = ringing && peer ? peer : "";
  const verb = { IN_CALL: "Talking to", CALLING: "Calling", RINGING: "Call from" }[state] || "Peer:";
  $("flat-peer").textContent = peer ? `${verb} ${peer}` : "No call.";
  const known = Boolean(state);
  const allow = (id, states) => ($(id).disabled = known && !states.includes(state));
  allow("flat-answer", ["RINGING"]);
  allow("flat-hangup", ["RINGING", "CALLING", "IN_CALL"]);
  allow("flat-open", ["IN_CALL"]);
  allow("flat-call-door", ["IDLE"]);
  for (const key of document.querySelectorAll("#keypad button")) key.disabled = known && state !== "IN_CALL";
  if (state === "IN_CALL" && was !== "IN_CALL") setSent("");
  if (state === "RINGING" || state === "CALLING") resetCallView();
  idleCheck();
}

function idleCheck() {
  if ((view.door || "IDLE") === "IDLE" && (view.flat || "IDLE") === "IDLE") ladder.callsIdle();
}

/** A new call: forget the last call's statistics. */
function resetCallView() {
  if (view.statsWhen === "last call") setStats({}, "", true);
}

function regText(r) {
  const detail = r.status ? ` (${[r.status, r.reason].filter(Boolean).join(" ")})` : "";
  return (REG_TEXT[r.state] || r.state || "—") + detail;
}

function setRegistration(r) {
  setPill("registration-state", r.state, regText(r));
}

function onOutput(ev) {
  if (ev.name === "relay") {
    const on = ev.value === "on" || ev.value === true;
    const left = remainingMs(ev, ev.t_ms);
    const detail = on ? (left ? ` for ${left} ms` : "") : ev.reason ? ` (${ev.reason})` : "";
    addLog("info", `strike relay ${on ? "on" : "off"}${detail}`, ev.t_ms);
    setRelay(on, left);
  } else if (ev.name === "door_sensor") {
    const open = ev.value === "open" || ev.value === true;
    addLog("info", `door contact ${open ? "open" : "closed"}`, ev.t_ms);
    setSensor(open);
  } else if (view.leds.has(ev.name)) {
    setLed(ev.name, String(ev.value));
  }
  refreshStatusSoon(); // the firmware's status has every LED's pattern and the relay's time left
}

/** Milliseconds the pulse has left: `remaining_ms`, or `until_ms` on the clock of `now`; null when
 * unknown (the status refresh that follows every `output` event then fills it in). */
function remainingMs(o, now) {
  if (typeof o.remaining_ms === "number" && o.remaining_ms > 0) return o.remaining_ms;
  if (typeof o.until_ms === "number" && typeof now === "number") {
    const left = o.until_ms - now;
    if (left >= 0 && left <= 60000) return left;
  }
  return null;
}

function setRelay(on, leftMs) {
  view.relayOn = on;
  view.relayOffAt = on && leftMs != null ? performance.now() + leftMs : null;
  const node = $("relay-state");
  node.dataset.state = on ? "on" : "off";
  node.textContent = on ? "released" : "locked";
  tick();
}

function setSensor(open) {
  view.sensorOpen = open;
  const node = $("door-sensor");
  node.dataset.state = open ? "open" : "closed";
  node.setAttribute("aria-pressed", String(open));
  node.textContent = open ? "open" : "closed";
}

function setLed(name, pattern) {
  let led = view.leds.get(name);
  if (!led) {
    const node = el("span", { class: "led", "data-testid": `led-${name}`, "data-led": name, "data-lit": "false" }, el("span", { class: "lamp" }), el("span", { class: "led-name" }, name));
    led = { node, pattern: null, since: 0, lit: false };
    view.leds.set(name, led);
    const box = $("leds");
    box.querySelector(".muted")?.remove();
    const after = [...box.children].find((other) => other.dataset.led > name);
    box.insertBefore(node, after || null);
  }
  if (led.pattern === pattern) return;
  led.pattern = pattern;
  led.since = performance.now();
  led.node.dataset.pattern = pattern;
  const about = LED_PATTERNS[pattern] && LED_PATTERNS[pattern].about;
  led.node.title = `${name} LED: ${pattern}${about ? ` (${about})` : ""}`;
  tick();
}

function removeLed(name) {
  view.leds.get(name).node.remove();
  view.leds.delete(name);
}

function ledLit(pattern, elapsed) {
  const p = LED_PATTERNS[pattern] || { steps: [], lit: true };
  if (!p.steps.length) return Boolean(p.lit);
  let t = elapsed % p.steps.reduce((a, b) => a + b, 0);
  for (let i = 0; i < p.steps.length; i++) {
    if (t < p.steps[i]) return i % 2 === 0;
    t -= p.steps[i];
  }
  return false;
}

function setMic(sources, current) {
  const select = $("mic-source");
  select.replaceChildren(...sources.map((name) => el("option", { value: name }, MIC_TEXT[name] || name)));
  if (!sources.length) select.append(el("option", { value: "" }, "—"));
  select.value = current || "";
  select.dataset.current = current || "";
  select.disabled = sources.length === 0;
}

function setLevel(id, db) {
  if (typeof db !== "number") return;
  const node = $(id);
  const shown = Math.max(LEVEL_FLOOR_DB, Math.min(0, db));
  node.style.setProperty("--level", `${((shown - LEVEL_FLOOR_DB) / -LEVEL_FLOOR_DB) * 100}%`);
  node.dataset.db = String(db);
  node.setAttribute("aria-valuenow", String(Math.round(shown)));
  node.querySelector(".meter-text").textContent = db <= LEVEL_FLOOR_DB ? "silence" : `${Math.round(db)} dBFS`;
  view.levels[id] = performance.now();
}

function clearLevel(id) {
  const node = $(id);
  node.style.setProperty("--level", "0%");
  delete node.dataset.db;
  node.setAttribute("aria-valuenow", String(LEVEL_FLOOR_DB));
  node.querySelector(".meter-text").textContent = "—";
  delete view.levels[id];
}

function setStats(s, when, replace = false) {
  view.stats = replace ? { ...s } : { ...view.stats, ...s };
  const st = view.stats;
  const ms = (v) => (typeof v === "number" ? `${Number.isInteger(v) ? v : v.toFixed(1)} ms` : "—");
  const num = (v) => (typeof v === "number" ? String(v) : "—");
  let loss = "—";
  if (typeof st.packets_lost === "number" || typeof st.loss_percent === "number") {
    loss = `${num(st.packets_lost)}${typeof st.loss_percent === "number" ? ` (${st.loss_percent.toFixed(1)} %)` : ""}`;
  } else if (st.loss != null) {
    loss = String(st.loss);
  }
  const values = {
    codec: st.codec || "—",
    packets_sent: num(st.packets_sent),
    packets_received: num(st.packets_received),
    loss,
    jitter_ms: ms(st.jitter_ms),
    rtt_ms: ms(st.rtt_ms),
    playout_delay_ms: ms(st.playout_delay_ms),
    concealed_ms: ms(st.concealed_ms),
  };
  for (const node of $("stats").querySelectorAll("[data-stat]")) node.textContent = values[node.dataset.stat];
  view.statsWhen = Object.values(st).some((v) => v != null) ? when : "";
  const idle = (view.door || "IDLE") === "IDLE";
  $("stats-when").textContent = view.statsWhen || (idle ? "no call yet" : "waiting for media");
}

function setSent(digits) {
  view.sent = digits;
  $("keypad-sent").textContent = digits || "—";
}

// -- animation: LEDs, the relay's countdown, stale level meters ---------------------------------
function tick() {
  const now = performance.now();
  for (const led of view.leds.values()) {
    const lit = ledLit(led.pattern, now - led.since);
    if (lit !== led.lit) {
      led.lit = lit;
      led.node.dataset.lit = String(lit);
    }
  }
  const countdown = $("relay-countdown");
  let text = "";
  if (view.relayOn && view.relayOffAt != null) {
    const left = Math.max(0, view.relayOffAt - now);
    text = `${(left / 1000).toFixed(1)} s`;
    countdown.dataset.remainingMs = String(Math.round(left));
  } else {
    delete countdown.dataset.remainingMs;
  }
  if (countdown.textContent !== text) countdown.textContent = text;
  for (const [id, at] of Object.entries(view.levels)) if (now - at > 1500) clearLevel(id);
}

// -- controls ----------------------------------------------------------------------------------
function wireCallButton() {
  const button = $("call-button");
  let chain = Promise.resolve();
  const send = (action) => (chain = chain.then(() => act("Call button", "/api/sim/button", { action })));
  let down = false;
  let held = false;
  let timer = null;
  button.addEventListener("pointerdown", (e) => {
    if (e.button !== 0 || down) return;
    button.setPointerCapture(e.pointerId);
    down = true;
    held = false;
    button.classList.add("pressed");
    timer = setTimeout(() => {
      held = true;
      send("press");
    }, HOLD_MS);
  });
  const up = (cancelled) => {
    if (!down) return;
    down = false;
    clearTimeout(timer);
    button.classList.remove("pressed");
    if (held) send("release");
    else if (!cancelled) send("click");
  };
  button.addEventListener("pointerup", () => up(false));
  button.addEventListener("pointercancel", () => up(true));
  button.addEventListener("lostpointercapture", () => up(true));
  button.addEventListener("contextmenu", (e) => e.preventDefault());
  // Keyboard (Enter, Space) and assistive technology: a click without a pointer.
  button.addEventListener("click", (e) => {
    if (e.detail === 0) send("click");
  });
}

function wireControls() {
  wireCallButton();
  const on = (id, fn) => $(id).addEventListener("click", fn);
  on("door-sensor", () => act("Door contact", "/api/sim/door", { open: !view.sensorOpen }));
  on("api-call", () => act("Call (firmware API)", "/api/call", { source: "panel" }));
  on("api-hangup", () => act("Hang up (firmware API)", "/api/hangup", { source: "panel" }));
  on("api-open", () => act("Open door (firmware API)", "/api/door/open", { source: "panel" }));
  on("flat-answer", () => act("Answer", "/api/flat/answer"));
  on("flat-hangup", () => act("Hang up", "/api/flat/hangup"));
  on("flat-open", () => act("Open door", "/api/flat/open"));
  on("flat-call-door", () => act("Call the door", "/api/flat/call"));

  let dtmf = Promise.resolve(); // in order, one request per key
  $("keypad").addEventListener("click", (e) => {
    const key = e.target.closest("button[data-digit]");
    if (!key) return;
    const digit = key.dataset.digit;
    dtmf = dtmf.then(async () => {
      if (await act(`Key ${digit}`, "/api/flat/dtmf", { digits: digit })) setSent(view.sent + digit);
    });
  });

  $("mic-source").addEventListener("change", async (e) => {
    const select = e.target;
    const result = await act("Microphone", "/api/emulator/mic", { source: select.value });
    if (result) select.dataset.current = result.source || select.value;
    else select.value = select.dataset.current || "";
  });

  on("error-dismiss", () => {
    for (const key of [...errors.keys()]) if (key !== "stream") errors.delete(key);
    renderErrors();
  });
  on("log-clear", () => $("event-log").replaceChildren());
}

window.addEventListener("error", (e) => showError(`Panel error: ${e.message}`, "panel"));
window.addEventListener("unhandledrejection", (e) => showError(`Panel error: ${(e.reason && e.reason.message) || e.reason}`, "panel"));

wireControls();
setSent("");
setInterval(tick, 50);
refreshStatus();
refreshEmulator();
connect();
