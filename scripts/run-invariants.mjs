#!/usr/bin/env node
// Property-based checks of the liquidity-pool vault with rendezvous (`rv`).
//
//   npm run test:invariants                 # 1000 runs of each mode
//   RV_RUNS=200 npm run test:invariants     # what CI runs
//   RV_SEED=123 npm run test:invariants     # replay a seed (printed on failure)
//
// Environment:
//   RV_RUNS     runs per mode (default 1000)
//   RV_SEED     fast-check seed (integer; default: random, printed)
//   RV_MODES    comma-separated subset of "invariant,test" (default both)
//   RV_VERBOSE  "1" streams rendezvous's per-call log instead of only the summary
//   RV_SHRINK   "1" lets fast-check shrink a counterexample instead of stopping
//               at the first failure (slow: state carries over between runs)
//   RV_VAULT_SOURCE  path of a vault source to test instead of
//               contracts/liquidity-pool.clar (mutation checks: run it against
//               a deliberately broken copy and expect a failure)
//
// Exit code 0 only if every mode passed; 1 on any violated invariant, failed
// property test, setup problem, closing claim (see closingClaims) that did not
// match the exit terms, or (at RV_RUNS >= 100) a run that never managed to
// exercise one of the vault's key paths.
//
// Why this drives rendezvous through its library functions instead of `npx rv`
// (rendezvous 0.12.0; compare dist/app.js main() and dist/citizen.js
// issueFirstClassCitizenship(), which this follows step by step):
// 1. rv 0.12.0 cannot parse the deployment plan clarinet-sdk 3.21 writes (see
//    normalizePlan); a bare `npx rv . liquidity-pool invariant` stops with
//    '"liquidity-pool" contract not found in Clarinet.toml'.
// 2. The combined vault + tests contract references sbtc-token, which the plan
//    publishes after the vault (see deployVaultLast).
// 3. The random runs need sBTC in the simnet wallets, and only the deployer can
//    mint the local stand-in: the faucet runs after deployment, before the
//    random runs.
// 4. The harness hands every role to the vault itself (see the header of
//    contracts/liquidity-pool.tests.clar): the deploy-time code proposes it,
//    and a role can only be accepted ROLE_DELAY burn blocks later, which
//    cannot pass inside the deploy transaction. So after deployment this
//    script mines those blocks, calls `rv-setup-accept-roles` and hands over
//    the simnet accounts (`rv-setup-accounts`), then checks the roles, all
//    before the first random call. The `rv-setup-` functions are kept out of
//    the random calls.
// 5. Each mode runs in two phases on the same simnet: the live vault
//    (RV_RUNS runs), then, after this script has shut the vault down (unless a
//    random call already did), an exit phase of RV_RUNS / EXIT_SHARE runs in
//    which the claims are made (test mode: only the `test-exit-` properties,
//    which the live phase leaves out). Both ways to shut down are taken: in
//    invariant mode the backend falls silent (SILENCE burn blocks pass) and an
//    ordinary account shuts the vault down; in test mode the admin does,
//    through the harness's `rv-admin-shutdown`.
// The invariant and property loops themselves are rendezvous's own
// checkInvariants / checkProperties, unchanged.

import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { EventEmitter } from "node:events";
import { fileURLToPath } from "node:url";

const require = createRequire(import.meta.url);

const PROJECT_DIR = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const CONTRACT = "liquidity-pool";
const EXPECTED_RV_VERSION = "0.12.0";
/** sBTC (in sats) minted to every simnet account before the runs. */
const SBTC_PER_ACCOUNT = 10_000_000_000_000n;
/** The vault's ROLE-DELAY, in burn blocks. */
const ROLE_DELAY = 144;
/** The vault's CHECKPOINT-VETO-WINDOW, in burn blocks: no shutdown while a checkpoint is vetoable. */
const CHECKPOINT_VETO_WINDOW = 144;
/** The exit phase runs RV_RUNS / EXIT_SHARE runs (rounded up). */
const EXIT_SHARE = 2;
/** The vault's SILENCE, in burn blocks: after that long without a checkpoint anyone may shut it down. */
const SILENCE = 4320;
/** A roll that `rv-admin-shutdown` accepts (RV-SHUTDOWN-RESIDUE in the harness). */
const SHUTDOWN_ROLL = 1001;
/** Harness functions that only this script calls, once, before the random runs. */
const SETUP_PREFIX = "rv-setup-";
/** Test-mode properties of the exit phase. */
const EXIT_TEST_PREFIX = "test-exit-";

