/**
 * http.request's egress policy (docs/security.md "Outbound HTTP"): which hosts and addresses a request (and every
 * redirect hop) may reach. Addresses are checked after DNS resolution, in the lookup the connection itself uses, so a
 * name that resolves to a public address when checked and to a metadata address when connecting (DNS rebinding)
 * cannot slip through: the checked address is the one connected to.
 */
import dns from 'node:dns';
import net from 'node:net';
import type { EgressPolicy } from './policy.js';

/** Refused whatever the policy: link-local (cloud metadata services live there), unspecified, multicast, broadcast. */
const ALWAYS_DENIED = new net.BlockList();
ALWAYS_DENIED.addSubnet('169.254.0.0', 16, 'ipv4'); // link-local; AWS/GCP/Azure/OpenStack metadata at 169.254.169.254
ALWAYS_DENIED.addSubnet('0.0.0.0', 8, 'ipv4'); // "this network": 0.0.0.0 reaches the local host
ALWAYS_DENIED.addSubnet('224.0.0.0', 4, 'ipv4'); // multicast
ALWAYS_DENIED.addAddress('255.255.255.255', 'ipv4');
ALWAYS_DENIED.addAddress('100.100.100.200', 'ipv4'); // Alibaba Cloud metadata
ALWAYS_DENIED.addSubnet('fe80::', 10, 'ipv6'); // link-local
ALWAYS_DENIED.addAddress('fd00:ec2::254', 'ipv6'); // AWS metadata over IPv6
ALWAYS_DENIED.addAddress('::', 'ipv6');
ALWAYS_DENIED.addSubnet('ff00::', 8, 'ipv6'); // multicast

/** Refused with `http.denyPrivateNetworks: true`: loopback, private and shared address space. */
const PRIVATE = new net.BlockList();
PRIVATE.addSubnet('127.0.0.0', 8, 'ipv4');
PRIVATE.addSubnet('10.0.0.0', 8, 'ipv4');
PRIVATE.addSubnet('172.16.0.0', 12, 'ipv4');
PRIVATE.addSubnet('192.168.0.0', 16, 'ipv4');
PRIVATE.addSubnet('100.64.0.0', 10, 'ipv4'); // carrier-grade NAT / shared
PRIVATE.addSubnet('198.18.0.0', 15, 'ipv4');
PRIVATE.addAddress('::1', 'ipv6');
PRIVATE.addSubnet('fc00::', 7, 'ipv6'); // unique local

/** Thrown (through the request) when the policy refuses a host or address; never retried. */
export class EgressRefused extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'EgressRefused';
  }
}

/** Why the policy refuses `address` (an IP literal), or undefined when it may be connected to. */
export function addressProblem(address: string, policy: EgressPolicy): string | undefined {
  const family = net.isIP(address);
  if (family === 0) return `${address} is not an IP address`;
  const type = family === 4 ? 'ipv4' : 'ipv6';
  if (ALWAYS_DENIED.check(address, type)) return `${address} is a link-local, metadata, multicast or unspecified address (always refused)`;
  if (policy.denyPrivateNetworks && PRIVATE.check(address, type)) return `${address} is a loopback or private address (http.denyPrivateNetworks)`;
  return undefined;
}

/** Why the policy refuses the host of `url` by name (http.allowHosts), or undefined. */
export function hostProblem(url: URL, policy: EgressPolicy): string | undefined {
  const allow = policy.allowHosts;
  if (allow === undefined) return undefined;
  const host = bareHost(url);
  const ok = allow.some((entry) => (entry.startsWith('*.') ? host.endsWith(entry.slice(1)) : host === bareEntry(entry)));
  return ok ? undefined : `${host} is not in http.allowHosts`;
}

/** The URL's host without IPv6 brackets, lower-case. */
export function bareHost(url: URL): string {
  return url.hostname.replace(/^\[(.*)\]$/, '$1').toLowerCase();
}

function bareEntry(entry: string): string {
  return entry.replace(/^\[(.*)\]$/, '$1').toLowerCase();
}

/**
 * Checks a URL before connecting: its host against allowHosts, and an IP-literal host against the address rules (a
 * name is checked in `guardedLookup`, as it is resolved). Throws EgressRefused.
 */
export function checkUrl(url: URL, policy: EgressPolicy): void {
  const byName = hostProblem(url, policy);
  if (byName !== undefined) throw new EgressRefused(byName);
  const host = bareHost(url);
  if (net.isIP(host) !== 0) {
    const problem = addressProblem(host, policy);
    if (problem !== undefined) throw new EgressRefused(problem);
  }
}

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | dns.LookupAddress[], family?: number) => void;

/**
 * A `lookup` for http.request/net.connect: resolves the name, drops the addresses the policy refuses, and hands the
 * connection only permitted ones; when none is left the connection fails with EgressRefused.
 */
export function guardedLookup(policy: EgressPolicy) {
  return (hostname: string, options: dns.LookupOptions, callback: LookupCallback): void => {
    dns.lookup(hostname, { ...options, all: true }, (err, addresses) => {
      if (err) {
        callback(err, []);
        return;
      }
      const permitted = addresses.filter((a) => addressProblem(a.address, policy) === undefined);
      if (permitted.length === 0) {
        const first = addresses[0];
        const why = first === undefined ? `${hostname} has no address` : `${hostname} resolves to ${addressProblem(first.address, policy) ?? first.address}`;
        callback(new EgressRefused(why), []);
        return;
      }
      if (options.all) callback(null, permitted);
      else {
        const a = permitted[0] as dns.LookupAddress;
        callback(null, a.address, a.family);
      }
    });
  };
}
