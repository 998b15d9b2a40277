import { afterAll, beforeAll } from "vitest";
let start: { user: number; system: number } | undefined;
const proc = (globalThis as unknown as { process?: { cpuUsage?: (prev?: unknown) => { user: number; system: number } } }).process;
beforeAll(() => { start = proc?.cpuUsage?.(); });
afterAll(() => { const u = proc?.cpuUsage?.(start); console.log("CPU", u ? ((u.user + u.system) / 1e6).toFixed(2) : "n/a"); });
