/**
 * Acting on the vault's governance events (README "Operations"): they move no
 * money in the books, but each says something an operator must hear at once
 * or the backend must change how it behaves.
 *
 * - A role proposal is the admin starting a one-day hand-over: if nobody
 *   planned it, the guardian has until its `eta` to cancel it. Raised as an
 *   alert per role that stays open until the role is set or cancelled.
 * - A hot-key revocation means the guardian saw something wrong: the backend
 *   stops sending and signing (the send gate and `requestWithdrawal` see the
 *   roles in `vaultState`) until new keys hold the roles.
 * - A shutdown ends the pool: nothing is sent, no commitment or withdrawal is
 *   taken on, and every provider's portfolio shows what `claim-exit` pays.
 *
 * The effects are kept in one `vaultState` document so a request reads one
 * row, not the event history.
 */
import type { Doc } from "../../_generated/dataModel";
import type { Reader, Writer } from "../database";
import { raiseAlert, raiseAlertOnce, resolveAlerts, resolveAllAlerts } from "../alerts";
import { poolError } from "../../domain/errors";
import { inBaseUnits } from "../../domain/money";
import { foreignCurrentCheckpoint, isOwnCheckpoint } from "../checkpoints/runs";
import type { GovernanceEvent, Token } from "../../validators";

/** The admin proposed a holder for a role (subject: the role); resolved when the role is set or the proposal cancelled. */
export const ROLE_PROPOSED = "role-proposed";
/** A role changed hands (one alert per change). */
export const ROLE_SET = "role-set";
/** The guardian (or admin) revoked the operator and signer keys. */
export const HOT_KEYS_REVOKED = "hot-keys-revoked";
/** The vault is shut down (subject "vault"): providers leave through `claim-exit`. */
export const VAULT_SHUT_DOWN = "vault-shut-down";
/** The guardian (or admin) paused the vault (subject "vault"); resolved when it is unpaused. */
export const PAUSED_SET = "paused-set";
/** A checkpoint was vetoed inside its window. */
export const CHECKPOINT_VETOED = "checkpoint-vetoed";
/**
 * A checkpoint reached the vault that the backend's checkpoint job did not
 * post (subject: its epoch); resolved by its veto or the backend's next one.
 */
export const CHECKPOINT_UNKNOWN = "checkpoint-unknown";
/** The admin changed the outflow limit (it applies at once). */
export const OUTFLOW_LIMIT_SET = "outflow-limit-set";

const STATE_KEY = "vault";

export async function readVaultState(ctx: Reader): Promise<Doc<"vaultState"> | null> {
  return await ctx.db
    .query("vaultState")
    .withIndex("by_key", (q) => q.eq("key", STATE_KEY))
    .unique();
}

async function patchVaultState(ctx: Writer, patch: Partial<Pick<Doc<"vaultState">, "hotRoles" | "shutDown">>): Promise<void> {
  const state = await readVaultState(ctx);
  if (state) await ctx.db.patch("vaultState", state._id, patch);
  else await ctx.db.insert("vaultState", { key: STATE_KEY, ...patch });
}

/** The vault's shutdown as synced, or null while it runs. */
export async function shutdownOf(ctx: Reader): Promise<NonNullable<Doc<"vaultState">["shutDown"]> | null> {
  return (await readVaultState(ctx))?.shutDown ?? null;
}

type HotRole = "operator" | "signer";
const isHotRole = (role: string): role is HotRole => role === "operator" || role === "signer";

/**
 * Who holds a hot role as far as the synced events show: a principal, null
 * (revoked, no holder), or undefined (no event about it synced yet — the
 * deployer holds it from deployment: the vault itself refuses a wrong key).
 */
export async function hotRoleHolder(ctx: Reader, role: HotRole): Promise<string | null | undefined> {
  return (await readVaultState(ctx))?.hotRoles?.[role];
}

