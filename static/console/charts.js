// Two small SVG charts for the dashboard (no library): horizontal bars and a line chart per day.
// Colours come from classes in console.css; the SVG scales to its container through its viewBox.

const NS = "http://www.w3.org/2000/svg";

function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS(NS, tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, String(value));
  for (const child of children) node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  return node;
}

function empty(message = "No data in this range.") {
  const p = document.createElement("p");
  p.className = "muted";
  p.textContent = message;
  return p;
}

// Each chart is drawn at its container's width (in CSS pixels), so its text stays at one size.

/** Horizontal bars: items [{label, value, className}], one row each, the value printed after its bar. */
export function barChart(items, title, width = 320) {
  if (!items.length || items.every((item) => !item.value)) return empty();
  const row = 26;
  const labelWidth = 112;
  const max = Math.max(...items.map((item) => item.value));
  const room = width - labelWidth - 40;
  const chart = svg("svg", { viewBox: `0 0 ${width} ${items.length * row}`, role: "img", "aria-label": title, class: "chart-svg" }, svg("title", {}, title));
  items.forEach((item, i) => {
    const y = i * row;
    const length = max ? Math.max(1, (item.value / max) * room) : 0;
    chart.append(
      svg("text", { x: labelWidth - 6, y: y + 17, "text-anchor": "end", class: "chart-label" }, item.label),
      svg("rect", { x: labelWidth, y: y + 4, width: length.toFixed(1), height: row - 8, rx: 2, class: `bar ${item.className || ""}` }),
      svg("text", { x: labelWidth + length + 4, y: y + 17, class: "chart-value" }, item.value),
    );
  });
  return chart;
}

/** A line per series over rows [{date, <key>: n}], series [{key, label, className}], with a legend. */
export function lineChart(rows, series, title, width = 320) {
  if (!rows.length) return empty();
  const height = Math.round(Math.min(240, Math.max(160, width * 0.4)));
  const pad = { left: 30, right: 8, top: 10, bottom: 22 };
  const max = Math.max(1, ...rows.flatMap((r) => series.map((s) => Number(r[s.key]) || 0)));
  const x = (i) => pad.left + (rows.length === 1 ? (width - pad.left - pad.right) / 2 : (i * (width - pad.left - pad.right)) / (rows.length - 1));
  const y = (v) => pad.top + (height - pad.top - pad.bottom) * (1 - v / max);
  const chart = svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": title, class: "chart-svg" }, svg("title", {}, title));
  chart.append(
    svg("line", { x1: pad.left, y1: y(0), x2: width - pad.right, y2: y(0), class: "axis" }),
    svg("line", { x1: pad.left, y1: y(max), x2: width - pad.right, y2: y(max), class: "grid" }),
    svg("text", { x: pad.left - 4, y: y(max) + 4, "text-anchor": "end", class: "chart-label" }, max),
    svg("text", { x: pad.left - 4, y: y(0) + 4, "text-anchor": "end", class: "chart-label" }, 0),
    svg("text", { x: pad.left, y: height - 4, class: "chart-label" }, rows[0].date),
  );
  if (rows.length > 1) chart.append(svg("text", { x: width - pad.right, y: height - 4, "text-anchor": "end", class: "chart-label" }, rows.at(-1).date));
  for (const s of series) {
    const points = rows.map((r, i) => `${x(i).toFixed(1)},${y(Number(r[s.key]) || 0).toFixed(1)}`);
    chart.append(svg("polyline", { points: points.join(" "), class: `line ${s.className}` }));
    if (rows.length <= 31) rows.forEach((r, i) => chart.append(svg("circle", { cx: x(i).toFixed(1), cy: y(Number(r[s.key]) || 0).toFixed(1), r: 2.5, class: `dot ${s.className}` }, svg("title", {}, `${r.date}: ${r[s.key] ?? 0} ${s.label.toLowerCase()}`))));
  }
  const legend = document.createElement("div");
  legend.className = "legend";
  for (const s of series) {
    const key = document.createElement("span");
    key.className = `legend-key ${s.className}`;
    legend.append(key, ` ${s.label} `);
  }
  const wrap = document.createElement("div");
  wrap.append(chart, legend);
  return wrap;
}
