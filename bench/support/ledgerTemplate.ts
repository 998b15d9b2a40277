/**
 * The documents a real first deposit writes, without system fields: the
 * shapes the benchmarks' seeds clone by the thousand, so a seed follows the
 * schema and the ledger as they change instead of spelling documents out.
 */
import type { TestConvex } from "convex-test";

import type { MutationCtx } from "../../convex/_generated/server";
import { applyVaultEvent, effectsInCallerTransaction } from "../../convex/model/sync/vaultEvents";
import type schema from "../../convex/schema";
import type { VaultEvent } from "../../convex/validators";

export type Template = Record<string, Record<string, unknown>>;

type TableName = keyof typeof schema.tables;

/** Applies `deposit` to the empty backend `t`, then returns one document of each of `tables`. */
export async function ledgerTemplate(
  t: TestConvex<typeof schema>,
  deposit: VaultEvent,
  tables: readonly TableName[],
): Promise<Template> {
  await t.run(async (ctx) => {
    await applyVaultEvent(ctx as unknown as MutationCtx, deposit, effectsInCallerTransaction(ctx as unknown as MutationCtx));
  });
  return await t.run(async (ctx) => {
    const template: Template = {};
    for (const table of tables) {
      const doc = await ctx.db.query(table).first();
      if (!doc) throw new Error(`a first deposit wrote no ${table} row: the bench's picture of the ledger is out of date`);
      const { _id, _creationTime, ...fields } = doc as Record<string, unknown>;
      void _id;
      void _creationTime;
      template[table] = fields;
    }
    return template;
  });
}
