// Real peers for interop tests: detection, suites that need them, and a throwaway Samba AD DC.
//
// In CI (CI=true) a suite whose peer is missing FAILS, naming the peer: CI installs every peer, so a
// missing one is a broken machine, never a reason to pass. Elsewhere the suite is skipped with a warning.
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { isMainThread } from 'node:worker_threads';
import { describe, it } from 'vitest';
import { PROJECT_ROOT } from './paths';

const execFileAsync = promisify(execFile);

/** Debian's python3 (python3-impacket). A pyenv python3 earlier on PATH cannot import impacket. */
export const IMPACKET_PYTHON = '/usr/bin/python3';
/** Impacket's example scripts (rpcdump.py, samrdump.py...) as Debian ships them. */
export const IMPACKET_EXAMPLES = '/usr/share/doc/python3-impacket/examples';

export const PEERS_DIR = path.join(PROJECT_ROOT, 'tools', 'peers');
export const SAMBA_SH = path.join(PEERS_DIR, 'samba.sh');
export const SAMR_CHECK_PY = path.join(PEERS_DIR, 'samr_check.py');

/** Where peers keep their state and pidfiles (tools/peers/cleanup.sh looks in the same place). */
export const PEERS_ROOT = process.env.DCOMLAB_PEERS_ROOT ?? path.join(os.tmpdir(), 'dcomlab-peers');

export type PeerName = 'tshark' | 'impacket' | 'samba' | 'netns' | 'iptables';

export interface PeerStatus {
  ok: boolean;
  why?: string;
}

export function isCI(): boolean {
  return /^(true|1)$/i.test(process.env.CI ?? '');
}

function isRoot(): boolean {
  return process.getuid?.() === 0;
}

/** Runs a command; returns null on success, else a one-line reason. */
function tryRun(cmd: string, args: string[], timeout = 20_000): string | null {
  try {
    execFileSync(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], timeout, encoding: 'utf8' });
    return null;
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string; status?: number | null };
    if (e.code === 'ENOENT') return `${cmd} not found`;
    const msg = (e.stderr ?? '').trim().split('\n').filter((l) => !l.startsWith('Running as user')).pop();
    return `${[cmd, ...args].join(' ')} failed: ${msg || e.message}`;
  }
}

/** `samba` lives in /usr/sbin, which is not on every user's PATH. */
function findSbin(name: string): string | null {
  for (const dir of [...(process.env.PATH ?? '').split(':'), '/usr/sbin', '/sbin']) {
    if (dir && existsSync(path.join(dir, name))) return path.join(dir, name);
  }
  return null;
}

function hasDsdbModules(): boolean {
  const libs = ['/usr/lib', '/usr/lib64'];
  for (const lib of libs) {
    if (existsSync(path.join(lib, 'samba', 'ldb', 'samba_dsdb.so'))) return true;
    if (!existsSync(lib)) continue;
    for (const d of readdirSync(lib)) {
      if (existsSync(path.join(lib, d, 'samba', 'ldb', 'samba_dsdb.so'))) return true;
    }
  }
  return false;
}

const checks: Record<PeerName, () => PeerStatus> = {
  tshark() {
    const why = tryRun('tshark', ['--version']);
    return why ? { ok: false, why: `${why} (Debian: apt-get install tshark)` } : { ok: true };
  },
  impacket() {
    if (!existsSync(IMPACKET_PYTHON)) return { ok: false, why: `${IMPACKET_PYTHON} not found` };
    const why = tryRun(IMPACKET_PYTHON, ['-c', 'import impacket.dcerpc.v5.epm, impacket.dcerpc.v5.samr']);
    if (why) return { ok: false, why: `${why} (Debian: apt-get install python3-impacket)` };
    if (!existsSync(impacketExample('rpcdump.py'))) {
      return { ok: false, why: `${impacketExample('rpcdump.py')} missing (an image that excludes /usr/share/doc? see .ci/run)` };
    }
    return { ok: true };
  },
  samba() {
    const install = '(Debian: apt-get install samba samba-ad-dc samba-ad-provision samba-dsdb-modules)';
    if (!findSbin('samba')) return { ok: false, why: `samba not found ${install}` };
    if (!findSbin('samba-tool')) return { ok: false, why: `samba-tool not found ${install}` };
    if (!existsSync('/usr/share/samba/setup/ad-schema')) return { ok: false, why: `AD schema missing: samba-ad-provision ${install}` };
    if (!hasDsdbModules()) return { ok: false, why: `samba_dsdb.so missing: samba-dsdb-modules ${install}` };
    if (!isRoot()) return { ok: false, why: 'an AD DC must run as root (it binds TCP port 135)' };
    return { ok: true };
  },
  netns() {
    if (!isRoot()) return { ok: false, why: 'network namespaces need root' };
    const name = `dcomlab-probe-${process.pid}`;
    const why = tryRun('ip', ['netns', 'add', name]);
    if (why) return { ok: false, why: `${why} (Debian: apt-get install iproute2; needs CAP_SYS_ADMIN)` };
    tryRun('ip', ['netns', 'delete', name]);
    return { ok: true };
  },
  iptables() {
    if (!isRoot()) return { ok: false, why: 'iptables needs root' };
    const why = tryRun('iptables', ['-w', '5', '-S']);
    return why ? { ok: false, why: `${why} (Debian: apt-get install iptables)` } : { ok: true };
  },
};

