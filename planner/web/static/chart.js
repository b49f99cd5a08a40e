// Completions over time: the cumulative count of completed tasks, as a step line drawn from the
// log's completion times (GET /api/projects/P/completions, then the live events).
import { clock, dateTime, number, svg } from "./common.js";

const W = 600;
const H = 170;
const M = { left: 40, right: 12, top: 12, bottom: 24 };

export function drawCompletions(target, times, { start, end, marker }) {
  target.setAttribute("viewBox", `0 0 ${W} ${H}`);
  if (!times.length) {
    target.replaceChildren(svg("text", { x: W / 2, y: H / 2, "text-anchor": "middle", class: "tick",
      text: "no task completed yet" }));
    return;
  }
  const t0 = Math.min(start ?? times[0], times[0]);
  const t1 = Math.max(end ?? times[times.length - 1], times[times.length - 1], t0 + 1);
  const x = (t) => M.left + ((t - t0) / (t1 - t0)) * (W - M.left - M.right);
  const y = (n) => H - M.bottom - (n / times.length) * (H - M.top - M.bottom);
  // a step line through at most ~W points: neighbours closer than a pixel are merged
  const points = [[x(t0), y(0)]];
  let lastX = -1;
  times.forEach((t, i) => {
    const px = x(t);
    if (px - lastX >= 1 || i === times.length - 1) {
      points.push([px, points[points.length - 1][1]], [px, y(i + 1)]);
      lastX = px;
    } else {
      points[points.length - 1][1] = y(i + 1);
    }
  });
  points.push([x(t1), y(times.length)]);
  const line = points.map(([px, py]) => `${px.toFixed(1)},${py.toFixed(1)}`).join(" ");
  const area = `${line} ${x(t1).toFixed(1)},${y(0)} ${x(t0).toFixed(1)},${y(0)}`;
  const long = t1 - t0 > 86400;
  const parts = [
    svg("line", { class: "axis", x1: M.left, y1: y(0), x2: W - M.right, y2: y(0) }),
    svg("line", { class: "axis", x1: M.left, y1: M.top, x2: M.left, y2: y(0) }),
    svg("polygon", { class: "area", points: area }),
    svg("polyline", { class: "line", points: line }),
    svg("text", { class: "tick", x: M.left - 6, y: M.top + 8, "text-anchor": "end", text: number(times.length) }),
    svg("text", { class: "tick", x: M.left - 6, y: y(0), "text-anchor": "end", text: "0" }),
    svg("text", { class: "tick", x: M.left, y: H - 6, text: long ? dateTime(t0) : clock(t0) }),
    svg("text", { class: "tick", x: W - M.right, y: H - 6, "text-anchor": "end", text: long ? dateTime(t1) : clock(t1) }),
  ];
  if (marker !== undefined && marker !== null) {
    const mx = x(Math.min(Math.max(marker, t0), t1));
    parts.push(svg("line", { class: "marker", x1: mx, y1: M.top, x2: mx, y2: y(0) }));
  }
  target.replaceChildren(...parts);
}
