// A project's page: progress, completions, the task tree, the dependency graph, the ready queue,
// the agents and the event feed; live through one event stream; any past seq through time travel.
//
// Live: each message of the stream carries the events appended since the last one, what they changed
// besides (containers done, dependents ready) and the project's status, ready queue and agents after
// them, all computed once on the server for every page. A task's new state is applied at once wherever
// it is shown. Nothing is polled: the page asks the server for something only when the stream said
// that the tree's shape or the graph changed.
import {
  api, authBox, clock, dateTime, duration, el, LiveStream, number, percent, STATES, stateLabel,
  takeTokenFromFragment, TERMINAL, throttle, toast, token,
} from "./common.js";
import { drawCompletions } from "./chart.js";
import { drawGraph } from "./graph.js";
import { TaskTree } from "./tree.js";

const project = decodeURIComponent(location.pathname.replace(/\/+$/, "").split("/").pop());
const P = `/projects/${encodeURIComponent(project)}`;
const $ = (id) => document.getElementById(id);
const epoch = (ts) => Date.parse(ts) / 1000;

const page = {
  at: null, // the seq shown; null: live
  seq: 0, // the log's last seq, as far as the page knows
  shown: 0, // the seq the views show
  ticket: 0, // the latest load (an older load's answers are dropped)
  selected: null,
  graphRoot: null,
  graphChosen: false,
  effort: null,
  agents: [],
  agentsAt: 0, // Date.now() when the agents were received
  completions: [],
  completionsSeq: 0,
  viewTime: null, // the time of the seq shown (time travel)
  pending: { structure: new Set(), graph: false, detail: false },
};

const tree = new TaskTree($("tree"), {
  loadChildren: async (id) => (await api(`${P}/tree`, { query: { root: id, depth: 2, at: page.at } }))[0].children,
  onSelect: (id) => select(id),
});

// -- rendering ------------------------------------------------------------------------
function meter(parts, total) {
  return el("div", { class: "meter" }, parts.filter(([, n]) => n > 0).map(([kind, n, label]) => {
    const part = el("span", { class: `fill-${kind}`, title: label });
    part.style.width = `${(100 * n) / Math.max(total, 1e-9)}%`;
    return part;
  }));
}

// a view is drawn again only when what it shows changed (a busy project sends a message every 250 ms)
const drawn = { status: "", ready: "", agents: "" };

function changed(view, value) {
  const key = JSON.stringify(value);
  if (drawn[view] === key) return false;
  drawn[view] = key;
  return true;
}

function renderStatus(status) {
  page.status = status;
  if (!changed("status", [status, page.effort])) return;
  $("mode").textContent = status.mode;
  $("mode").dataset.mode = status.mode;
  $("mode-switch").textContent = status.mode === "planning" ? "start working" : "back to planning";
  $("seq").textContent = `seq ${number(status.seq)}`;
  $("tree-count").textContent = `${number(status.tasks)} tasks`;
  renderProgress();
}

function renderProgress() {
  const status = page.status;
  if (!status) return;
  const counts = status.leaves_by_state;
  const leaves = status.progress.leaves;
  const effort = page.effort;
  $("progress").replaceChildren(
    el("div", { class: "big", id: "progress-fraction" }, percent(status.progress.fraction)),
    el("div", {}, `${number(status.progress.completed)} of ${number(leaves)} leaf tasks completed`),
    meter(STATES.map((s) => [s, counts[s] || 0, `${stateLabel(s)}: ${counts[s] || 0}`]), leaves),
    el("div", { class: "legend", id: "progress-counts" }, STATES.filter((s) => counts[s]).map((s) =>
      el("span", { dataset: { state: s, count: counts[s] } }, el("i", { class: `fill-${s}` }), `${stateLabel(s)} ${number(counts[s])}`))),
    effort ? el("div", { class: "effort" },
      el("div", { class: "facts" }, el("span", {}, `effort ${number(effort.done)} of ${number(effort.total)} done`),
        el("strong", {}, percent(effort.fraction))),
      meter([["effort", effort.done, "effort done"]], effort.total)) : null,
    el("div", { class: "facts" }, el("span", {}, `${number(status.ready)} ready`),
      el("span", {}, `${number(status.held)} held`), el("span", {}, `${number(status.tasks)} tasks`),
      el("span", {}, `lease ${duration(status.lease_ttl)}`)),
  );
}

