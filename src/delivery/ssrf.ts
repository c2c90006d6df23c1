/**
 * SSRF guard for webhook targets: which URLs may be called and which
 * addresses a connection may go to.
 *
 * Host names are checked where the connection is made: `lookup` is handed to
 * undici as `connect.lookup`, so the socket goes to an address this module has
 * just approved and a DNS answer that changes between check and connect
 * (rebinding) cannot slip through. Node does not call `lookup` for IP literals,
 * so callers check those with `literalRefusal` before connecting.
 */
import dns from 'node:dns';
import { BlockList, isIP, type LookupFunction } from 'node:net';
import { ConfigError } from '../config/errors.js';

export interface AddressPolicyOptions {
  /** Off only for setups where every target is trusted. */
  enabled: boolean;
  /** CIDRs (`127.0.0.1/32`, `fd00::/8`), single addresses, or exact host names. */
  allowList: string[];
}

export interface AddressPolicy {
  isAllowedAddress(ip: string, hostname: string): boolean;
  /** For a URL host that is an IP literal: the refusal, or undefined when allowed or not a literal. */
  literalRefusal(hostname: string): SsrfRefusedError | undefined;
  /** Drop-in for `net.connect`'s `lookup`: resolves, then keeps only allowed addresses. */
  lookup: LookupFunction;
}

/**
 * Why every delivery to `targetUrl` will be refused, when its host is an IP
 * address the policy refuses; null otherwise (a host name is only judged
 * when connecting, by what it resolves to then).
 */
export function targetUrlRefusal(policy: Pick<AddressPolicy, 'literalRefusal'>, targetUrl: string): string | null {
  return policy.literalRefusal(new URL(targetUrl).hostname)?.message ?? null;
}

export interface RefusedAddress {
  address: string;
  /** Why, as a phrase: `a private address`. */
  reason: string;
}

export class SsrfRefusedError extends Error {
  readonly code = 'ESSRFREFUSED';
  constructor(
    readonly hostname: string,
    readonly refused: RefusedAddress[],
  ) {
    super(`SSRF guard: ${SsrfRefusedError.describe(hostname, refused)} (to send there, add it to delivery.allowList)`);
    this.name = 'SsrfRefusedError';
  }

  /**
   * An IP literal is named with its reason; a host name only with the kinds
   * of address it resolved to, never the addresses: the text reaches the
   * attempt history, where it must not map the internal network.
   */
  private static describe(hostname: string, refused: readonly RefusedAddress[]): string {
    const [only] = refused;
    if (refused.length === 1 && only?.address === hostname) return `${hostname} is ${only.reason}`;
    const kinds = [...new Set(refused.map(({ reason }) => reason.replace(/^a form of [^,]+, /, 'a form of ')))];
    return `${hostname} resolves only to addresses that may not be called (${kinds.join('; ')})`;
  }
}

/** A configuration problem, reported as every other one: the key, the value, what would do. */
export class InvalidAllowListEntryError extends ConfigError {
  override readonly name: string = 'InvalidAllowListEntryError';

  constructor(
    readonly entry: string,
    readonly expected: string,
  ) {
    super([{ path: 'delivery.allowList', got: JSON.stringify(entry), expected }]);
  }
}

export class InvalidTargetUrlError extends Error {
  readonly code = 'EINVALIDTARGETURL';
  constructor(
    /** The URL, shortened so a 100 kB value cannot flood a log line. */
    readonly url: string,
    readonly reason: string,
  ) {
    super(`invalid target URL: ${reason}`);
    this.name = 'InvalidTargetUrlError';
  }
}

/** Parses a webhook target URL, refusing what must never be called. */
export function validateTargetUrl(url: string, maxLength: number): URL {
  const shown = url.length > 200 ? `${url.slice(0, 200)}…` : url;
  if (url.length > maxLength) {
    throw new InvalidTargetUrlError(shown, `longer than ${maxLength} characters (${url.length})`);
  }
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new InvalidTargetUrlError(shown, 'not a valid absolute URL');
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new InvalidTargetUrlError(shown, `scheme ${parsed.protocol.slice(0, -1)} is not http or https`);
  }
  if (parsed.username !== '' || parsed.password !== '') {
    // Credentials in a URL end up in logs and listings; endpoints should use the signature instead.
    throw new InvalidTargetUrlError(parsed.host, 'credentials in the URL are not allowed');
  }
  return parsed;
}

type Range = [network: string, prefix: number];

