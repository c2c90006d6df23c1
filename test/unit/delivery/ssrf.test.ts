import type { LookupAddress } from 'node:dns';
import { describe, expect, it } from 'vitest';
import { asOperatorError } from '../../../src/command-line.js';
import { EXIT_STATUS } from '../../../src/common/operator-error.js';
import {
  createAddressPolicy,
  embeddedIpv4,
  InvalidAllowListEntryError,
  InvalidTargetUrlError,
  refusalReason,
  SsrfRefusedError,
  targetUrlRefusal,
  validateTargetUrl,
  type AddressPolicy,
} from '../../../src/delivery/ssrf.js';

const guarded = createAddressPolicy({ enabled: true, allowList: [] });

describe('refusalReason', () => {
  it.each([
    ['0.0.0.0', 'an unspecified address'],
    ['0.255.1.2', 'an unspecified address'],
    ['10.0.0.1', 'a private address'],
    ['10.255.255.255', 'a private address'],
    ['100.64.0.1', 'a carrier-grade NAT address'],
    ['100.127.255.254', 'a carrier-grade NAT address'],
    ['127.0.0.1', 'a loopback address'],
    ['127.255.0.9', 'a loopback address'],
    ['169.254.169.254', 'a link-local address'],
    ['172.16.0.1', 'a private address'],
    ['172.31.255.255', 'a private address'],
    ['192.0.0.8', 'an IETF protocol address'],
    ['192.168.1.1', 'a private address'],
    ['198.18.0.1', 'a benchmarking address'],
    ['198.19.255.255', 'a benchmarking address'],
    ['224.0.0.1', 'a multicast address'],
    ['239.255.255.250', 'a multicast address'],
    ['240.0.0.1', 'a reserved address'],
    ['255.255.255.255', 'the broadcast address'],
    ['::', 'an unspecified address'],
    ['::1', 'a loopback address'],
    ['fc00::1', 'a unique-local address'],
    ['fd12:3456::1', 'a unique-local address'],
    ['fe80::1', 'a link-local address'],
    ['febf::1', 'a link-local address'],
    ['fec0::1', 'a site-local address'],
    ['ff02::1', 'a multicast address'],
    ['::a00:1', 'an IPv4-compatible address'],
    ['::8.8.8.8', 'an IPv4-compatible address'],
    ['::ffff:0:7f00:1', 'an IPv4-translated address'],
    ['::ffff:0:808:808', 'an IPv4-translated address'],
    ['64:ff9b:1::a00:1', 'a local-use NAT64 address'],
    ['64:ff9b:1:ffff::1', 'a local-use NAT64 address'],
    ['2001:0:4136:e378:8000:63bf:3fff:fdd2', 'a Teredo address'],
    ['2001::1', 'a Teredo address'],
    ['192.0.2.1', 'a documentation address'],
    ['198.51.100.7', 'a documentation address'],
    ['203.0.113.255', 'a documentation address'],
    ['2001:db8::1', 'a documentation address'],
    ['3fff::1', 'a documentation address'],
    ['100::1', 'a discard-only address'],
    ['2001:2::1', 'a benchmarking address'],
    ['192.88.99.1', 'a 6to4 relay anycast address'],
  ])('refuses %s as %s', (ip, reason) => {
    expect(refusalReason(ip)).toBe(reason);
  });

  it.each(['8.8.8.8', '1.1.1.1', '100.63.255.255', '100.128.0.0', '172.15.255.255', '172.32.0.0', '192.0.1.1', '198.17.255.255', '198.20.0.0', '223.255.255.255', '2606:4700::1111', '2001:4860:4860::8888', '::ffff:8.8.8.8', '64:ff9b::808:808', '2002:808:808::1'])(
    'lets the public address %s through',
    (ip) => {
      expect(refusalReason(ip)).toBeUndefined();
    },
  );

  it.each([
    ['::ffff:127.0.0.1', '127.0.0.1', 'a loopback address'],
    ['::ffff:7f00:1', '127.0.0.1', 'a loopback address'],
    ['::FFFF:A9FE:A9FE', '169.254.169.254', 'a link-local address'],
    ['::ffff:10.1.2.3', '10.1.2.3', 'a private address'],
    ['64:ff9b::a00:1', '10.0.0.1', 'a private address'],
    ['64:ff9b::127.0.0.1', '127.0.0.1', 'a loopback address'],
    ['2002:c0a8:101::1', '192.168.1.1', 'a private address'],
    ['2002:7f00:1::', '127.0.0.1', 'a loopback address'],
  ])('unwraps %s to %s and refuses it', (ip, inner, reason) => {
    expect(embeddedIpv4(ip)).toBe(inner);
    expect(refusalReason(ip)).toBe(`a form of ${inner}, ${reason}`);
  });

  it('refuses what is not an IP address', () => {
    expect(refusalReason('localhost')).toBe('not an IP address');
  });
});