function renderReady(rows) {
  if (!changed("ready", rows)) return;
  const list = $("ready");
  if (!rows.length) {
    list.replaceChildren(el("li", { class: "muted" }, "nothing is ready"));
    return;
  }
  list.replaceChildren(...rows.map((t) => el("li", {
    dataset: { taskId: t.id, state: "pending", ready: "true" }, onclick: () => select(t.id, { reveal: true }),
    title: `${t.title} (capabilities: ${t.capabilities.join(", ") || "any"})`,
  }, el("span", { class: "prio", dataset: { priority: t.priority } }, t.priority), el("span", { class: "tid" }, t.id),
  el("span", { class: "title" }, t.title), el("span", { class: "num" }, `effort ${number(t.effort)} · w ${number(t.weight)}`))));
}

function renderAgents(rows) {
  page.agents = rows;
  page.agentsAt = Date.now();
  const box = $("agents");
  // ages and time left move on by themselves (tick): a redraw is for what else changed
  const shape = rows.map((a) => [a.id, a.health, a.capacity, a.capabilities, a.leases.map((l) => [l.task, l.state, l.token,
    l.notes, Math.round(l.expires_at)])]);
  if (!changed("agents", shape)) {
    for (const node of box.querySelectorAll(".heard")) node.dataset.ago = rows.find((a) => a.id === node.closest("[data-agent-id]").dataset.agentId).heard_ago;
    for (const node of box.querySelectorAll(".left")) {
      const task = node.closest("[data-task-id]").dataset.taskId;
      for (const a of rows) for (const l of a.leases) if (l.task === task) node.dataset.left = l.expires_in;
    }
    return;
  }
  if (!rows.length) {
    box.replaceChildren(el("p", { class: "note" }, "No agent has registered."));
    return;
  }
  box.replaceChildren(...rows.map((a) => {
    const health = a.health.startsWith("silent") ? "silent" : a.health;
    return el("div", { class: "agent", dataset: { agentId: a.id, health } },
      el("div", { class: "agent-head" }, el("span", { class: "name" }, a.id), el("span", { class: "chip" }, a.kind),
        el("span", { class: "grow" }), el("span", { class: "health" }, a.health)),
      el("div", { class: "muted" }, `${a.leases.length}/${a.capacity} held · heard `,
        el("span", { class: "heard", dataset: { ago: a.heard_ago } }, `${duration(a.heard_ago)} ago`)),
      a.capabilities.length ? el("div", { class: "chips" }, a.capabilities.map((c) => el("span", { class: "chip" }, c))) : null,
      a.leases.map((l) => el("div", { class: "lease", dataset: { taskId: l.task, state: l.state || "assigned" } },
        el("span", { class: "tid" }, l.task), el("span", { class: "title", title: l.title || "" }, l.title || ""),
        el("span", { class: "st" }, stateLabel(l.state || "assigned")),
        el("span", { class: "left", dataset: { left: l.expires_in } }, `${duration(l.expires_in)} left`),
        el("span", { class: "muted" }, `attempt ${l.attempt} · token ${l.token}`),
        el("button", { type: "button", class: "write", onclick: () => act("release", l.task, { token: l.token }) }, "release"),
        l.notes ? el("div", { class: "note", title: l.notes }, `last note: ${l.notes}`) : null)));
  }));
  syncWrites();
}

// ages and time left count on between two messages (a local clock: nothing is asked of the server)
function tick() {
  if (page.at !== null) return;
  const elapsed = (Date.now() - page.agentsAt) / 1000;
  for (const node of document.querySelectorAll("#agents .heard")) {
    node.textContent = `${duration(Number(node.dataset.ago) + elapsed)} ago`;
  }
  for (const node of document.querySelectorAll("#agents .left")) {
    const left = Number(node.dataset.left) - elapsed;
    node.textContent = left > 0 ? `${duration(left)} left` : "expired";
    node.dataset.low = String(left < 30);
  }
}

function feedItem(e, fresh) {
  return el("li", { class: fresh ? "fresh" : "", title: `${e.type} ${e.ts}` },
    el("span", { class: "seq" }, e.seq), el("span", { class: "when" }, clock(epoch(e.ts))),
    el("span", { class: "what" }, el("span", { class: "type" }, e.type.split(".").pop().replace("_", " ")), e.text));
}

