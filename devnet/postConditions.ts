/**
 * Post-condition enforcement, after stacks-core's
 * `StacksChainState::check_transaction_postconditions`:
 *
 * - every post-condition is checked against what its principal actually sent
 *   (transfers and burns; mints are not "sent"), including principals that
 *   sent nothing (a `willSendEq(100)` on a call that moved nothing fails);
 * - in deny mode, any STX / fungible-token amount or NFT sent by any principal
 *   that no post-condition names (principal + asset, and for NFTs the value)
 *   aborts the transaction; in originator mode the same holds for assets sent
 *   by the transaction's origin only; allow mode checks only the conditions.
 *
 * stacks-core runs this on every contract call that returned a value, `(ok …)`
 * or `(err …)` alike: an erroring call moved nothing, so its unmet "sent"
 * conditions turn it into `abort_by_post_condition` (stacks-core issue #2777).
 */
import { cvHex } from "./clarity";
import type { ChainEvent } from "./events";
import type { PostCondition } from "@stacks/transactions";

export type PostConditionModeName = "allow" | "deny" | "originator";

export type PostConditionVerdict = { ok: true } | { ok: false; reason: string };

const STX = "STX";

type Outflows = {
  /** principal -> asset ("STX" or the FT asset identifier) -> amount sent */
  fungible: Map<string, Map<string, bigint>>;
  /** principal -> NFT asset identifier -> hex values sent */
  nonFungible: Map<string, Map<string, Set<string>>>;
};

function addFungible(out: Outflows, principal: string, asset: string, amount: bigint): void {
  const assets = out.fungible.get(principal) ?? new Map<string, bigint>();
  assets.set(asset, (assets.get(asset) ?? 0n) + amount);
  out.fungible.set(principal, assets);
}

function addNonFungible(out: Outflows, principal: string, asset: string, valueHex: string): void {
  const assets = out.nonFungible.get(principal) ?? new Map<string, Set<string>>();
  const values = assets.get(asset) ?? new Set<string>();
  values.add(valueHex);
  assets.set(asset, values);
  out.nonFungible.set(principal, assets);
}

/** What each principal sent in these events (the node's asset map). */
export function outflowsOf(events: ChainEvent[]): Outflows {
  const out: Outflows = { fungible: new Map(), nonFungible: new Map() };
  for (const e of events) {
    switch (e.kind) {
      case "stx_transfer":
      case "stx_burn":
        addFungible(out, e.sender, STX, e.amount);
        break;
      case "ft_transfer":
      case "ft_burn":
        addFungible(out, e.sender, e.assetId, e.amount);
        break;
      case "nft_transfer":
      case "nft_burn":
        addNonFungible(out, e.sender, e.assetId, e.valueHex);
        break;
      default:
        break;
    }
  }
  return out;
}

function compare(condition: string, sent: bigint, amount: bigint): boolean {
  switch (condition) {
    case "eq":
      return sent === amount;
    case "gt":
      return sent > amount;
    case "gte":
      return sent >= amount;
    case "lt":
      return sent < amount;
    case "lte":
      return sent <= amount;
    default:
      return false;
  }
}

export function checkPostConditions(input: {
  mode: PostConditionModeName;
  postConditions: PostCondition[];
  origin: string;
  events: ChainEvent[];
}): PostConditionVerdict {
  const outflows = outflowsOf(input.events);
  const checkedFungible = new Set<string>();
  const checkedNonFungible = new Set<string>();
  const principalOf = (address: string) => (address === "origin" ? input.origin : address);

  for (const [index, pc] of input.postConditions.entries()) {
    switch (pc.type) {
      case "stx-postcondition":
      case "ft-postcondition": {
        const principal = principalOf(pc.address);
        const asset = pc.type === "stx-postcondition" ? STX : pc.asset;
        checkedFungible.add(`${principal}|${asset}`);
        const sent = outflows.fungible.get(principal)?.get(asset) ?? 0n;
        if (!compare(pc.condition, sent, BigInt(pc.amount))) {
          return {
            ok: false,
            reason: `post-condition ${index} (${pc.type} ${pc.condition} ${pc.amount} for ${principal}) not met: ${sent} sent`,
          };
        }
        break;
      }
      case "nft-postcondition": {
        const principal = principalOf(pc.address);
        const valueHex = cvHex(pc.assetId);
        checkedNonFungible.add(`${principal}|${pc.asset}|${valueHex}`);
        const sent = outflows.nonFungible.get(principal)?.get(pc.asset)?.has(valueHex) ?? false;
        if ((pc.condition === "sent" && !sent) || (pc.condition === "not-sent" && sent)) {
          return { ok: false, reason: `post-condition ${index} (nft ${pc.condition} ${pc.asset} for ${principal}) not met` };
        }
        break;
      }
      default:
        // Staking and PoX conditions are refused at broadcast (see admission.ts).
        return { ok: false, reason: `post-condition ${index} of type ${pc.type} is not supported` };
    }
  }

  if (input.mode === "allow") return { ok: true };
  const covers = (principal: string) => input.mode === "deny" || principal === input.origin;
  for (const [principal, assets] of outflows.fungible) {
    if (!covers(principal)) continue;
    for (const [asset, sent] of assets) {
      if (sent > 0n && !checkedFungible.has(`${principal}|${asset}`)) {
        return { ok: false, reason: `${input.mode} mode: ${principal} sent ${sent} of ${asset} without a post-condition` };
      }
    }
  }
  for (const [principal, assets] of outflows.nonFungible) {
    if (!covers(principal)) continue;
    for (const [asset, values] of assets) {
      for (const value of values) {
        if (!checkedNonFungible.has(`${principal}|${asset}|${value}`)) {
          return { ok: false, reason: `${input.mode} mode: ${principal} sent ${asset} ${value} without a post-condition` };
        }
      }
    }
  }
  return { ok: true };
}