function fail(message) {
  console.error(`\nrun-invariants: ${message}`);
  process.exit(1);
}

function parseIntEnv(name, fallback, { min = 0 } = {}) {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return fallback;
  if (!/^-?\d+$/.test(raw.trim())) fail(`${name} must be an integer, got "${raw}"`);
  const value = Number.parseInt(raw, 10);
  if (value < min) fail(`${name} must be at least ${min}, got ${value}`);
  return value;
}

const runs = parseIntEnv("RV_RUNS", 1000, { min: 1 });
// fast-check seeds are 32-bit integers; without one, pick it here so that it can
// be printed up front (rendezvous prints it only on failure).
const seed = parseIntEnv("RV_SEED", undefined, { min: -(2 ** 31) }) ?? Math.floor(Math.random() * 2 ** 31);
const modes = (process.env.RV_MODES ?? "invariant,test")
  .split(",")
  .map((m) => m.trim())
  .filter(Boolean);
for (const mode of modes) {
  if (!["invariant", "test"].includes(mode)) fail(`RV_MODES: unknown mode "${mode}"`);
}
const verbose = process.env.RV_VERBOSE === "1";
const vaultSourceOverride = process.env.RV_VAULT_SOURCE ? resolve(process.env.RV_VAULT_SOURCE) : undefined;
const bail = process.env.RV_SHRINK !== "1";

// --- rendezvous internals (pinned version) --------------------------------
const rvRoot = dirname(require.resolve("@stacks/rendezvous/package.json"));
const rvVersion = JSON.parse(readFileSync(join(rvRoot, "package.json"), "utf8")).version;
if (rvVersion !== EXPECTED_RV_VERSION) {
  fail(
    `expected @stacks/rendezvous ${EXPECTED_RV_VERSION}, found ${rvVersion}; ` +
      "this script calls its dist/ modules directly, re-check them against dist/app.js main()",
  );
}
const rvApp = require(join(rvRoot, "dist/app.js"));
const rvCitizen = require(join(rvRoot, "dist/citizen.js"));
const rvShared = require(join(rvRoot, "dist/shared.js"));
const rvInvariant = require(join(rvRoot, "dist/invariant.js"));
const rvProperty = require(join(rvRoot, "dist/property.js"));
// Resolved from rendezvous's own location, so that these are the very modules
// (and the one memoised simnet) that rendezvous uses.
const rvRequire = createRequire(join(rvRoot, "dist/app.js"));
const { initSimnet } = rvRequire("@stacks/clarinet-sdk");
const { Cl, cvToString, cvToValue, hexToCV } = rvRequire("@stacks/transactions");
const YAML = rvRequire("yaml");
const TOML = rvRequire("toml");

