/**
 * Compile-time checks against the types of the published
 * `@hirosystems/chainhooks-client` (README "Chainhooks"), run by `tsc --noEmit`:
 *
 * - every delivery those types describe (for the Stacks chain) is accepted by
 *   our zod schema (convex/chain/chainhookPayload.ts), and every field the
 *   schema reads exists in them;
 * - what the local emulator sends (devnet/chainhookEmulator.ts) is a delivery
 *   those types describe;
 * - the registration script's definition is a `ChainhookDefinition`, and the
 *   package's client and base URLs provide what the script calls.
 */
import type { z } from "zod";

import type { chainhookDeliverySchema } from "../../convex/chain/chainhookPayload";
import type { EmulatedDelivery } from "../../devnet/chainhookEmulator";
import type { ChainhooksApi, ChainhooksClientModule, VaultChainhookDefinition } from "../../scripts/register-chainhook";

import type * as Chainhooks from "@hirosystems/chainhooks-client";

/** `true` when A is assignable to B (not distributed over unions; `any` on either side passes). */
type Extends<A, B> = [A] extends [B] ? true : false;
/** `true` when every key of Ours is a key of Official: we read nothing the package does not describe. */
type KeysExist<Ours, Official> = [keyof Ours] extends [keyof Official] ? true : false;
function check<_Holds extends true>(): void {}

type Ours = z.input<typeof chainhookDeliverySchema>;
type OurEvent = Ours["event"];
type OurBlock = OurEvent["apply"][number];
type OurTransaction = OurBlock["transactions"][number];
type OurOperation = OurTransaction["operations"][number];
type OurContractLog = Extract<OurOperation, { type: "contract_log" }>;

/** A delivery for the Stacks chain, as the package types it. */
type Delivery = Chainhooks.ChainhookEvent & { event: { chain: "stacks" } };
type Block = Chainhooks.StacksBlock;
type Transaction = Chainhooks.StacksTransaction;
type ContractLog = Chainhooks.StacksContractLogOperation;

// Every delivery the package describes parses.
check<Extends<Delivery, Ours>>();
check<Extends<Block, OurBlock>>();
check<Extends<Transaction, OurTransaction>>();
check<Extends<ContractLog, OurContractLog>>();
// Nothing we read is missing from it.
check<KeysExist<Ours, Delivery>>();
check<KeysExist<OurEvent, Delivery["event"]>>();
check<KeysExist<OurBlock, Block>>();
check<KeysExist<OurTransaction, Transaction>>();
check<KeysExist<OurTransaction["metadata"], Transaction["metadata"]>>();
check<KeysExist<OurContractLog, ContractLog>>();
check<KeysExist<OurContractLog["metadata"], ContractLog["metadata"]>>();

// The emulator sends real deliveries.
check<Extends<EmulatedDelivery, Chainhooks.ChainhookEvent>>();

// The registration script registers a valid definition with the real client.
check<Extends<VaultChainhookDefinition, Chainhooks.ChainhookDefinition>>();
check<Extends<Chainhooks.ChainhooksClient, ChainhooksApi>>();
check<Extends<{ ChainhooksClient: typeof Chainhooks.ChainhooksClient; CHAINHOOKS_BASE_URL: typeof Chainhooks.CHAINHOOKS_BASE_URL }, ChainhooksClientModule>>();
