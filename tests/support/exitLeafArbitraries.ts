/**
 * fast-check arbitraries for exit leaves, shared by the Merkle-sum module's
 * own properties (tests/convex/merkleSum.test.ts) and the same trees checked
 * by the vault's `verify-exit-proof` (tests/contracts/exit-proof.test.ts), so
 * both draw from exactly the same space of trees.
 */
import fc from "fast-check";

import type { ExitLeaf } from "../../convex/domain/merkleSum";

const DEPLOYER = "ST1PQHQKV0RJXZFY1DGX8MNSNYVE3VGZJSRTPGZGM";

/** Valid testnet principals, standard and contract: providers are drawn from here. */
export const PRINCIPALS = [
  DEPLOYER,
  "ST1SJ3DTE5DN7X54YDH5D64R3BCB6A2AG2ZQ8YPD5",
  "ST2CY5V39NHDPWSXMW9QDT3HC3GD6Q6XX4CFRK9AG",
  "ST2JHG361ZXG51QTKY2NQCVBPPRRE2KZB1HR05NNC",
  "ST2NEB84ASENDXKYGJPQW86YXQCEFEX2ZQPG87ND",
  "ST2REHHS5J3CERCRBEPMGH7921Q6PYKAADT7JP2VB",
  `${DEPLOYER}.some-contract`,
  "ST1SJ3DTE5DN7X54YDH5D64R3BCB6A2AG2ZQ8YPD5.vault-adapter",
] as const;

export const AMOUNT_FIELDS = ["stx", "sbtc", "stxIn", "stxOut", "sbtcIn", "sbtcOut"] as const;

/** Amounts up to 2^64, zero often: 300 of them plus a tamper stay far below 2^128. */
export const amount = fc.oneof(
  fc.constant(0n),
  fc.bigInt({ min: 0n, max: 1_000_000n }),
  fc.bigInt({ min: 0n, max: 2n ** 64n }),
);

export const leafArb: fc.Arbitrary<ExitLeaf> = fc.record({
  provider: fc.constantFrom(...PRINCIPALS),
  stx: amount,
  sbtc: amount,
  stxIn: amount,
  stxOut: amount,
  sbtcIn: amount,
  sbtcOut: amount,
});