// --- logging ----------------------------------------------------------------
const stripAnsi = (s) => String(s).replace(/\u001b\[[0-9;]*m/g, "");

/** A rendezvous "radio" that keeps the full log and echoes what matters. */
function makeRadio(mode) {
  const lines = [];
  const radio = new EventEmitter();
  let inSummary = false;
  const echo = (line, isFailure) => {
    const plain = stripAnsi(line);
    if (verbose) {
      (isFailure ? console.error : console.log)(line);
      return;
    }
    // Per-call lines start with the burn block height marker; keep those quiet
    // and print the rest (headers, failures, the final statistics).
    if (/^\s*₿/.test(plain) && !inSummary && !isFailure && !/\[FAIL\]/.test(plain)) return;
    if (/^(OK, |Error: |EXECUTION STATISTICS)/m.test(plain.trim())) inSummary = true;
    (isFailure ? console.error : console.log)(line);
  };
  radio.on("logMessage", (line) => {
    lines.push(stripAnsi(line));
    echo(line, false);
  });
  radio.on("logFailure", (line) => {
    lines.push(stripAnsi(line));
    echo(line, true);
  });
  const save = () => {
    const file = join(mkdtempSync(join(tmpdir(), "rv-liquidity-pool-")), `${mode}.log`);
    writeFileSync(file, lines.join("\n") + "\n");
    return file;
  };
  return { radio, lines, save };
}

// --- simnet with the vault + tests contract ----------------------------------
/**
 * Rendezvous 0.12.0 reads deployment-plan transactions in the older nested
 * shape `{ emulated-contract-publish: { contract-name, ... } }`; clarinet-sdk
 * 3.x writes them flat, `{ transaction-type: emulated-contract-publish,
 * contract-name, ... }`, which makes a bare `npx rv` fail with "contract not
 * found in Clarinet.toml". Convert to the shape rendezvous expects.
 */
function normalizePlan(plan) {
  for (const batch of plan.plan.batches) {
    batch.transactions = batch.transactions.map((tx) => {
      if (tx["emulated-contract-publish"] || tx["transaction-type"] !== "emulated-contract-publish") return tx;
      const { "transaction-type": _type, ...fields } = tx;
      return { "emulated-contract-publish": fields };
    });
  }
  return plan;
}

/**
 * The deployment plan orders contracts by the dependencies of the project's own
 * sources, and the vault does not depend on sbtc-token, so the plan publishes
 * it first. The combined vault + tests contract does reference sbtc-token, so
 * publish it last in its epoch (newer rendezvous versions regenerate the plan
 * for the combined contract instead). Refuse if anything depends on the vault,
 * since that would break.
 */
function deployVaultLast(contractsByEpoch) {
  const reordered = {};
  for (const [epoch, contracts] of Object.entries(contractsByEpoch)) {
    const others = contracts.filter((c) => !(CONTRACT in c));
    const vault = contracts.filter((c) => CONTRACT in c);
    for (const other of others) {
      const [name, props] = Object.entries(other)[0];
      const source = readFileSync(join(PROJECT_DIR, props.path), "utf8");
      if (new RegExp(`\\.${CONTRACT}\\b`).test(source)) {
        fail(`${name} depends on ${CONTRACT}; deploying ${CONTRACT} last would break it`);
      }
    }
    reordered[epoch] = [...others, ...vault];
  }
  return reordered;
}

/**
 * rendezvous's issueFirstClassCitizenship (dist/citizen.js), with the plan
 * normalised and the vault deployed last, followed by the sBTC faucet.
 */
async function buildSimnet(radio) {
  const manifestDir = PROJECT_DIR;
  const manifestPath = join(manifestDir, rvApp.getManifestFileName(manifestDir, CONTRACT));
  const remoteData = rvApp.tryParseRemoteDataSettings(manifestPath, radio);
  if (remoteData.enabled) fail("remote data is enabled in Clarinet.toml; these runs must not need the network");

  // Generates (or refreshes) deployments/default.simnet-plan.yaml, as rv does.
  const simnet = await initSimnet(manifestPath);
  const plan = normalizePlan(
    YAML.parse(readFileSync(join(manifestDir, "deployments", "default.simnet-plan.yaml"), "utf8")),
  );
  const contractsByEpoch = deployVaultLast(rvCitizen.groupContractsByEpochFromDeploymentPlan(plan));

  // Fresh session with the same STX balances, then deploy every contract, the
  // vault replaced by vault + context + tests.
  const addresses = [...simnet.getAccounts().values()];
  const stxBalances = new Map(
    addresses.map((a) => [a, cvToValue(hexToCV(simnet.runSnippet(`(stx-get-balance '${a})`)))]),
  );
  await simnet.initEmptySession(remoteData);
  for (const a of addresses) simnet.mintSTX(a, stxBalances.get(a));

  const { rendezvousContractId: vault, rendezvousSourceCode: combined } = rvCitizen.buildRendezvousData(
    plan,
    CONTRACT,
    manifestDir,
  );
  // RV_VAULT_SOURCE swaps in another vault source (a deliberately broken copy)
  // without touching contracts/liquidity-pool.clar.
  const rendezvousSourceCode = vaultSourceOverride
    ? rvCitizen.scheduleRendezvous(
        readFileSync(vaultSourceOverride, "utf8"),
        rvCitizen.getTestContractSource(plan, CONTRACT, manifestDir),
      )
    : combined;
  const sources = new Map([[vault, rendezvousSourceCode]]);
  const manifest = TOML.parse(readFileSync(manifestPath, "utf8"));
  const cacheDir = manifest.project?.cache_dir || "./.cache";
  await rvCitizen.deployContracts(simnet, contractsByEpoch, manifestDir, cacheDir, (name, sender, props) =>
    rvCitizen.getContractSource([CONTRACT], sources, name, sender, props, manifestDir),
  );

  const interfaces = rvShared.getSimnetDeployerContractsInterfaces(simnet);
  const rendezvousList = [...interfaces.keys()].filter(
    (id) => rvShared.getContractNameFromContractId(id) === CONTRACT,
  );
  if (rendezvousList.length !== 1 || rendezvousList[0] !== vault) {
    fail(`expected ${vault} to be deployed, found [${rendezvousList.join(", ")}]`);
  }
  const allFunctions = rvShared.getFunctionsFromContractInterfaces(
    new Map([...interfaces].filter(([id]) => id === vault)),
  );

  // The tests file must have been merged in.
  const fns = allFunctions.get(vault).map((f) => f.name);
  if (!fns.includes("rv-setup-accept-roles")) fail(`${CONTRACT}.tests.clar was not merged into ${vault}`);

  // sBTC faucet: only the deployer may mint the local stand-in.
  const sbtc = `${simnet.deployer}.sbtc-token`;
  for (const address of addresses) {
    const { result } = simnet.callPublicFn(
      sbtc,
      "mint",
      [Cl.uint(SBTC_PER_ACCOUNT), Cl.principal(address)],
      simnet.deployer,
    );
    if (cvToString(result) !== "(ok true)") fail(`minting sBTC to ${address} failed: ${cvToString(result)}`);
  }

  // Role hand-over to the vault (proposed at deployment) and the account list.
  const setup = (fn, args) => {
    const { result } = simnet.callPublicFn(vault, fn, args, simnet.deployer);
    if (cvToString(result) !== "(ok true)") fail(`${fn} failed: ${cvToString(result)}`);
  };
  setup("rv-setup-accounts", [Cl.list(addresses.map((a) => Cl.principal(a)))]);
  simnet.mineEmptyBurnBlocks(ROLE_DELAY);
  setup("rv-setup-accept-roles", []);
  const roles = cvToString(simnet.callReadOnlyFn(vault, "get-roles", [], simnet.deployer).result);
  const expectedRoles = cvToString(
    Cl.tuple({
      admin: Cl.principal(vault),
      guardian: Cl.principal(vault),
      operator: Cl.some(Cl.principal(vault)),
      signer: Cl.some(Cl.principal(vault)),
    }),
  );
  if (roles !== expectedRoles) fail(`the vault does not hold every role after setup: ${roles}`);

  // Setup functions are for this script only: never a random call.
  const randomFunctions = new Map([
    [vault, allFunctions.get(vault).filter((f) => !f.name.startsWith(SETUP_PREFIX))],
  ]);
  return { simnet, vault, rendezvousList, allFunctions: randomFunctions };
}

/**
 * Shuts the vault down for the exit phase, unless a random call already did:
 * in invariant mode as the silent backend's providers would (SILENCE burn
 * blocks without a checkpoint, then any account), in test mode as the admin.
 * Returns whether the vault was already shut down.
 */
function shutDownForExitPhase(simnet, vault, mode) {
  const isShutDown = () => cvToString(simnet.callReadOnlyFn(vault, "is-shut-down", [], simnet.deployer).result);
  if (isShutDown() === "true") {
    console.log("exit phase: the vault was already shut down by a random call in the live phase");
    return true;
  }
  let result;
  if (mode === "invariant") {
    simnet.mineEmptyBurnBlocks(SILENCE + 1);
    const anyone = simnet.getAccounts().get("wallet_1");
    ({ result } = simnet.callPublicFn(vault, "shutdown", [], anyone));
  } else {
    // A checkpoint inside its veto window blocks a shutdown.
    simnet.mineEmptyBurnBlocks(CHECKPOINT_VETO_WINDOW);
    ({ result } = simnet.callPublicFn(vault, "rv-admin-shutdown", [Cl.uint(SHUTDOWN_ROLL)], simnet.deployer));
  }
  if (cvToString(result) !== "(ok true)" || isShutDown() !== "true") {
    fail(`shutting the vault down for the exit phase failed: ${cvToString(result)}`);
  }
  return false;
}

/**
 * After the exit phase, every account claims both tokens through the
 * harness's checked claim (`rv-claim-exit`), then every invariant must still
 * hold. Random calls reach most claims but rarely all of them, and only when
 * every provider has claimed does the sum paid press against the assets
 * (books that lag make claims owe more than the vault's liabilities, and the
 * vault must cap each payment at what it still holds). Returns the problems.
 */
function closingClaims(simnet, vault, allFunctions) {
  const problems = [];
  const sbtc = Cl.some(Cl.principal(`${simnet.deployer}.sbtc-token`));
  const results = [];
  for (const [name, address] of simnet.getAccounts()) {
    for (const [label, token] of [
      ["stx", Cl.none()],
      ["sbtc", sbtc],
    ]) {
      const result = cvToString(simnet.callPublicFn(vault, "rv-claim-exit", [token], address).result);
      results.push(`${name} ${label} ${result}`);
      // (ok false): the claim's result, payment or record differed from the exit terms.
      if (result === "(ok false)") problems.push(`closing claim by ${name} (${label}) did not match the exit terms`);
    }
  }
  console.log(`closing claims: ${results.join(", ")}`);
  const invariants = allFunctions
    .get(vault)
    .filter((f) => f.access === "read_only" && f.name.startsWith("invariant-") && f.args.length === 0);
  for (const { name } of invariants) {
    const result = cvToString(simnet.callReadOnlyFn(vault, name, [], simnet.deployer).result);
    if (result !== "true") problems.push(`after the closing claims, ${name} returned ${result}`);
  }
  console.log(`closing claims: ${invariants.length} invariants checked, ${problems.length === 0 ? "all hold" : "FAILED"}`);
  return problems;
}

// --- coverage: which paths the random calls actually took --------------------
// Each entry must have at least one matching call among the listed keys, or
// the run did not test what it claims to. A key is "<function>" or
// "<function> <token>" for a call that succeeded (invariant mode) or passed
// (test mode), and "<key> !uN" for a call the vault refused with (err uN).
// Grouped so that 200 runs are enough: STX is only about 1/6 of the random
// token arguments, so a single STX path (say, STX settlements) can go
// unexercised in a short run; the per-key counts are printed anyway.
const both = (fn, suffix = "") => [`${fn} stx${suffix}`, `${fn} sbtc${suffix}`];
const INVARIANT_PATHS = {
  live: {
    "STX deposits/premiums": ["deposit-funds stx", "pay-premium stx"],
    "sBTC deposits/premiums": ["deposit-funds sbtc", "pay-premium sbtc"],
    "operator locks": both("rv-operator-lock"),
    "operator locks of the whole free balance": both("rv-operator-lock-free"),
    "operator releases": both("rv-operator-release"),
    "operator settlements": [...both("rv-operator-settle"), ...both("rv-operator-settle-window")],
    "settlements refused by the outflow limit (u213)": [
      ...both("rv-operator-settle", " !u213"),
      ...both("rv-operator-settle-window", " !u213"),
    ],
    "STX collateral moves": [
      "rv-operator-lock stx",
      "rv-operator-lock-free stx",
      "rv-operator-release stx",
      "rv-operator-settle stx",
      "rv-operator-settle-window stx",
    ],
    "sBTC collateral moves": [
      "rv-operator-lock sbtc",
      "rv-operator-lock-free sbtc",
      "rv-operator-release sbtc",
      "rv-operator-settle sbtc",
      "rv-operator-settle-window sbtc",
    ],
    "pausing": ["rv-set-paused"],
    "outflow limit changes": ["rv-admin-set-outflow-limit"],
    "checkpoints": ["rv-operator-post-checkpoint"],
    "checkpoint vetoes": ["rv-guardian-veto-checkpoint"],
    "claims refused before shutdown (u216)": [...both("rv-claim-exit", " !u216"), ...both("claim-exit", " !u216")],
  },
  exit: {
    "claims": [...both("rv-claim-exit"), ...both("claim-exit")],
    "second claims refused (u218)": [...both("rv-claim-exit", " !u218"), ...both("claim-exit", " !u218")],
    "deposits refused after shutdown (u215)": [...both("deposit-funds", " !u215"), ...both("pay-premium", " !u215")],
    "operator actions refused after shutdown (u215)": [
      ...both("rv-operator-lock", " !u215"),
      ...both("rv-operator-release", " !u215"),
      ...both("rv-operator-settle", " !u215"),
      ...both("rv-operator-settle-window", " !u215"),
      "rv-operator-post-checkpoint !u215",
    ],
  },
};

/** The vault's and the harness's functions that take a token argument. */
const TOKEN_FUNCTIONS = new Set([
  "deposit-funds",
  "pay-premium",
  "withdraw-funds",
  "lock-collateral-aggregate",
  "release-collateral-aggregate",
  "settle-policy",
  "claim-exit",
  "rv-operator-lock",
  "rv-operator-lock-free",
  "rv-operator-release",
  "rv-operator-settle",
  "rv-operator-settle-window",
  "rv-claim-exit",
]);

/** The key paths of a phase: fixed for invariant mode, every property of the phase for test mode. */
function keyPaths(mode, phase, functions) {
  if (mode === "invariant") return INVARIANT_PATHS[phase];
  return Object.fromEntries(functions.map((name) => [name, [name]]));
}

/** Tallies the per-call log lines: key -> { ok, refused, codes: Map(code -> count) }. */
function tally(mode, lines) {
  const counts = new Map();
  for (const line of lines) {
    if (!/^\s*₿/.test(line)) continue;
    const match = line.match(new RegExp(` ${CONTRACT} (\\S+) ?(.*)$`));
    if (!match) continue;
    const [, fn, rest] = match;
    if (mode === "invariant" && fn.startsWith("invariant-")) continue;
    const token = /sbtc-token/.test(rest) ? "sbtc" : "stx";
    const key = TOKEN_FUNCTIONS.has(fn) ? `${fn} ${token}` : fn;
    const entry = counts.get(key) ?? { ok: 0, refused: 0, codes: new Map() };
    let ok;
    if (mode === "invariant") ok = /\(ok [^)]*\)\s*$/.test(rest);
    else ok = /\[PASS\]/.test(line);
    if (ok) entry.ok += 1;
    else {
      entry.refused += 1;
      const code = mode === "invariant" ? rest.match(/\(err (u\d+)\)\s*$/)?.[1] ?? "other" : "discarded";
      entry.codes.set(code, (entry.codes.get(code) ?? 0) + 1);
    }
    counts.set(key, entry);
  }
  return counts;
}