const FEED_KEPT = 150;
const FEED_PER_MESSAGE = 25; // (what a message carries in full: planner/web/shapes.py EVENTS_SENT)

function renderFeed(events, { replace = false } = {}) {
  const feed = $("feed");
  const items = events.slice().reverse().map((e) => feedItem(e, !replace && events.length <= 10));
  if (replace) feed.replaceChildren(...items);
  else feed.prepend(...items);
  while (feed.children.length > FEED_KEPT) feed.lastChild.remove();
}

function drawChart() {
  const end = page.at === null ? Date.now() / 1000 : page.viewTime;
  drawCompletions($("chart"), page.completions, { end: Math.max(end || 0, page.completions.at(-1) || 0),
    marker: page.at === null ? null : page.viewTime });
}

async function loadGraph(ticket) {
  const root = page.graphRoot;
  $("graph-root").textContent = root ? `subtree of ${root}` : "whole project";
  try {
    const graph = await api(`${P}/graph`, { query: { root, at: page.at } });
    if (ticket !== page.ticket) return;
    drawGraph($("graph"), graph, { onSelect: (id) => select(id, { reveal: true }), selected: page.selected });
    $("graph-note").textContent = graph.nodes.length
      ? `${graph.nodes.length} tasks in ${graph.levels} levels; critical path (effort ${number(graph.critical_effort)}): ` +
        graph.critical_path.join(" → ")
      : "no task here";
  } catch (error) {
    if (ticket !== page.ticket) return;
    $("graph").replaceChildren();
    $("graph").setAttribute("width", 0);
    $("graph").setAttribute("height", 0);
    $("graph-note").textContent = `${error.message}. Select a task and use "graph from here".`;
  }
}

async function select(id, { reveal = false, quiet = false } = {}) {
  page.selected = id;
  tree.select(id);
  for (const node of document.querySelectorAll("#graph .gnode")) node.classList.toggle("selected", node.dataset.taskId === id);
  const q = { at: page.at };
  let task;
  let history;
  try {
    [task, history] = await Promise.all([api(`${P}/tasks/${encodeURIComponent(id)}`, { query: q }),
      api(`${P}/tasks/${encodeURIComponent(id)}/history`, { query: q })]);
  } catch (error) {
    if (!quiet) toast(error.message, "error");
    return;
  }
  if (page.selected !== id) return;
  renderDetail(task, history);
  if (reveal) {
    const ancestors = [];
    for (let up = task.parent; up; up = (await api(`${P}/tasks/${encodeURIComponent(up)}`, { query: q })).parent) {
      ancestors.unshift(up);
    }
    await tree.reveal(id, ancestors);
  }
}

function link(id) {
  return el("a", { href: "#", onclick: (event) => { event.preventDefault(); select(id, { reveal: true }); } }, id);
}

