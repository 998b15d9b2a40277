/**
 * Clarity values as the Hiro API prints them: `hex` is the consensus
 * serialization with a 0x prefix, `repr` is Clarity's own printed form
 * (principals quoted with a leading `'`, tuples with sorted keys).
 */
import { ClarityType, serializeCV, type ClarityValue } from "@stacks/transactions";

export function cvHex(value: ClarityValue): string {
  return `0x${serializeCV(value)}`;
}

function escapeAscii(text: string): string {
  return text.replace(/[\\"]/g, (c) => `\\${c}`).replace(/\n/g, "\\n").replace(/\t/g, "\\t").replace(/\r/g, "\\r");
}

function escapeUtf8(text: string): string {
  let out = "";
  for (const char of text) {
    const code = char.codePointAt(0) ?? 0;
    out += code < 0x20 || code > 0x7e ? `\\u{${code.toString(16)}}` : escapeAscii(char);
  }
  return out;
}

export function clarityRepr(value: ClarityValue): string {
  switch (value.type) {
    case ClarityType.Int:
      return BigInt(value.value).toString();
    case ClarityType.UInt:
      return `u${BigInt(value.value).toString()}`;
    case ClarityType.BoolTrue:
      return "true";
    case ClarityType.BoolFalse:
      return "false";
    case ClarityType.Buffer:
      return `0x${value.value}`;
    case ClarityType.PrincipalStandard:
    case ClarityType.PrincipalContract:
      return `'${value.value}`;
    case ClarityType.OptionalNone:
      return "none";
    case ClarityType.OptionalSome:
      return `(some ${clarityRepr(value.value)})`;
    case ClarityType.ResponseOk:
      return `(ok ${clarityRepr(value.value)})`;
    case ClarityType.ResponseErr:
      return `(err ${clarityRepr(value.value)})`;
    case ClarityType.List:
      return `(list${value.value.map((item) => ` ${clarityRepr(item)}`).join("")})`;
    case ClarityType.Tuple:
      return `(tuple${Object.keys(value.value)
        .sort()
        .map((key) => ` (${key} ${clarityRepr(value.value[key] as ClarityValue)})`)
        .join("")})`;
    case ClarityType.StringASCII:
      return `"${escapeAscii(value.value)}"`;
    case ClarityType.StringUTF8:
      return `u"${escapeUtf8(value.value)}"`;
  }
}

/** `{ hex, repr }`, the pair the Hiro API uses for every Clarity value it returns. */
export function hexRepr(value: ClarityValue): { hex: string; repr: string } {
  return { hex: cvHex(value), repr: clarityRepr(value) };
}

const HASH_RE = /^(0x)?[0-9a-fA-F]{64}$/;

/** A 32-byte hash as lowercase hex without 0x, or undefined if `text` is not one. */
export function normalizeHash(text: string): string | undefined {
  if (!HASH_RE.test(text)) return undefined;
  return text.replace(/^0x/, "").toLowerCase();
}
