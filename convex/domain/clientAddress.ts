/**
 * Which requests count as one client for a rate limit: the caller's IP
 * address as the platform saw it, reduced to what one client controls.
 *
 * An IPv4 address is one client (NAT puts whole offices behind one, which the
 * limit's capacity allows for). An IPv6 host, though, is routinely handed a
 * whole /64 and may take any of its 2^64 addresses: keyed per address, one
 * host would get a fresh bucket per request. IPv6 therefore keys on the /64
 * prefix, as the rate limiters of large services do. An IPv4 address inside
 * IPv6 (`::ffff:192.0.2.1`) is keyed as the IPv4 address it is.
 *
 * Pure: no Convex context, no environment.
 */

const IPV4 = /^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}$/;
const HEX_GROUP = /^[0-9a-f]{1,4}$/;

/** The eight 16-bit groups of an IPv6 address, or null if it is not one. */
function ipv6Groups(address: string): number[] | null {
  let text = address.toLowerCase();
  const zone = text.indexOf("%");
  if (zone >= 0) text = text.slice(0, zone);
  // A trailing dotted IPv4 part stands for the last two groups.
  const lastColon = text.lastIndexOf(":");
  const tail = text.slice(lastColon + 1);
  if (lastColon >= 0 && IPV4.test(tail)) {
    const [a, b, c, d] = tail.split(".").map(Number) as [number, number, number, number];
    text = `${text.slice(0, lastColon + 1)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const halves = text.split("::");
  if (halves.length > 2) return null;
  const parse = (part: string) => (part === "" ? [] : part.split(":"));
  const head = parse(halves[0] ?? "");
  const rest = halves.length === 2 ? parse(halves[1] ?? "") : [];
  const missing = 8 - head.length - rest.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) return null;
  const groups = [...head, ...Array<string>(halves.length === 2 ? missing : 0).fill("0"), ...rest];
  if (!groups.every((group) => HEX_GROUP.test(group))) return null;
  return groups.map((group) => parseInt(group, 16));
}

/**
 * The rate-limit key of a client address: an IPv4 address as it is, an IPv6
 * address as its /64 prefix (`2001:db8:85a3:8d3::/64`), an IPv4-mapped IPv6
 * address as its IPv4 address; anything else as given, lower-cased.
 */
export function clientRateLimitKey(address: string): string {
  const trimmed = address.trim();
  if (IPV4.test(trimmed)) return trimmed;
  const groups = ipv6Groups(trimmed);
  if (groups === null) return trimmed.toLowerCase();
  const mapped = groups.slice(0, 5).every((group) => group === 0) && groups[5] === 0xffff;
  if (mapped) {
    const [hi, lo] = [groups[6] as number, groups[7] as number];
    return [hi >> 8, hi & 0xff, lo >> 8, lo & 0xff].join(".");
  }
  return `${groups.slice(0, 4).map((group) => group.toString(16)).join(":")}::/64`;
}
