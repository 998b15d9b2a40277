/**
 * Stacks principals as the configuration, the tools and the scripts read
 * them: one schema for a contract id, so a deployment, the watcher and the
 * chainhook registration accept exactly the same ids.
 *
 * Pure: no Convex context, no environment.
 */
import { validateStacksAddress } from "@stacks/transactions";
import { z } from "zod";

/** A Clarity contract name: a letter, then letters, digits and dashes, at most 40 characters. */
const CONTRACT_ID = /^[A-Z0-9]+\.[a-zA-Z][a-zA-Z0-9-]{0,39}$/;

/** `<address>.<contract-name>`, with a valid address. */
export const contractIdSchema = z
  .string()
  .regex(CONTRACT_ID, "must be <address>.<contract-name>")
  .refine((id) => validateStacksAddress(id.split(".")[0] ?? ""), "has an invalid address");

/** A standard Stacks address (any network). */
export const addressSchema = z.string().refine(validateStacksAddress, "is not a Stacks address");
