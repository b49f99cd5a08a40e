// The dependency graph of a subtree, drawn in SVG by levels (columns), the critical path marked.
// The server lays it out (planner/web/graph.py: level and order of every node); this only places
// boxes on that grid and joins them with curves, left to right.
import { stateLabel, svg } from "./common.js";

const W = 158; // box
const H = 34;
const GAP_X = 46;
const GAP_Y = 12;
const PAD = 14;

function shorten(text, max) {
  return text.length <= max ? text : text.slice(0, max - 1) + "…";
}

export function drawGraph(target, graph, { onSelect, selected }) {
  const at = new Map();
  let rows = 0;
  for (const node of graph.nodes) {
    at.set(node.id, [PAD + node.level * (W + GAP_X), PAD + node.order * (H + GAP_Y)]);
    rows = Math.max(rows, node.order + 1);
  }
  const width = PAD * 2 + Math.max(1, graph.levels) * (W + GAP_X) - GAP_X;
  const height = PAD * 2 + Math.max(1, rows) * (H + GAP_Y) - GAP_Y;
  target.setAttribute("viewBox", `0 0 ${width} ${height}`);
  target.setAttribute("width", width);
  target.setAttribute("height", height);
  const path = graph.critical_path;
  const criticalArcs = new Set(path.slice(1).map((id, i) => `${path[i]}>${id}`));
  const arcs = graph.edges.map(([from, to]) => {
    const [x1, y1] = at.get(from);
    const [x2, y2] = at.get(to);
    const a = [x1 + W, y1 + H / 2];
    const b = [x2, y2 + H / 2];
    const bend = Math.max(24, (b[0] - a[0]) / 2);
    return svg("path", {
      class: "edge" + (criticalArcs.has(`${from}>${to}`) ? " critical" : ""),
      d: `M${a[0]},${a[1]} C${a[0] + bend},${a[1]} ${b[0] - bend},${b[1]} ${b[0]},${b[1]}`,
      "marker-end": "url(#arrow)",
    });
  });
  const boxes = graph.nodes.map((node) => {
    const [x, y] = at.get(node.id);
    const group = svg("g", {
      class: "gnode" + (node.critical ? " critical" : "") + (node.id === selected ? " selected" : ""),
      transform: `translate(${x},${y})`, role: "button", tabindex: "0",
      dataset: { taskId: node.id, state: node.state, ready: String(node.ready) },
    },
    svg("title", { text: `${node.id} ${node.title}: ${stateLabel(node.state, node.ready)}, effort ${node.effort}` +
      (node.outside ? `, waits on ${node.outside} outside this subtree` : "") }),
    svg("rect", { width: W, height: H, rx: 6 }),
    svg("rect", { class: "bar", width: 5, height: H, rx: 2 }),
    svg("text", { x: 12, y: 14, class: "gid", text: node.id + (node.container ? " ▸" : "") }),
    svg("text", { x: 12, y: 28, text: shorten(node.title, 22) }),
    node.outside ? svg("text", { x: W - 8, y: 14, "text-anchor": "end", class: "outside", text: `+${node.outside}` }) : null);
    group.addEventListener("click", () => onSelect(node.id));
    group.addEventListener("keydown", (event) => { if (event.key === "Enter") onSelect(node.id); });
    return group;
  });
  const defs = svg("defs", {}, svg("marker", {
    id: "arrow", viewBox: "0 0 8 8", refX: 8, refY: 4, markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse",
  }, svg("path", { d: "M0,0 L8,4 L0,8 z", fill: "#9aa5b5" })));
  target.replaceChildren(defs, ...arcs, ...boxes);
}
