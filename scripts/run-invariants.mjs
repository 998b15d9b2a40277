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
// property test, setup problem, or (at RV_RUNS >= 100) a run that never managed
// to exercise one of the vault's key paths.
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

  // The tests file must have been merged in and its deploy-time setup run.
  const fns = allFunctions.get(vault).map((f) => f.name);
  if (!fns.includes("rv-backend-lock")) fail(`${CONTRACT}.tests.clar was not merged into ${vault}`);
  const backend = cvToString(simnet.callReadOnlyFn(vault, "get-backend-principal", [], simnet.deployer).result);
  if (backend !== vault) fail(`deploy-time setup did not make the vault its own backend (backend = ${backend})`);

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

  return { simnet, rendezvousList, allFunctions };
}

// --- coverage: which paths the random calls actually took --------------------
// Each entry must have at least one successful (invariant mode) or passing
// (test mode) call among the listed function/token pairs, or the run did not
// test what it claims to. Grouped so that 200 runs are enough: STX is only
// about 1/6 of the random token arguments, so a single STX path (say, STX
// settlements) can go unexercised in a short run; the per-pair counts are
// printed anyway.
const KEY_PATHS = {
  invariant: {
    "STX deposits/premiums": ["deposit-funds stx", "pay-premium stx"],
    "sBTC deposits/premiums": ["deposit-funds sbtc", "pay-premium sbtc"],
    "backend locks": ["rv-backend-lock stx", "rv-backend-lock sbtc"],
    "backend locks of the whole free balance": ["rv-backend-lock-free stx", "rv-backend-lock-free sbtc"],
    "backend releases": ["rv-backend-release stx", "rv-backend-release sbtc"],
    "backend settlements": ["rv-backend-settle stx", "rv-backend-settle sbtc"],
    "STX collateral moves": [
      "rv-backend-lock stx",
      "rv-backend-lock-free stx",
      "rv-backend-release stx",
      "rv-backend-settle stx",
    ],
    "sBTC collateral moves": [
      "rv-backend-lock sbtc",
      "rv-backend-lock-free sbtc",
      "rv-backend-release sbtc",
      "rv-backend-settle sbtc",
    ],
    "pausing": ["rv-admin-set-paused"],
  },
  test: Object.fromEntries(
    [
      "test-funds-in-credit-exactly",
      "test-backend-lock-adds-exactly",
      "test-lock-then-release-restores",
      "test-settlement-pays-buyer-from-locked",
      "test-only-backend-moves-collateral",
      "test-only-admin-configures",
      "test-random-voucher-is-refused",
      "test-pause-stops-funds-in-not-releases",
    ].map((name) => [name, [name]]),
  ),
};

/** Tallies the per-call log lines: function (+ token) -> { ok, refused }. */
function tally(mode, lines) {
  const counts = new Map();
  const bump = (key, field) => {
    const entry = counts.get(key) ?? { ok: 0, refused: 0 };
    entry[field] += 1;
    counts.set(key, entry);
  };
  for (const line of lines) {
    if (!/^\s*₿/.test(line)) continue;
    const match = line.match(new RegExp(` ${CONTRACT} (\\S+) ?(.*)$`));
    if (!match) continue;
    const [, fn, rest] = match;
    if (mode === "invariant" && fn.startsWith("invariant-")) continue;
    const token = /sbtc-token/.test(rest) ? "sbtc" : "stx";
    const hasToken = !/^(rv-admin-set-paused|set-|test-)/.test(fn);
    const key = hasToken ? `${fn} ${token}` : fn;
    let field;
    if (mode === "invariant") field = /\(ok [^)]*\)\s*$/.test(rest) ? "ok" : "refused";
    else field = /\[PASS\]/.test(line) ? "ok" : "refused";
    bump(key, field);
  }
  return counts;
}

function reportCoverage(mode, lines) {
  const counts = tally(mode, lines);
  let ok = 0;
  let total = 0;
  for (const { ok: o, refused } of counts.values()) {
    ok += o;
    total += o + refused;
  }
  const label = mode === "invariant" ? "succeeded" : "passed (rest discarded)";
  console.log(`coverage (${mode}): ${ok}/${total} calls ${label} (${total ? Math.round((100 * ok) / total) : 0}%)`);
  const width = Math.max(...[...counts.keys()].map((k) => k.length), 10);
  for (const key of [...counts.keys()].sort()) {
    const { ok: o, refused } = counts.get(key);
    console.log(`  ${key.padEnd(width)}  ${String(o).padStart(5)} ok  ${String(refused).padStart(5)} ${mode === "invariant" ? "refused" : "discarded"}`);
  }
  return Object.entries(KEY_PATHS[mode])
    .filter(([, keys]) => !keys.some((key) => counts.get(key)?.ok > 0))
    .map(([label]) => label);
}

// --- main ---------------------------------------------------------------------
async function runMode(mode) {
  console.log(`\n=== rendezvous ${mode} mode: ${CONTRACT}, ${runs} runs, seed ${seed} ===`);
  if (vaultSourceOverride) console.log(`vault source: ${vaultSourceOverride} (RV_VAULT_SOURCE)`);
  const started = Date.now();
  const { radio, lines, save } = makeRadio(mode);
  const { simnet, rendezvousList, allFunctions } = await buildSimnet(radio);

  process.exitCode = 0;
  if (mode === "invariant") {
    await rvInvariant.checkInvariants(simnet, CONTRACT, rendezvousList, allFunctions, seed, runs, bail, undefined, radio);
  } else {
    rvProperty.checkProperties(simnet, CONTRACT, rendezvousList, allFunctions, seed, runs, bail, radio);
  }
  // rendezvous reports a falsified invariant/property by setting exitCode.
  const falsified = process.exitCode === 1;
  const passedLine = mode === "invariant" ? /OK, invariants passed after/ : /OK, properties passed after/;
  const passed = !falsified && lines.some((l) => passedLine.test(l));

  const missing = reportCoverage(mode, lines);
  const logFile = save();
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  console.log(`full log: ${logFile}`);
  console.log(`${mode} mode: ${passed ? "PASSED" : "FAILED"} in ${seconds}s`);

  const problems = [];
  if (!passed) {
    problems.push(
      falsified
        ? `${mode} mode found a violation: see the [FAIL] line above (an invariant that returned false, or ` +
            `a test's (err u9xx), explained next to that code in contracts/${CONTRACT}.tests.clar); ` +
            `replay with RV_SEED=${seed} RV_RUNS=${runs}`
        : `${mode} mode did not run to completion (see the log above)`,
    );
  }
  if (missing.length > 0) {
    const message = `${mode} mode never exercised: ${missing.join(", ")}`;
    if (runs >= 100) problems.push(message);
    else console.warn(`warning: ${message} (only ${runs} runs)`);
  }
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
