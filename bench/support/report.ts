/**
 * What every benchmark's report is made of: tables for the console and for
 * the Markdown file in bench/results/, and writing that file.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";

import { RESULTS_DIR } from "./summary";

type Cells = readonly string[];

/** Columns padded to their widest cell, two spaces apart, with a rule under the header. */
export function textTable(header: Cells, body: readonly Cells[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((r) => (r[i] ?? "").length)));
  const line = (cells: Cells) => cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join("  ");
  return [line(header), line(widths.map((w) => "-".repeat(w))), ...body.map(line)].join("\n");
}

/** A Markdown table; the columns `rightAligned` picks are aligned right (figures), the others left. */
export function mdTable(header: Cells, body: readonly Cells[], rightAligned: (column: number) => boolean = () => false): string {
  return [
    `| ${header.join(" | ")} |`,
    `| ${header.map((_, i) => (rightAligned(i) ? "---:" : "---")).join(" | ")} |`,
    ...body.map((r) => `| ${r.join(" | ")} |`),
  ].join("\n");
}

/** Documents per table, as counted by support/countingDb.ts: "balanceLedger ×2, providers". */
export function tablesOf(map: ReadonlyMap<string, number>): string {
  return [...map.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([table, n]) => (n === 1 ? table : `${table} ×${n}`))
    .join(", ");
}

/** Writes a bench's Markdown report to bench/results/<file>. */
export function writeReport(file: string, markdown: string): void {
  mkdirSync(RESULTS_DIR, { recursive: true });
  writeFileSync(path.join(RESULTS_DIR, file), markdown);
}
