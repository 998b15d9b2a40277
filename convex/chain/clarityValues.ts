/**
 * Clarity values as the backend reads them. The event decoder turns a printed
 * tuple into plain data before its zod schema (README "Events"); the vault's
 * read-only answers are parsed with zod schemas over the Clarity values
 * themselves, so a uint is never taken for an int, nor a string for a
 * principal.
 */
import { Cl, ClarityType, type ClarityValue } from "@stacks/transactions";
import { z } from "zod";

export type Plain = bigint | boolean | string | null | Plain[] | { [key: string]: Plain };

/** Clarity value → plain data: uints/ints as bigint, principals and strings as strings, none as null. */
export function clarityToPlain(value: ClarityValue): Plain {
  switch (value.type) {
    case ClarityType.UInt:
    case ClarityType.Int:
      return BigInt(value.value);
    case ClarityType.BoolTrue:
      return true;
    case ClarityType.BoolFalse:
      return false;
    case ClarityType.PrincipalStandard:
    case ClarityType.PrincipalContract:
      return value.value;
    case ClarityType.StringASCII:
    case ClarityType.StringUTF8:
      return value.value;
    case ClarityType.Buffer:
      return `0x${value.value}`;
    case ClarityType.OptionalNone:
      return null;
    case ClarityType.OptionalSome:
      return clarityToPlain(value.value);
    case ClarityType.ResponseOk:
    case ClarityType.ResponseErr:
      return { [value.type]: clarityToPlain(value.value) };
    case ClarityType.List:
      return value.value.map(clarityToPlain);
    case ClarityType.Tuple:
      return Object.fromEntries(Object.entries(value.value).map(([k, v]) => [k, clarityToPlain(v)]));
  }
}

/**
 * The one Clarity value a hex string (`0x` optional) serializes. Anything
 * else — not hex, not a value, bytes left over after it — is refused: an
 * answer read leniently is an answer half-understood.
 */
export function clarityFromHex(hex: string): ClarityValue {
  const bytes = (hex.startsWith("0x") ? hex.slice(2) : hex).toLowerCase();
  if (!/^([0-9a-f]{2})+$/.test(bytes)) throw new Error("not hex bytes");
  const value = Cl.deserialize(bytes);
  if (Cl.serialize(value) !== bytes) throw new Error("not exactly one Clarity value");
  return value;
}

/** Every amount is stored as a Convex int64 (docs/architecture.md, "Money and rounding"). */
export const INT64_MAX = 2n ** 63n - 1n;

/** `stx-in` → `stxIn`. */
type CamelCase<S extends string> = S extends `${infer Head}-${infer Tail}` ? `${Head}${Capitalize<CamelCase<Tail>>}` : S;
type CamelCased<T> = { [K in keyof T as K extends string ? CamelCase<K> : K]: T[K] };

function camelCased<T extends Record<string, unknown>>(tuple: T): CamelCased<T> {
  return Object.fromEntries(
    Object.entries(tuple).map(([key, value]) => [key.replace(/-([a-z])/g, (_, letter: string) => letter.toUpperCase()), value]),
  ) as CamelCased<T>;
}

const uintValue = z.union([z.bigint(), z.number().int(), z.string().regex(/^\d+$/)]).transform((n) => BigInt(n));

/**
 * zod schemas over Clarity values, each yielding the plain TypeScript value:
 * a uint as a bigint (at most int64), a tuple as an object with camelCase
 * keys (strict: a field the schema does not name is refused), an optional as
 * its value or null.
 */
export const clarity = {
  uint: z
    .object({ type: z.literal(ClarityType.UInt), value: uintValue })
    .transform((cv) => cv.value)
    .pipe(z.bigint().nonnegative().max(INT64_MAX, "beyond int64")),
  bool: z.discriminatedUnion("type", [
    z.object({ type: z.literal(ClarityType.BoolTrue) }).transform(() => true),
    z.object({ type: z.literal(ClarityType.BoolFalse) }).transform(() => false),
  ]),
  principal: z
    .object({
      type: z.union([z.literal(ClarityType.PrincipalStandard), z.literal(ClarityType.PrincipalContract)]),
      value: z.string().min(1),
    })
    .transform((cv) => cv.value),
  /** A `(buff n)` of exactly `bytes` bytes, as `0x`-prefixed hex (as the event decoder gives buffers). */
  buffer: (bytes: number) =>
    z
      .object({ type: z.literal(ClarityType.Buffer), value: z.string().regex(new RegExp(`^[0-9a-f]{${2 * bytes}}$`)) })
      .transform((cv) => `0x${cv.value}`),
  optional: <S extends z.ZodType>(some: S) =>
    z.discriminatedUnion("type", [
      z.object({ type: z.literal(ClarityType.OptionalNone) }).transform(() => null),
      z
        .object({ type: z.literal(ClarityType.OptionalSome), value: z.unknown() })
        .transform((cv) => cv.value)
        .pipe(some),
    ]),
  tuple: <S extends Record<string, z.ZodType>>(fields: S) =>
    z
      .object({ type: z.literal(ClarityType.Tuple), value: z.strictObject(fields) })
      .transform((cv) => camelCased(cv.value)),
};