/** Checked in order; the first match names the reason. */
const REFUSED_RANGES: { reason: string; ipv4?: Range[]; ipv6?: Range[] }[] = [
  { reason: 'an unspecified address', ipv4: [['0.0.0.0', 8]], ipv6: [['::', 128]] },
  { reason: 'a loopback address', ipv4: [['127.0.0.0', 8]], ipv6: [['::1', 128]] },
  // Deprecated forms (RFC 4291 IPv4-compatible, RFC 2765 IPv4-translated) that some stacks still route to the IPv4 inside.
  { reason: 'an IPv4-compatible address', ipv6: [['::', 96]] },
  { reason: 'an IPv4-translated address', ipv6: [['::ffff:0:0:0', 96]] },
  { reason: 'a local-use NAT64 address', ipv6: [['64:ff9b:1::', 48]] },
  { reason: 'a Teredo address', ipv6: [['2001::', 32]] },
  { reason: 'a documentation address', ipv4: [['192.0.2.0', 24], ['198.51.100.0', 24], ['203.0.113.0', 24]], ipv6: [['2001:db8::', 32], ['3fff::', 20]] },
  { reason: 'a discard-only address', ipv6: [['100::', 64]] },
  { reason: 'a 6to4 relay anycast address', ipv4: [['192.88.99.0', 24]] },
  { reason: 'a private address', ipv4: [['10.0.0.0', 8], ['172.16.0.0', 12], ['192.168.0.0', 16]] },
  { reason: 'a carrier-grade NAT address', ipv4: [['100.64.0.0', 10]] },
  { reason: 'a link-local address', ipv4: [['169.254.0.0', 16]], ipv6: [['fe80::', 10]] },
  { reason: 'a unique-local address', ipv6: [['fc00::', 7]] },
  { reason: 'a site-local address', ipv6: [['fec0::', 10]] },
  { reason: 'an IETF protocol address', ipv4: [['192.0.0.0', 24]] },
  { reason: 'a benchmarking address', ipv4: [['198.18.0.0', 15]], ipv6: [['2001:2::', 48]] },
  { reason: 'a multicast address', ipv4: [['224.0.0.0', 4]], ipv6: [['ff00::', 8]] },
  { reason: 'the broadcast address', ipv4: [['255.255.255.255', 32]] },
  { reason: 'a reserved address', ipv4: [['240.0.0.0', 4]] },
];

function blockListOf(ranges: { ipv4?: Range[]; ipv6?: Range[] }): BlockList {
  const list = new BlockList();
  for (const [network, prefix] of ranges.ipv4 ?? []) list.addSubnet(network, prefix, 'ipv4');
  for (const [network, prefix] of ranges.ipv6 ?? []) list.addSubnet(network, prefix, 'ipv6');
  return list;
}

const REFUSED_LISTS = REFUSED_RANGES.map(({ reason, ...ranges }) => ({ reason, list: blockListOf(ranges) }));

/** IPv6 forms that carry an IPv4 address the packets really go to. */
const EMBEDDING_RANGES = {
  mapped: blockListOf({ ipv6: [['::ffff:0:0', 96]] }),
  nat64: blockListOf({ ipv6: [['64:ff9b::', 96]] }),
  sixToFour: blockListOf({ ipv6: [['2002::', 16]] }),
};

function ipVersion(ip: string): 'ipv4' | 'ipv6' {
  return isIP(ip) === 4 ? 'ipv4' : 'ipv6';
}

/** The eight 16-bit groups of an IPv6 address. */
function ipv6Groups(ip: string): number[] {
  // The URL parser canonicalises (dotted-quad tails become hex), leaving only `::` to expand.
  const canonical = new URL(`http://[${ip}]/`).hostname.slice(1, -1);
  const [head = '', tail] = canonical.split('::');
  const groupsOf = (part: string) => (part === '' ? [] : part.split(':').map((group) => parseInt(group, 16)));
  if (tail === undefined) return groupsOf(head);
  const [before, after] = [groupsOf(head), groupsOf(tail)];
  return [...before, ...new Array<number>(8 - before.length - after.length).fill(0), ...after];
}

function ipv4FromGroups(high: number, low: number): string {
  return [high >> 8, high & 0xff, low >> 8, low & 0xff].join('.');
}

/** The IPv4 address inside an IPv4-mapped, NAT64 or 6to4 IPv6 address. */
export function embeddedIpv4(ip: string): string | undefined {
  if (isIP(ip) !== 6) return undefined;
  const groups = ipv6Groups(ip);
  const group = (index: number) => groups[index] ?? 0;
  if (EMBEDDING_RANGES.mapped.check(ip, 'ipv6') || EMBEDDING_RANGES.nat64.check(ip, 'ipv6')) {
    return ipv4FromGroups(group(6), group(7));
  }
  if (EMBEDDING_RANGES.sixToFour.check(ip, 'ipv6')) return ipv4FromGroups(group(1), group(2));
  return undefined;
}

