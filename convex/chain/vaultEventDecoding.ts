/**
 * Turning the vault's printed tuples into typed events. The hex from the API
 * is deserialized as a Clarity value, converted to plain data, and parsed
 * with zod against the exact shape the vault prints (README "Events"), so a
 * tuple that does not match is refused instead of half-understood. Money
 * events are applied to the books; governance events (roles, pause, outflow
 * limit, checkpoints, shutdown, exit claims) are recorded as they are.
 * The rest of the backend reaches this through chain/vault.ts, the vault's
 * interface.
 */
import { Cl } from "@stacks/transactions";
import { z } from "zod";

import type { GovernanceEvent, Token, VaultEvent } from "../validators";
import { clarityToPlain, INT64_MAX, type Plain } from "./clarityValues";

const uint = z.bigint().nonnegative();
const principal = z.string().min(1);
// The vault refuses a zero amount (u208) in every money function: a print with one is not its.
const amount = z.bigint().positive({ message: "a zero amount, which the vault never prints (u208)" });
const totals = { token: principal.nullable(), amount, "total-balance": uint, "total-locked": uint };
const roleName = z.string().max(8);
const flows = z.strictObject({ "stx-in": uint, "stx-out": uint, "sbtc-in": uint, "sbtc-out": uint });
const leaf = z.strictObject({
  provider: principal,
  stx: uint,
  sbtc: uint,
  "stx-in": uint,
  "stx-out": uint,
  "sbtc-in": uint,
  "sbtc-out": uint,
});

// Strict: a tuple with a field the vault does not print is refused, not half-understood.
const printedEventSchema = z.discriminatedUnion("event", [
  z.strictObject({ event: z.literal("funds-deposited"), depositor: principal, seq: uint, ...totals }),
  z.strictObject({ event: z.literal("funds-withdrawn"), provider: principal, nonce: uint, seq: uint, ...totals }),
  z.strictObject({ event: z.literal("premium-paid"), "policy-id": uint, payer: principal, ...totals }),
  z.strictObject({ event: z.literal("collateral-locked"), "policy-ids": z.array(uint).max(50), ...totals }),
  z.strictObject({ event: z.literal("collateral-released"), "policy-ids": z.array(uint).max(50), ...totals }),
  z.strictObject({ event: z.literal("settlement-paid"), "policy-id": uint, buyer: principal, ...totals }),
  z.strictObject({ event: z.literal("sbtc-token-principal-set"), token: principal }),
  z.strictObject({ event: z.literal("role-proposed"), role: roleName, who: principal, eta: uint }),
  z.strictObject({ event: z.literal("role-set"), role: roleName, previous: principal.nullable(), who: principal }),
  z.strictObject({ event: z.literal("role-cancelled"), role: roleName }),
  z.strictObject({ event: z.literal("paused-set"), paused: z.boolean() }),
  z.strictObject({ event: z.literal("hot-keys-revoked") }),
  z.strictObject({ event: z.literal("outflow-limit-set"), "limit-bps": uint, "stx-floor": uint, "sbtc-floor": uint }),
  z.strictObject({
    event: z.literal("checkpoint-posted"),
    epoch: uint,
    root: z.string().regex(/^0x[0-9a-f]{64}$/),
    "stx-sum": uint,
    "sbtc-sum": uint,
    "as-of-seq": uint,
    flows,
    "leaf-count": uint,
  }),
  z.strictObject({ event: z.literal("checkpoint-vetoed"), epoch: uint }),
  z.strictObject({ event: z.literal("checkpoint-leaves"), epoch: uint, offset: uint, leaves: z.array(leaf).max(100) }),
  z.strictObject({
    event: z.literal("shutdown"),
    by: principal,
    "stx-assets": uint,
    "stx-liabilities": uint,
    "sbtc-assets": uint,
    "sbtc-liabilities": uint,
  }),
  z.strictObject({ event: z.literal("exit-claimed"), provider: principal, token: principal.nullable(), owed: uint, paid: uint }),
]);

/** A tuple exactly as the vault prints it; `event` names it (chain/vault.ts lists them as VAULT_EVENTS). */
export type PrintedVaultEvent = z.infer<typeof printedEventSchema>;

export type Position = { txid: string; eventIndex: number; blockHeight: bigint; blockHash: string };

export type Decoded =
  | { kind: "money"; event: VaultEvent }
  | { kind: "governance"; event: GovernanceEvent }
  | { kind: "malformed"; reason: string };

/** A value that fits in a Convex int64 (every amount the vault can hold does; anything else is malformed). */
function fitsInt64(value: Plain): boolean {
  if (typeof value === "bigint") return value <= INT64_MAX && value >= -INT64_MAX - 1n;
  if (Array.isArray(value)) return value.every(fitsInt64);
  if (value !== null && typeof value === "object") return Object.values(value).every(fitsInt64);
  return true;
}

