/** Oracle settings from the environment, parsed with zod. */
import { z } from "zod";

import { sourcesSchema, type SourceConfig } from "../oracle/priceSources";
import { poolError } from "../domain/errors";
import type { PriceRules } from "../domain/prices";

const oracleEnvironment = z.object({
  ORACLE_SOURCES: z.string().min(2),
  ORACLE_MAX_AGE_MS: z.coerce.number().int().positive().default(120_000),
  ORACLE_MIN_SOURCES: z.coerce.number().int().positive().default(2),
  ORACLE_MAX_SPREAD_BPS: z.coerce.bigint().nonnegative().default(200n),
});

export type OracleConfig = { sources: SourceConfig[]; rules: PriceRules };

/** Price rules alone: what readers of stored prices need (no source list). */
export function readPriceRules(env: Record<string, string | undefined>): PriceRules {
  const parsed = oracleEnvironment.omit({ ORACLE_SOURCES: true }).safeParse(env);
  if (!parsed.success) throw poolError("CONFIGURATION_MISSING", "oracle rules (ORACLE_MAX_AGE_MS, ORACLE_MIN_SOURCES, ORACLE_MAX_SPREAD_BPS) are malformed");
  return {
    maxAgeMs: parsed.data.ORACLE_MAX_AGE_MS,
    minSources: parsed.data.ORACLE_MIN_SOURCES,
    maxSpreadBps: parsed.data.ORACLE_MAX_SPREAD_BPS,
  };
}

export function readOracleConfig(env: Record<string, string | undefined>): OracleConfig {
  const parsed = oracleEnvironment.safeParse(env);
  if (!parsed.success) throw poolError("CONFIGURATION_MISSING", "ORACLE_SOURCES is missing or malformed");
  let sources: unknown;
  try {
    sources = JSON.parse(parsed.data.ORACLE_SOURCES);
  } catch {
    throw poolError("CONFIGURATION_MISSING", "ORACLE_SOURCES is not JSON");
  }
  const list = sourcesSchema.safeParse(sources);
  if (!list.success) throw poolError("CONFIGURATION_MISSING", "ORACLE_SOURCES does not list valid sources");
  return { sources: list.data, rules: readPriceRules(env) };
}
