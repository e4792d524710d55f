// The SIP ladder: the messages of one call as arrows between the columns door, registrar and flat
// (other peers get a column of their own, named as the firmware reports them).
//
// A message joins the ladder on screen when it has one of its Call-IDs, or while that ladder's
// call is still up (a second leg, a REGISTER refresh mid-call). A new Call-ID after the call ended
// (door and flat both IDLE again, see `callsIdle`) starts a new ladder; registration traffic
// between calls collects in a ladder of its own. The last MAX_LADDERS stay selectable.
//
// Each arrow: <div class="arrow" data-testid="ladder-arrow" data-label="180 Ringing"
//   data-cseq="INVITE" data-from="flat" data-to="door" data-dir="in" data-call-id="...">

const COLUMNS = ["door", "registrar", "flat"];
const MAX_LADDERS = 8;
const MAX_MESSAGES = 300;

export class Ladder {
  constructor(root, head, body, pick) {
    Object.assign(this, { root, head, body, pick });
    this.ladders = [];
    this.shown = null; // the ladder on screen; null follows the newest
    pick.addEventListener("change", () => {
      const chosen = this.ladders.find((l) => String(l.id) === pick.value);
      this.shown = chosen && chosen !== this.ladders.at(-1) ? chosen : null;
      this.render();
    });
    this.nextId = 1;
  }

  /** A `sip` event: {dir, from, to, label, call_id, t_ms}. */
  add(ev) {
    const callId = ev.call_id || "";
    const { label, cseq } = splitLabel(ev.label || "?");
    const invite = label === "INVITE" || (cseq === "INVITE" && /^\d/.test(label));
    let cur = this.ladders.at(-1);
    const joins =
      cur &&
      (cur.callIds.has(callId) ||
        (cur.isCall && !cur.over) ||
        (!cur.isCall && !invite));
    if (!joins) {
      cur = { id: this.nextId++, callIds: new Set(), t0: ev.t_ms, messages: [], isCall: false, over: false };
      this.ladders.push(cur);
      if (this.ladders.length > MAX_LADDERS) this.ladders.shift();
      if (this.shown && !this.ladders.includes(this.shown)) this.shown = null;
    }
    cur.callIds.add(callId);
    cur.isCall ||= invite;
    cur.messages.push({
      t: ev.t_ms - cur.t0,
      from: ev.from || "?",
      to: ev.to || "?",
      label,
      cseq,
      dir: ev.dir || "",
      callId,
    });
    if (cur.messages.length > MAX_MESSAGES) cur.messages.shift();
    this.render();
  }

  /** Door and flat are both IDLE: the current call is over, the next Call-ID starts afresh. */
  callsIdle() {
    const cur = this.ladders.at(-1);
    if (cur && cur.isCall) cur.over = true;
  }

  render() {
    this.renderPick();
    const ladder = this.shown || this.ladders.at(-1);
    if (!ladder) return;
    const columns = [...COLUMNS];
    for (const m of ladder.messages) {
      for (const name of [m.from, m.to]) if (!columns.includes(name)) columns.push(name);
    }
    const n = columns.length;
    const centre = (name) => ((columns.indexOf(name) + 0.5) / n) * 100;

    this.root.dataset.callId = [...ladder.callIds].join(" ");
    this.root.style.setProperty("--columns", n);
    this.head.replaceChildren(
      ...columns.map((name) => el("span", { class: "lane-name", title: name }, name)),
    );

    const stick = this.body.scrollHeight - this.body.scrollTop - this.body.clientHeight < 24;
    const lifelines = columns.map((name) =>
      el("span", { class: "lifeline", style: `left:${centre(name)}%` }),
    );
    const rows = ladder.messages.map((m) => {
      const a = centre(m.from);
      const b = centre(m.to);
      const kind = /^\d/.test(m.label) ? `r${m.label[0]}xx` : "request";
      const text = el("span", { class: "arrow-label" }, m.label);
      if (m.cseq) text.append(el("small", {}, ` (${m.cseq})`));
      const arrow = el(
        "div",
        {
          class: `arrow ${kind} ${b >= a ? "right" : "left"}`,
          style: `left:${Math.min(a, b)}%;width:${Math.max(Math.abs(b - a), 2)}%`,
          "data-testid": "ladder-arrow",
          "data-label": m.label,
          "data-cseq": m.cseq,
          "data-from": m.from,
          "data-to": m.to,
          "data-dir": m.dir,
          "data-call-id": m.callId,
          title: `${m.from} → ${m.to}: ${m.label}${m.cseq ? ` (${m.cseq})` : ""}\nCall-ID ${m.callId}`,
        },
        text,
      );
      return el("div", { class: "ladder-row" }, el("span", { class: "t" }, fmtRel(m.t)), arrow);
    });
    this.body.replaceChildren(el("div", { class: "lanes" }, ...lifelines, ...rows));
    if (stick) this.body.scrollTop = this.body.scrollHeight;
  }

  renderPick() {
    const current = this.shown || this.ladders.at(-1);
    this.pick.disabled = this.ladders.length < 2;
    this.pick.replaceChildren(
      ...this.ladders
        .map((l, i) => {
          const first = l.messages[0];
          const what = l.isCall ? "call" : (first && first.label) || "messages";
          const latest = i === this.ladders.length - 1 ? " (latest)" : "";
          const opt = el("option", { value: l.id }, `#${l.id} ${what} at ${fmtClock(l.t0)}${latest}`);
          opt.selected = l === current;
          return opt;
        })
        .reverse(),
    );
  }
}

/** "180 Ringing (INVITE)" -> {label: "180 Ringing", cseq: "INVITE"}; "ACK" -> {label: "ACK"}. */
export function splitLabel(text) {
  const m = /^(\d{3}.*?)\s*\(([A-Za-z]+)\)$/.exec(text.trim());
  return m ? { label: m[1], cseq: m[2].toUpperCase() } : { label: text.trim(), cseq: "" };
}

/** Milliseconds since the first message: "+0 ms", "+35 ms", "+1.204 s". */
export function fmtRel(ms) {
  return ms < 1000 ? `+${Math.max(0, Math.round(ms))} ms` : `+${(ms / 1000).toFixed(3)} s`;
}

/** Firmware time (ms since it started) as m:ss.d, or h:mm:ss.d. */
export function fmtClock(ms) {
  const s = Math.max(0, ms) / 1000;
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = (s % 60).toFixed(1).padStart(4, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${sec}` : `${m}:${sec}`;
}

/** A small element builder: el("span", {class: "x"}, "text", child). */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value !== undefined && value !== null && value !== "") node.setAttribute(key, value);
  }
  node.append(...children);
  return node;
}