/** Acts on a governance event just recorded in chain order. */
export async function actOnGovernanceEvent(ctx: Writer, event: GovernanceEvent): Promise<void> {
  const where = { txid: event.txid, blockHeight: event.blockHeight };
  switch (event.kind) {
    case "role-proposed":
      await resolveAlerts(ctx, ROLE_PROPOSED, event.role);
      await raiseAlertOnce(
        ctx,
        ROLE_PROPOSED,
        event.role,
        `the admin proposed ${event.who} for the vault's ${event.role} role, acceptable from burn block ${event.eta}: ` +
          "if this hand-over was not planned, the guardian must call cancel-role before then",
      );
      return;
    case "role-cancelled":
      await resolveAlerts(ctx, ROLE_PROPOSED, event.role);
      return;
    case "role-set": {
      await resolveAlerts(ctx, ROLE_PROPOSED, event.role);
      await raiseAlert(ctx, ROLE_SET, `the vault's ${event.role} role passed from ${event.previous ?? "nobody"} to ${event.who}`, where);
      if (!isHotRole(event.role)) return;
      const known = (await readVaultState(ctx))?.hotRoles ?? {};
      await patchVaultState(ctx, { hotRoles: { ...known, [event.role]: event.who } });
      return;
    }
    case "hot-keys-revoked":
      await patchVaultState(ctx, { hotRoles: { operator: null, signer: null } });
      await raiseAlert(
        ctx,
        HOT_KEYS_REVOKED,
        "the vault's operator and signer keys were revoked: no backend transaction is sent and no voucher signed " +
          "until new keys hold both roles (propose-role, accept-role) and OPERATOR_PRIVATE_KEY / SIGNER_PRIVATE_KEY name them",
        where,
      );
      return;
    case "shutdown":
      await patchVaultState(ctx, {
        shutDown: {
          txid: event.txid,
          eventIndex: event.eventIndex,
          blockHeight: event.blockHeight,
          by: event.by,
          stxAssets: event.stxAssets,
          stxLiabilities: event.stxLiabilities,
          sbtcAssets: event.sbtcAssets,
          sbtcLiabilities: event.sbtcLiabilities,
        },
      });
      await raiseAlertOnce(
        ctx,
        VAULT_SHUT_DOWN,
        STATE_KEY,
        `the vault was shut down by ${event.by} in block ${event.blockHeight}: nothing more is sent, no commitment or withdrawal ` +
          "is taken on, and providers leave through claim-exit (npm run exit)",
      );
      return;
    case "paused-set":
      if (!event.paused) {
        await resolveAlerts(ctx, PAUSED_SET, STATE_KEY);
        return;
      }
      await raiseAlertOnce(
        ctx,
        PAUSED_SET,
        STATE_KEY,
        `the vault was paused in block ${event.blockHeight}: deposits, premiums, withdrawals and locks are refused (u207) ` +
          "until the admin unpauses it; releases and settlements still go",
      );
      return;
    case "checkpoint-posted":
      if (await isOwnCheckpoint(ctx, event)) {
        // The backend's own checkpoint is current now: none posted before it is.
        await resolveAllAlerts(ctx, CHECKPOINT_UNKNOWN);
        return;
      }
      await raiseAlertOnce(
        ctx,
        CHECKPOINT_UNKNOWN,
        String(event.epoch),
        `checkpoint epoch ${event.epoch} (root ${event.root}, as-of-seq ${event.asOfSeq}, ${event.leafCount} leaves, ` +
          `sums ${inBaseUnits(event.stxSum, "STX")} and ${inBaseUnits(event.sbtcSum, "sBTC")}) was posted, but not by the backend's checkpoint job: ` +
          "someone else holds the operator key — the guardian must veto-checkpoint inside its veto window (144 burn blocks) and revoke-hot-keys; " +
          "no voucher is signed while it is current",
      );
      return;
    case "checkpoint-vetoed":
      await resolveAlerts(ctx, CHECKPOINT_UNKNOWN, String(event.epoch));
      await raiseAlert(ctx, CHECKPOINT_VETOED, `checkpoint epoch ${event.epoch} was vetoed: the previous checkpoint is current again`, where);
      return;
    case "outflow-limit-set":
      await raiseAlert(
        ctx,
        OUTFLOW_LIMIT_SET,
        `the admin set the outflow limit to ${event.limitBps} bps per window, floors ${inBaseUnits(event.stxFloor, "STX")} and ${inBaseUnits(event.sbtcFloor, "sBTC")}`,
        where,
      );
      return;
    case "exit-claimed": {
      // Once per provider and token (the vault refuses a second claim); kept to show in the portfolio.
      if (await exitClaimOf(ctx, event.provider, event.token)) return;
      const { provider, token, owed, paid, txid, eventIndex, blockHeight } = event;
      await ctx.db.insert("exitClaims", { provider, token, owed, paid, txid, eventIndex, blockHeight });
      return;
    }
    default:
      // Leaves are read by the checkpoint job's verification; the sBTC set-up needs nothing here.
      return;
  }
}