const cache = new Map<PeerName, PeerStatus>();

/** Is this peer usable here? Probed once per process. */
export function peer(name: PeerName): PeerStatus {
  let s = cache.get(name);
  if (!s) {
    const check = checks[name];
    s = check ? check() : { ok: false, why: `unknown peer ${String(name)}` };
    cache.set(name, s);
  }
  return s;
}

/**
 * `describe(title, fn)` when every named peer is available. Otherwise: in CI the suite fails with one
 * test naming the missing peers; elsewhere it is skipped with a console warning.
 */
export function describeWithPeers(names: PeerName[], title: string, fn: () => void): void {
  const missing = names.map((n) => ({ n, s: peer(n) })).filter(({ s }) => !s.ok);
  if (missing.length === 0) {
    describe(title, fn);
    return;
  }
  const reason = missing.map(({ n, s }) => `${n} not available: ${s.why ?? 'unknown reason'}`).join('; ');
  if (isCI()) {
    describe(title, () => {
      it(`needs peers: ${names.join(', ')}`, () => {
        throw new Error(`CI must have every peer installed (see .ci/run). ${reason}`);
      });
    });
  } else {
    console.warn(`skipped: ${title}: ${reason}`);
    describe.skip(title, fn);
  }
}

// ---------------------------------------------------------------------------------------------------
// Samba AD DC

export interface SambaCreds {
  domain: string;
  realm: string;
  netbiosName: string;
  host: string;
  admin: { user: string; password: string };
  user: { user: string; password: string };
  dir: string;
  smbConf: string;
}

export interface SambaPeer {
  host: string;
  creds: SambaCreds;
  /** The DC's directory (smb.conf, samba.log...). */
  dir: string;
  /** Stops the DC by PID once every startSamba() caller in this test file has called stop(). */
  stop(): Promise<void>;
}

/**
 * The process that runs this vitest run: the parent of a forked worker, or this process for thread
 * workers and plain node. One DC directory per run: it is provisioned once (~4 s) and later files only
 * start it again (~0.2 s). Directories of runs that are over are removed.
 */
function runOwnerPid(): number {
  return process.env.VITEST && isMainThread ? process.ppid : process.pid;
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function sambaSh(cmd: 'start' | 'stop', dir: string): Promise<string> {
  try {
    const { stdout } = await execFileAsync('bash', [SAMBA_SH, cmd, dir], {
      timeout: 240_000,
      maxBuffer: 16 * 1024 * 1024,
      encoding: 'utf8',
    });
    return stdout;
  } catch (err) {
    const e = err as Error & { stderr?: string };
    throw new Error(`tools/peers/samba.sh ${cmd} ${dir} failed: ${(e.stderr ?? '').trim() || e.message}`);
  }
}

/** Stops and removes DC directories left by vitest runs that are no longer running. Ours only. */
async function pruneOldRuns(current: string): Promise<void> {
  if (!existsSync(PEERS_ROOT)) return;
  for (const name of readdirSync(PEERS_ROOT)) {
    const m = /^samba-run(\d+)$/.exec(name);
    const dir = path.join(PEERS_ROOT, name);
    if (!m || dir === current || pidAlive(Number(m[1]))) continue;
    await sambaSh('stop', dir);
    rmSync(dir, { recursive: true, force: true });
  }
}

let active: { peer: Promise<SambaPeer>; refs: number } | undefined;

/**
 * Starts (or reuses) the lab's Samba AD DC on 127.0.0.1 (endpoint mapper on TCP 135, SAMR etc. on
 * ncacn_ip_tcp ports from 49152). Call `stop()` in afterAll.
 *
 * DCOMLAB_SAMBA_DIR=/some/dir uses that directory instead and leaves the DC running at stop(), which
 * saves the start-up when running one interop file over and over (stop it with tools/peers/samba.sh stop DIR).
 */
export async function startSamba(): Promise<SambaPeer> {
  if (active) {
    active.refs++;
    return active.peer;
  }
  const keep = process.env.DCOMLAB_SAMBA_DIR;
  const dir = keep ? path.resolve(keep) : path.join(PEERS_ROOT, `samba-run${runOwnerPid()}`);
  const state = { peer: undefined as unknown as Promise<SambaPeer>, refs: 1 };
  state.peer = (async () => {
    if (!keep) await pruneOldRuns(dir);
    const creds = JSON.parse(await sambaSh('start', dir)) as SambaCreds;
    return {
      host: creds.host,
      creds,
      dir,
      async stop() {
        if (active !== state) return;
        if (--state.refs > 0) return;
        active = undefined;
        if (!keep) await sambaSh('stop', dir);
      },
    };
  })();
  active = state;
  try {
    return await state.peer;
  } catch (err) {
    if (active === state) active = undefined;
    throw err;
  }
}

/** Path of one of Impacket's example scripts, to run with IMPACKET_PYTHON. */
export function impacketExample(script: string): string {
  return path.join(IMPACKET_EXAMPLES, script);
}
