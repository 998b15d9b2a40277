/**
 * Clarity execution costs of the liquidity-pool vault, next to a bare token
 * transfer of the same amount.
 *
 *   npx tsx bench/contract-costs.ts      (npm run bench:contract)
 *
 * Runs every vault operation once for STX and once for sBTC on a fresh simnet
 * with cost tracking on, and prints, per operation, the five Clarity cost
 * dimensions, each as a ratio to the bare transfer of the same token, the
 * share of a block's limit the call takes, and the design goals (deposit and
 * settlement within 1.5x of a bare transfer, voucher withdrawal within 3x,
 * judged on block share; runtime is shown next to its floor).
 *
 * Baselines: the cheapest way for Clarity code to move the token, so that the
 * ratio is what the vault adds on top of the transfer it performs.
 * - STX: a native token-transfer transaction runs no Clarity, so simnet reports
 *   no costs for it. The baseline is a minimal contract, deployed here only,
 *   whose one public function is `(stx-transfer? amount tx-sender recipient)`.
 * - sBTC: the same minimal contract shape around the token's SIP-010
 *   `transfer`. A transaction calling `transfer` on the token directly is shown
 *   too, as a reference: any contract that moves the token pays three reads
 *   more than that direct call (its own load and the inter-contract call).
 *
 * It also re-runs the vault operations on two copies of the vault deployed
 * under other names (comments stripped; comments stripped and whitespace
 * collapsed) to show how much of the cost is the contract's source size, which
 * every call pays for when it loads the contract.
 *
 * Results are also written to bench/results/contract-costs.md (for the
 * README) and bench/results/contract-costs.json.
 *
 * Prints figures only; there are no timing assertions. Exits non-zero only when
 * a call it makes does not return `(ok ...)`, i.e. when the bench is broken.
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

import { initSimnet, type DeployContractOptions, type ParsedTransactionResult } from "@stacks/clarinet-sdk";
import { STACKS_TESTNET } from "@stacks/network";
import {
  Cl,
  ClarityVersion,
  cvToString,
  privateKeyToAddress,
  type ClarityValue,
} from "@stacks/transactions";

import { chainIdOf, signWithdrawalVoucher, type WithdrawalVoucher } from "../convex/chain/withdrawalVoucher";
import { verdictOf, writeSummary, type SummaryRowInput } from "./support/summary";

// ---------------------------------------------------------------------------
// Setup
// ---------------------------------------------------------------------------

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const RESULTS_DIR = path.join(ROOT, "bench", "results");
process.chdir(ROOT);

/** Same test-only key as tests/contracts/vault.ts; signs withdrawal vouchers. */
const BACKEND_KEY = "05ce6eb810faa8cb76f34841c9a1faf78597e58d810199ff84c04dc387ac006601";
const backend = privateKeyToAddress(BACKEND_KEY, "testnet");
/** Simnet runs with the testnet chain id. */
const CHAIN_ID = chainIdOf(STACKS_TESTNET);

/** Burn blocks between a role proposal and its acceptance (the vault's ROLE-DELAY). */
const ROLE_DELAY = 144;

/** Every transfer measured moves this amount (micro-STX or satoshis). */
const AMOUNT = 1_000_000n;

const simnet = await initSimnet("./Clarinet.toml", false, { trackCosts: true, trackCoverage: false });

const accounts = simnet.getAccounts();
function account(name: string): string {
  const address = accounts.get(name);
  if (!address) throw new Error(`simnet account ${name} missing from settings/Devnet.toml`);
  return address;
}
const deployer = account("deployer");
const alice = account("wallet_1"); // liquidity provider
const bob = account("wallet_2"); // policy buyer paying premiums
const carol = account("wallet_3"); // settlement / transfer recipient

const SBTC = `${deployer}.sbtc-token`;

type Token = "STX" | "sBTC";
const TOKENS: readonly Token[] = ["STX", "sBTC"];

function tokenArg(token: Token): ClarityValue {
  return token === "STX" ? Cl.none() : Cl.some(Cl.principal(SBTC));
}