describe('createAddressPolicy', () => {
  it('refuses internal addresses and allows public ones', () => {
    expect(guarded.isAllowedAddress('10.0.0.1', 'internal.example')).toBe(false);
    expect(guarded.isAllowedAddress('fe80::1%eth0', 'internal.example')).toBe(false);
    expect(refusalReason('fe80::1%eth0')).toBe('a link-local address');
    expect(guarded.isAllowedAddress('93.184.216.34', 'example.com')).toBe(true);
  });

  it('allows everything when disabled', () => {
    const open = createAddressPolicy({ enabled: false, allowList: [] });
    expect(open.isAllowedAddress('127.0.0.1', 'localhost')).toBe(true);
    expect(open.literalRefusal('10.0.0.1')).toBeUndefined();
  });

  it('opens CIDRs from the allow-list, including IPv4-mapped forms of them', () => {
    const policy = createAddressPolicy({ enabled: true, allowList: ['10.1.0.0/16', 'fd00::/8', '192.168.0.7'] });
    expect(policy.isAllowedAddress('10.1.200.3', 'svc')).toBe(true);
    expect(policy.isAllowedAddress('::ffff:10.1.200.3', 'svc')).toBe(true);
    expect(policy.isAllowedAddress('10.2.0.1', 'svc')).toBe(false);
    expect(policy.isAllowedAddress('fd00::5', 'svc')).toBe(true);
    expect(policy.isAllowedAddress('fc00::5', 'svc')).toBe(false);
    expect(policy.isAllowedAddress('192.168.0.7', 'svc')).toBe(true);
    expect(policy.isAllowedAddress('192.168.0.8', 'svc')).toBe(false);
  });

  it('opens host names from the allow-list, whatever they resolve to, ignoring case and a final dot', () => {
    const policy = createAddressPolicy({ enabled: true, allowList: ['Hooks.Internal'] });
    expect(policy.isAllowedAddress('10.9.9.9', 'hooks.internal')).toBe(true);
    expect(policy.isAllowedAddress('10.9.9.9', 'HOOKS.INTERNAL.')).toBe(true);
    expect(policy.isAllowedAddress('10.9.9.9', 'other.internal')).toBe(false);
  });

  it.each(['10.0.0.0/33', '10.0.0.0/', '10.0.0.0/-1', '::/129', 'not a host/8', '10.0.0.0/8/1', '10.0.0.0/x', 'bad_host!'])('rejects the allow-list entry %s', (entry) => {
    expect(() => createAddressPolicy({ enabled: true, allowList: [entry] })).toThrow(InvalidAllowListEntryError);
  });

  it('reports a bad allow-list entry as an operator error naming the key, never as a stack trace', () => {
    let thrown: unknown;
    try {
      createAddressPolicy({ enabled: true, allowList: ['10.0.0.0/33'] });
    } catch (error) {
      thrown = error;
    }
    expect(asOperatorError(thrown)).toBe(thrown);
    expect(thrown).toMatchObject({ code: 'CONFIG_INVALID', exitStatus: EXIT_STATUS.config });
    expect((thrown as Error).message).toMatch(/^invalid configuration \(1 problem\):\ndelivery\.allowList: got "10\.0\.0\.0\/33" — expected a CIDR/);
  });

  it('checks IP literals from URL host names, brackets included, and ignores names', () => {
    expect(guarded.literalRefusal('[::ffff:7f00:1]')?.message).toBe('SSRF guard: ::ffff:7f00:1 is a form of 127.0.0.1, a loopback address (to send there, add it to delivery.allowList)');
    expect(guarded.literalRefusal('10.0.0.1')?.message).toBe('SSRF guard: 10.0.0.1 is a private address (to send there, add it to delivery.allowList)');
    expect(guarded.literalRefusal('8.8.8.8')).toBeUndefined();
    expect(guarded.literalRefusal('example.com')).toBeUndefined();
  });

  it("tells a target URL's refusal before any delivery, when its host is an address", () => {
    expect(targetUrlRefusal(guarded, 'http://127.0.0.1:3000/hook')).toBe(
      'SSRF guard: 127.0.0.1 is a loopback address (to send there, add it to delivery.allowList)',
    );
    expect(targetUrlRefusal(guarded, 'http://[::1]/hook')).toMatch(/^SSRF guard: ::1 is a loopback address/);
    expect(targetUrlRefusal(createAddressPolicy({ enabled: true, allowList: ['127.0.0.1/32'] }), 'http://127.0.0.1:3000/hook')).toBeNull();
    expect(targetUrlRefusal(guarded, 'https://example.com/hook')).toBeNull();
  });
});

