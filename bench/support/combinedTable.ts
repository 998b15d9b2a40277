/**
 * The one table `npm run bench` prints: every bench's summary rows, grouped
 * in the sections of the registry, with a line per bench saying when its
 * figures were made. Rendered as text for the console (long cells wrapped,
 * so it stays readable in a terminal) and as Markdown for
 * bench/results/summary.md and the README.
 */
import { BENCHES, SECTIONS, type BenchEntry } from "./registry";
import type { BenchSummary, SummaryRead, SummaryRow } from "./summary";

type Cells = [area: string, measure: string, value: string, goal: string, verdict: string];

type Line = { kind: "section"; text: string } | { kind: "bench"; text: string } | { kind: "row"; cells: Cells };

const HEADER: Cells = ["Area", "Measure", "Value", "Goal", "Verdict"];
/** Column widths the text table wraps at; Markdown cells are never wrapped. */
const MAX_WIDTH = [40, 42, 40, 36, 7] as const;

const valueText = (value: SummaryRow["value"]) => (typeof value === "number" ? value.toLocaleString("en-US") : value);

function benchLine(entry: BenchEntry, summary: BenchSummary): string {
  const when = summary.generatedAt.replace("T", " ").slice(0, 16);
  return `bench:${entry.alias} — ${summary.title} (${when} UTC, took ${(summary.durationMs / 1000).toFixed(1)} s)`;
}

function linesOf(reads: ReadonlyMap<BenchEntry["name"], SummaryRead>): Line[] {
  const lines: Line[] = [];
  for (const section of SECTIONS) {
    lines.push({ kind: "section", text: section.title });
    for (const entry of BENCHES.filter((b) => b.section === section.id)) {
      const read = reads.get(entry.name) ?? { state: "missing" };
      if (read.state === "missing") {
        lines.push({ kind: "bench", text: `bench:${entry.alias} — no results yet (npm run bench:${entry.alias})` });
        continue;
      }
      if (read.state === "invalid") {
        lines.push({ kind: "bench", text: `bench:${entry.alias} — INVALID ${entry.name}.summary.json: ${read.problem}` });
        continue;
      }
      lines.push({ kind: "bench", text: benchLine(entry, read.summary) });
      for (const row of read.summary.rows) {
        lines.push({ kind: "row", cells: [row.area, row.measure, valueText(row.value), row.goal ?? "", row.verdict] });
      }
      for (const error of read.summary.errors) lines.push({ kind: "row", cells: ["(not measured)", error, "", "", "ERROR"] });
    }
  }
  return lines;
}

/** Splits `text` into lines of at most `width` characters, at spaces where it can. */
function wrap(text: string, width: number): string[] {
  const out: string[] = [];
  let rest = text;
  while (rest.length > width) {
    const space = rest.lastIndexOf(" ", width);
    const cut = space > width / 3 ? space : width;
    out.push(rest.slice(0, cut).trimEnd());
    rest = rest.slice(cut).trimStart();
  }
  out.push(rest);
  return out;
}

export function renderText(reads: ReadonlyMap<BenchEntry["name"], SummaryRead>): string {
  const lines = linesOf(reads);
  const rows = lines.flatMap((l) => (l.kind === "row" ? [l.cells] : []));
  const widths = HEADER.map((h, i) =>
    Math.min(MAX_WIDTH[i] ?? 40, Math.max(h.length, ...rows.map((cells) => (cells[i] ?? "").length))),
  );
  // Section and bench lines span the table, and no less than a terminal's usual width.
  const total = Math.max(100, widths.reduce((a, b) => a + b, 0) + 3 * (widths.length - 1));
  const render = (cells: readonly string[]) => {
    const wrapped = cells.map((c, i) => wrap(c, widths[i] ?? 40));
    const height = Math.max(...wrapped.map((w) => w.length));
    return Array.from({ length: height }, (_, k) =>
      wrapped.map((w, i) => (w[k] ?? "").padEnd(widths[i] ?? 0)).join(" │ ").trimEnd(),
    );
  };
  const rule = (char: string) => widths.map((w) => char.repeat(w)).join(`${char}${char === "─" ? "┼" : char}${char}`);
  const out = [...render(HEADER), rule("─")];
  for (const line of lines) {
    if (line.kind === "section") out.push("", `${line.text.toUpperCase()}`, "═".repeat(Math.min(total, line.text.length)));
    else if (line.kind === "bench") out.push(...wrap(`· ${line.text}`, total));
    else out.push(...render(line.cells));
  }
  return out.join("\n");
}

export function renderMarkdown(reads: ReadonlyMap<BenchEntry["name"], SummaryRead>): string {
  const esc = (c: string) => c.replace(/\|/g, "\\|");
  const row = (cells: readonly string[]) => `| ${cells.map(esc).join(" | ")} |`;
  const out = [row(HEADER), "| --- | --- | --- | --- | --- |"];
  for (const line of linesOf(reads)) {
    if (line.kind === "section") out.push(row([`**${line.text}**`, "", "", "", ""]));
    else if (line.kind === "bench") out.push(row([`_${line.text}_`, "", "", "", ""]));
    else out.push(row(line.cells.map((c, i) => (i === 4 && c !== "INFO" ? `**${c}**` : c))));
  }
  return out.join("\n");
}

/** Verdicts over every row shown, and the benches without (valid) results. */
export function tally(reads: ReadonlyMap<BenchEntry["name"], SummaryRead>): string {
  const counts = { PASS: 0, FAIL: 0, INFO: 0, ERROR: 0 };
  const absent: string[] = [];
  for (const entry of BENCHES) {
    const read = reads.get(entry.name);
    if (read?.state !== "ok") {
      absent.push(`bench:${entry.alias} (${read?.state ?? "missing"})`);
      continue;
    }
    for (const r of read.summary.rows) counts[r.verdict]++;
    counts.ERROR += read.summary.errors.length;
  }
  const verdicts = `${counts.PASS} PASS, ${counts.FAIL} FAIL, ${counts.INFO} figures without a goal` +
    (counts.ERROR ? `, ${counts.ERROR} not measured (ERROR)` : "");
  return absent.length ? `${verdicts}; no results from ${absent.join(", ")}` : verdicts;
}

/** Each bench's notes and command, under the table. */
export function notesMarkdown(reads: ReadonlyMap<BenchEntry["name"], SummaryRead>): string[] {
  return BENCHES.flatMap((entry) => {
    const read = reads.get(entry.name);
    if (read?.state !== "ok") return [];
    const { summary } = read;
    return [`- **bench:${entry.alias}** (\`${summary.command}\`): ${[...summary.notes].join(" ") || summary.title}`];
  });
}