/**
 * Undoes what a reorged governance event set in `vaultState`. Alerts stay:
 * they told operators something that happened on a fork, which is still
 * worth knowing. A role change is not rolled back here — the next role event
 * on the winning fork sets it again, and the send gate reads roles on chain.
 */
export async function undoGovernanceEvent(ctx: Writer, event: GovernanceEvent): Promise<void> {
  if (event.kind === "exit-claimed") {
    const claim = await exitClaimOf(ctx, event.provider, event.token);
    if (claim && claim.txid === event.txid && claim.eventIndex === event.eventIndex) await ctx.db.delete("exitClaims", claim._id);
    return;
  }
  if (event.kind !== "shutdown") return;
  const shutDown = await shutdownOf(ctx);
  if (shutDown && shutDown.txid === event.txid && shutDown.eventIndex === event.eventIndex) {
    await patchVaultState(ctx, { shutDown: undefined });
  }
}

/** A provider's exit claim in a token, once synced. */
export async function exitClaimOf(ctx: Reader, provider: string, token: Token): Promise<Doc<"exitClaims"> | null> {
  return await ctx.db
    .query("exitClaims")
    .withIndex("by_provider_and_token", (q) => q.eq("provider", provider).eq("token", token))
    .unique();
}

/**
 * Refuses a voucher the backend must not sign: one the vault would not honour
 * (after a shutdown, or while the signer role is held by another key than
 * `signer`, or by nobody), or any while the vault's current checkpoint is not
 * the backend's — the exit formula a voucher must keep every provider above
 * zero on is then unknown.
 */
export async function assertVoucherSignable(ctx: Reader, signer: string): Promise<void> {
  await assertVaultRunning(ctx);
  const holder = await hotRoleHolder(ctx, "signer");
  if (holder !== undefined && holder !== signer) {
    const who = holder === null ? "nobody: the hot keys were revoked" : holder;
    throw poolError("CONFIGURATION_MISSING", `SIGNER_PRIVATE_KEY does not hold the vault's signer role (held by ${who}); no voucher can be signed`);
  }
  const foreign = await foreignCurrentCheckpoint(ctx);
  if (foreign) {
    throw poolError(
      "CHECKPOINT_UNKNOWN",
      `the vault's current checkpoint (epoch ${foreign.epoch}) was not posted by this backend: no voucher is signed ` +
        "until the guardian vetoes it or the backend's next checkpoint replaces it",
    );
  }
}

/** Refuses what a shut-down vault no longer takes on: commitments, withdrawals, new policies. */
export async function assertVaultRunning(ctx: Reader): Promise<void> {
  const shutDown = await shutdownOf(ctx);
  if (shutDown) {
    throw poolError(
      "VAULT_SHUT_DOWN",
      `the vault was shut down in block ${shutDown.blockHeight}: providers leave through claim-exit (see getProviderPortfolio's exit figures)`,
    );
  }
}
