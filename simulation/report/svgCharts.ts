/**
 * Small, dependency-free SVG charts for the report: line charts, stacked
 * bars over steps, and grouped bars. Each returns an `<svg>` element as text,
 * sized by its viewBox so it scales with the page.
 */
import { escapeXml } from "./format";

export type Series = { name: string; color: string; values: number[]; dashed?: boolean };

/** A shaded stretch of the x axis, e.g. a phase of the price path. */
export type Band = { from: number; to: number; label: string; color: string };

type Frame = { width: number; height: number; left: number; right: number; top: number; bottom: number };

const FRAME: Frame = { width: 720, height: 280, left: 70, right: 20, top: 34, bottom: 52 };

/** 1, 2 or 5 × 10^k: a tick step giving about `count` ticks over `span`. */
export function niceStep(span: number, count = 5): number {
  if (!(span > 0) || !Number.isFinite(span)) return 1;
  const raw = span / count;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const residual = raw / magnitude;
  const nice = residual >= 5 ? 10 : residual >= 2 ? 5 : residual >= 1 ? 2 : 1;
  return nice * magnitude;
}

/** The axis range and ticks covering [min, max], from zero when the data allow. */
export function axis(min: number, max: number, fromZero = true): { low: number; high: number; ticks: number[] } {
  let low = fromZero ? Math.min(0, min) : min;
  let high = max;
  if (high === low) {
    high = low === 0 ? 1 : high + Math.abs(high) * 0.1;
    if (!fromZero) low -= Math.abs(low) * 0.1;
  }
  const step = niceStep(high - low);
  low = Math.floor(low / step) * step;
  high = Math.ceil(high / step) * step;
  const ticks: number[] = [];
  for (let v = low; v <= high + step / 2; v += step) ticks.push(Number(v.toPrecision(12)));
  return { low, high, ticks };
}

export function compactNumber(value: number): string {
  const abs = Math.abs(value);
  if (abs >= 1e9) return `${(value / 1e9).toFixed(abs >= 1e10 ? 0 : 1)}B`;
  if (abs >= 1e6) return `${(value / 1e6).toFixed(abs >= 1e7 ? 0 : 1)}M`;
  if (abs >= 1e4) return `${(value / 1e3).toFixed(0)}k`;
  if (abs >= 100 || abs === 0) return value.toFixed(0);
  if (abs >= 1) return value.toFixed(abs >= 10 ? 1 : 2);
  return value.toPrecision(2);
}

function svgOpen(frame: Frame, title: string): string {
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${frame.width} ${frame.height}" role="img" aria-label="${escapeXml(title)}" class="chart">` +
    `<title>${escapeXml(title)}</title>` +
    `<text x="${frame.left}" y="20" class="chart-title">${escapeXml(title)}</text>`
  );
}

function legend(frame: Frame, items: { name: string; color: string; dashed?: boolean }[]): string {
  let x = frame.left;
  const y = frame.height - 12;
  return items
    .map((item) => {
      const dash = item.dashed ? ` stroke-dasharray="5 3"` : "";
      const out =
        `<line x1="${x}" y1="${y - 4}" x2="${x + 18}" y2="${y - 4}" stroke="${item.color}" stroke-width="3"${dash}/>` +
        `<text x="${x + 23}" y="${y}" class="legend">${escapeXml(item.name)}</text>`;
      x += 30 + item.name.length * 6.6;
      return out;
    })
    .join("");
}

function yAxis(
  frame: Frame,
  ticks: number[],
  scaleY: (v: number) => number,
  format: (v: number) => string,
  yLabel: string,
): string {
  const right = frame.width - frame.right;
  const grid = ticks
    .map((v) => {
      const y = scaleY(v).toFixed(1);
      return (
        `<line x1="${frame.left}" y1="${y}" x2="${right}" y2="${y}" class="grid"/>` +
        `<text x="${frame.left - 6}" y="${y}" class="tick" text-anchor="end" dominant-baseline="middle">${escapeXml(format(v))}</text>`
      );
    })
    .join("");
  const midY = (frame.top + frame.height - frame.bottom) / 2;
  return (
    grid +
    `<text x="14" y="${midY}" class="axis-label" transform="rotate(-90 14 ${midY})" text-anchor="middle">${escapeXml(yLabel)}</text>`
  );
}