export function decodeVaultPrint(hex: string, position: Position, sbtcContractId: string): Decoded {
  let plain: Plain;
  try {
    plain = clarityToPlain(Cl.deserialize(hex));
  } catch {
    return { kind: "malformed", reason: "not a Clarity value" };
  }
  const parsed = printedEventSchema.safeParse(plain);
  if (!parsed.success) return { kind: "malformed", reason: `unexpected tuple: ${parsed.error.issues[0]?.message ?? ""}` };
  if (!fitsInt64(plain)) return { kind: "malformed", reason: "amount beyond int64" };
  const e = parsed.data;

  const tokenOf = (id: string | null): Token | null => (id === null ? "STX" : id === sbtcContractId ? "sBTC" : null);
  const money = (event: VaultEvent): Decoded => ({ kind: "money", event });
  const governance = (event: GovernanceEvent): Decoded => ({ kind: "governance", event });

  switch (e.event) {
    case "funds-deposited":
    case "funds-withdrawn":
    case "premium-paid":
    case "collateral-locked":
    case "collateral-released":
    case "settlement-paid": {
      const token = tokenOf(e.token);
      if (token === null) return { kind: "malformed", reason: `unknown token ${e.token}` };
      const base = { ...position, token, amount: e.amount, totalBalance: e["total-balance"], totalLocked: e["total-locked"] };
      switch (e.event) {
        case "funds-deposited":
          return money({ ...base, kind: e.event, depositor: e.depositor, seq: e.seq });
        case "funds-withdrawn":
          return money({ ...base, kind: e.event, provider: e.provider, nonce: e.nonce, seq: e.seq });
        case "premium-paid":
          return money({ ...base, kind: e.event, policyId: e["policy-id"], payer: e.payer });
        case "collateral-locked":
        case "collateral-released":
          return money({ ...base, kind: e.event, policyIds: e["policy-ids"] });
        case "settlement-paid":
          return money({ ...base, kind: e.event, policyId: e["policy-id"], buyer: e.buyer });
      }
      break;
    }
    case "sbtc-token-principal-set":
      return governance({ ...position, kind: e.event, tokenContract: e.token });
    case "role-proposed":
      return governance({ ...position, kind: e.event, role: e.role, who: e.who, eta: e.eta });
    case "role-set":
      return governance({ ...position, kind: e.event, role: e.role, previous: e.previous, who: e.who });
    case "role-cancelled":
      return governance({ ...position, kind: e.event, role: e.role });
    case "paused-set":
      return governance({ ...position, kind: e.event, paused: e.paused });
    case "hot-keys-revoked":
      return governance({ ...position, kind: e.event });
    case "outflow-limit-set":
      return governance({
        ...position,
        kind: e.event,
        limitBps: e["limit-bps"],
        stxFloor: e["stx-floor"],
        sbtcFloor: e["sbtc-floor"],
      });
    case "checkpoint-posted":
      return governance({
        ...position,
        kind: e.event,
        epoch: e.epoch,
        root: e.root,
        stxSum: e["stx-sum"],
        sbtcSum: e["sbtc-sum"],
        asOfSeq: e["as-of-seq"],
        flows: {
          stxIn: e.flows["stx-in"],
          stxOut: e.flows["stx-out"],
          sbtcIn: e.flows["sbtc-in"],
          sbtcOut: e.flows["sbtc-out"],
        },
        leafCount: e["leaf-count"],
      });
    case "checkpoint-vetoed":
      return governance({ ...position, kind: e.event, epoch: e.epoch });
    case "checkpoint-leaves":
      return governance({
        ...position,
        kind: e.event,
        epoch: e.epoch,
        offset: e.offset,
        leaves: e.leaves.map((l) => ({
          provider: l.provider,
          stx: l.stx,
          sbtc: l.sbtc,
          stxIn: l["stx-in"],
          stxOut: l["stx-out"],
          sbtcIn: l["sbtc-in"],
          sbtcOut: l["sbtc-out"],
        })),
      });
    case "shutdown":
      return governance({
        ...position,
        kind: e.event,
        by: e.by,
        stxAssets: e["stx-assets"],
        stxLiabilities: e["stx-liabilities"],
        sbtcAssets: e["sbtc-assets"],
        sbtcLiabilities: e["sbtc-liabilities"],
      });
    case "exit-claimed": {
      const token = tokenOf(e.token);
      if (token === null) return { kind: "malformed", reason: `unknown token ${e.token}` };
      return governance({ ...position, kind: e.event, provider: e.provider, token, owed: e.owed, paid: e.paid });
    }
  }
  return { kind: "malformed", reason: "unexpected tuple" };
}
