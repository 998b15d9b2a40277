/**
 * Registers the vault's chainhook with Hiro's Chainhooks 2.0 service, so that
 * every block with a print of the vault is POSTed to the deployment's
 * `/chainhooks/vault` endpoint (README "Chainhooks").
 *
 *   npm run chainhook:register                                # register (an identical hook is reported, not duplicated)
 *   npm run chainhook:register -- --dry-run                   # print the definition; call nothing
 *   npm run --silent chainhook:register -- --print-secret     # print the consumer secret, nothing else
 *   npm run --silent chainhook:register -- --rotate-secret    # rotate it and print the new one, nothing else
 *
 * Environment: STACKS_NETWORK (mainnet or testnet: Chainhooks serves no
 * devnet; the local stack has devnet/chainhookEmulator.ts), VAULT_CONTRACT_ID,
 * CONVEX_SITE_URL (the deployment's site URL, where HTTP actions are served),
 * and HIRO_API_KEY (not needed for --dry-run).
 *
 * The client comes from `@hirosystems/chainhooks-client`, loaded only when a
 * call is made, so --dry-run works without it; its types are checked against
 * the ones used here in tests/types/chainhooksClient.conformance.ts.
 */
import { pathToFileURL } from "node:url";

import { z } from "zod";

import { CHAINHOOK_NETWORKS, type ChainhookNetwork } from "../convex/chain/chainhookPayload";
import { contractIdSchema } from "../convex/domain/principals";

const CLIENT_PACKAGE = "@hirosystems/chainhooks-client";
export const DELIVERY_PATH = "/chainhooks/vault";

/** The definition, as the Chainhooks API takes it (the package's `ChainhookDefinition`, for a `contract_log` filter). */
export type VaultChainhookDefinition = {
  name: string;
  version: "1";
  chain: "stacks";
  network: ChainhookNetwork;
  filters: { events: { type: "contract_log"; contract_identifier: string }[] };
  action: { type: "http_post"; url: string };
  options: {
    enable_on_registration: boolean;
    decode_clarity_values: boolean;
    include_contract_abi: boolean;
    include_contract_source_code: boolean;
    include_post_conditions: boolean;
    include_raw_transactions: boolean;
    include_block_signatures: boolean;
    include_block_metadata: boolean;
  };
};

/** What this script uses of the package's `ChainhooksClient` (the conformance file checks the real one provides it). */
export type ChainhooksApi = {
  registerChainhook(definition: VaultChainhookDefinition): Promise<{ uuid: string; status: { status: string; enabled: boolean } }>;
  getChainhooks(options?: { offset?: number; limit?: number }): Promise<{
    total: number;
    results: { uuid: string; definition: { network: string; filters: unknown; action: { url: string } }; status: { enabled: boolean } }[];
  }>;
  getConsumerSecret(): Promise<{ secret: string | null }>;
  rotateConsumerSecret(): Promise<{ secret: string | null }>;
};
export type ChainhooksClientModule = {
  ChainhooksClient: new (config: { baseUrl: string; apiKey?: string }) => ChainhooksApi;
  CHAINHOOKS_BASE_URL: { mainnet: string; testnet: string };
};

export type Io = {
  out(line: string): void;
  err(line: string): void;
  loadClient(): Promise<ChainhooksClientModule>;
};

const environmentSchema = z.object({
  STACKS_NETWORK: z.enum(CHAINHOOK_NETWORKS, {
    error: "STACKS_NETWORK must be mainnet or testnet (Chainhooks serves no devnet; the local stack uses devnet/chainhookEmulator.ts)",
  }),
  VAULT_CONTRACT_ID: z.string({ error: "VAULT_CONTRACT_ID is not set" }).pipe(contractIdSchema),
  CONVEX_SITE_URL: z.url({ protocol: /^https$/, error: "CONVEX_SITE_URL must be the deployment's https site URL" }),
});

const MODES = ["--dry-run", "--print-secret", "--rotate-secret"] as const;
type Mode = (typeof MODES)[number] | "register";

const USAGE = `usage: npm run chainhook:register [-- --dry-run | --print-secret | --rotate-secret]`;

export function buildDefinition(env: z.infer<typeof environmentSchema>): VaultChainhookDefinition {
  const contractName = env.VAULT_CONTRACT_ID.split(".")[1];
  return {
    name: `bithedge-${contractName}-${env.STACKS_NETWORK}`,
    version: "1",
    chain: "stacks",
    network: env.STACKS_NETWORK,
    // Every print of the vault, and nothing else: the backend reads only these.
    filters: { events: [{ type: "contract_log", contract_identifier: env.VAULT_CONTRACT_ID }] },
    action: { type: "http_post", url: `${env.CONVEX_SITE_URL.replace(/\/+$/, "")}${DELIVERY_PATH}` },
    options: {
      // A hook is created disabled unless asked otherwise; this one should deliver from the start.
      enable_on_registration: true,
      // The backend decodes printed values itself (convex/chain/vault.ts): hex is what it reads.
      decode_clarity_values: false,
      // Nothing else is read, so none of it is asked for: deliveries stay small.
      include_contract_abi: false,
      include_contract_source_code: false,
      include_post_conditions: false,
      include_raw_transactions: false,
      include_block_signatures: false,
      include_block_metadata: false,
    },
  };
}