// ---------------------------------------------------------------------------
// Calling and measuring
// ---------------------------------------------------------------------------

const DIMENSIONS = ["runtime", "readCount", "readLength", "writeCount", "writeLength"] as const;
type Dimension = (typeof DIMENSIONS)[number];
type Cost = Record<Dimension, number>;

const DIMENSION_LABEL: Record<Dimension, string> = {
  runtime: "Runtime",
  readCount: "Read count",
  readLength: "Read length",
  writeCount: "Write count",
  writeLength: "Write length",
};

/** The block limit simnet reports alongside each call's costs. */
let blockLimit: Cost | undefined;

/**
 * Simnet echoes every `print` of the contract to stdout. Silence that while a
 * call runs so that only the tables are printed.
 */
function quietly<T>(run: () => T): T {
  const log = console.log;
  console.log = () => undefined;
  try {
    return run();
  } finally {
    console.log = log;
  }
}

class BenchBroken extends Error {}

/** Fails the bench unless the call returned `(ok ...)`; returns its costs. */
function expectOk(what: string, result: ParsedTransactionResult): Cost {
  if (result.result.type !== "ok") {
    throw new BenchBroken(`${what} returned ${cvToString(result.result)}, expected (ok ...)`);
  }
  if (!result.costs) throw new BenchBroken(`${what}: simnet reported no costs (is trackCosts on?)`);
  blockLimit ??= pickCost(result.costs.limit);
  return pickCost(result.costs.total);
}

function pickCost(c: Cost): Cost {
  return {
    runtime: c.runtime,
    readCount: c.readCount,
    readLength: c.readLength,
    writeCount: c.writeCount,
    writeLength: c.writeLength,
  };
}

function callPublic(contract: string, fn: string, args: ClarityValue[], sender: string): ParsedTransactionResult {
  return quietly(() => simnet.callPublicFn(contract, fn, args, sender));
}

/** A setup call: must succeed, its costs are not reported. */
function setup(contract: string, fn: string, args: ClarityValue[], sender: string): void {
  expectOk(`setup ${contract.split(".")[1]}::${fn}`, callPublic(contract, fn, args, sender));
}

/**
 * Clarity 4. clarinet-sdk types its options with its own nested copy of
 * @stacks/transactions, whose ClarityVersion enum TypeScript treats as a
 * different type from the project's; the value (4) is the same.
 */
const CLARITY_4: DeployContractOptions = {
  clarityVersion: ClarityVersion.Clarity4 as number as DeployContractOptions["clarityVersion"],
};

function deploy(name: string, source: string): string {
  const result = quietly(() => simnet.deployContract(name, source, CLARITY_4, deployer));
  // A deployment's result is the value of the contract's last top-level
  // expression, not a response; its failure surfaces as an exception.
  if (result.result.type === "err") {
    throw new BenchBroken(`deploying ${name} returned ${cvToString(result.result)}`);
  }
  return `${deployer}.${name}`;
}

type Measurement = {
  operation: string;
  token: Token;
  /** What the call was, for the record. */
  call: string;
  cost: Cost;
  /** Values printed by the call, to check that vault copies behave the same. */
  printed: string[];
};

function measure(operation: string, token: Token, contract: string, fn: string, args: ClarityValue[], sender: string): Measurement {
  const callText = `${contract.split(".")[1]}::${fn}`;
  const result = callPublic(contract, fn, args, sender);
  const cost = expectOk(`${operation} (${token}) ${callText}`, result);
  const printed = result.events
    .filter((e) => e.event === "print_event" && e.data.value !== undefined)
    .map((e) => cvToString(e.data.value as ClarityValue));
  return { operation, token, call: callText, cost, printed };
}

// ---------------------------------------------------------------------------
// Scenario
// ---------------------------------------------------------------------------

const POLICY_IDS_50 = Array.from({ length: 50 }, (_, i) => BigInt(i + 1));
const ids = (list: bigint[]) => Cl.list(list.map((id) => Cl.uint(id)));

