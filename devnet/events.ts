/**
 * Simnet's transaction events, parsed (zod) into one normalized shape that the
 * post-condition checker and the API shapes both read.
 */
import type { ClarityEvent } from "@stacks/clarinet-sdk";
import { z } from "zod";

export type ChainEvent =
  | { kind: "stx_transfer"; sender: string; recipient: string; amount: bigint; memo: string }
  | { kind: "stx_mint"; recipient: string; amount: bigint }
  | { kind: "stx_burn"; sender: string; amount: bigint }
  | { kind: "stx_lock"; lockedAddress: string; lockedAmount: bigint; unlockHeight: number }
  | { kind: "ft_transfer"; assetId: string; sender: string; recipient: string; amount: bigint }
  | { kind: "ft_mint"; assetId: string; recipient: string; amount: bigint }
  | { kind: "ft_burn"; assetId: string; sender: string; amount: bigint }
  | { kind: "nft_transfer"; assetId: string; sender: string; recipient: string; valueHex: string }
  | { kind: "nft_mint"; assetId: string; recipient: string; valueHex: string }
  | { kind: "nft_burn"; assetId: string; sender: string; valueHex: string }
  | { kind: "print"; contractId: string; topic: string; valueHex: string };

const amount = z.union([z.string().regex(/^\d+$/), z.number().int().nonnegative(), z.bigint()]).transform(BigInt);
const hex = z.string().transform((h) => (h.startsWith("0x") ? h.toLowerCase() : `0x${h.toLowerCase()}`));

const simnetEvent = z.discriminatedUnion("event", [
  z.object({
    event: z.literal("stx_transfer_event"),
    data: z.object({ sender: z.string(), recipient: z.string(), amount, memo: z.string().default("") }),
  }),
  z.object({ event: z.literal("stx_mint_event"), data: z.object({ recipient: z.string(), amount }) }),
  z.object({ event: z.literal("stx_burn_event"), data: z.object({ sender: z.string(), amount }) }),
  z.object({
    event: z.literal("stx_lock_event"),
    data: z.object({ locked_address: z.string(), locked_amount: amount, unlock_height: z.coerce.number() }),
  }),
  z.object({
    event: z.literal("ft_transfer_event"),
    data: z.object({ asset_identifier: z.string(), sender: z.string(), recipient: z.string(), amount }),
  }),
  z.object({
    event: z.literal("ft_mint_event"),
    data: z.object({ asset_identifier: z.string(), recipient: z.string(), amount }),
  }),
  z.object({ event: z.literal("ft_burn_event"), data: z.object({ asset_identifier: z.string(), sender: z.string(), amount }) }),
  z.object({
    event: z.literal("nft_transfer_event"),
    data: z.object({ asset_identifier: z.string(), sender: z.string(), recipient: z.string(), raw_value: hex }),
  }),
  z.object({
    event: z.literal("nft_mint_event"),
    data: z.object({ asset_identifier: z.string(), recipient: z.string(), raw_value: hex }),
  }),
  z.object({
    event: z.literal("nft_burn_event"),
    data: z.object({ asset_identifier: z.string(), sender: z.string(), raw_value: hex }),
  }),
  z.object({
    event: z.literal("print_event"),
    data: z.object({ contract_identifier: z.string(), topic: z.string().default("print"), raw_value: hex }),
  }),
]);

/** Normalizes simnet's events; event types this server does not model are left out. */
export function normalizeSimnetEvents(events: ClarityEvent[]): ChainEvent[] {
  const out: ChainEvent[] = [];
  for (const raw of events) {
    const parsed = simnetEvent.safeParse(raw);
    if (!parsed.success) continue;
    const e = parsed.data;
    switch (e.event) {
      case "stx_transfer_event":
        out.push({ kind: "stx_transfer", ...e.data });
        break;
      case "stx_mint_event":
        out.push({ kind: "stx_mint", ...e.data });
        break;
      case "stx_burn_event":
        out.push({ kind: "stx_burn", ...e.data });
        break;
      case "stx_lock_event":
        out.push({
          kind: "stx_lock",
          lockedAddress: e.data.locked_address,
          lockedAmount: e.data.locked_amount,
          unlockHeight: e.data.unlock_height,
        });
        break;
      case "ft_transfer_event":
        out.push({ kind: "ft_transfer", assetId: e.data.asset_identifier, sender: e.data.sender, recipient: e.data.recipient, amount: e.data.amount });
        break;
      case "ft_mint_event":
        out.push({ kind: "ft_mint", assetId: e.data.asset_identifier, recipient: e.data.recipient, amount: e.data.amount });
        break;
      case "ft_burn_event":
        out.push({ kind: "ft_burn", assetId: e.data.asset_identifier, sender: e.data.sender, amount: e.data.amount });
        break;
      case "nft_transfer_event":
        out.push({ kind: "nft_transfer", assetId: e.data.asset_identifier, sender: e.data.sender, recipient: e.data.recipient, valueHex: e.data.raw_value });
        break;
      case "nft_mint_event":
        out.push({ kind: "nft_mint", assetId: e.data.asset_identifier, recipient: e.data.recipient, valueHex: e.data.raw_value });
        break;
      case "nft_burn_event":
        out.push({ kind: "nft_burn", assetId: e.data.asset_identifier, sender: e.data.sender, valueHex: e.data.raw_value });
        break;
      case "print_event":
        out.push({ kind: "print", contractId: e.data.contract_identifier, topic: e.data.topic, valueHex: e.data.raw_value });
        break;
    }
  }
  return out;
}
