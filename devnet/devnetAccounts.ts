/**
 * Private keys of the well-known Clarinet devnet accounts (settings/Devnet.toml).
 * These are public test keys: never fund them on testnet or mainnet.
 */
export const DEVNET_KEYS = {
  deployer: "753b7cc01a1a2e86221266a154af739463fce51219d97e4f856cd7200c3bd2a601",
  wallet_1: "7287ba251d44a4d3fd9276c88ce34c5c52a038955511cccaf77e61068649c17801",
} as const;
