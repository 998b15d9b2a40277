/**
 * The vault's read-only answers the tools act on, through the node
 * (`/v2/contracts/call-read`), each parsed exactly by chain/vault.ts. The
 * node's answers are the vault's state now; the events (chainEvents.ts) are
 * its history, read through the API's indexer, which may lag the node.
 */
import type { HiroClient } from "../convex/chain/hiroClient";
import {
  readVault,
  VAULT_ARGS,
  VAULT_READ_ONLY_FUNCTIONS as F,
  VAULT_ROLES,
  type VaultReadOnlyResult,
  type VaultRole,
} from "../convex/chain/vault";
import type { Token } from "../convex/domain/vocabulary";
import type { Checkpoint } from "./checkpointTree";

type ReadClient = Pick<HiroClient, "callReadOnlyHex">;

export type OutflowWindow = VaultReadOnlyResult<typeof F.getOutflow>;
export type Roles = VaultReadOnlyResult<typeof F.getRoles>;
export type PendingRole = { role: VaultRole; who: string; eta: bigint };

/** What the watcher looks at each round. */
export type GuardedState = {
  sbtcContractId: string | null;
  shutDown: boolean;
  paused: boolean;
  roles: Roles;
  pendingRoles: PendingRole[];
  outflow: { token: Token; window: OutflowWindow }[];
  checkpoint: Checkpoint | null;
};

export async function readGuardedState(client: ReadClient, vault: string): Promise<GuardedState> {
  const sbtcContractId = await readVault(client, vault, F.getSbtcTokenPrincipal);
  const pendingRoles: PendingRole[] = [];
  for (const role of VAULT_ROLES) {
    const pending = await readVault(client, vault, F.getPendingRole, VAULT_ARGS.getPendingRole({ role }));
    if (pending) pendingRoles.push({ role, ...pending });
  }
  const outflow: GuardedState["outflow"] = [
    { token: "STX", window: await readVault(client, vault, F.getOutflow, VAULT_ARGS.getOutflow({ tokenContract: null })) },
  ];
  if (sbtcContractId !== null) {
    outflow.push({ token: "sBTC", window: await readVault(client, vault, F.getOutflow, VAULT_ARGS.getOutflow({ tokenContract: sbtcContractId })) });
  }
  return {
    sbtcContractId,
    shutDown: await readVault(client, vault, F.isShutDown),
    paused: await readVault(client, vault, F.isPaused),
    roles: await readVault(client, vault, F.getRoles),
    pendingRoles,
    outflow,
    checkpoint: await readVault(client, vault, F.getCheckpoint),
  };
}
