/**
 * The guardian's watcher, a standalone process that trusts no database
 * (README "Operations: the watcher and the exit"):
 *
 *   npm run watch -- --api <url> --vault <contract id> [--guardian-key-file F] [--once]
 *     [--interval-ms N] [--full-every N] [--expect-role <role>:<principal> ...] [--burst-bps N]
 *     [--veto-margin N] [--max-fee N]
 *
 * Each round is tools/watchRound.ts. Exit status with --once: 0 nothing
 * alarming, 1 an alert was found (whatever was done about it), 2 the round
 * could not run. Without --once it runs until stopped, and a round that fails
 * (the API down) is reported and retried at the next interval.
 *
 * The process keeps the vault's events in memory from one round to the next
 * (an `EventHistory`, tools/chainEvents.ts) and nothing on disk: the first
 * round reads them all, each later round only re-reads the events of the last
 * 6 burn blocks below the newest one (after checking, by block hash, that the
 * last event kept is still where it was — else it reads them all again), and
 * every `--full-every` rounds (default: about an hour's worth of rounds, 60 at
 * the default 60 s interval) reads them all again as a check. A restart starts
 * from nothing, as before. Each round prints what its read cost:
 * `[watch] events: 1,234 held, 12 read this round in 3 requests (tail re-read from block N)`.
 */
import { pathToFileURL } from "node:url";

import { z } from "zod";

import { HiroClient } from "../convex/chain/hiroClient";
import { VAULT_ROLES } from "../convex/chain/vault";
import {
  apiUrlSchema,
  bigintFlag,
  contractIdSchema,
  parseCommandLine,
  principalSchema,
  sleep,
  toJson,
  UsageError,
  type CliIo,
} from "./cliOptions";
import { EventHistory } from "./chainEvents";
import { KeySigner, networkOfContract } from "./vaultTransactions";
import { describeRefresh, formatFinding, watchRound, type ExpectedRole, type WatchOptions } from "./watchRound";

const USAGE = `usage: npm run watch -- --api <url> --vault <contract id> [--guardian-key-file F] [--once]
         [--interval-ms N] [--full-every N] [--expect-role <role>:<principal> ...] [--burst-bps N] [--veto-margin N] [--max-fee N]`;

const expectedRole = z
  .string()
  .transform((text, ctx): ExpectedRole => {
    const [role, who, ...rest] = text.split(":");
    const roleParsed = z.enum(VAULT_ROLES).safeParse(role);
    const whoParsed = principalSchema.safeParse(who);
    if (rest.length > 0 || !roleParsed.success || !whoParsed.success) {
      ctx.addIssue({ code: "custom", message: `${text} is not <admin|guardian|operator|signer>:<principal>` });
      return z.NEVER;
    }
    return { role: roleParsed.data, who: whoParsed.data };
  });

const watchFlags = z.object({
  api: apiUrlSchema,
  vault: contractIdSchema,
  "guardian-key-file": z.string().min(1).optional(),
  once: z.boolean().default(false),
  "interval-ms": bigintFlag.default(60_000n).refine((ms) => ms >= 1_000n, "at least 1000"),
  // Rounds between two full reads of the event history; default: an hour's worth.
  "full-every": bigintFlag.refine((rounds) => rounds >= 1n && rounds <= 1_000_000n, "between 1 and 1000000").optional(),
  "expect-role": z.array(expectedRole).default([]),
  "burst-bps": bigintFlag.default(8_000n).refine((bps) => bps >= 1n && bps <= 10_000n, "between 1 and 10000"),
  // About an hour of burn blocks: time for a veto to be mined before the window closes.
  "veto-margin": bigintFlag.default(6n).refine((blocks) => blocks < 144n, "less than the 144-block veto window"),
  "max-fee": bigintFlag.default(1_000_000n),
});

export type WatchCommand = z.output<typeof watchFlags>;

export function parseWatchCommand(argv: string[]): WatchCommand {
  return parseCommandLine(
    argv,
    {
      api: { type: "string" },
      vault: { type: "string" },
      "guardian-key-file": { type: "string" },
      once: { type: "boolean" },
      "interval-ms": { type: "string" },
      "full-every": { type: "string" },
      "expect-role": { type: "string", multiple: true },
      "burst-bps": { type: "string" },
      "veto-margin": { type: "string" },
      "max-fee": { type: "string" },
    },
    watchFlags,
  );
}

/** Polls every 5 s for up to 5 minutes for each transaction the watcher sends. */
const FOLLOW = { pollMs: 5_000, maxPolls: 60 };

/** By default the event history is read in full about once an hour. */
const FULL_READ_EVERY_MS = 3_600_000n;

/** Rounds between two full reads: `--full-every`, or as many rounds as fit in an hour (at least one). */
export function fullEveryOf(command: WatchCommand): number {
  const given = command["full-every"];
  if (given !== undefined) return Number(given);
  const interval = command["interval-ms"];
  const rounds = (FULL_READ_EVERY_MS + interval - 1n) / interval;
  return Number(rounds > 0n ? rounds : 1n);
}

/**
 * The command, given its arguments. `io.wait` replaces the pause between
 * looks at a sent transaction (the tests mine a block in it).
 */
export async function runWatch(argv: string[], io: CliIo = {}): Promise<number> {
  const out = io.out ?? console.log;
  let command: WatchCommand;
  let signer: KeySigner | null;
  try {
    command = parseWatchCommand(argv);
    const keyFile = command["guardian-key-file"];
    signer = keyFile ? KeySigner.fromFile(keyFile, networkOfContract(command.vault)) : null;
  } catch (error) {
    out(`[watch] ${(error as Error).message}`);
    if (error instanceof UsageError) out(USAGE);
    return 2;
  }
  // HIRO_API_KEY lifts the API's anonymous rate limit; it is sent, never shown.
  const client = new HiroClient({ baseUrl: command.api, apiKey: process.env.HIRO_API_KEY || undefined });
  const options: WatchOptions = {
    vault: command.vault,
    expectRoles: command["expect-role"],
    burstBps: command["burst-bps"],
    vetoMargin: command["veto-margin"],
    maxFee: command["max-fee"],
    follow: { wait: io.wait ?? (() => sleep(FOLLOW.pollMs)), maxPolls: FOLLOW.maxPolls },
  };
  out(`[watch] watching ${command.vault} through ${command.api}${signer ? ` as ${signer.address}` : " without a key (report only)"}`);
  // One history for the life of the process: later rounds re-read only the tail of the logs.
  const history = new EventHistory(command.vault, { fullEvery: fullEveryOf(command) });
  // A long-running watcher repeats an unchanged "all is well" line once, not every round; alerts every round.
  let lastInfo = new Set<string>();
  for (;;) {
    try {
      const summary = await watchRound(client, signer, options, out, history);
      // What reading the events cost, every round: the operator's view of the API budget.
      if (summary.events) out(describeRefresh(summary.events));
      const info = new Set<string>();
      for (const finding of summary.findings) {
        const line = formatFinding(finding);
        if (finding.severity === "info") info.add(line);
        if (finding.severity !== "info" || !lastInfo.has(line)) out(line);
      }
      lastInfo = info;
      if (command.once) {
        out(toJson(summary));
        return summary.findings.some((finding) => finding.severity === "alert") ? 1 : 0;
      }
    } catch (error) {
      out(`[watch] ERROR the round failed: ${(error as Error).message}`);
      if (command.once) return 2;
    }
    await sleep(Number(command["interval-ms"]));
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.exitCode = await runWatch(process.argv.slice(2));
}
