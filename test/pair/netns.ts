import { execFileSync } from 'node:child_process';
import { errorMessage } from '../../daemon/errors.js';

/**
 * Two network namespaces, one per device of a pair, wired as a site is: a LAN cable between the
 * two devices (a veth pair, ns A ↔ ns B) and, for each device, an uplink to the broker (a veth
 * pair to the test's own namespace, where mosquitto and the hub subscriber run). Cutting a link
 * sets both ends of its veth down, as a pulled cable: datagrams and TCP segments go nowhere.
 * Needs root and iproute2's `ip`; the namespaces and veths are removed when the test ends.
 */
export interface PairNetwork {
  /** Namespace names, for `ip netns exec`. */
  readonly ns: { a: string; b: string };
  /** Each device's address on the LAN cable (heartbeats). */
  readonly lan: { a: string; b: string };
  /** The broker's address as each device reaches it (the host end of its uplink). */
  readonly broker: { a: string; b: string };
  cutLan(): void;
  healLan(): void;
  cutUplink(device: 'a' | 'b'): void;
  healUplink(device: 'a' | 'b'): void;
}

function ip(args: string[]): void {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

/**
 * Fails (it does not skip) when the machine cannot make namespaces: the pair's tests on separate
 * network stacks are the acceptance test, and a CI without them must say so.
 */
export function requireNetns(): void {
  try {
    execFileSync('ip', ['-V'], { stdio: 'ignore' });
  } catch (err) {
    throw new Error(`precondition: this test needs iproute2's \`ip\` on PATH (apt-get install iproute2); running it failed: ${errorMessage(err)}`);
  }
  if (process.getuid?.() !== 0) {
    throw new Error(`precondition: this test creates network namespaces and veth pairs and must run as root (uid ${String(process.getuid?.())})`);
  }
}

export function createPairNetwork(t: { after(fn: () => Promise<void> | void): void }): PairNetwork {
  requireNetns();
  // Names and subnets per test process, so that a leftover of a crashed run does not collide;
  // interface names stay within the kernel's 15 characters.
  const id = process.pid % 10_000;
  const net = 16 + ((process.pid >> 2) % 200);
  const ns = { a: `vigil-${id}-a`, b: `vigil-${id}-b` };
  const dev = { lanA: `vl${id}a`, lanB: `vl${id}b`, upA: `vu${id}a`, hostA: `vh${id}a`, upB: `vu${id}b`, hostB: `vh${id}b` };
  const lan = { a: `10.${net}.1.1`, b: `10.${net}.1.2` };
  const broker = { a: `10.${net}.2.1`, b: `10.${net}.3.1` };
  const cleanup = (): void => {
    for (const name of [dev.hostA, dev.hostB]) {
      try { ip(['link', 'del', name]); } catch { /* gone with its namespace, or never made */ }
    }
    for (const name of [ns.a, ns.b]) {
      try { ip(['netns', 'del', name]); } catch { /* never made */ }
    }
  };
  t.after(cleanup);
  try {
    for (const name of [ns.a, ns.b]) {
      ip(['netns', 'add', name]);
      ip(['-n', name, 'link', 'set', 'lo', 'up']);
    }
    ip(['link', 'add', dev.lanA, 'netns', ns.a, 'type', 'veth', 'peer', 'name', dev.lanB, 'netns', ns.b]);
    ip(['-n', ns.a, 'addr', 'add', `${lan.a}/30`, 'dev', dev.lanA]);
    ip(['-n', ns.b, 'addr', 'add', `${lan.b}/30`, 'dev', dev.lanB]);
    for (const [side, up, host, hostIp, devIp] of [['a', dev.upA, dev.hostA, broker.a, `10.${net}.2.2`], ['b', dev.upB, dev.hostB, broker.b, `10.${net}.3.2`]] as const) {
      ip(['link', 'add', host, 'type', 'veth', 'peer', 'name', up, 'netns', ns[side]]);
      ip(['addr', 'add', `${hostIp}/30`, 'dev', host]);
      ip(['-n', ns[side], 'addr', 'add', `${devIp}/30`, 'dev', up]);
      ip(['link', 'set', host, 'up']);
      ip(['-n', ns[side], 'link', 'set', up, 'up']);
    }
    ip(['-n', ns.a, 'link', 'set', dev.lanA, 'up']);
    ip(['-n', ns.b, 'link', 'set', dev.lanB, 'up']);
  } catch (err) {
    cleanup();
    throw new Error(`precondition: could not build the pair's network namespaces (ip netns, veth): ${errorMessage(err)}`);
  }
  const setLan = (state: 'up' | 'down'): void => {
    ip(['-n', ns.a, 'link', 'set', dev.lanA, state]);
    ip(['-n', ns.b, 'link', 'set', dev.lanB, state]);
  };
  const setUplink = (side: 'a' | 'b', state: 'up' | 'down'): void => {
    ip(['link', 'set', side === 'a' ? dev.hostA : dev.hostB, state]);
    ip(['-n', ns[side], 'link', 'set', side === 'a' ? dev.upA : dev.upB, state]);
  };
  return {
    ns, lan, broker,
    cutLan: () => setLan('down'),
    healLan: () => setLan('up'),
    cutUplink: (side) => setUplink(side, 'down'),
    healUplink: (side) => setUplink(side, 'up'),
  };
}