function xAxis(frame: Frame, x: number[], scaleX: (v: number) => number, xLabel: string): string {
  if (x.length === 0) return "";
  const first = x[0] as number;
  const last = x[x.length - 1] as number;
  const step = Math.max(1, niceStep(last - first, 8));
  const bottom = frame.height - frame.bottom;
  let ticks = "";
  for (let v = Math.ceil(first / step) * step; v <= last; v += step) {
    ticks += `<text x="${scaleX(v).toFixed(1)}" y="${bottom + 14}" class="tick" text-anchor="middle">${v}</text>`;
  }
  return (
    `<line x1="${frame.left}" y1="${bottom}" x2="${frame.width - frame.right}" y2="${bottom}" class="axis"/>` +
    ticks +
    `<text x="${(frame.left + frame.width - frame.right) / 2}" y="${bottom + 28}" class="axis-label" text-anchor="middle">${escapeXml(xLabel)}</text>`
  );
}

/** Bands cover whole steps (from − ½ to to + ½), clipped to the plot, so adjacent phases meet. */
function bandsSvg(frame: Frame, bands: Band[], scaleX: (v: number) => number): string {
  const bottom = frame.height - frame.bottom;
  const clip = (x: number) => Math.min(frame.width - frame.right, Math.max(frame.left, x));
  return bands
    .map((b) => {
      const x1 = clip(scaleX(b.from - 0.5));
      const x2 = clip(scaleX(b.to + 0.5));
      return (
        `<rect x="${x1.toFixed(1)}" y="${frame.top}" width="${Math.max(1, x2 - x1).toFixed(1)}" height="${bottom - frame.top}" fill="${b.color}" opacity="0.35"/>` +
        `<text x="${((x1 + x2) / 2).toFixed(1)}" y="${frame.top + 11}" class="band-label" text-anchor="middle">${escapeXml(b.label)}</text>`
      );
    })
    .join("");
}

export function lineChart(options: {
  title: string;
  xLabel: string;
  yLabel: string;
  x: number[];
  series: Series[];
  yFormat?: (v: number) => string;
  bands?: Band[];
  fromZero?: boolean;
}): string {
  const frame = FRAME;
  const finite = options.series.flatMap((s) => s.values).filter((v) => Number.isFinite(v));
  const all = finite.length > 0 ? finite : [0];
  const { low: yLow, high: yHigh, ticks: yTicks } = axis(Math.min(...all), Math.max(...all), options.fromZero ?? true);
  const first = options.x[0] ?? 0;
  const last = options.x[options.x.length - 1] ?? 1;
  const plotW = frame.width - frame.left - frame.right;
  const plotH = frame.height - frame.top - frame.bottom;
  const scaleX = (v: number) => frame.left + (last === first ? plotW / 2 : ((v - first) / (last - first)) * plotW);
  const scaleY = (v: number) => frame.top + plotH - ((v - yLow) / (yHigh - yLow || 1)) * plotH;
  const format = options.yFormat ?? compactNumber;
  const lines = options.series
    .map((s) => {
      const points = s.values
        .map((v, i) => `${scaleX(options.x[i] ?? i).toFixed(1)},${scaleY(v).toFixed(1)}`)
        .join(" ");
      const dash = s.dashed ? ` stroke-dasharray="6 4"` : "";
      return `<polyline points="${points}" fill="none" stroke="${s.color}" stroke-width="2.2" stroke-linejoin="round"${dash}><title>${escapeXml(s.name)}</title></polyline>`;
    })
    .join("");
  return (
    svgOpen(frame, options.title) +
    bandsSvg(frame, options.bands ?? [], scaleX) +
    yAxis(frame, yTicks, scaleY, format, options.yLabel) +
    xAxis(frame, options.x, scaleX, options.xLabel) +
    lines +
    legend(frame, options.series) +
    `</svg>`
  );
}