type LookupOutcome = { error: NodeJS.ErrnoException | null; address: string | LookupAddress[]; family: number | undefined };

function lookupWith(policy: AddressPolicy, hostname: string, all: boolean): Promise<LookupOutcome> {
  return new Promise((resolve) => {
    policy.lookup(hostname, { all }, (error, address, family) => resolve({ error, address, family }));
  });
}

// `localhost` resolves through the hosts file, so these tests need no network.
describe('policy.lookup', () => {
  it('answers `all: true` with an array of the allowed addresses', async () => {
    const policy = createAddressPolicy({ enabled: true, allowList: ['127.0.0.0/8'] });
    const { error, address } = await lookupWith(policy, 'localhost', true);
    expect(error).toBeNull();
    expect(Array.isArray(address)).toBe(true);
    // ::1 (when the hosts file lists it) is not on the allow-list and must have been dropped.
    expect(address).toContainEqual({ address: '127.0.0.1', family: 4 });
    expect((address as LookupAddress[]).every((entry) => entry.address.startsWith('127.'))).toBe(true);
  });

  it('answers the single-address form with an address and a family', async () => {
    const policy = createAddressPolicy({ enabled: true, allowList: ['127.0.0.0/8'] });
    const { error, address, family } = await lookupWith(policy, 'localhost', false);
    expect(error).toBeNull();
    expect(address).toBe('127.0.0.1');
    expect(family).toBe(4);
  });

  it('allows whatever an allow-listed name resolves to', async () => {
    const policy = createAddressPolicy({ enabled: true, allowList: ['LOCALHOST'] });
    const { error, address } = await lookupWith(policy, 'localhost', true);
    expect(error).toBeNull();
    expect(address).toContainEqual({ address: '127.0.0.1', family: 4 });
  });

  it('calls back with SsrfRefusedError naming every refused address when none is left', async () => {
    const { error } = await lookupWith(guarded, 'localhost', true);
    expect(error).toBeInstanceOf(SsrfRefusedError);
    const refused = error as SsrfRefusedError;
    expect(refused.code).toBe('ESSRFREFUSED');
    expect(refused.hostname).toBe('localhost');
    expect(refused.refused).toContainEqual({ address: '127.0.0.1', reason: 'a loopback address' });
    expect(refused.message).toBe('SSRF guard: localhost resolves only to addresses that may not be called (a loopback address) (to send there, add it to delivery.allowList)');
  });

  it('never names the internal addresses a host name resolves to', () => {
    const error = new SsrfRefusedError('db.internal', [
      { address: '10.20.30.40', reason: 'a private address' },
      { address: '::ffff:a14:1e28', reason: 'a form of 10.20.30.40, a private address' },
    ]);
    expect(error.message).toBe('SSRF guard: db.internal resolves only to addresses that may not be called (a private address; a form of a private address) (to send there, add it to delivery.allowList)');
    expect(error.message).not.toMatch(/10\.20|a14/);
  });

});

describe('validateTargetUrl', () => {
  it('returns the parsed URL for http and https', () => {
    expect(validateTargetUrl('https://hooks.example.com/in?x=1', 2048).host).toBe('hooks.example.com');
    expect(validateTargetUrl('http://0x7f.1:8080/', 2048).hostname).toBe('127.0.0.1');
  });

  it.each([
    ['ftp://example.com/file', /scheme ftp is not http or https/],
    ['file:///etc/passwd', /scheme file is not http or https/],
    ['not a url', /not a valid absolute URL/],
    ['/relative/path', /not a valid absolute URL/],
    ['https://user:secret@example.com/', /credentials in the URL/],
    [`https://example.com/${'a'.repeat(2049 - 20)}`, /longer than 2048 characters \(2049\)/],
  ])('refuses %s', (url, reason) => {
    expect(() => validateTargetUrl(url, 2048)).toThrow(InvalidTargetUrlError);
    expect(() => validateTargetUrl(url, 2048)).toThrow(reason);
  });

  it('accepts a URL of exactly the maximum length', () => {
    const url = `https://example.com/${'a'.repeat(2048 - 20)}`;
    expect(url).toHaveLength(2048);
    expect(validateTargetUrl(url, 2048).protocol).toBe('https:');
  });

  it('keeps credentials out of the error it throws', () => {
    let thrown: unknown;
    try {
      validateTargetUrl('https://user:secret@example.com/', 2048);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(InvalidTargetUrlError);
    expect(JSON.stringify({ ...(thrown as InvalidTargetUrlError), message: (thrown as Error).message })).not.toContain('secret');
  });
});
