/**
 * A provider's exit with the backend gone (README "Operations: the watcher
 * and the exit"):
 *
 *   npm run exit -- --api <url> --vault <contract id> --provider <address> [--key-file F] [--max-fee N]
 *
 * Prints what the provider is owed and what `claim-exit` pays, per token,
 * with the exact call (tools/exitPlan.ts); with the provider's key, claims
 * each token not claimed yet and follows each claim to its block. Exit
 * status: 0 done (or nothing to do), 1 a claim failed or the key is not the
 * provider's, 2 the vault is not shut down, 3 the checkpoint's published
 * tree does not hold up (nothing is sent), 4 the provider has no record,
 * 5 the command could not run.
 */
import { pathToFileURL } from "node:url";

import { z } from "zod";

import { HiroClient } from "../convex/chain/hiroClient";
import { addressSchema, apiUrlSchema, bigintFlag, contractIdSchema, formatAmount, parseCommandLine, sleep, UsageError, type CliIo } from "./cliOptions";
import { describeExit } from "./exitReport";
import { planExit, type ExitPlan, type TokenExit } from "./exitPlan";
import {
  followTransaction,
  KeySigner,
  networkOfContract,
  okUint,
  sendVaultCall,
  type FollowOptions,
} from "./vaultTransactions";

const USAGE = "usage: npm run exit -- --api <url> --vault <contract id> --provider <address> [--key-file F] [--max-fee N]";

const exitFlags = z.object({
  api: apiUrlSchema,
  vault: contractIdSchema,
  provider: addressSchema,
  "key-file": z.string().min(1).optional(),
  "max-fee": bigintFlag.default(1_000_000n),
});

export type ExitClient = Parameters<typeof planExit>[0] &
  Parameters<typeof sendVaultCall>[0] &
  Parameters<typeof followTransaction>[0] & { getNextNonce: HiroClient["getNextNonce"] };

export type ClaimOptions = { maxFee: bigint; follow: FollowOptions };

/** Claims every token not claimed yet that is owed something; returns 0, or 1 if a claim did not go through. */
export async function claimExits(client: ExitClient, signer: KeySigner, plan: ExitPlan, options: ClaimOptions, out: (line: string) => void): Promise<number> {
  if (signer.address !== plan.provider) {
    out(`[exit] the key signs for ${signer.address}, not for ${plan.provider}: nothing sent (claim-exit pays tx-sender)`);
    return 1;
  }
  let nonce = await client.getNextNonce(signer.address);
  let failures = 0;
  const sent: { token: TokenExit; txid: string }[] = [];
  for (const token of plan.tokens) {
    if (token.claimed) {
      out(`[exit] ${token.token}: already claimed (the vault's exit-claimed says ${token.claimed.paid} paid): nothing sent, a second claim would fail u218`);
      continue;
    }
    if (token.owed === 0n || token.call === null) {
      out(`[exit] ${token.token}: nothing owed: no claim sent`);
      continue;
    }
    const result = await sendVaultCall(client, signer, plan.vault, token.call, { nonce, maxFee: options.maxFee });
    if (!result.accepted) {
      out(`[exit] ${token.token}: the node refused the claim: ${result.reason}: ${result.message}`);
      failures++;
      continue;
    }
    nonce++;
    out(`[exit] ${token.token}: claim-exit sent in tx ${result.txid} (fee ${result.fee} µSTX)`);
    sent.push({ token, txid: result.txid });
  }
  for (const { token, txid } of sent) {
    const followed = await followTransaction(client, txid, options.follow);
    const paid = followed.state === "success" ? okUint(followed.result) : null;
    if (paid !== null) {
      out(`[exit] ${token.token}: claimed, paid ${formatAmount(token.token, paid)} in tx ${txid}`);
      continue;
    }
    failures++;
    if (followed.state === "failed") out(`[exit] ${token.token}: the claim failed on chain: ${followed.status} ${followed.repr} (tx ${txid})`);
    else out(`[exit] ${token.token}: the claim is not confirmed yet (${followed.state}); look tx ${txid} up before sending again`);
  }
  return failures > 0 ? 1 : 0;
}

/** Polls every 5 s for up to 10 minutes for each claim. */
const FOLLOW = { pollMs: 5_000, maxPolls: 120 };

/**
 * The command, given its arguments. `io.wait` replaces the 5 s pause between
 * looks at a sent claim (the tests mine a block in it).
 */
export async function runExit(argv: string[], io: CliIo = {}): Promise<number> {
  const out = io.out ?? console.log;
  let command: z.output<typeof exitFlags>;
  let signer: KeySigner | null;
  try {
    command = parseCommandLine(
      argv,
      { api: { type: "string" }, vault: { type: "string" }, provider: { type: "string" }, "key-file": { type: "string" }, "max-fee": { type: "string" } },
      exitFlags,
    );
    signer = command["key-file"] ? KeySigner.fromFile(command["key-file"], networkOfContract(command.vault)) : null;
  } catch (error) {
    out(`[exit] ${(error as Error).message}`);
    if (error instanceof UsageError) out(USAGE);
    return 5;
  }
  const client = new HiroClient({ baseUrl: command.api, apiKey: process.env.HIRO_API_KEY || undefined });
  let plan: ExitPlan;
  try {
    plan = await planExit(client, command.vault, command.provider);
  } catch (error) {
    out(`[exit] ${(error as Error).message}`);
    return 5;
  }
  for (const line of describeExit(plan)) out(line);
  if (plan.refusal) {
    out(`[exit] REFUSED: ${plan.refusal.message}`);
    return plan.refusal.code;
  }
  if (signer === null) {
    out("[exit] no key given: nothing sent. Claim with --key-file <file holding your hex private key>, or send the call above from your wallet.");
    return 0;
  }
  try {
    return await claimExits(client, signer, plan, { maxFee: command["max-fee"], follow: { wait: io.wait ?? (() => sleep(FOLLOW.pollMs)), maxPolls: FOLLOW.maxPolls } }, out);
  } catch (error) {
    // Some claims may be out already: running the tool again shows which, and sends only the rest.
    out(`[exit] ${(error as Error).message}: run the tool again to see what was claimed`);
    return 1;
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.exitCode = await runExit(process.argv.slice(2));
}