function reportCoverage(mode, phase, lines, paths, earlierLines) {
  const counts = tally(mode, lines);
  // The exit phase's paths may also have been taken after a random shutdown
  // in the live phase (before shutdown, no call can take them).
  const pathCounts = phase === "exit" ? tally(mode, [...earlierLines, ...lines]) : counts;
  let ok = 0;
  let total = 0;
  for (const { ok: o, refused } of counts.values()) {
    ok += o;
    total += o + refused;
  }
  const label = mode === "invariant" ? "succeeded" : "passed (rest discarded)";
  console.log(
    `coverage (${mode}, ${phase}): ${ok}/${total} calls ${label} (${total ? Math.round((100 * ok) / total) : 0}%)`,
  );
  const width = Math.max(...[...counts.keys()].map((k) => k.length), 10);
  for (const key of [...counts.keys()].sort()) {
    const { ok: o, refused, codes } = counts.get(key);
    const byCode =
      mode === "invariant" && codes.size > 0
        ? "  " +
          [...codes.entries()]
            .sort((a, b) => b[1] - a[1])
            .map(([code, n]) => `${code}×${n}`)
            .join(" ")
        : "";
    console.log(
      `  ${key.padEnd(width)}  ${String(o).padStart(5)} ok  ${String(refused).padStart(5)} ${mode === "invariant" ? "refused" : "discarded"}${byCode}`,
    );
  }
  const seen = (key) => {
    const refusal = key.match(/^(.*) !(u\d+)$/);
    if (refusal) return (pathCounts.get(refusal[1])?.codes.get(refusal[2]) ?? 0) > 0;
    return (pathCounts.get(key)?.ok ?? 0) > 0;
  };
  return Object.entries(paths)
    .filter(([, keys]) => !keys.some(seen))
    .map(([label]) => label);
}