function signedVoucher(vault: string, provider: string, token: Token, nonce: bigint): WithdrawalVoucher & { signature: string } {
  const body: WithdrawalVoucher = {
    vault,
    provider,
    amount: AMOUNT,
    tokenContract: token === "STX" ? null : SBTC,
    nonce,
    expiresAt: BigInt(simnet.stacksBlockHeight + 100),
  };
  return { ...body, signature: signWithdrawalVoucher(body, CHAIN_ID, BACKEND_KEY) };
}

/**
 * Configures a freshly deployed vault (deployer is its admin), seeds it, and
 * measures each operation once per token. Every call must return (ok true).
 */
function runVault(vault: string): Measurement[] {
  setup(vault, "set-sbtc-token-principal", [Cl.principal(SBTC)], deployer);
  // The backend key takes the operator and signer roles the two-step way.
  for (const role of ["operator", "signer"]) setup(vault, "propose-role", [Cl.stringAscii(role), Cl.principal(backend)], deployer);
  simnet.mineEmptyBlocks(ROLE_DELAY);
  for (const role of ["operator", "signer"]) setup(vault, "accept-role", [Cl.stringAscii(role)], backend);

  const out: Measurement[] = [];
  // Nonces are per vault, so that every copy of the vault sees the same calls.
  let nonce = 1n;
  for (const token of TOKENS) {
    const t = tokenArg(token);
    // Seed liquidity so that collateral can be locked and funds withdrawn.
    setup(vault, "deposit-funds", [Cl.uint(100n * AMOUNT), t], alice);

    out.push(measure("deposit-funds", token, vault, "deposit-funds", [Cl.uint(AMOUNT), t], alice));
    out.push(measure("pay-premium", token, vault, "pay-premium", [Cl.uint(1), Cl.uint(AMOUNT), t], bob));
    out.push(
      measure("lock-collateral-aggregate (1 id)", token, vault, "lock-collateral-aggregate", [ids([1n]), Cl.uint(AMOUNT), t], backend),
    );
    out.push(
      measure("lock-collateral-aggregate (50 ids)", token, vault, "lock-collateral-aggregate", [ids(POLICY_IDS_50), Cl.uint(AMOUNT), t], backend),
    );
    out.push(
      measure("release-collateral-aggregate (1 id)", token, vault, "release-collateral-aggregate", [ids([1n]), Cl.uint(AMOUNT), t], backend),
    );
    out.push(
      measure("release-collateral-aggregate (50 ids)", token, vault, "release-collateral-aggregate", [ids(POLICY_IDS_50), Cl.uint(AMOUNT), t], backend),
    );
    // Settlement pays out of locked collateral: lock some first.
    setup(vault, "lock-collateral-aggregate", [ids([1n]), Cl.uint(AMOUNT), t], backend);
    out.push(
      measure("settle-policy", token, vault, "settle-policy", [Cl.uint(1), Cl.principal(carol), Cl.uint(AMOUNT), t], backend),
    );
    const v = signedVoucher(vault, alice, token, nonce++);
    out.push(
      measure(
        "withdraw-funds (voucher)",
        token,
        vault,
        "withdraw-funds",
        [Cl.uint(v.amount), t, Cl.uint(v.nonce), Cl.uint(v.expiresAt), Cl.bufferFromHex(v.signature)],
        alice,
      ),
    );
  }
  return out;
}

/** Minimal contract for the STX baseline: nothing but the transfer. */
const BARE_STX_SOURCE = `(define-public (transfer (amount uint) (recipient principal))
  (stx-transfer? amount tx-sender recipient))
`;

/** Minimal contract for the sBTC baseline: nothing but the token's SIP-010 transfer. */
const BARE_SBTC_SOURCE = `(define-public (transfer (amount uint) (recipient principal))
  (contract-call? .sbtc-token transfer amount tx-sender recipient none))
`;

// ---------------------------------------------------------------------------
// Vault source variants (for the source-size experiment)
// ---------------------------------------------------------------------------

