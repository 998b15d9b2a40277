import fc from "fast-check";
import { describe, expect, it } from "vitest";

import { clientRateLimitKey } from "../../convex/domain/clientAddress";

const group = fc.integer({ min: 0, max: 0xffff });
const groups = fc.array(group, { minLength: 8, maxLength: 8 });
const hex = (g: number) => g.toString(16);

/** One address written the long way and, where a run of zero groups allows, with `::`. */
function spellings(address: number[]): string[] {
  const full = address.map(hex).join(":");
  const padded = address.map((g) => g.toString(16).padStart(4, "0").toUpperCase()).join(":");
  const out = [full, padded];
  const zeroAt = address.findIndex((g) => g === 0);
  if (zeroAt >= 0) {
    let end = zeroAt;
    while (end < 8 && address[end] === 0) end++;
    out.push(`${address.slice(0, zeroAt).map(hex).join(":")}::${address.slice(end).map(hex).join(":")}`);
  }
  return out;
}

describe("clientRateLimitKey", () => {
  it("keys an IPv4 address as itself", () => {
    expect(clientRateLimitKey("203.0.113.7")).toBe("203.0.113.7");
    expect(clientRateLimitKey(" 10.0.0.1 ")).toBe("10.0.0.1");
  });

  it("keys an IPv6 address by its /64", () => {
    expect(clientRateLimitKey("2001:db8:85a3:8d3:1319:8a2e:370:7348")).toBe("2001:db8:85a3:8d3::/64");
    expect(clientRateLimitKey("2001:DB8:85A3:08D3::1")).toBe("2001:db8:85a3:8d3::/64");
    expect(clientRateLimitKey("2001:db8::1")).toBe("2001:db8:0:0::/64");
    expect(clientRateLimitKey("::1")).toBe("0:0:0:0::/64");
    expect(clientRateLimitKey("fe80::1%eth0")).toBe("fe80:0:0:0::/64");
  });

  it("keys an IPv4-mapped IPv6 address as the IPv4 address", () => {
    expect(clientRateLimitKey("::ffff:192.0.2.1")).toBe("192.0.2.1");
    expect(clientRateLimitKey("::ffff:c000:201")).toBe("192.0.2.1");
  });

  it("keys anything else as given, lower-cased", () => {
    expect(clientRateLimitKey("Not-An-Address")).toBe("not-an-address");
    expect(clientRateLimitKey("1:2:3:4:5:6:7:8:9")).toBe("1:2:3:4:5:6:7:8:9");
    expect(clientRateLimitKey("1::2::3")).toBe("1::2::3");
    expect(clientRateLimitKey("256.1.1.1")).toBe("256.1.1.1");
  });

  it("gives every address of one /64, however written, the same key, and addresses of two /64s two keys", () => {
    fc.assert(
      fc.property(groups, groups, (a, b) => {
        // Outside ::ffff:0:0/96, which is IPv4.
        fc.pre(!(a.slice(0, 5).every((g) => g === 0) && a[5] === 0xffff));
        fc.pre(!(b.slice(0, 5).every((g) => g === 0) && b[5] === 0xffff));
        const sameNetwork = [...a.slice(0, 4), ...b.slice(4)];
        const keys = new Set([...spellings(a), ...spellings(sameNetwork)].map(clientRateLimitKey));
        expect(keys.size).toBe(1);
        const samePrefix = a.slice(0, 4).every((g, i) => g === b[i]);
        expect(clientRateLimitKey(spellings(a)[0] as string) === clientRateLimitKey(spellings(b)[0] as string)).toBe(samePrefix);
      }),
    );
  });
});