// --- main ---------------------------------------------------------------------
/** The functions rendezvous may pick in a phase: test mode splits the properties between the phases. */
function phaseFunctions(mode, phase, vault, allFunctions) {
  if (mode === "invariant") return allFunctions;
  const inPhase = (name) => !name.startsWith("test-") || name.startsWith(EXIT_TEST_PREFIX) === (phase === "exit");
  return new Map([[vault, allFunctions.get(vault).filter((f) => inPhase(f.name))]]);
}

async function runMode(mode) {
  console.log(`\n=== rendezvous ${mode} mode: ${CONTRACT}, seed ${seed} ===`);
  if (vaultSourceOverride) console.log(`vault source: ${vaultSourceOverride} (RV_VAULT_SOURCE)`);
  const setupRadio = makeRadio(`${mode}-setup`).radio;
  const { simnet, vault, rendezvousList, allFunctions } = await buildSimnet(setupRadio);

  const problems = [];
  let violated = false;
  // Lines of the phases so far: calls after a shutdown in the live phase count
  // for the exit phase's paths too.
  const earlierLines = [];
  for (const phase of ["live", "exit"]) {
    const phaseRuns = phase === "live" ? runs : Math.ceil(runs / EXIT_SHARE);
    // A different stream of random calls per phase, still fixed by the seed.
    const phaseSeed = phase === "live" ? seed : (seed + 1) | 0;
    console.log(`\n--- ${mode} mode, ${phase} phase: ${phaseRuns} runs ---`);
    const started = Date.now();
    const { radio, lines, save } = makeRadio(`${mode}-${phase}`);
    const functions = phaseFunctions(mode, phase, vault, allFunctions);

    process.exitCode = 0;
    if (mode === "invariant") {
      await rvInvariant.checkInvariants(simnet, CONTRACT, rendezvousList, functions, phaseSeed, phaseRuns, bail, undefined, radio);
    } else {
      rvProperty.checkProperties(simnet, CONTRACT, rendezvousList, functions, phaseSeed, phaseRuns, bail, radio);
    }
    // rendezvous reports a falsified invariant/property by setting exitCode.
    const falsified = process.exitCode === 1;
    const passedLine = mode === "invariant" ? /OK, invariants passed after/ : /OK, properties passed after/;
    const passed = !falsified && lines.some((l) => passedLine.test(l));

    const properties = functions
      .get(vault)
      .map((f) => f.name)
      .filter((name) => name.startsWith("test-"));
    const missing = reportCoverage(mode, phase, lines, keyPaths(mode, phase, properties), earlierLines);
    earlierLines.push(...lines);
    const logFile = save();
    const seconds = ((Date.now() - started) / 1000).toFixed(1);
    console.log(`full log: ${logFile}`);
    console.log(`${mode} mode, ${phase} phase: ${passed ? "PASSED" : "FAILED"} in ${seconds}s`);

    if (!passed) {
      problems.push(
        falsified
          ? `${mode} mode (${phase} phase) found a violation: see the [FAIL] line above (an invariant that returned ` +
              `false, or a test's (err u9xx), explained next to that code in contracts/${CONTRACT}.tests.clar); ` +
              `replay with RV_SEED=${seed} RV_RUNS=${runs}`
          : `${mode} mode (${phase} phase) did not run to completion (see the log above)`,
      );
      violated = true;
      break;
    }
    // Checked after the live phase, so that the gaps of a live phase that a
    // random shutdown (rare on purpose) ended early are reported, not failed.
    const shutEarly = phase === "live" && shutDownForExitPhase(simnet, vault, mode);
    if (missing.length > 0) {
      const message = `${mode} mode (${phase} phase) never exercised: ${missing.join(", ")}`;
      if (runs < 100) console.warn(`warning: ${message} (only ${runs} runs)`);
      else if (shutEarly) console.warn(`warning: ${message} (a random call shut the vault down during the phase)`);
      else problems.push(message);
    }
  }
  if (!violated) problems.push(...closingClaims(simnet, vault, allFunctions));
  return problems;
}