/** Removes `;` comments (outside string literals), trailing spaces and blank lines. */
function stripComments(source: string): string {
  let out = "";
  let inString = false;
  for (let i = 0; i < source.length; i++) {
    const ch = source[i] as string;
    if (inString) {
      out += ch;
      if (ch === "\\") {
        out += source[i + 1] ?? "";
        i++;
      } else if (ch === '"') {
        inString = false;
      }
    } else if (ch === '"') {
      inString = true;
      out += ch;
    } else if (ch === ";") {
      while (i < source.length && source[i] !== "\n") i++;
      out += "\n";
    } else {
      out += ch;
    }
  }
  return out
    .split("\n")
    .map((line) => line.trimEnd())
    .filter((line) => line.length > 0)
    .join("\n")
    .concat("\n");
}

/** Comments stripped, then every run of whitespace outside strings collapsed to one space, none inside parentheses' edges. */
function minify(source: string): string {
  const noComments = stripComments(source);
  let out = "";
  let inString = false;
  let pendingSpace = false;
  for (let i = 0; i < noComments.length; i++) {
    const ch = noComments[i] as string;
    if (inString) {
      out += ch;
      if (ch === "\\") {
        out += noComments[i + 1] ?? "";
        i++;
      } else if (ch === '"') {
        inString = false;
      }
      continue;
    }
    if (/\s/.test(ch)) {
      pendingSpace = true;
      continue;
    }
    if (pendingSpace && out.length > 0 && !out.endsWith("(") && ch !== ")") out += " ";
    pendingSpace = false;
    if (ch === '"') inString = true;
    out += ch;
  }
  return out + "\n";
}

// ---------------------------------------------------------------------------
// Run
// ---------------------------------------------------------------------------

type VaultVariant = { name: string; contract: string; sourceBytes: number; measurements: Measurement[] };

let baselines: Record<Token, Measurement>;
/** SIP-010 `transfer` called by a transaction directly on the token: a reference, not the baseline. */
let directSbtcTransfer: Measurement;
let variants: VaultVariant[];

try {
  setup(SBTC, "mint", [Cl.uint(1_000n * AMOUNT), Cl.principal(alice)], deployer);
  setup(SBTC, "mint", [Cl.uint(1_000n * AMOUNT), Cl.principal(bob)], deployer);

  const bareStx = deploy("bare-stx-transfer", BARE_STX_SOURCE);
  const bareSbtc = deploy("bare-sbtc-transfer", BARE_SBTC_SOURCE);
  const bareArgs = [Cl.uint(AMOUNT), Cl.principal(carol)];
  baselines = {
    STX: measure("bare stx-transfer? (baseline)", "STX", bareStx, "transfer", bareArgs, alice),
    sBTC: measure("bare SIP-010 transfer (baseline)", "sBTC", bareSbtc, "transfer", bareArgs, alice),
  };
  directSbtcTransfer = measure(
    "SIP-010 transfer as its own transaction (reference)",
    "sBTC",
    SBTC,
    "transfer",
    [Cl.uint(AMOUNT), Cl.principal(alice), Cl.principal(carol), Cl.none()],
    alice,
  );

  const vaultSource = readFileSync(path.join(ROOT, "contracts", "liquidity-pool.clar"), "utf8");
  const strippedSource = stripComments(vaultSource);
  const minifiedSource = minify(vaultSource);

  variants = [
    {
      name: "as deployed (contracts/liquidity-pool.clar)",
      contract: `${deployer}.liquidity-pool`,
      sourceBytes: Buffer.byteLength(vaultSource, "utf8"),
      measurements: [],
    },
    {
      name: "copy, comments stripped",
      contract: deploy("liquidity-pool-nocomments", strippedSource),
      sourceBytes: Buffer.byteLength(strippedSource, "utf8"),
      measurements: [],
    },
    {
      name: "copy, comments stripped + whitespace collapsed",
      contract: deploy("liquidity-pool-minified", minifiedSource),
      sourceBytes: Buffer.byteLength(minifiedSource, "utf8"),
      measurements: [],
    },
  ];
  for (const variant of variants) variant.measurements = runVault(variant.contract);

  // The copies must behave exactly like the original: same results (all ok)
  // and the same printed events, call for call.
  const reference = variants[0]?.measurements ?? [];
  for (const variant of variants.slice(1)) {
    variant.measurements.forEach((m, i) => {
      const ref = reference[i];
      if (!ref || ref.operation !== m.operation || ref.printed.join("\n") !== m.printed.join("\n")) {
        throw new BenchBroken(
          `${variant.name}: ${m.operation} (${m.token}) printed [${m.printed.join(", ")}], ` +
            `the original vault printed [${ref?.printed.join(", ") ?? "nothing"}]`,
        );
      }
    });
  }
} catch (error) {
  if (error instanceof BenchBroken) {
    console.error(`bench broken: ${error.message}`);
    process.exit(1);
  }
  throw error;
}

