import type { ClarityAbiFunction } from "@stacks/transactions";

import type { AbiLookup } from "../apiShapes";
import type { LocalChain } from "../chain";
import type { Faults } from "../faults";

export type ServerContext = { chain: LocalChain; faults: Faults; abiOf: AbiLookup };

export function abiLookup(chain: LocalChain): AbiLookup {
  return (contractId, functionName) =>
    chain.simnet
      .getContractsInterfaces()
      .get(contractId)
      ?.functions.find((f) => f.name === functionName) as ClarityAbiFunction | undefined;
}

/** Path segments: a Stacks address, a contract name, a contract id, a hex hash. */
export const ADDRESS = "([0-9A-Z]{28,41})";
export const CONTRACT_NAME = "([a-zA-Z][a-zA-Z0-9_-]{0,127})";
export const CONTRACT_ID = "([0-9A-Z]{28,41}\\.[a-zA-Z][a-zA-Z0-9_-]{0,127})";
export const SEGMENT = "([^/]+)";
