// Property-based checks of the liquidity-pool vault with rendezvous (`rv`),
// run through tsx (`npm run test:invariants` is `tsx scripts/run-invariants.ts`).
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
//
// The vault's own function names and error codes come from its typed
// interface, convex/chain/vault.ts (VAULT_FUNCTIONS, VAULT_ERRORS); the test
// harness's `rv-` functions, which are not the vault's interface, are named in
// HARNESS below.

import { spawnSync } from "node:child_process";
import { EventEmitter } from "node:events";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

import type * as ClarinetSdk from "@stacks/clarinet-sdk";
import type { Simnet } from "@stacks/clarinet-sdk";
import type * as StacksTransactions from "@stacks/transactions";
import type { ClarityValue } from "@stacks/transactions";
import type * as Yaml from "yaml";

import { VAULT_ERRORS, VAULT_FUNCTIONS, type VaultErrorName } from "../convex/chain/vault";

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

/**
 * The test harness's own functions (contracts/liquidity-pool.tests.clar).
 * They are not the vault's interface, so they are named here and not in
 * convex/chain/vault.ts; the vault's own functions and error codes come from
 * there (VAULT_FUNCTIONS, VAULT_ERRORS).
 */
const HARNESS = {
  /** Setup, called once by this script before the random runs, never at random. */
  setupAccounts: "rv-setup-accounts",
  setupAcceptRoles: "rv-setup-accept-roles",
  /** The roles' actions, which the vault (holding every role) takes for a random caller. */
  operatorLock: "rv-operator-lock",
  operatorLockFree: "rv-operator-lock-free",
  operatorRelease: "rv-operator-release",
  operatorSettle: "rv-operator-settle",
  operatorSettleWindow: "rv-operator-settle-window",
  setPaused: "rv-set-paused",
  adminSetOutflowLimit: "rv-admin-set-outflow-limit",
  operatorPostCheckpoint: "rv-operator-post-checkpoint",
  guardianVetoCheckpoint: "rv-guardian-veto-checkpoint",
  adminShutdown: "rv-admin-shutdown",
  /** A claim checked against the exit terms: `(ok false)` when it did not match them. */
  claimExit: "rv-claim-exit",
} as const;

/** Prefixes of the harness's function names. */
const HARNESS_PREFIXES = {
  /** Harness functions that only this script calls, once, before the random runs. */
  setup: "rv-setup-",
  /** Rendezvous's invariants (read-only, no arguments in this harness). */
  invariant: "invariant-",
  /** Rendezvous's property tests. */
  test: "test-",
  /** Test-mode properties of the exit phase. */
  exitTest: "test-exit-",
} as const;

/** The local sBTC stand-in the vault's token arguments name, and its deployer-only faucet. */
const SBTC_TOKEN = { contract: "sbtc-token", mint: "mint" } as const;

type Mode = "invariant" | "test";
type Phase = "live" | "exit";
const MODES: readonly Mode[] = ["invariant", "test"];
const PHASES: readonly Phase[] = ["live", "exit"];

function isMode(value: string): value is Mode {
  return (MODES as readonly string[]).includes(value);
}

function fail(message: string): never {
  console.error(`\nrun-invariants: ${message}`);
  process.exit(1);
}

