/**
 * The few Stacks node / Hiro API reads the backend needs, over fetch, with
 * every response parsed by zod before use.
 */
import { z } from "zod";

import { poolError } from "../model/errors";
import type { ChainConfig } from "./config";

const REQUEST_TIMEOUT_MS = 10_000;

const coreInfoSchema = z.object({
  stacks_tip_height: z.number().int().nonnegative(),
  burn_block_height: z.number().int().nonnegative(),
});

async function getJson(config: ChainConfig, path: string): Promise<unknown> {
  const headers: Record<string, string> = { accept: "application/json" };
  if (config.apiKey) headers["x-api-key"] = config.apiKey;
  let response: Response;
  try {
    response = await fetch(`${config.apiUrl}${path}`, { headers, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
  } catch (error) {
    throw poolError("CHAIN_UNAVAILABLE", `Stacks API ${path} unreachable: ${(error as Error).name}`);
  }
  if (!response.ok) throw poolError("CHAIN_UNAVAILABLE", `Stacks API ${path} answered ${response.status}`);
  return await response.json();
}

/** The current Stacks chain tip height (`stacks-block-height` of the next block is one more). */
export async function fetchStacksTipHeight(config: ChainConfig): Promise<bigint> {
  const parsed = coreInfoSchema.safeParse(await getJson(config, "/v2/info"));
  if (!parsed.success) throw poolError("CHAIN_UNAVAILABLE", "Stacks API /v2/info answered an unexpected shape");
  return BigInt(parsed.data.stacks_tip_height);
}