// Each mode runs in its own child process: rendezvous reports a failure through
// process.exitCode and clarinet-sdk keeps one memoised simnet per process, so a
// fresh process per mode keeps the two runs independent of each other.
const childMode = process.env.RV_INTERNAL_MODE;
if (childMode) {
  const problems = await runMode(childMode);
  for (const p of problems) console.error(`\nrun-invariants: ${p}`);
  process.exit(problems.length > 0 ? 1 : 0);
}

const failedModes = [];
for (const mode of modes) {
  const child = spawnSync(process.execPath, [fileURLToPath(import.meta.url)], {
    cwd: PROJECT_DIR,
    env: { ...process.env, RV_INTERNAL_MODE: mode, RV_SEED: String(seed), RV_RUNS: String(runs) },
    stdio: "inherit",
  });
  if (child.status !== 0) failedModes.push(`${mode} (exit ${child.status ?? child.signal})`);
}
if (failedModes.length > 0) {
  console.error(`\nrun-invariants: FAILED: ${failedModes.join(", ")}; replay with RV_SEED=${seed} RV_RUNS=${runs}`);
  process.exit(1);
}
console.log(`\nrun-invariants: all ${modes.join(" and ")} checks passed (${runs} runs each, seed ${seed}).`);
process.exit(0);
