// The task tree, collapsible, for any size: only the rows in view exist in the DOM.
//
// The model holds every node the page has loaded (the API's TreeNode: id, title, state, done,
// ready, hidden_children); a container's children are fetched when it is first opened. The
// visible rows are the open nodes flattened in order (O(rows) after a change); a render creates
// the rows of the scrolled-to window only (about 20), positioned absolutely in a spacer as tall
// as all of them, so 10,000 tasks scroll like 20.
import { el, stateLabel } from "./common.js";

const ROW = 26; // px, as --row in style.css
const OVERSCAN = 8;

export class TaskTree {
  constructor(container, { loadChildren, onSelect }) {
    this.container = container;
    this.loadChildren = loadChildren; // id -> Promise<[TreeNode]>
    this.onSelect = onSelect;
    this.nodes = new Map();
    this.roots = [];
    this.rows = [];
    this.selected = null;
    this.spacer = el("div", { class: "spacer" });
    container.replaceChildren(this.spacer);
    container.addEventListener("scroll", () => this.schedule());
    new ResizeObserver(() => this.schedule()).observe(container);
  }

  // Replace the model with a fresh tree (top levels), keeping which nodes were open.
  load(tree, { openAll = false } = {}) {
    const open = this.openIds();
    this.nodes.clear();
    this.roots = tree.map((node) => this.add(node, open, openAll));
    this.refresh();
    return [...open].filter((id) => this.nodes.has(id) && this.nodes.get(id).children === null);
  }

  add(node, open, openAll) {
    const children = node.children.length || !node.hidden_children ? node.children.map((c) => this.add(c, open, openAll)) : null;
    this.nodes.set(node.id, {
      id: node.id, title: node.title, state: node.state, done: node.done, ready: node.ready,
      hidden: node.hidden_children, children, open: (open.has(node.id) || openAll) && children !== null && children.length > 0,
    });
    return node.id;
  }

  openIds() {
    return new Set([...this.nodes.values()].filter((n) => n.open).map((n) => n.id));
  }

  // The children of `id`, as fetched (tree(root=id, depth=2)[0].children): opened, or, with
  // keepOpen (a refresh), as open as they were.
  setChildren(id, children, { keepOpen = false } = {}) {
    const node = this.nodes.get(id);
    if (!node) return;
    const open = keepOpen ? this.openIds() : new Set();
    node.children = children.map((c) => this.add(c, open, false));
    node.hidden = 0;
    node.open = (keepOpen ? node.open : true) && node.children.length > 0;
    this.refresh();
  }

  async toggle(id) {
    const node = this.nodes.get(id);
    if (!node) return;
    if (node.children === null) {
      this.setChildren(id, await this.loadChildren(id));
      return;
    }
    node.open = !node.open && node.children.length > 0;
    this.refresh();
  }

  isContainer(node) {
    return node.children === null ? node.hidden > 0 : node.children.length > 0;
  }

  refresh() {
    const rows = [];
    const walk = (ids, depth) => {
      for (const id of ids) {
        rows.push([id, depth]);
        const node = this.nodes.get(id);
        if (node.open && node.children) walk(node.children, depth + 1);
      }
    };
    walk(this.roots, 0);
    this.rows = rows;
    this.spacer.style.height = `${rows.length * ROW}px`;
    this.render();
  }

  schedule() {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = null;
      this.render();
    });
  }

  window() {
    const first = Math.max(0, Math.floor(this.container.scrollTop / ROW) - OVERSCAN);
    const last = Math.min(this.rows.length, Math.ceil((this.container.scrollTop + this.container.clientHeight) / ROW) + OVERSCAN);
    return [first, last];
  }

  render() {
    const [first, last] = this.window();
    const made = [];
    for (let i = first; i < last; i++) made.push(this.row(i, ...this.rows[i]));
    this.spacer.replaceChildren(...made);
  }

  row(index, id, depth) {
    const node = this.nodes.get(id);
    const container = this.isContainer(node);
    const row = el("div", {
      class: "row" + (id === this.selected ? " selected" : ""), role: "treeitem", "aria-level": depth + 1,
      "aria-expanded": container ? String(node.open) : null,
      dataset: { taskId: id, state: node.state, ready: String(node.ready), done: String(node.done), container: String(container) },
    },
    el("span", { class: "tog", "aria-hidden": "true" }, container ? (node.open ? "▾" : "▸") : "·"),
    el("span", { class: "tid" }, id),
    el("span", { class: "title", title: node.title }, node.title),
    container ? el("span", { class: "count" }, `${node.children ? node.children.length : node.hidden} sub`) : null,
    el("span", { class: "st" }, stateLabel(node.state, node.ready, container, node.done)));
    row.style.top = `${index * ROW}px`;
    row.style.paddingLeft = `${6 + depth * 18}px`;
    row.addEventListener("click", (event) => {
      if (container && (event.target.classList.contains("tog") || event.detail === 2)) this.toggle(id);
      else this.onSelect(id);
    });
    return row;
  }

  // Live: a task's new state, done or ready, in the model and in view.
  update(id, fields) {
    const node = this.nodes.get(id);
    if (!node) return;
    Object.assign(node, fields);
    const shown = this.spacer.querySelector(`.row[data-task-id="${CSS.escape(id)}"]`);
    if (shown) {
      shown.dataset.state = node.state;
      shown.dataset.ready = String(node.ready);
      shown.dataset.done = String(node.done);
      shown.querySelector(".st").textContent = stateLabel(node.state, node.ready, this.isContainer(node), node.done);
    }
  }

  select(id) {
    this.selected = id;
    for (const row of this.spacer.querySelectorAll(".row.selected")) row.classList.remove("selected");
    const shown = id && this.spacer.querySelector(`.row[data-task-id="${CSS.escape(id)}"]`);
    if (shown) shown.classList.add("selected");
  }

  // Open the path to `id` (fetching what is missing) and scroll it into view.
  async reveal(id, ancestors) {
    for (const up of ancestors) {
      const node = this.nodes.get(up);
      if (!node) return;
      if (node.children === null) node.children = (await this.loadChildren(up)).map((c) => this.add(c, new Set(), false));
      node.open = true;
    }
    this.refresh();
    const index = this.rows.findIndex(([rowId]) => rowId === id);
    if (index >= 0) this.container.scrollTop = Math.max(0, index * ROW - this.container.clientHeight / 2);
    this.select(id);
  }

  has(id) {
    return this.nodes.has(id);
  }

  get size() {
    return this.rows.length;
  }
}
