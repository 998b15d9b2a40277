import type { ClarityAbiFunction } from "@stacks/transactions";

import type { AbiLookup } from "../apiShapes";
import type { LocalChain } from "../chain";
import type { Faults } from "../faults";

export type ServerContext = { chain: LocalChain; faults: Faults; abiOf: AbiLookup };

/**
 * Function ABIs by contract. Building every interface costs ~15 ms, so they
 * are kept per simnet session (a rebuild after a reorg or a post-condition
 * rollback starts a new session, and with it a fresh cache).
 */
export function abiLookup(chain: LocalChain): AbiLookup {
  let cachedFor: unknown;
  let interfaces: ReturnType<LocalChain["simnet"]["getContractsInterfaces"]> | undefined;
  return (contractId, functionName) => {
    if (!interfaces || cachedFor !== chain.simnet) {
      interfaces = chain.simnet.getContractsInterfaces();
      cachedFor = chain.simnet;
    }
    return interfaces.get(contractId)?.functions.find((f) => f.name === functionName) as ClarityAbiFunction | undefined;
  };
}

/** Path segments: a Stacks address, a contract name, a contract id, a hex hash. */
export const ADDRESS = "([0-9A-Z]{28,41})";
export const CONTRACT_NAME = "([a-zA-Z][a-zA-Z0-9_-]{0,127})";
export const CONTRACT_ID = "([0-9A-Z]{28,41}\\.[a-zA-Z][a-zA-Z0-9_-]{0,127})";
export const SEGMENT = "([^/]+)";