function parseIntEnv<Fallback extends number | undefined>(
  name: string,
  fallback: Fallback,
  { min = 0 }: { min?: number } = {},
): number | Fallback {
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
const modes: Mode[] = (process.env.RV_MODES ?? "invariant,test")
  .split(",")
  .map((m) => m.trim())
  .filter(Boolean)
  .map((mode) => (isMode(mode) ? mode : fail(`RV_MODES: unknown mode "${mode}"`)));
const verbose = process.env.RV_VERBOSE === "1";
const vaultSourceOverride = process.env.RV_VAULT_SOURCE ? resolve(process.env.RV_VAULT_SOURCE) : undefined;
const bail = process.env.RV_SHRINK !== "1";

// --- rendezvous internals (pinned version) --------------------------------
// Rendezvous ships no type declarations: the narrow types below describe the
// functions of its dist/ modules that this script calls, as 0.12.0 defines them.

/** A function of a contract interface, as simnet (and so rendezvous) reports it. */
type ContractInterface = ReturnType<Simnet["getContractsInterfaces"]> extends Map<string, infer I> ? I : never;
type FunctionInterface = ContractInterface["functions"][number];
type EpochString = Parameters<Simnet["setEpoch"]>[0];
type RemoteDataSettings = { enabled: boolean };

/** A contract's deployment properties in a plan: `{ <name>: { path, clarity_version } }`. */
type ContractProps = { path: string; clarity_version: string };
type ContractsByEpoch = Record<string, Record<string, ContractProps>[]>;
/** A deployment-plan transaction: either shape (see normalizePlan), other kinds as they are. */
type PlanTransaction = { "transaction-type"?: string; "emulated-contract-publish"?: unknown; [field: string]: unknown };
type DeploymentPlan = { plan: { batches: { epoch: EpochString; transactions: PlanTransaction[] }[] } };

type RvApp = {
  getManifestFileName(manifestDir: string, targetContractName: string): string;
  tryParseRemoteDataSettings(manifestPath: string, radio: EventEmitter): RemoteDataSettings;
};
type RvCitizen = {
  groupContractsByEpochFromDeploymentPlan(plan: DeploymentPlan): ContractsByEpoch;
  buildRendezvousData(
    plan: DeploymentPlan,
    contractName: string,
    manifestDir: string,
  ): { rendezvousContractId: string; rendezvousSourceCode: string };
  scheduleRendezvous(targetContractSource: string, tests: string): string;
  getTestContractSource(plan: DeploymentPlan, sutContractName: string, manifestDir: string): string;
  deployContracts(
    simnet: Simnet,
    contractsByEpoch: ContractsByEpoch,
    manifestDir: string,
    cacheDir: string,
    getContractSource: (name: string, sender: string, props: ContractProps) => string,
  ): Promise<void>;
  getContractSource(
    targetContractNames: string[],
    rendezvousSources: Map<string, string>,
    contractName: string,
    contractSender: string,
    contractProps: ContractProps,
    manifestDir: string,
  ): string;
};
type RvShared = {
  getSimnetDeployerContractsInterfaces(simnet: Simnet): Map<string, ContractInterface>;
  getFunctionsFromContractInterfaces(interfaces: Map<string, ContractInterface>): Map<string, FunctionInterface[]>;
  getContractNameFromContractId(contractId: string): string;
};
type RvInvariant = {
  checkInvariants(
    simnet: Simnet,
    targetContractName: string,
    rendezvousList: string[],
    rendezvousAllFunctions: Map<string, FunctionInterface[]>,
    seed: number,
    runs: number,
    bail: boolean,
    dialerRegistry: undefined,
    radio: EventEmitter,
  ): Promise<void>;
};
type RvProperty = {
  checkProperties(
    simnet: Simnet,
    targetContractName: string,
    rendezvousList: string[],
    rendezvousAllFunctions: Map<string, FunctionInterface[]>,
    seed: number,
    runs: number,
    bail: boolean,
    radio: EventEmitter,
  ): void;
};
/** What this script reads of Clarinet.toml (`toml` parses to an untyped object). */
type Manifest = { project?: { cache_dir?: string } };

const rvRoot = dirname(require.resolve("@stacks/rendezvous/package.json"));
const rvVersion = (JSON.parse(readFileSync(join(rvRoot, "package.json"), "utf8")) as { version: string }).version;
if (rvVersion !== EXPECTED_RV_VERSION) {
  fail(
    `expected @stacks/rendezvous ${EXPECTED_RV_VERSION}, found ${rvVersion}; ` +
      "this script calls its dist/ modules directly, re-check them against dist/app.js main()",
  );
}
const rvApp = require(join(rvRoot, "dist/app.js")) as RvApp;
const rvCitizen = require(join(rvRoot, "dist/citizen.js")) as RvCitizen;
const rvShared = require(join(rvRoot, "dist/shared.js")) as RvShared;
const rvInvariant = require(join(rvRoot, "dist/invariant.js")) as RvInvariant;
const rvProperty = require(join(rvRoot, "dist/property.js")) as RvProperty;
// Resolved from rendezvous's own location, so that these are the very modules
// (and the one memoised simnet) that rendezvous uses.
const rvRequire = createRequire(join(rvRoot, "dist/app.js"));
const { initSimnet } = rvRequire("@stacks/clarinet-sdk") as typeof ClarinetSdk;
const { Cl, cvToString, cvToValue, hexToCV } = rvRequire("@stacks/transactions") as typeof StacksTransactions;
const YAML = rvRequire("yaml") as typeof Yaml;
const TOML = rvRequire("toml") as { parse(input: string): Manifest };

// --- logging ----------------------------------------------------------------
const stripAnsi = (s: unknown): string => String(s).replace(/\u001b\[[0-9;]*m/g, "");

type Radio = { radio: EventEmitter; lines: string[]; save: () => string };

/** A rendezvous "radio" that keeps the full log and echoes what matters. */
function makeRadio(mode: string): Radio {
  const lines: string[] = [];
  const radio = new EventEmitter();
  let inSummary = false;
  const echo = (line: string, isFailure: boolean): void => {
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
  radio.on("logMessage", (line: string) => {
    lines.push(stripAnsi(line));
    echo(line, false);
  });
  radio.on("logFailure", (line: string) => {
    lines.push(stripAnsi(line));
    echo(line, true);
  });
  const save = (): string => {
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
function normalizePlan(plan: DeploymentPlan): DeploymentPlan {
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
function deployVaultLast(contractsByEpoch: ContractsByEpoch): ContractsByEpoch {
  const reordered: ContractsByEpoch = {};
  for (const [epoch, contracts] of Object.entries(contractsByEpoch)) {
    const others = contracts.filter((c) => !(CONTRACT in c));
    const vault = contracts.filter((c) => CONTRACT in c);
    for (const other of others) {
      // Each entry is a single `{ <name>: props }`.
      for (const [name, props] of Object.entries(other)) {
        const source = readFileSync(join(PROJECT_DIR, props.path), "utf8");
        if (new RegExp(`\\.${CONTRACT}\\b`).test(source)) {
          fail(`${name} depends on ${CONTRACT}; deploying ${CONTRACT} last would break it`);
        }
      }
    }
    reordered[epoch] = [...others, ...vault];
  }
  return reordered;
}

type Deployed = {
  simnet: Simnet;
  vault: string;
  rendezvousList: string[];
  allFunctions: Map<string, FunctionInterface[]>;
};

/** The functions of the vault (+ tests) contract in a map of contract functions. */
function vaultFunctionsOf(allFunctions: Map<string, FunctionInterface[]>, vault: string): FunctionInterface[] {
  return allFunctions.get(vault) ?? fail(`no functions found for ${vault}`);
}

/**
 * rendezvous's issueFirstClassCitizenship (dist/citizen.js), with the plan
 * normalised and the vault deployed last, followed by the sBTC faucet.
 */
async function buildSimnet(radio: EventEmitter): Promise<Deployed> {
  const manifestDir = PROJECT_DIR;
  const manifestPath = join(manifestDir, rvApp.getManifestFileName(manifestDir, CONTRACT));
  const remoteData = rvApp.tryParseRemoteDataSettings(manifestPath, radio);
  if (remoteData.enabled) fail("remote data is enabled in Clarinet.toml; these runs must not need the network");

  // Generates (or refreshes) deployments/default.simnet-plan.yaml, as rv does.
  const simnet = await initSimnet(manifestPath);
  const plan = normalizePlan(
    YAML.parse(readFileSync(join(manifestDir, "deployments", "default.simnet-plan.yaml"), "utf8")) as DeploymentPlan,
  );
  const contractsByEpoch = deployVaultLast(rvCitizen.groupContractsByEpochFromDeploymentPlan(plan));

  // Fresh session with the same STX balances, then deploy every contract, the
  // vault replaced by vault + context + tests.
  const addresses = [...simnet.getAccounts().values()];
  const stxBalances = new Map(
    addresses.map((a) => [a, cvToValue(hexToCV(simnet.runSnippet(`(stx-get-balance '${a})`))) as bigint]),
  );
  await simnet.initEmptySession(remoteData);
  for (const a of addresses) simnet.mintSTX(a, stxBalances.get(a) as bigint);

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
  const fns = vaultFunctionsOf(allFunctions, vault).map((f) => f.name);
  if (!fns.includes(HARNESS.setupAcceptRoles)) fail(`${CONTRACT}.tests.clar was not merged into ${vault}`);

  // sBTC faucet: only the deployer may mint the local stand-in.
  const sbtc = `${simnet.deployer}.${SBTC_TOKEN.contract}`;
  for (const address of addresses) {
    const { result } = simnet.callPublicFn(
      sbtc,
      SBTC_TOKEN.mint,
      [Cl.uint(SBTC_PER_ACCOUNT), Cl.principal(address)],
      simnet.deployer,
    );
    if (cvToString(result) !== "(ok true)") fail(`minting sBTC to ${address} failed: ${cvToString(result)}`);
  }

  // Role hand-over to the vault (proposed at deployment) and the account list.
  const setup = (fn: string, args: ClarityValue[]): void => {
    const { result } = simnet.callPublicFn(vault, fn, args, simnet.deployer);
    if (cvToString(result) !== "(ok true)") fail(`${fn} failed: ${cvToString(result)}`);
  };
  setup(HARNESS.setupAccounts, [Cl.list(addresses.map((a) => Cl.principal(a)))]);
  simnet.mineEmptyBurnBlocks(ROLE_DELAY);
  setup(HARNESS.setupAcceptRoles, []);
  const roles = cvToString(simnet.callReadOnlyFn(vault, VAULT_FUNCTIONS.getRoles, [], simnet.deployer).result);
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
    [vault, vaultFunctionsOf(allFunctions, vault).filter((f) => !f.name.startsWith(HARNESS_PREFIXES.setup))],
  ]);
  return { simnet, vault, rendezvousList, allFunctions: randomFunctions };
}

/**
 * Shuts the vault down for the exit phase, unless a random call already did:
 * in invariant mode as the silent backend's providers would (SILENCE burn
 * blocks without a checkpoint, then any account), in test mode as the admin.
 * Returns whether the vault was already shut down.
 */
function shutDownForExitPhase(simnet: Simnet, vault: string, mode: Mode): boolean {
  const isShutDown = (): string =>
    cvToString(simnet.callReadOnlyFn(vault, VAULT_FUNCTIONS.isShutDown, [], simnet.deployer).result);
  if (isShutDown() === "true") {
    console.log("exit phase: the vault was already shut down by a random call in the live phase");
    return true;
  }
  let result: ClarityValue;
  if (mode === "invariant") {
    simnet.mineEmptyBurnBlocks(SILENCE + 1);
    const anyone = simnet.getAccounts().get("wallet_1") as string;
    ({ result } = simnet.callPublicFn(vault, VAULT_FUNCTIONS.shutdown, [], anyone));
  } else {
    // A checkpoint inside its veto window blocks a shutdown.
    simnet.mineEmptyBurnBlocks(CHECKPOINT_VETO_WINDOW);
    ({ result } = simnet.callPublicFn(vault, HARNESS.adminShutdown, [Cl.uint(SHUTDOWN_ROLL)], simnet.deployer));
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
function closingClaims(simnet: Simnet, vault: string, allFunctions: Map<string, FunctionInterface[]>): string[] {
  const problems: string[] = [];
  const sbtc = Cl.some(Cl.principal(`${simnet.deployer}.${SBTC_TOKEN.contract}`));
  const results: string[] = [];
  for (const [name, address] of simnet.getAccounts()) {
    for (const [label, token] of [
      ["stx", Cl.none()],
      ["sbtc", sbtc],
    ] as const) {
      const result = cvToString(simnet.callPublicFn(vault, HARNESS.claimExit, [token], address).result);
      results.push(`${name} ${label} ${result}`);
      // (ok false): the claim's result, payment or record differed from the exit terms.
      if (result === "(ok false)") problems.push(`closing claim by ${name} (${label}) did not match the exit terms`);
    }
  }
  console.log(`closing claims: ${results.join(", ")}`);
  const invariants = vaultFunctionsOf(allFunctions, vault).filter(
    (f) => f.access === "read_only" && f.name.startsWith(HARNESS_PREFIXES.invariant) && f.args.length === 0,
  );
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
type PathKeys = Record<string, string[]>;

/** "uN", the vault's (err uN) code of an error, as logs and labels show it. */
const code = (error: VaultErrorName): string => `u${VAULT_ERRORS[error]}`;
/** The key suffix of a call the vault refused with that error. */
const refused = (error: VaultErrorName): string => ` !${code(error)}`;
const stx = (fn: string): string => `${fn} stx`;
const sbtc = (fn: string): string => `${fn} sbtc`;
const both = (fn: string, suffix = ""): string[] => [`${stx(fn)}${suffix}`, `${sbtc(fn)}${suffix}`];

const V = VAULT_FUNCTIONS;
const H = HARNESS;
const INVARIANT_PATHS: Record<Phase, PathKeys> = {
  live: {
    "STX deposits/premiums": [stx(V.depositFunds), stx(V.payPremium)],
    "sBTC deposits/premiums": [sbtc(V.depositFunds), sbtc(V.payPremium)],
    "operator locks": both(H.operatorLock),
    "operator locks of the whole free balance": both(H.operatorLockFree),
    "operator releases": both(H.operatorRelease),
    "operator settlements": [...both(H.operatorSettle), ...both(H.operatorSettleWindow)],
    [`settlements refused by the outflow limit (${code("OUTFLOW_LIMIT")})`]: [
      ...both(H.operatorSettle, refused("OUTFLOW_LIMIT")),
      ...both(H.operatorSettleWindow, refused("OUTFLOW_LIMIT")),
    ],
    "STX collateral moves": [
      stx(H.operatorLock),
      stx(H.operatorLockFree),
      stx(H.operatorRelease),
      stx(H.operatorSettle),
      stx(H.operatorSettleWindow),
    ],
    "sBTC collateral moves": [
      sbtc(H.operatorLock),
      sbtc(H.operatorLockFree),
      sbtc(H.operatorRelease),
      sbtc(H.operatorSettle),
      sbtc(H.operatorSettleWindow),
    ],
    "pausing": [H.setPaused],
    "outflow limit changes": [H.adminSetOutflowLimit],
    "checkpoints": [H.operatorPostCheckpoint],
    "checkpoint vetoes": [H.guardianVetoCheckpoint],
    [`claims refused before shutdown (${code("NOT_SHUT_DOWN")})`]: [
      ...both(H.claimExit, refused("NOT_SHUT_DOWN")),
      ...both(V.claimExit, refused("NOT_SHUT_DOWN")),
    ],
  },
  exit: {
    "claims": [...both(H.claimExit), ...both(V.claimExit)],
    [`second claims refused (${code("ALREADY_CLAIMED")})`]: [
      ...both(H.claimExit, refused("ALREADY_CLAIMED")),
      ...both(V.claimExit, refused("ALREADY_CLAIMED")),
    ],
    [`deposits refused after shutdown (${code("SHUT_DOWN")})`]: [
      ...both(V.depositFunds, refused("SHUT_DOWN")),
      ...both(V.payPremium, refused("SHUT_DOWN")),
    ],
    [`operator actions refused after shutdown (${code("SHUT_DOWN")})`]: [
      ...both(H.operatorLock, refused("SHUT_DOWN")),
      ...both(H.operatorRelease, refused("SHUT_DOWN")),
      ...both(H.operatorSettle, refused("SHUT_DOWN")),
      ...both(H.operatorSettleWindow, refused("SHUT_DOWN")),
      `${H.operatorPostCheckpoint}${refused("SHUT_DOWN")}`,
    ],
  },
};

/** The vault's and the harness's functions that take a token argument. */
const TOKEN_FUNCTIONS = new Set<string>([
  V.depositFunds,
  V.payPremium,
  V.withdrawFunds,
  V.lockCollateralAggregate,
  V.releaseCollateralAggregate,
  V.settlePolicy,
  V.claimExit,
  H.operatorLock,
  H.operatorLockFree,
  H.operatorRelease,
  H.operatorSettle,
  H.operatorSettleWindow,
  H.claimExit,
]);

/** The key paths of a phase: fixed for invariant mode, every property of the phase for test mode. */
function keyPaths(mode: Mode, phase: Phase, functions: string[]): PathKeys {
  if (mode === "invariant") return INVARIANT_PATHS[phase];
  return Object.fromEntries(functions.map((name) => [name, [name]]));
}

/** Calls of one key: how many succeeded (or passed), how many not, and by which code. */
type Tally = { ok: number; refused: number; codes: Map<string, number> };

/** Tallies the per-call log lines: key -> { ok, refused, codes: Map(code -> count) }. */
function tally(mode: Mode, lines: string[]): Map<string, Tally> {
  const counts = new Map<string, Tally>();
  for (const line of lines) {
    if (!/^\s*₿/.test(line)) continue;
    const match = line.match(new RegExp(` ${CONTRACT} (\\S+) ?(.*)$`));
    if (!match) continue;
    const [, fn = "", rest = ""] = match;
    if (mode === "invariant" && fn.startsWith(HARNESS_PREFIXES.invariant)) continue;
    const token = rest.includes(SBTC_TOKEN.contract) ? "sbtc" : "stx";
    const key = TOKEN_FUNCTIONS.has(fn) ? `${fn} ${token}` : fn;
    const entry = counts.get(key) ?? { ok: 0, refused: 0, codes: new Map<string, number>() };
    let ok: boolean;
    if (mode === "invariant") ok = /\(ok [^)]*\)\s*$/.test(rest);
    else ok = /\[PASS\]/.test(line);
    if (ok) entry.ok += 1;
    else {
      entry.refused += 1;
      const errCode = mode === "invariant" ? (rest.match(/\(err (u\d+)\)\s*$/)?.[1] ?? "other") : "discarded";
      entry.codes.set(errCode, (entry.codes.get(errCode) ?? 0) + 1);
    }
    counts.set(key, entry);
  }
  return counts;
}

function reportCoverage(mode: Mode, phase: Phase, lines: string[], paths: PathKeys, earlierLines: string[]): string[] {
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
    const entry = counts.get(key);
    if (!entry) continue;
    const { ok: o, refused, codes } = entry;
    const byCode =
      mode === "invariant" && codes.size > 0
        ? "  " +
          [...codes.entries()]
            .sort((a, b) => b[1] - a[1])
            .map(([errCode, n]) => `${errCode}×${n}`)
            .join(" ")
        : "";
    console.log(
      `  ${key.padEnd(width)}  ${String(o).padStart(5)} ok  ${String(refused).padStart(5)} ${mode === "invariant" ? "refused" : "discarded"}${byCode}`,
    );
  }
  const seen = (key: string): boolean => {
    const refusal = key.match(/^(.*) !(u\d+)$/);
    if (refusal) {
      const [, refusedKey = "", errCode = ""] = refusal;
      return (pathCounts.get(refusedKey)?.codes.get(errCode) ?? 0) > 0;
    }
    return (pathCounts.get(key)?.ok ?? 0) > 0;
  };
  return Object.entries(paths)
    .filter(([, keys]) => !keys.some(seen))
    .map(([pathLabel]) => pathLabel);
}

// --- main ---------------------------------------------------------------------
/** The functions rendezvous may pick in a phase: test mode splits the properties between the phases. */
function phaseFunctions(
  mode: Mode,
  phase: Phase,
  vault: string,
  allFunctions: Map<string, FunctionInterface[]>,
): Map<string, FunctionInterface[]> {
  if (mode === "invariant") return allFunctions;
  const inPhase = (name: string): boolean =>
    !name.startsWith(HARNESS_PREFIXES.test) || name.startsWith(HARNESS_PREFIXES.exitTest) === (phase === "exit");
  return new Map([[vault, vaultFunctionsOf(allFunctions, vault).filter((f) => inPhase(f.name))]]);
}

async function runMode(mode: Mode): Promise<string[]> {
  console.log(`\n=== rendezvous ${mode} mode: ${CONTRACT}, seed ${seed} ===`);
  if (vaultSourceOverride) console.log(`vault source: ${vaultSourceOverride} (RV_VAULT_SOURCE)`);
  const setupRadio = makeRadio(`${mode}-setup`).radio;
  const { simnet, vault, rendezvousList, allFunctions } = await buildSimnet(setupRadio);

  const problems: string[] = [];
  let violated = false;
  // Lines of the phases so far: calls after a shutdown in the live phase count
  // for the exit phase's paths too.
  const earlierLines: string[] = [];
  for (const phase of PHASES) {
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

    const properties = vaultFunctionsOf(functions, vault)
      .map((f) => f.name)
      .filter((name) => name.startsWith(HARNESS_PREFIXES.test));
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
  if (!isMode(childMode)) fail(`RV_INTERNAL_MODE: unknown mode "${childMode}"`);
  const problems = await runMode(childMode);
  for (const p of problems) console.error(`\nrun-invariants: ${p}`);
  process.exit(problems.length > 0 ? 1 : 0);
}

const failedModes: string[] = [];
for (const mode of modes) {
  // The child runs this file the way this process was started (under tsx,
  // process.execArgv holds its loader flags).
  const child = spawnSync(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url)], {
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