function renderDetail(task, history) {
  const box = $("detail");
  const container = task.children.length > 0;
  box.dataset.taskId = task.id;
  box.dataset.state = task.state;
  box.dataset.container = String(container);
  box.dataset.done = String(task.done);
  const lease = task.lease;
  const facts = [
    ["priority", task.priority], ["effort", number(task.effort)],
    ["parent", task.parent ? link(task.parent) : "none (top level)"],
    ["children", task.children.length ? number(task.children.length) : "none"],
    ["depends on", task.depends_on.length ? task.depends_on.flatMap((d, i) => (i ? [", ", link(d)] : [link(d)])) : "nothing"],
    ["dependents", task.dependents.length ? task.dependents.flatMap((d, i) => (i ? [", ", link(d)] : [link(d)])) : "none"],
    ["capabilities", task.capabilities.join(", ") || "any"],
    ["lease", lease ? `${lease.agent}, token ${lease.token}, attempt ${lease.attempt}, ` +
      `${duration(lease.expires_at - (page.at === null ? Date.now() / 1000 : page.viewTime))} left` : "none"],
    ["checkpoint", task.checkpoint ? `${task.checkpoint.notes || "(data only)"} (by ${task.checkpoint.by || "?"}, seq ${task.checkpoint.seq})` : "none"],
    ["attempts", String(task.attempts)],
  ];
  if (task.description) facts.push(["description", task.description]);
  if (task.verify_command) facts.push(["verify", el("code", {}, task.verify_command)]);
  box.replaceChildren(
    el("div", { class: "card-head", dataset: { state: task.state, ready: String(task.ready), container: String(container),
      done: String(task.done) } }, el("span", { class: "tid" }, task.id), el("strong", {}, task.title),
      el("span", { class: "st" }, stateLabel(task.state, task.ready, container, task.done)), el("span", { class: "grow" }),
      el("button", { type: "button", onclick: () => closeDetail() }, "close")),
    el("dl", {}, facts.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v)])),
    el("div", { class: "actions" },
      el("button", { type: "button", onclick: () => { page.graphRoot = container ? task.id : task.parent; page.graphChosen = true; loadGraph(page.ticket); } },
        "graph from here"),
      lease ? el("button", { type: "button", class: "write", onclick: () => act("release", task.id, { token: lease.token }) }, "release lease") : null,
      ["failed", "blocked"].includes(task.state) && !container
        ? el("button", { type: "button", class: "write", onclick: () => act("retry", task.id) }, "retry") : null,
      !TERMINAL.has(task.state) && !container
        ? el("button", { type: "button", class: "write danger", onclick: () => act("cancel", task.id) }, "cancel") : null),
    el("ol", { class: "history", "aria-label": "history" }, history.slice(-30).reverse().map((e) =>
      el("li", {}, el("span", { class: "muted" }, `#${e.seq} ${clock(epoch(e.ts))} `), e.text))),
  );
  syncWrites();
}

function closeDetail() {
  page.selected = null;
  tree.select(null);
  const box = $("detail");
  delete box.dataset.taskId;
  delete box.dataset.state;
  box.replaceChildren(el("p", { class: "note" }, "Select a task to see it in full."));
}

// -- writes (with the token) -------------------------------------------------------------
function syncWrites() {
  const why = page.at !== null ? "time travel shows the past: go back to live to change anything"
    : !token() ? "writes need the token: unlock them in the top bar" : "";
  for (const button of document.querySelectorAll("button.write")) {
    button.disabled = Boolean(why);
    button.title = why;
  }
}

async function act(kind, task, body = {}) {
  try {
    const after = await api(`${P}/tasks/${encodeURIComponent(task)}/${kind}`, { method: "POST", body });
    toast(`${task}: ${stateLabel(after.state, after.ready)}`);
    if (page.selected === task) select(task, { quiet: true });
  } catch (error) {
    toast(error.message, "error");
  }
}

async function switchMode() {
  const mode = page.status && page.status.mode === "planning" ? "working" : "planning";
  try {
    await api(`${P}/mode`, { method: "POST", body: { mode } });
    toast(`mode: ${mode}`);
  } catch (error) {
    toast(error.message, "error");
  }
}

async function addTask(event) {
  event.preventDefault();
  const form = event.target;
  const data = new FormData(form);
  const after = String(data.get("after") || "").split(",").map((s) => s.trim()).filter(Boolean);
  const body = { title: String(data.get("title")).trim(), priority: data.get("priority"), effort: Number(data.get("effort") || 1) };
  if (String(data.get("parent")).trim()) body.parent = String(data.get("parent")).trim();
  if (after.length) body.depends_on = after;
  try {
    const added = await api(`${P}/tasks`, { method: "POST", body });
    toast(`added ${added.id}`);
    form.reset();
  } catch (error) {
    toast(error.message, "error");
  }
}

// -- loading a whole view (the live project, or a past seq) ----------------------------------
async function loadTree(at, tasks, ticket) {
  const data = await api(`${P}/tree`, { query: { at, depth: tasks <= 3000 ? 3 : 1 } });
  if (ticket !== page.ticket) return null;
  const reopen = tree.load(data, { openAll: tasks <= 300 });
  for (const id of reopen.slice(0, 20)) {
    const children = (await api(`${P}/tree`, { query: { root: id, depth: 2, at } }))[0].children;
    if (ticket !== page.ticket) return null;
    tree.setChildren(id, children);
  }
  return data;
}

