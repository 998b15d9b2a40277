/**
 * SIP-018 withdrawal vouchers (version 2), built exactly as the vault's
 * `get-withdrawal-voucher-hash` builds them (README "Withdrawal vouchers").
 *
 * The backend signs a voucher only after it has reserved the amount against the
 * provider's available balance; the vault recovers the signer and accepts the
 * voucher only from its current signer key, for this vault, the provider who
 * sends the transaction, the same amount and token, before it expires, with a
 * nonce above the provider's last redeemed one.
 */
import { sha256 } from "@noble/hashes/sha256";
import { bytesToHex } from "@stacks/common";
import type { StacksNetwork } from "@stacks/network";
import {
  Cl,
  encodeStructuredDataBytes,
  signStructuredData,
  type TupleCV,
} from "@stacks/transactions";

/** The vault's SIP-018 signing domain name and version. */
export const VOUCHER_DOMAIN_NAME = "bithedge-liquidity-pool";
export const VOUCHER_DOMAIN_VERSION = "2";

export type WithdrawalVoucher = {
  /** The vault contract principal (`address.name`): a voucher pays from this vault only. */
  vault: string;
  /** The provider who will send `withdraw-funds`; the vault checks tx-sender. */
  provider: string;
  /** Base units: micro-STX or satoshis. */
  amount: bigint;
  /** `null` for STX, else the sBTC contract principal the vault is configured with. */
  tokenContract: string | null;
  /** Per provider and increasing: redeeming one voids every earlier voucher of that provider. */
  nonce: bigint;
  /** Last Stacks block height (inclusive) at which the voucher can be redeemed. */
  expiresAt: bigint;
};

/** The chain id as Clarity's `chain-id` sees it (1 on mainnet, 0x80000000 on testnet and devnets). */
export function chainIdOf(network: Pick<StacksNetwork, "chainId">): bigint {
  return BigInt(network.chainId);
}

export function voucherDomain(chainId: bigint): TupleCV {
  return Cl.tuple({
    name: Cl.stringAscii(VOUCHER_DOMAIN_NAME),
    version: Cl.stringAscii(VOUCHER_DOMAIN_VERSION),
    "chain-id": Cl.uint(chainId),
  });
}

export function voucherMessage(voucher: WithdrawalVoucher): TupleCV {
  if (voucher.amount <= 0n) throw new RangeError("voucher amount must be positive");
  if (voucher.nonce < 0n || voucher.expiresAt < 0n) {
    throw new RangeError("voucher nonce and expiry must be non-negative");
  }
  return Cl.tuple({
    action: Cl.stringAscii("withdraw"),
    vault: Cl.principal(voucher.vault),
    provider: Cl.principal(voucher.provider),
    token: voucher.tokenContract === null ? Cl.none() : Cl.some(Cl.principal(voucher.tokenContract)),
    amount: Cl.uint(voucher.amount),
    nonce: Cl.uint(voucher.nonce),
    "expires-at": Cl.uint(voucher.expiresAt),
  });
}

/** The 32-byte hash the vault's `get-withdrawal-voucher-hash` returns, as hex. */
export function withdrawalVoucherHash(voucher: WithdrawalVoucher, chainId: bigint): string {
  const encoded = encodeStructuredDataBytes({
    message: voucherMessage(voucher),
    domain: voucherDomain(chainId),
  });
  return bytesToHex(sha256(encoded));
}

/**
 * Signs a voucher with the signer key. Returns the 65-byte recoverable
 * signature (r || s || recovery id) as hex, the form `withdraw-funds` takes.
 * The key is used and dropped: never log, return or store it.
 */
export function signWithdrawalVoucher(
  voucher: WithdrawalVoucher,
  chainId: bigint,
  signerPrivateKey: string,
): string {
  return signStructuredData({
    message: voucherMessage(voucher),
    domain: voucherDomain(chainId),
    privateKey: signerPrivateKey,
  });
}
