// The home page: every project of the home with its progress, kept up to date by /api/stream.
import { api, el, LiveStream, number, percent, STATES, stateLabel, takeTokenFromFragment, toast } from "./common.js";

const list = document.getElementById("projects");
const cards = new Map();

function bar(counts, leaves) {
  return el("div", { class: "meter" }, STATES.filter((s) => counts[s]).map((s) => {
    const part = el("span", { class: `fill-${s}`, title: `${stateLabel(s)}: ${counts[s]}` });
    part.style.width = `${(100 * counts[s]) / Math.max(1, leaves)}%`;
    return part;
  }));
}

function card(name, status, error) {
  const body = error
    ? [el("p", { class: "note" }, error)]
    : [
      el("div", { class: "big" }, percent(status.progress.fraction)),
      bar(status.leaves_by_state, status.progress.leaves),
      el("div", { class: "legend" }, STATES.filter((s) => status.leaves_by_state[s]).map((s) =>
        el("span", {}, el("i", { class: `fill-${s}` }), `${stateLabel(s)} ${number(status.leaves_by_state[s])}`))),
      el("div", { class: "facts" },
        el("span", {}, `${number(status.progress.completed)} of ${number(status.progress.leaves)} leaves done`),
        el("span", {}, `${number(status.ready)} ready`), el("span", {}, `${number(status.held)} held`),
        el("span", {}, `seq ${number(status.seq)}`)),
    ];
  return el("a", { class: "card project", href: `/projects/${encodeURIComponent(name)}`, dataset: { project: name } },
    el("div", { class: "card-head" }, el("span", { class: "name" }, name), el("span", { class: "grow" }),
      status ? el("span", { class: "badge", dataset: { mode: status.mode } }, status.mode) : null),
    body);
}

function show(name, status, error) {
  const fresh = card(name, status, error);
  const old = cards.get(name);
  if (old) old.replaceWith(fresh);
  else list.append(fresh);
  cards.set(name, fresh);
}

async function main() {
  takeTokenFromFragment();
  const projects = await api("/projects");
  if (!projects.length) {
    list.append(el("p", { class: "empty" }, "No project in this home yet: create one with `planner init`."));
  }
  for (const p of projects) show(p.name, p.status, p.error);
  const conn = document.getElementById("conn");
  new LiveStream("/api/stream", null, {
    onMessage: (kind, data) => { if (kind === "status") show(data.project, data.status); },
    onState: (state) => { conn.dataset.state = state; conn.textContent = state; },
  });
  document.body.dataset.ready = "true";
}

main().catch((error) => toast(error.message, "error"));