// ---------------------------------------------------------------------------
// Report
// ---------------------------------------------------------------------------

const limit = blockLimit as Cost;

/** Goal relative to the bare transfer of the same token (judged on block share and, separately, on runtime). */
function goalFor(operation: string): number | undefined {
  if (operation === "deposit-funds" || operation === "settle-policy") return 1.5;
  if (operation === "withdraw-funds (voucher)") return 3;
  return undefined;
}

type Share = { max: number; maxDimension: Dimension; sum: number };

/** Fraction of the block limit the call takes: the largest dimension, and the sum over dimensions. */
function shareOf(cost: Cost): Share {
  let max = -1;
  let maxDimension: Dimension = "runtime";
  let sum = 0;
  for (const d of DIMENSIONS) {
    const s = cost[d] / limit[d];
    sum += s;
    if (s > max) {
      max = s;
      maxDimension = d;
    }
  }
  return { max, maxDimension, sum };
}

const verdict = (pass: boolean): string => (pass ? "PASS" : "FAIL");
const ratio = (value: number, base: number): number | null => (base === 0 ? null : value / base);
const fmtInt = (n: number): string => n.toLocaleString("en-US");
const fmtRatio = (r: number | null): string => (r === null ? "n/a" : `${r.toFixed(2)}×`);
/** Parts per million of the block limit. */
const fmtPpm = (share: number): string => `${(share * 1e6).toFixed(1)} ppm`;

type Row = {
  operation: string;
  token: Token;
  call: string;
  cost: Cost;
  ratio: Record<Dimension, number | null>;
  blockShare: Share;
  blockShareRatio: { max: number | null; sum: number | null };
  goal: {
    limit: number;
    shareRatio: number;
    passOnShare: boolean;
    runtimeRatio: number;
    /** Runtime that loading even the minified vault costs, as a ratio to the bare transfer's whole runtime. */
    runtimeFloorRatio: number;
    /** Ratio of block share to the direct token call (sBTC only), for reference. */
    shareRatioVsDirectCall: number | null;
  } | null;
};

/**
 * Every call pays runtime for loading the contract, one unit per byte of
 * source (the source-size experiment measures the slope). Even the minified
 * vault costs this much runtime before its first expression runs.
 */
function loadRuntimeFloor(): number {
  const deployed = variants[0] as VaultVariant;
  const minified = variants[2] as VaultVariant;
  const a = deployed.measurements[0]?.cost.runtime ?? 0;
  const b = minified.measurements[0]?.cost.runtime ?? 0;
  const perByte = (a - b) / (deployed.sourceBytes - minified.sourceBytes);
  return perByte * minified.sourceBytes;
}

function rowOf(m: Measurement): Row {
  const base = baselines[m.token].cost;
  const share = shareOf(m.cost);
  const baseShare = shareOf(base);
  const r = Object.fromEntries(DIMENSIONS.map((d) => [d, ratio(m.cost[d], base[d])])) as Record<Dimension, number | null>;
  const goal = goalFor(m.operation);
  const runtimeRatio = m.cost.runtime / base.runtime;
  const shareRatio = share.max / baseShare.max;
  const directShare = m.token === "sBTC" ? shareOf(directSbtcTransfer.cost).max : null;
  return {
    operation: m.operation,
    token: m.token,
    call: m.call,
    cost: m.cost,
    ratio: r,
    blockShare: share,
    blockShareRatio: { max: ratio(share.max, baseShare.max), sum: ratio(share.sum, baseShare.sum) },
    goal:
      goal === undefined
        ? null
        : {
            limit: goal,
            shareRatio,
            passOnShare: shareRatio <= goal,
            runtimeRatio,
            runtimeFloorRatio: loadRuntimeFloor() / base.runtime,
            shareRatioVsDirectCall: directShare === null ? null : share.max / directShare,
          },
  };
}