/** A zone id (`fe80::1%eth0`) names an interface; it does not change the range. */
function withoutZone(ip: string): string {
  return ip.replace(/%.*$/, '');
}

/** Why an address must not be called, or undefined when it is a public address. */
export function refusalReason(address: string): string | undefined {
  const ip = withoutZone(address);
  if (isIP(ip) === 0) return 'not an IP address';
  // The embedded address decides: it is where the packets go.
  const inner = embeddedIpv4(ip);
  if (inner !== undefined) {
    const innerReason = refusalReason(inner);
    return innerReason === undefined ? undefined : `a form of ${inner}, ${innerReason}`;
  }
  const version = ipVersion(ip);
  return REFUSED_LISTS.find(({ list }) => list.check(ip, version))?.reason;
}

function normaliseHostname(hostname: string): string {
  return hostname.toLowerCase().replace(/\.$/, '');
}

function stripBrackets(hostname: string): string {
  return hostname.startsWith('[') && hostname.endsWith(']') ? hostname.slice(1, -1) : hostname;
}

function parseAllowList(entries: string[]): { addresses: BlockList; hostnames: Set<string> } {
  const addresses = new BlockList();
  const hostnames = new Set<string>();
  for (const entry of entries) {
    const [network = '', prefixText, ...rest] = entry.trim().split('/');
    const family = isIP(network);
    if (family === 0 && prefixText === undefined) {
      if (!/^[a-z0-9.-]+$/i.test(network)) throw new InvalidAllowListEntryError(entry, 'a CIDR or a host name');
      hostnames.add(normaliseHostname(network));
      continue;
    }
    const maxPrefix = family === 6 ? 128 : 32;
    const prefix = prefixText === undefined ? maxPrefix : Number(prefixText);
    const validPrefix = prefixText === undefined || (/^\d{1,3}$/.test(prefixText) && prefix <= maxPrefix);
    if (family === 0 || rest.length > 0 || !validPrefix) {
      throw new InvalidAllowListEntryError(entry, `a CIDR such as 10.0.0.0/8 or fd00::/8 (prefix 0–${maxPrefix})`);
    }
    addresses.addSubnet(network, prefix, family === 6 ? 'ipv6' : 'ipv4');
  }
  return { addresses, hostnames };
}

export function createAddressPolicy(options: AddressPolicyOptions): AddressPolicy {
  const allowed = parseAllowList(options.allowList);

  const isOnAllowList = (ip: string, hostname: string): boolean => {
    if (allowed.hostnames.has(normaliseHostname(hostname))) return true;
    if (allowed.addresses.check(ip, ipVersion(ip))) return true;
    const inner = embeddedIpv4(ip);
    return inner !== undefined && allowed.addresses.check(inner, 'ipv4');
  };

  /** The reason an address is refused for this host, or undefined when it may be called. */
  const refusalFor = (address: string, hostname: string): string | undefined => {
    if (!options.enabled) return undefined;
    const ip = withoutZone(address);
    if (isIP(ip) !== 0 && isOnAllowList(ip, hostname)) return undefined;
    return refusalReason(ip);
  };

  const lookup: LookupFunction = (hostname, lookupOptions, callback) => {
    dns.lookup(hostname, { ...lookupOptions, all: true }, (error, resolved) => {
      if (error) {
        callback(error, []);
        return;
      }
      const refused: RefusedAddress[] = [];
      const kept = resolved.filter(({ address }) => {
        const reason = refusalFor(address, hostname);
        if (reason !== undefined) refused.push({ address, reason });
        return reason === undefined;
      });
      const [first] = kept;
      if (first === undefined) callback(new SsrfRefusedError(hostname, refused), []);
      else if (lookupOptions.all === true) callback(null, kept);
      else callback(null, first.address, first.family);
    });
  };

  return {
    isAllowedAddress: (ip, hostname) => refusalFor(ip, hostname) === undefined,
    literalRefusal(hostname) {
      const ip = stripBrackets(hostname);
      if (isIP(ip) === 0) return undefined;
      const reason = refusalFor(ip, ip);
      return reason === undefined ? undefined : new SsrfRefusedError(ip, [{ address: ip, reason }]);
    },
    lookup,
  };
}
