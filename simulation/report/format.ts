/**
 * Human-readable figures. Amounts stay exact: base units are formatted by
 * integer arithmetic on the bigint, never through a float. Charts alone turn
 * amounts into numbers (`toChartNumber`), to place points on an axis.
 */
import type { Token } from "../../convex/validators";

const DECIMALS: Record<Token, number> = { STX: 6, sBTC: 8 };

function groupThousands(digits: string): string {
  return digits.replace(/\B(?=(\d{3})+(?!\d))/g, ",");
}

/** A fixed-point bigint with `decimals` decimals, shown with at most `shown` of them. */
export function fixed(value: bigint, decimals: number, shown = decimals): string {
  const negative = value < 0n;
  const abs = negative ? -value : value;
  const scale = 10n ** BigInt(decimals);
  const whole = groupThousands((abs / scale).toString());
  const fraction = (abs % scale).toString().padStart(decimals, "0").slice(0, shown);
  return `${negative ? "−" : ""}${whole}${shown > 0 ? `.${fraction}` : ""}`;
}

/** Base units of a token: "1,234.567890 STX", "0.12345678 sBTC". */
export function amount(value: bigint, token: Token): string {
  return `${fixed(value, DECIMALS[token])} ${token}`;
}

/** USD with 8 decimals, to the cent. */
export function usd(value: bigint): string {
  return `$${fixed(value, 8, 2)}`;
}

/** Basis points as a percentage. */
export function percent(bps: bigint): string {
  return `${fixed(bps, 2, 2)}%`;
}

export function seconds(ms: number): string {
  return ms >= 10_000
    ? `${(ms / 1000).toFixed(1)} s`
    : ms >= 1000
      ? `${(ms / 1000).toFixed(2)} s`
      : `${Math.round(ms)} ms`;
}

/** For chart axes only: a token amount in whole tokens, as a number. */
export function toChartNumber(value: bigint, decimals: number): number {
  const scale = 10n ** BigInt(decimals);
  return Number(value / scale) + Number(value % scale) / Number(scale);
}

export function tokenDecimals(token: Token): number {
  return DECIMALS[token];
}

export function shortAddress(address: string): string {
  return `${address.slice(0, 6)}…${address.slice(-4)}`;
}

export function escapeXml(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}
