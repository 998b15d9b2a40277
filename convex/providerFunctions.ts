/**
 * Function builders for provider-facing endpoints. The provider is whoever
 * `ctx.auth` says signed in (the JWT's subject, a Stacks address), never an
 * argument: a caller cannot name someone else's principal.
 */
import { customAction, customCtx, customMutation, customQuery } from "convex-helpers/server/customFunctions";

import { action, mutation, query } from "./functions";
import { poolError } from "./domain/errors";
import { isStacksAddress } from "./domain/walletAuth";

type WithAuth = { auth: { getUserIdentity(): Promise<{ subject: string } | null> } };

export async function requireProviderPrincipal(ctx: WithAuth): Promise<string> {
  const identity = await ctx.auth.getUserIdentity();
  if (!identity) throw poolError("NOT_AUTHENTICATED", "sign in with a Stacks wallet first");
  if (!isStacksAddress(identity.subject)) {
    throw poolError("NOT_AUTHENTICATED", "the session does not name a Stacks address");
  }
  return identity.subject;
}

const withProvider = customCtx(async (ctx: WithAuth) => ({ provider: await requireProviderPrincipal(ctx) }));

/** The signed-in provider, or null when nobody is signed in; a session that names no Stacks address is still refused. */
export async function signedInProviderOrNull(ctx: WithAuth): Promise<string | null> {
  if (!(await ctx.auth.getUserIdentity())) return null;
  return await requireProviderPrincipal(ctx);
}

/** For views that answer null when signed out instead of refusing (e.g. `api.exit.getExitProof`). */
export const optionalProviderQuery = customQuery(
  query,
  customCtx(async (ctx: WithAuth) => ({ provider: await signedInProviderOrNull(ctx) })),
);

export const providerQuery = customQuery(query, withProvider);
export const providerMutation = customMutation(mutation, withProvider);
export const providerAction = customAction(action, withProvider);
