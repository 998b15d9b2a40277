/**
 * Keeps the terminal for the progress bar and the summary: while the run
 * lasts, console output (simnet echoes every Clarity `print`; the backend logs
 * its alerts) goes to a buffer that the report writes to run.log.
 */
import { format } from "node:util";

const METHODS = ["log", "info", "warn", "error", "debug"] as const;

export type ConsoleCapture = { lines: string[]; restore(): void };

export function captureConsole(): ConsoleCapture {
  const lines: string[] = [];
  const originals = METHODS.map((method) => [method, console[method]] as const);
  for (const method of METHODS) {
    console[method] = (...args: unknown[]) => {
      lines.push(`[${method}] ${format(...args)}`);
    };
  }
  return {
    lines,
    restore: () => {
      for (const [method, original] of originals) console[method] = original;
    },
  };
}
