// What both pages use: the API, the write token, DOM helpers, formats, the live stream.

const TOKEN_KEY = "planner.token";

export function token() {
  return localStorage.getItem(TOKEN_KEY) || "";
}

export function setToken(value) {
  if (value) localStorage.setItem(TOKEN_KEY, value);
  else localStorage.removeItem(TOKEN_KEY);
}

// A link may carry the token in its fragment (#token=...), which is never sent to a server:
// keep it, and take it out of the address bar.
export function takeTokenFromFragment() {
  const found = /(?:^#|&)token=([^&]+)/.exec(location.hash);
  if (found) {
    setToken(decodeURIComponent(found[1]));
    history.replaceState(null, "", location.pathname + location.search);
  }
}

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

// One API call: the JSON result, or an ApiError with the server's one-line reason.
export async function api(path, { method = "GET", body, query } = {}) {
  let url = "/api" + path;
  if (query) {
    const params = new URLSearchParams();
    for (const [key, value] of Object.entries(query)) {
      if (value !== undefined && value !== null && value !== "") params.set(key, value);
    }
    if (params.toString()) url += "?" + params;
  }
  const headers = {};
  if (method !== "GET") {
    headers["Content-Type"] = "application/json";
    if (token()) headers["X-Planner-Token"] = token();
  }
  const response = await fetch(url, {
    method, headers, cache: "no-store", body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = await response.json().catch(() => ({ error: response.statusText }));
  if (!response.ok) throw new ApiError(response.status, data.error || response.statusText);
  return data;
}

// el("div", {class: "x", dataset: {taskId: "T1"}, onclick: f}, "text", child, ...)
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  setAttrs(node, attrs);
  for (const child of children.flat()) {
    if (child !== null && child !== undefined && child !== false) node.append(child);
  }
  return node;
}

const SVG_NS = "http://www.w3.org/2000/svg";

export function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS(SVG_NS, tag);
  setAttrs(node, attrs);
  for (const child of children.flat()) {
    if (child !== null && child !== undefined && child !== false) node.append(child);
  }
  return node;
}

function setAttrs(node, attrs) {
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "dataset") Object.assign(node.dataset, value);
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : value);
  }
}

export const STATES = ["pending", "assigned", "in_progress", "blocked", "completed", "failed", "cancelled"];
export const TERMINAL = new Set(["completed", "cancelled"]);

// A task's state as people read it: "ready" for a ready pending task; a container (whose stored
// state stays pending while its children are worked on) is "done" or "open".
export function stateLabel(state, ready, container = false, done = false) {
  if (container && state === "pending") return done ? "done" : "open";
  if (state === "pending" && ready) return "ready";
  return state.replace("_", " ");
}

export function number(n) {
  return Number(n).toLocaleString("en-US", { maximumFractionDigits: 1 });
}

export function percent(fraction) {
  return (fraction * 100).toLocaleString("en-US", { maximumFractionDigits: 1 }) + "%";
}

// seconds as "45 s", "4 min 05 s", "2 h 10 min"
export function duration(seconds) {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, "0")} s`;
  return `${Math.floor(s / 3600)} h ${String(Math.floor((s % 3600) / 60)).padStart(2, "0")} min`;
}

export function clock(epochSeconds) {
  return new Date(epochSeconds * 1000).toLocaleTimeString("en-GB", { hour12: false });
}

export function dateTime(epochSeconds) {
  const d = new Date(epochSeconds * 1000);
  return d.toLocaleDateString("en-CA") + " " + d.toLocaleTimeString("en-GB", { hour12: false });
}

export function toast(message, kind = "info") {
  const box = document.getElementById("toast");
  if (!box) return;
  box.textContent = message;
  box.dataset.kind = kind;
  box.classList.add("show");
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => box.classList.remove("show"), 4000);
}

// fn at most once per `ms`, the last call of a burst included (never dropped)
export function throttle(fn, ms) {
  let timer = null;
  let last = 0;
  return () => {
    if (timer) return;
    timer = setTimeout(async () => {
      timer = null;
      last = Date.now();
      try {
        await fn();
      } catch (error) {
        toast(error.message, "error");
      }
    }, Math.max(0, last + ms - Date.now()));
  };
}

// A Server-Sent Events stream that resumes where it left off: the browser reconnects by itself
// (sending Last-Event-ID, the last seq received); should it give up (a server that answered an
// error while restarting), a new stream starts a second later with ?after=SEQ.
export class LiveStream {
  constructor(url, after, { onMessage, onState }) {
    this.url = url;
    this.after = after;
    this.onMessage = onMessage;
    this.onState = onState || (() => {});
    this.open();
  }

  open() {
    const source = (this.source = new EventSource(this.after == null ? this.url : `${this.url}?after=${this.after}`));
    for (const kind of ["hello", "update", "reset", "status"]) {
      source.addEventListener(kind, (event) => {
        const data = JSON.parse(event.data);
        if (typeof data.seq === "number") this.after = data.seq;
        this.onMessage(kind, data);
      });
    }
    source.onopen = () => this.onState("live");
    source.onerror = () => {
      if (source.readyState === EventSource.CLOSED) {
        this.onState("closed");
        clearTimeout(this.timer);
        this.timer = setTimeout(() => this.open(), 1000);
      } else {
        this.onState("reconnecting");
      }
    };
  }

  close() {
    clearTimeout(this.timer);
    if (this.source) this.source.close();
  }
}

// The token box in the top bar: read-only until a token is given (checked by POST /api/auth).
export function authBox(container, onChange) {
  const render = () => {
    container.replaceChildren();
    if (token()) {
      container.append(
        el("span", { class: "badge", title: "writes are sent with the token" }, "writes enabled"),
        el("button", { type: "button", onclick: () => { setToken(""); render(); onChange(); } }, "forget token"),
      );
      return;
    }
    const input = el("input", { type: "password", placeholder: "token", "aria-label": "token", autocomplete: "off",
      title: "the token in the home's http.token file" });
    const unlock = async () => {
      const given = input.value.trim();
      if (!given) return;
      setToken(given);
      try {
        await api("/auth", { method: "POST" });
        toast("writes enabled");
      } catch (error) {
        setToken("");
        toast(error.message, "error");
      }
      render();
      onChange();
    };
    input.addEventListener("keydown", (event) => { if (event.key === "Enter") unlock(); });
    container.append(el("span", { class: "badge", title: "reading needs no token" }, "read-only"), input,
      el("button", { type: "button", onclick: unlock }, "unlock writes"));
  };
  render();
}