/** Bars per x, stacked from the first series up (counts, e.g. providers per health status). */
export function stackedBarChart(options: {
  title: string;
  xLabel: string;
  yLabel: string;
  x: number[];
  series: Series[];
  bands?: Band[];
}): string {
  const frame = FRAME;
  const totals = options.x.map((_, i) => options.series.reduce((sum, s) => sum + (s.values[i] ?? 0), 0));
  const { low, high, ticks } = axis(0, Math.max(...totals, 1));
  const plotW = frame.width - frame.left - frame.right;
  const plotH = frame.height - frame.top - frame.bottom;
  const n = Math.max(1, options.x.length);
  const slot = plotW / n;
  const barW = Math.max(1, slot * 0.8);
  const first = options.x[0] ?? 0;
  const scaleX = (v: number) => frame.left + (v - first + 0.5) * slot;
  const scaleY = (v: number) => frame.top + plotH - ((v - low) / (high - low || 1)) * plotH;
  let bars = "";
  options.x.forEach((xv, i) => {
    let base = 0;
    for (const s of options.series) {
      const v = s.values[i] ?? 0;
      if (v > 0) {
        const y1 = scaleY(base + v);
        const y0 = scaleY(base);
        bars += `<rect x="${(scaleX(xv) - barW / 2).toFixed(1)}" y="${y1.toFixed(1)}" width="${barW.toFixed(1)}" height="${(y0 - y1).toFixed(1)}" fill="${s.color}"><title>step ${xv}: ${v} ${escapeXml(s.name)}</title></rect>`;
      }
      base += v;
    }
  });
  return (
    svgOpen(frame, options.title) +
    bandsSvg(frame, options.bands ?? [], scaleX) +
    yAxis(frame, ticks, scaleY, compactNumber, options.yLabel) +
    xAxis(frame, options.x, scaleX, options.xLabel) +
    bars +
    legend(frame, options.series) +
    `</svg>`
  );
}

/** Groups of bars, one group per category, one bar per series. */
export function groupedBarChart(options: {
  title: string;
  yLabel: string;
  categories: string[];
  series: Series[];
  yFormat?: (v: number) => string;
  width?: number;
}): string {
  const frame: Frame = { ...FRAME, width: options.width ?? 360 };
  const all = options.series.flatMap((s) => s.values);
  const { low, high, ticks } = axis(0, Math.max(...all, 0));
  const plotW = frame.width - frame.left - frame.right;
  const plotH = frame.height - frame.top - frame.bottom;
  const group = plotW / Math.max(1, options.categories.length);
  const barW = (group * 0.7) / Math.max(1, options.series.length);
  const scaleY = (v: number) => frame.top + plotH - ((v - low) / (high - low || 1)) * plotH;
  const format = options.yFormat ?? compactNumber;
  const bottom = frame.height - frame.bottom;
  let bars = "";
  options.categories.forEach((category, c) => {
    const x0 = frame.left + c * group + group * 0.15;
    options.series.forEach((s, k) => {
      const v = s.values[c] ?? 0;
      const y = scaleY(v);
      bars += `<rect x="${(x0 + k * barW).toFixed(1)}" y="${y.toFixed(1)}" width="${(barW * 0.92).toFixed(1)}" height="${(bottom - y).toFixed(1)}" fill="${s.color}"><title>${escapeXml(`${category}, ${s.name}: ${format(v)}`)}</title></rect>`;
    });
    bars += `<text x="${(frame.left + c * group + group / 2).toFixed(1)}" y="${bottom + 14}" class="tick" text-anchor="middle">${escapeXml(category)}</text>`;
  });
  return (
    svgOpen(frame, options.title) +
    yAxis(frame, ticks, scaleY, format, options.yLabel) +
    `<line x1="${frame.left}" y1="${bottom}" x2="${frame.width - frame.right}" y2="${bottom}" class="axis"/>` +
    bars +
    legend(frame, options.series) +
    `</svg>`
  );
}
