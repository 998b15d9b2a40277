/**
 * Turning the vault's printed tuples into typed events. The hex from the API
 * is deserialized as a Clarity value, converted to plain data, and parsed
 * with zod against the exact shape the vault prints (DESIGN §2), so a tuple
 * that does not match is refused instead of half-understood.
 */
import { Cl, ClarityType, type ClarityValue } from "@stacks/transactions";
import { z } from "zod";

import type { Token, VaultEvent } from "../validators";

type Plain = bigint | boolean | string | null | Plain[] | { [key: string]: Plain };

/** Clarity value → plain data: uints/ints as bigint, principals and strings as strings, none as null. */
export function clarityToPlain(value: ClarityValue): Plain {
  switch (value.type) {
    case ClarityType.UInt:
    case ClarityType.Int:
      return BigInt(value.value);
    case ClarityType.BoolTrue:
      return true;
    case ClarityType.BoolFalse:
      return false;
    case ClarityType.PrincipalStandard:
    case ClarityType.PrincipalContract:
      return value.value;
    case ClarityType.StringASCII:
    case ClarityType.StringUTF8:
      return value.value;
    case ClarityType.Buffer:
      return `0x${value.value}`;
    case ClarityType.OptionalNone:
      return null;
    case ClarityType.OptionalSome:
      return clarityToPlain(value.value);
    case ClarityType.ResponseOk:
    case ClarityType.ResponseErr:
      return { [value.type]: clarityToPlain(value.value) };
    case ClarityType.List:
      return value.value.map(clarityToPlain);
    case ClarityType.Tuple:
      return Object.fromEntries(Object.entries(value.value).map(([k, v]) => [k, clarityToPlain(v)]));
  }
}

const uint = z.bigint().nonnegative();
const principal = z.string().min(1);
const totals = { token: principal.nullable(), amount: uint, "total-balance": uint, "total-locked": uint };

const printedEventSchema = z.discriminatedUnion("event", [
  z.object({ event: z.literal("funds-deposited"), depositor: principal, ...totals }),
  z.object({ event: z.literal("funds-withdrawn"), provider: principal, nonce: uint, ...totals }),
  z.object({ event: z.literal("premium-paid"), "policy-id": uint, payer: principal, ...totals }),
  z.object({ event: z.literal("collateral-locked"), "policy-ids": z.array(uint).max(50), ...totals }),
  z.object({ event: z.literal("collateral-released"), "policy-ids": z.array(uint).max(50), ...totals }),
  z.object({ event: z.literal("settlement-paid"), "policy-id": uint, buyer: principal, ...totals }),
]);

/** Administrative events the vault prints that carry no money. */
const ADMIN_EVENTS = new Set(["sbtc-token-principal-set", "backend-principal-set", "paused-set", "contract-admin-set"]);

export type Position = { txid: string; eventIndex: number; blockHeight: bigint; blockHash: string };

export type Decoded =
  | { kind: "money"; event: VaultEvent }
  | { kind: "admin"; name: string }
  | { kind: "malformed"; reason: string };

/** A value that fits in a Convex int64 (every amount the vault can hold does; anything else is malformed). */
const INT64_MAX = 2n ** 63n - 1n;

export function decodeVaultPrint(hex: string, position: Position, sbtcContractId: string): Decoded {
  let plain: Plain;
  try {
    plain = clarityToPlain(Cl.deserialize(hex));
  } catch {
    return { kind: "malformed", reason: "not a Clarity value" };
  }
  const name = typeof plain === "object" && plain !== null && !Array.isArray(plain) ? plain.event : undefined;
  if (typeof name === "string" && ADMIN_EVENTS.has(name)) return { kind: "admin", name };

  const parsed = printedEventSchema.safeParse(plain);
  if (!parsed.success) return { kind: "malformed", reason: `unexpected tuple: ${parsed.error.issues[0]?.message ?? ""}` };
  const e = parsed.data;

  let token: Token;
  if (e.token === null) token = "STX";
  else if (e.token === sbtcContractId) token = "sBTC";
  else return { kind: "malformed", reason: `unknown token ${e.token}` };

  const numbers = [e.amount, e["total-balance"], e["total-locked"]];
  if (numbers.some((n) => n > INT64_MAX)) return { kind: "malformed", reason: "amount beyond int64" };

  const base = {
    ...position,
    token,
    amount: e.amount,
    totalBalance: e["total-balance"],
    totalLocked: e["total-locked"],
  };
  switch (e.event) {
    case "funds-deposited":
      return { kind: "money", event: { ...base, kind: e.event, depositor: e.depositor } };
    case "funds-withdrawn":
      return { kind: "money", event: { ...base, kind: e.event, provider: e.provider, nonce: e.nonce } };
    case "premium-paid":
      return { kind: "money", event: { ...base, kind: e.event, policyId: e["policy-id"], payer: e.payer } };
    case "collateral-locked":
      return { kind: "money", event: { ...base, kind: e.event, policyIds: e["policy-ids"] } };
    case "collateral-released":
      return { kind: "money", event: { ...base, kind: e.event, policyIds: e["policy-ids"] } };
    case "settlement-paid":
      return { kind: "money", event: { ...base, kind: e.event, policyId: e["policy-id"], buyer: e.buyer } };
  }
}
