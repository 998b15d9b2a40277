/**
 * What the tools share on the command line: flags parsed with node's
 * parseArgs and then checked with zod (a command line is outside input like
 * any other), amounts shown exactly, and JSON with bigints as strings.
 */
import { parseArgs, type ParseArgsConfig } from "node:util";

import { z } from "zod";

import { addressSchema, contractIdSchema } from "../convex/domain/principals";
import type { Token } from "../convex/domain/vocabulary";

/** Where a command writes its lines, and what it does between two looks at a sent transaction. */
export type CliIo = { out?: (line: string) => void; wait?: () => Promise<unknown> };

/** A command line the tool cannot run with: the message says what is wrong, and the usage follows. */
export class UsageError extends Error {}

export const apiUrlSchema = z.url({ protocol: /^https?$/ }).transform((url) => url.replace(/\/+$/, ""));

export { addressSchema, contractIdSchema };

/** A standard or contract principal, as a role holder may be. */
export const principalSchema = z.union([addressSchema, contractIdSchema]);

/** A whole number given as digits, read as bigint (never through a float). */
export const bigintFlag = z.string().regex(/^\d+$/, "must be a whole number").transform((digits) => BigInt(digits));

/** Parses `argv` against `options`, then the values against `schema`; either failing is a UsageError. */
export function parseCommandLine<S extends z.ZodType>(argv: string[], options: ParseArgsConfig["options"], schema: S): z.output<S> {
  let values: unknown;
  try {
    values = parseArgs({ args: argv, options, strict: true, allowPositionals: false }).values;
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const parsed = schema.safeParse(values);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const flag = issue?.path[0] === undefined ? "" : `--${String(issue.path[0])}: `;
    throw new UsageError(`${flag}${issue?.message ?? "invalid options"}`);
  }
  return parsed.data;
}

const DECIMALS: Record<Token, bigint> = { STX: 6n, sBTC: 8n };

/** `1234500000n` STX → "1234.5 STX (1234500000 µSTX)": exact, from the integer. */
export function formatAmount(token: Token, amount: bigint): string {
  const scale = 10n ** DECIMALS[token];
  const whole = amount / scale;
  const fraction = (amount % scale).toString().padStart(Number(DECIMALS[token]), "0").replace(/0+$/, "");
  const unit = token === "STX" ? "µSTX" : "sats";
  return `${whole}${fraction ? `.${fraction}` : ""} ${token} (${amount} ${unit})`;
}

/** JSON with every bigint as its decimal string (JSON has no integers that large). */
export function toJson(value: unknown, indent?: number): string {
  return JSON.stringify(value, (_key, v: unknown) => (typeof v === "bigint" ? v.toString() : v), indent);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