const original = variants[0] as VaultVariant;
const rows: Row[] = [];
for (const token of TOKENS) {
  rows.push(rowOf(baselines[token]));
  if (token === "sBTC") rows.push(rowOf(directSbtcTransfer));
  for (const m of original.measurements.filter((x) => x.token === token)) rows.push(rowOf(m));
}

const HEADER = [
  "Operation",
  "Token",
  ...DIMENSIONS.map((d) => `${DIMENSION_LABEL[d]} (× bare)`),
  "Block share, max dim (× bare)",
  "Block share, Σ dims (× bare)",
  "Goal (block share)",
];

function cells(row: Row): string[] {
  const goal = row.goal
    ? `≤ ${row.goal.limit}×: ${verdict(row.goal.passOnShare)} (${row.goal.shareRatio.toFixed(2)}×)`
    : "—";
  return [
    row.operation,
    row.token,
    ...DIMENSIONS.map((d) => `${fmtInt(row.cost[d])} (${fmtRatio(row.ratio[d])})`),
    `${fmtPpm(row.blockShare.max)} ${row.blockShare.maxDimension} (${fmtRatio(row.blockShareRatio.max)})`,
    `${fmtPpm(row.blockShare.sum)} (${fmtRatio(row.blockShareRatio.sum)})`,
    goal,
  ];
}

function textTable(header: string[], body: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((r) => (r[i] ?? "").length)));
  const line = (r: string[]) => r.map((c, i) => c.padEnd(widths[i] ?? 0)).join(" │ ");
  const rule = widths.map((w) => "─".repeat(w)).join("─┼─");
  return [line(header), rule, ...body.map(line)].join("\n");
}

function markdownTable(header: string[], body: string[][]): string {
  const esc = (c: string) => c.replace(/\|/g, "\\|");
  return [
    `| ${header.map(esc).join(" | ")} |`,
    `| ${header.map((_, i) => (i < 2 ? "---" : "---:")).join(" | ")} |`,
    ...body.map((r) => `| ${r.map(esc).join(" | ")} |`),
  ].join("\n");
}

// Source-size experiment: the same calls on the three copies of the vault.
const SOURCE_HEADER = [
  "Operation",
  "Token",
  ...variants.map((v, i) => `Runtime / read length, ${["as deployed", "no comments", "minified"][i] ?? v.name} (${fmtInt(v.sourceBytes)} B)`),
  "Runtime × bare (deployed → no comments → minified)",
];
const sourceBody: string[][] = original.measurements.map((m, i) => {
  const base = baselines[m.token].cost.runtime;
  const perVariant = variants.map((v) => v.measurements[i]?.cost as Cost);
  return [
    m.operation,
    m.token,
    ...perVariant.map((c) => `${fmtInt(c.runtime)} / ${fmtInt(c.readLength)}`),
    perVariant.map((c) => fmtRatio(c.runtime / base)).join(" → "),
  ];
});

const baselineNote =
  "Baselines: the cheapest way for Clarity code to move the token, so that each ratio is what the vault adds on top of the transfer it performs. " +
  "STX: a native token-transfer transaction executes no Clarity (simnet reports no Clarity costs for it), so the baseline is a minimal contract " +
  "deployed by this bench only, whose single public function is `(stx-transfer? amount tx-sender recipient)` " +
  `(${Buffer.byteLength(BARE_STX_SOURCE, "utf8")} bytes). ` +
  "sBTC: the same minimal contract around the token's SIP-010 `(contract-call? .sbtc-token transfer amount tx-sender recipient none)` " +
  `(${Buffer.byteLength(BARE_SBTC_SOURCE, "utf8")} bytes), on the local sbtc-token stand-in. ` +
  "The sBTC table also shows `transfer` sent as its own transaction to the token (reference row): any contract that moves the token — " +
  `the minimal one included — reads ${fmtInt(baselines.sBTC.cost.readCount - directSbtcTransfer.cost.readCount)} more times than that direct call ` +
  "(its own code, and the inter-contract call), so no vault can be compared with it like for like.";
