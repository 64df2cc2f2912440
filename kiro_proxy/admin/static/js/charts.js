// Stacked bar chart in inline SVG (no library): one bar per time bucket, one colour per series.
import { fmtNumber } from "./ui.js";

const SVG = "http://www.w3.org/2000/svg";
export const PALETTE = ["#6d4aff", "#2fb7ff", "#16a34a", "#f59e0b", "#ef4444", "#a855f7", "#14b8a6", "#64748b"];

function svg(tag, attrs) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  return node;
}

function niceMax(value) {
  if (value <= 0) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 2.5, 5, 10]) if (value <= step * power) return step * power;
  return 10 * power;
}

// labels: string per bucket; series: [{label, values:[...]}]
export function stackedBars(labels, series, { height = 220 } = {}) {
  const width = 640, left = 44, right = 8, top = 10, bottom = 24;
  const root = svg("svg", { viewBox: `0 0 ${width} ${height}`, class: "chart", role: "img", preserveAspectRatio: "none" });
  const totals = labels.map((_, i) => series.reduce((sum, s) => sum + (s.values[i] || 0), 0));
  const max = niceMax(Math.max(0, ...totals));
  const plotW = width - left - right, plotH = height - top - bottom;
  for (let g = 0; g <= 4; g++) {
    const y = top + plotH - (plotH * g) / 4;
    root.append(svg("line", { x1: left, x2: width - right, y1: y, y2: y, stroke: "#e4e7ef", "stroke-width": 1 }));
    const label = svg("text", { x: left - 6, y: y + 3, "text-anchor": "end" });
    label.textContent = fmtNumber((max * g) / 4);
    root.append(label);
  }
  const n = Math.max(1, labels.length);
  const slot = plotW / n;
  const barW = Math.max(1, slot * 0.7);
  const every = Math.ceil(n / 8);
  labels.forEach((name, i) => {
    let y = top + plotH;
    const x = left + i * slot + (slot - barW) / 2;
    series.forEach((s, k) => {
      const v = s.values[i] || 0;
      if (v <= 0) return;
      const h = (v / max) * plotH;
      y -= h;
      const rect = svg("rect", { x, y, width: barW, height: Math.max(h, 0.5), fill: PALETTE[k % PALETTE.length], rx: 1 });
      const tip = svg("title", {});
      tip.textContent = `${name} · ${s.label}: ${v}`;
      rect.append(tip);
      root.append(rect);
    });
    if (i % every === 0) {
      const text = svg("text", { x: left + i * slot + slot / 2, y: height - 8, "text-anchor": "middle" });
      text.textContent = name;
      root.append(text);
    }
  });
  return root;
}

export function legend(series, el) {
  return el("div", { class: "legend" }, series.map((s, k) => {
    const swatch = el("i");
    swatch.style.background = PALETTE[k % PALETTE.length];
    return el("span", {}, swatch, s.label);
  }));
}