async function loadAll(at) {
  const ticket = ++page.ticket;
  const q = { at };
  const status = await api(`${P}/status`, { query: q });
  const [treeData, ready, agents, analysis, feed] = await Promise.all([
    loadTree(at, status.tasks, ticket),
    api(`${P}/ready`, { query: { ...q, limit: 25 } }),
    api(`${P}/agents`, { query: q }),
    api(`${P}/analyze`, { query: { ...q, top: 0 } }),
    api(`${P}/events`, { query: at === null ? { last: 60 } : { last: 60, to: status.seq } }),
  ]);
  if (ticket !== page.ticket || treeData === null) return false;
  page.effort = { total: analysis.total_effort, done: analysis.total_effort - analysis.remaining_effort, fraction: analysis.progress };
  renderStatus(status);
  renderReady(ready);
  renderAgents(agents);
  renderFeed(feed, { replace: true });
  page.viewTime = feed.length ? epoch(feed.at(-1).ts) : null;
  page.shown = status.seq;
  if (at === null) page.seq = Math.max(page.seq, status.seq);
  if (!page.graphChosen) {
    const first = treeData.find((n) => n.children.length || n.hidden_children);
    page.graphRoot = status.tasks <= 400 || !first ? null : first.id;
  }
  await loadGraph(ticket);
  if (page.selected) select(page.selected, { quiet: true });
  syncWrites();
  document.body.dataset.viewSeq = String(status.seq);
  return true;
}

// -- live ---------------------------------------------------------------------------------------
// The task elements outside the tree (ready queue, agents' leases, graph), by id: looked up once per
// message rather than once per event (a busy message carries hundreds).
function taskElements() {
  const found = new Map();
  for (const node of document.querySelectorAll("#ready [data-task-id], #agents [data-task-id], #graph [data-task-id]")) {
    const id = node.dataset.taskId;
    if (!found.has(id)) found.set(id, []);
    found.get(id).push(node);
  }
  return found;
}

function show(nodes, state, ready) {
  for (const node of nodes || []) {
    node.dataset.state = state;
    node.dataset.ready = String(ready);
    const label = node.querySelector(":scope > .st");
    if (label) label.textContent = stateLabel(state, ready);
  }
}

function markState(id, state, elements) {
  const fields = { state };
  if (state !== "pending") fields.ready = false;
  if (tree.has(id) && !tree.isContainer(tree.nodes.get(id))) fields.done = state === "completed";
  tree.update(id, fields);
  show(elements.get(id), state, state === "pending" && (elements.get(id) || [])[0]?.dataset.ready === "true");
}

// what the events changed besides (the server's "derived": a container done, a dependent ready)
function markFlags(id, flags, elements) {
  tree.update(id, flags);
  show(elements.get(id), flags.state, flags.ready);
}

// what the events changed in the tree's shape, the graph, the task shown: asked for at most once a second
const refreshSoon = throttle(async () => {
  if (page.at !== null) return;
  const ticket = page.ticket;
  const { structure, graph, detail } = page.pending;
  page.pending = { structure: new Set(), graph: false, detail: false };
  const jobs = [];
  if (structure.has("")) {
    jobs.push(loadTree(null, page.status ? page.status.tasks : 0, ticket));
  } else {
    for (const parent of structure) {
      const node = tree.nodes.get(parent);
      if (!node || node.children === null) continue;
      jobs.push(api(`${P}/tree`, { query: { root: parent, depth: 2 } }).then((found) => {
        if (ticket === page.ticket) tree.setChildren(parent, found[0].children, { keepOpen: true });
      }));
    }
  }
  if (graph) jobs.push(loadGraph(ticket));
  if (detail && page.selected) jobs.push(select(page.selected, { quiet: true }));
  drawChart();
  await Promise.all(jobs);
}, 1000);

function onMessage(kind, data) {
  page.seq = Math.max(page.seq, data.seq);
  syncTravel();
  if (kind === "reset") {
    loadCompletions();
    if (page.at === null) loadAll(null);
    return;
  }
  for (const [seq, ts] of data.completed || []) {
    if (seq > page.completionsSeq) page.completions.push(epoch(ts));
  }
  page.completionsSeq = Math.max(page.completionsSeq, data.seq);
  if (page.at !== null) return; // time travel: the present waits
  const summary = data.summary;
  if (summary.effort) page.effort = summary.effort;
  renderStatus(summary.status);
  renderReady(summary.ready);
  renderAgents(summary.agents);
  if (kind === "update") applyUpdate(data);
  page.shown = Math.max(page.shown, data.seq);
  document.body.dataset.viewSeq = String(page.shown);
}