const limitNote =
  `Block limit (as reported by simnet): ${DIMENSIONS.map((d) => `${d} ${fmtInt(limit[d])}`).join(", ")}. ` +
  "\"Block share, max dim\" is max over dimensions of cost/limit (the dimension that fills a block first), " +
  "\"Σ dims\" is the sum of cost/limit over the five dimensions (stacks-core's ProportionalDotProduct fee metric adds " +
  "the transaction-length share to this sum); both in parts per million of a block.";
const runtimeFloor = loadRuntimeFloor();
const vaultRows = rows.filter((r) => r.goal);
const maxRuntimeShare = Math.max(...original.measurements.map((m) => m.cost.runtime / limit.runtime));
const maxBlockShare = Math.max(...original.measurements.map((m) => shareOf(m.cost).max));
const goalNote =
  "Goal: deposit-funds and settle-policy within 1.5× of the bare transfer of the same token, withdraw-funds (voucher) within 3×, " +
  "judged on block share: the dimension that fills a block first, which bounds how many calls fit in a block and drives the fee. " +
  `Runtime is shown for completeness but cannot be a goal: every call pays one runtime unit per byte of contract source to load it, ` +
  `so even the minified vault (${fmtInt(variants[2]?.sourceBytes ?? 0)} B, the interface of DESIGN §2 and nothing else) costs ` +
  `${fmtInt(Math.round(runtimeFloor))} runtime before its first expression runs — ` +
  `${fmtRatio(runtimeFloor / baselines.STX.cost.runtime)} the bare STX transfer and ${fmtRatio(runtimeFloor / baselines.sBTC.cost.runtime)} the bare sBTC transfer, whole. ` +
  "That floor alone exceeds the 1.5× goal of deposit and settlement. " +
  `Runtime is also the slackest dimension: the costliest vault call takes ${fmtPpm(maxRuntimeShare)} of a block's runtime, against ${fmtPpm(maxBlockShare)} of its reads.`;

const goalLines = vaultRows.map((r) => {
  const g = r.goal as NonNullable<Row["goal"]>;
  const direct = g.shareRatioVsDirectCall === null ? "" : `; ${g.shareRatioVsDirectCall.toFixed(2)}× a direct token call`;
  return (
    `${verdict(g.passOnShare)}  ${r.operation} (${r.token}): block share ${g.shareRatio.toFixed(2)}× bare (goal ≤ ${g.limit}×)${direct}; ` +
    `runtime ${fmtInt(r.cost.runtime)} = ${g.runtimeRatio.toFixed(2)}× bare (load floor ${g.runtimeFloorRatio.toFixed(2)}×)`
  );
});

const sdkVersion = (
  JSON.parse(readFileSync(path.join(ROOT, "node_modules", "@stacks", "clarinet-sdk", "package.json"), "utf8")) as {
    version: string;
  }
).version;
const envLine = `Simnet (@stacks/clarinet-sdk ${sdkVersion}), epoch ${simnet.currentEpoch}, Clarity 4; every transfer moves ${AMOUNT.toLocaleString("en-US")} base units.`;

const mainBody = rows.map(cells);

console.log(`\nliquidity-pool: Clarity execution costs vs a bare transfer\n${envLine}\n`);
console.log(textTable(HEADER, mainBody));
console.log(`\n${baselineNote}\n${limitNote}\n${goalNote}\n`);
console.log(goalLines.join("\n"));
console.log("\nSource size: the same calls on copies of the vault (every call reads the whole contract source)\n");
console.log(textTable(SOURCE_HEADER, sourceBody));