/**
 * Whether a registered hook's filters deliver the vault's prints: compared by
 * meaning (a `contract_log` filter on the vault), not as text, since the
 * service may echo them with its own key order or defaults added.
 */
function watchesVault(filters: unknown, vaultContractId: string): boolean {
  const events = (filters as { events?: unknown } | null)?.events;
  return (
    Array.isArray(events) &&
    events.some((event) => {
      const e = event as { type?: unknown; contract_identifier?: unknown } | null;
      return e?.type === "contract_log" && e.contract_identifier === vaultContractId;
    })
  );
}

/** The hook already registered with the same network, filter and target, if any (registering twice would deliver twice). */
async function findRegistered(client: ChainhooksApi, definition: VaultChainhookDefinition) {
  const vault = definition.filters.events[0]!.contract_identifier;
  for (let offset = 0; ; offset += 60) {
    const page = await client.getChainhooks({ offset, limit: 60 });
    const found = page.results.find(
      (hook) =>
        hook.definition.network === definition.network &&
        hook.definition.action.url === definition.action.url &&
        watchesVault(hook.definition.filters, vault),
    );
    if (found) return found;
    if (page.results.length === 0 || offset + page.results.length >= page.total) return null;
  }
}

function modeOf(argv: readonly string[]): Mode | null {
  const flags = argv.filter((arg) => arg !== "--");
  if (flags.length === 0) return "register";
  if (flags.length === 1 && (MODES as readonly string[]).includes(flags[0]!)) return flags[0] as Mode;
  return null;
}

/** Runs the command; returns the exit code. */
export async function run(argv: readonly string[], environment: Record<string, string | undefined>, io: Io): Promise<number> {
  const mode = modeOf(argv);
  if (mode === null) {
    io.err(USAGE);
    return 2;
  }
  const client = async () => {
    const apiKey = environment.HIRO_API_KEY;
    if (!apiKey) throw new Error("HIRO_API_KEY is not set");
    const network = environmentSchema.shape.STACKS_NETWORK.safeParse(environment.STACKS_NETWORK);
    if (!network.success) throw new Error(network.error.issues[0]?.message ?? "STACKS_NETWORK is not set");
    const { ChainhooksClient, CHAINHOOKS_BASE_URL } = await io.loadClient();
    return new ChainhooksClient({ baseUrl: CHAINHOOKS_BASE_URL[network.data], apiKey });
  };

  try {
    if (mode === "--print-secret" || mode === "--rotate-secret") {
      const api = await client();
      const { secret } = mode === "--rotate-secret" ? await api.rotateConsumerSecret() : await api.getConsumerSecret();
      if (!secret) {
        io.err("no consumer secret yet: create one with --rotate-secret");
        return 1;
      }
      // Only the secret, so it can be piped into `npx convex env set`.
      io.out(secret);
      return 0;
    }

    const env = environmentSchema.safeParse(environment);
    if (!env.success) {
      for (const issue of env.error.issues) io.err(issue.message);
      return 2;
    }
    const definition = buildDefinition(env.data);
    if (mode === "--dry-run") {
      io.out(JSON.stringify(definition, null, 2));
      return 0;
    }

    const api = await client();
    const registered = await findRegistered(api, definition);
    if (registered) {
      io.out(`already registered: ${registered.uuid} (${registered.status.enabled ? "enabled" : "disabled"})`);
    } else {
      const hook = await api.registerChainhook(definition);
      io.out(`registered: ${hook.uuid} (${hook.status.status}, ${hook.status.enabled ? "enabled" : "disabled"})`);
    }
    io.out(`deliveries go to ${definition.action.url}, each with "Authorization: Bearer <consumer secret>".`);
    io.out("Give the deployment the consumer secret:");
    io.out(`  npx convex env set CHAINHOOKS_CONSUMER_SECRET "$(npm run --silent chainhook:register -- --print-secret)"`);
    io.out("With no secret yet, or to rotate it, use --rotate-secret instead, and set the new one at once");
    io.out("(deliveries refused meanwhile are retried, and the event sync covers any gap):");
    io.out(`  npx convex env set CHAINHOOKS_CONSUMER_SECRET "$(npm run --silent chainhook:register -- --rotate-secret)"`);
    return 0;
  } catch (error) {
    const status = (error as { status?: unknown }).status;
    io.err(`chainhook registration failed${typeof status === "number" ? ` (HTTP ${status})` : ""}: ${error instanceof Error ? error.message : String(error)}`);
    return 1;
  }
}

async function loadClient(): Promise<ChainhooksClientModule> {
  try {
    // Not a literal: the package is needed only here, and only when something is called.
    return (await import(CLIENT_PACKAGE)) as ChainhooksClientModule;
  } catch {
    throw new Error(`${CLIENT_PACKAGE} is not installed (npm ci)`);
  }
}

const invokedDirectly = process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href;
if (invokedDirectly) {
  const io: Io = { out: (line) => console.log(line), err: (line) => console.error(line), loadClient };
  void run(process.argv.slice(2), process.env, io).then((code) => {
    process.exitCode = code;
  });
}