// an update: the digest of a batch of events (planner/web/shapes.py digest) and what it changed besides
function applyUpdate(data) {
  const elements = taskElements();
  if (data.events.length) renderFeed(data.events.slice(-FEED_PER_MESSAGE));
  for (const [id, state] of Object.entries(data.states)) markState(id, state, elements);
  for (const [id, flags] of Object.entries(data.derived)) markFlags(id, flags, elements);
  for (const [id, title] of Object.entries(data.titles)) tree.update(id, { title });
  const pending = page.pending;
  for (const parent of data.shape) pending.structure.add(parent);
  pending.graph ||= data.graph;
  if (page.selected && (data.touched === null || data.touched.includes(page.selected))) pending.detail = true;
  if (data.events.length || data.shape.length || data.graph) refreshSoon();
}

async function loadCompletions() {
  const found = await api(`${P}/completions`);
  page.completions = found.times;
  page.completionsSeq = found.seq;
  drawChart();
}

// -- time travel ----------------------------------------------------------------------------------
const range = $("travel-range");
const seqBox = $("travel-seq");

function syncTravel() {
  range.max = String(page.seq);
  range.min = page.seq ? "1" : "0";
  seqBox.max = String(page.seq);
  if (page.at === null) range.value = String(page.seq);
}

async function travel(seq) {
  if (seq !== null && (!Number.isInteger(seq) || seq < 1)) {
    toast("time travel: a seq is a whole number from 1", "error");
    return;
  }
  if (seq !== null && seq >= page.seq) seq = null;
  if (seq === page.at) return;
  page.at = seq;
  document.body.dataset.live = String(seq === null);
  syncWrites();
  $("travel-note").textContent = seq === null ? "back to live…" : `loading seq ${number(seq)}…`;
  let loaded;
  try {
    loaded = await loadAll(seq);
  } catch (error) {
    toast(error.message, "error");
    return;
  }
  if (!loaded) return;
  range.value = String(seq === null ? page.seq : seq);
  seqBox.value = seq === null ? "" : String(seq);
  $("travel-note").textContent = seq === null ? "live"
    : `as at seq ${number(seq)} of ${number(page.seq)}` + (page.viewTime ? `, ${dateTime(page.viewTime)}` : "");
  drawChart();
}

let travelTimer = null;
range.addEventListener("input", () => {
  seqBox.value = range.value;
  clearTimeout(travelTimer);
  travelTimer = setTimeout(() => travel(Number(range.value)), 250);
});
range.addEventListener("change", () => {
  clearTimeout(travelTimer);
  travel(Number(range.value));
});
seqBox.addEventListener("keydown", (event) => {
  if (event.key === "Enter") travel(Number(seqBox.value));
});
$("travel-live").addEventListener("click", () => travel(null));

// -- start --------------------------------------------------------------------------------------
async function main() {
  takeTokenFromFragment();
  $("name").textContent = project;
  document.title = `${project} · superplanner`;
  authBox($("auth"), syncWrites);
  window.addEventListener("hashchange", () => { // (a link with #token=... to the page already open)
    takeTokenFromFragment();
    authBox($("auth"), syncWrites);
    syncWrites();
  });
  $("mode-switch").addEventListener("click", switchMode);
  $("add-open").addEventListener("click", () => $("add-form").classList.toggle("open"));
  $("add-form").addEventListener("submit", addTask);
  $("graph-all").addEventListener("click", () => {
    page.graphRoot = null;
    page.graphChosen = true;
    loadGraph(page.ticket);
  });
  await loadAll(null);
  await loadCompletions();
  syncTravel();
  const conn = $("conn");
  new LiveStream(`/api${P}/stream`, page.shown, {
    onMessage,
    onState: (state) => {
      conn.dataset.state = state;
      conn.textContent = state;
    },
  });
  setInterval(tick, 1000);
  document.body.dataset.readyMs = String(Math.round(performance.now())); // (since navigation: the benchmark reads it)
  document.body.dataset.ready = "true";
}

main().catch((error) => toast(error.message, "error"));