const markdown = [
  "## Contract costs",
  "",
  `_Generated by \`npm run bench:contract\` (bench/contract-costs.ts). ${envLine}_`,
  "",
  "Each cell: the call's cost, and in brackets its ratio to the bare transfer of the same token.",
  "",
  markdownTable(HEADER, mainBody),
  "",
  `- ${baselineNote}`,
  `- ${limitNote}`,
  `- ${goalNote}`,
  "",
  "```",
  ...goalLines,
  "```",
  "",
  "### Source size",
  "",
  "Every call pays for loading the contract: read length and runtime both grow by one per byte of source, comments and whitespace included. " +
    "The same calls on copies of the vault deployed with comments stripped, and with whitespace collapsed as well:",
  "",
  markdownTable(SOURCE_HEADER, sourceBody),
  "",
].join("\n");

const json = {
  environment: { clarinetSdk: sdkVersion, epoch: simnet.currentEpoch, clarityVersion: 4, amount: AMOUNT },
  blockLimit: limit,
  goals: { "deposit-funds": 1.5, "settle-policy": 1.5, "withdraw-funds (voucher)": 3, judgedOn: "blockShareMax" },
  baselines: {
    STX: { ...baselines.STX, contractSource: BARE_STX_SOURCE },
    sBTC: { ...baselines.sBTC, contractSource: BARE_SBTC_SOURCE },
  },
  directSbtcTransfer,
  runtimeLoadFloor: runtimeFloor,
  rows,
  sourceSizeVariants: variants.map((v) => ({
    name: v.name,
    contract: v.contract,
    sourceBytes: v.sourceBytes,
    measurements: v.measurements.map(({ operation, token, cost }) => ({ operation, token, cost })),
  })),
};

mkdirSync(RESULTS_DIR, { recursive: true });
writeFileSync(path.join(RESULTS_DIR, "contract-costs.md"), markdown);
writeFileSync(
  path.join(RESULTS_DIR, "contract-costs.json"),
  JSON.stringify(json, (_key, value: unknown) => (typeof value === "bigint" ? value.toString() : value), 2) + "\n",
);
console.log(`\nWrote ${path.relative(ROOT, path.join(RESULTS_DIR, "contract-costs.md"))} and contract-costs.json`);

// ---------------------------------------------------------------------------
// Summary for the combined table of `npm run bench` (bench/all.ts)
// ---------------------------------------------------------------------------

/**
 * Each vault operation's block share × the bare transfer of its token, with
 * the verdict where the design sets a goal; for those operations also the
 * runtime ratio, as a figure (it is not what the goal is judged on). Read
 * from `rows` as computed above; reference rows (baselines) are left out.
 */
function summaryRowsOf(measured: readonly Row[]): SummaryRowInput[] {
  const isVaultCall = (r: Row) => original.measurements.some((m) => m.operation === r.operation && m.token === r.token);
  return measured.filter(isVaultCall).flatMap((r): SummaryRowInput[] => {
    const area = `${r.operation} (${r.token})`;
    const share = { area, measure: "block share × bare transfer", value: fmtRatio(r.blockShareRatio.max) };
    if (!r.goal) return [share];
    return [
      { ...share, goal: `≤ ${r.goal.limit}×`, verdict: verdictOf(r.goal.passOnShare) },
      {
        area,
        measure: "runtime × bare transfer",
        value: `${fmtRatio(r.goal.runtimeRatio)} (contract-load floor ${fmtRatio(r.goal.runtimeFloorRatio)})`,
      },
    ];
  });
}

writeSummary({
  bench: "contract-costs",
  title: "Clarity execution cost of each vault call × a bare transfer of the same token",
  command: "npm run bench:contract",
  notes: [
    "Block share: the call's largest cost dimension as a share of the block's limit (the dimension that fills a block first), × the bare transfer's; goals are judged on it.",
    "Bare transfer: a one-line contract around `stx-transfer?` (STX) or SIP-010 `transfer` (sBTC).",
  ],
  rows: summaryRowsOf(rows),
});
