// Capturing a scenario's traffic with dumpcap (Wireshark's capture engine), as pcapng files tshark
// dissects (and, given the lab's password, decrypts). The loopback topology captures `lo` with a
// filter for the two boxes' addresses (withCapture); the netns topology captures each box's veth
// inside its namespace (startCapture with `netns`, see netns.ts). dumpcap is started as a child
// process, awaited until it really captures, and stopped by its PID (SIGTERM: it flushes and exits).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { DcomlabError } from '../base/errors';

/** dumpcap is missing, could not open the interface, or did not stop: the message says which. */
export class CaptureToolError extends DcomlabError {
  override name = 'CaptureToolError';
}

export interface CaptureOptions {
  /** The interface (default lo). */
  iface?: string;
  /** A BPF capture filter. */
  filter?: string;
  /** Run dumpcap inside this network namespace (`ip netns exec NS dumpcap ...`). */
  netns?: string;
  /** How long to wait for dumpcap to start capturing (default 10 s). */
  startTimeoutMs?: number;
}

export interface RunningCapture {
  file: string;
  pid: number;
  /** The command line that runs dumpcap. */
  command: string[];
  /** Is dumpcap still running? */
  running(): boolean;
  /** Stop dumpcap (SIGTERM, then SIGKILL after 5 s) and wait until it exited; resolves to the file. */
  stop(): Promise<string>;
}

const DUMPCAP = 'dumpcap';
/** How long to let dumpcap read its last packets before it is told to stop. */
const SETTLE_MS = 600;
const INSTALL_HINT = 'Debian: apt-get install tshark (dumpcap comes with wireshark-common)';

/** A file name made of the scenario's name (nothing that could leave DIR). */
function safeName(name: string): string {
  return name.replace(/[^A-Za-z0-9._-]/g, '_');
}

/** Where `withCapture(dir, name, ...)` writes. */
export function loopbackCaptureFile(dir: string, name: string): string {
  return path.join(path.resolve(dir), `${safeName(name)}.pcapng`);
}

/**
 * Start dumpcap writing `file` (pcapng) and resolve once it is capturing (it prints "File: ..." on
 * stderr after the interface is open and the filter attached). Throws CaptureToolError when dumpcap
 * (or ip, for a namespace) is missing, or dumpcap exits before it captures.
 */
export async function startCapture(file: string, o: CaptureOptions = {}): Promise<RunningCapture> {
  const iface = o.iface ?? 'lo';
  const dumpcapArgs = ['-q', '-i', iface, ...(o.filter ? ['-f', o.filter] : []), '-w', file];
  const command = o.netns ? ['ip', 'netns', 'exec', o.netns, DUMPCAP, ...dumpcapArgs] : [DUMPCAP, ...dumpcapArgs];
  mkdirSync(path.dirname(file), { recursive: true });
  rmSync(file, { force: true });
  // cwd /: dumpcap as root drops to no other user, but a cwd it cannot read makes it complain.
  const child = spawn(command[0]!, command.slice(1), { cwd: '/', stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
  child.stderr!.setEncoding('utf8');
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new CaptureToolError(`dumpcap did not start capturing on ${iface} within ${(o.startTimeoutMs ?? 10_000) / 1000} s: ${stderr.trim()}`));
    }, o.startTimeoutMs ?? 10_000);
    child.once('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(e.code === 'ENOENT'
        ? new CaptureToolError(`${command[0]} is not installed, so --capture cannot record the scenario (${command[0] === 'ip' ? 'Debian: apt-get install iproute2' : INSTALL_HINT})`)
        : new CaptureToolError(`cannot run ${command.join(' ')}: ${e.message}`));
    });
    child.stderr!.on('data', (d: string) => {
      stderr += d;
      if (/^File: /m.test(stderr)) {
        clearTimeout(timer);
        resolve();
      }
    });
    void exited.then(({ code, signal }) => {
      clearTimeout(timer);
      const text = stderr.split('\n').filter((l) => l && !l.startsWith('Running as user')).join('; ');
      // `ip netns exec` execs dumpcap: "exec of "dumpcap" failed: No such file or directory".
      if (/exec of "dumpcap" failed: No such file/.test(text)) reject(new CaptureToolError(`dumpcap is not installed, so --capture cannot record the scenario (${INSTALL_HINT})`));
      else reject(new CaptureToolError(`dumpcap exited (${signal ?? `status ${code}`}) before capturing on ${iface}${o.netns ? ` in ${o.netns}` : ''}: ${text || 'no message'}`));
    });
  });
  return {
    file, pid: child.pid!, command,
    running: () => child.exitCode === null && child.signalCode === null,
    stop: () => stopCapture(child, exited, file),
  };
}

async function stopCapture(child: ChildProcess, exited: Promise<unknown>, file: string): Promise<string> {
  if (child.exitCode !== null || child.signalCode !== null) return file;
  // libpcap hands packets over in blocks that are retired when full or after the read timeout
  // (dumpcap: 250 ms), and dumpcap stops on SIGTERM without waiting for the open block: without this
  // pause, the last quarter second of traffic (often all of a short scenario) is missing from the file.
  await new Promise((r) => setTimeout(r, SETTLE_MS));
  process.kill(child.pid!, 'SIGTERM');
  const killed = setTimeout(() => {
    if (child.exitCode === null && child.signalCode === null) process.kill(child.pid!, 'SIGKILL');
  }, 5000);
  await exited;
  clearTimeout(killed);
  return file;
}

/**
 * Run `fn` while dumpcap captures the loopback traffic between `hosts` into DIR/NAME.pcapng;
 * dumpcap is stopped (by PID) and has exited, so the file is complete, before this resolves or
 * rethrows fn's error.
 */
export async function withCapture<T>(dir: string, name: string, hosts: string[], fn: () => Promise<T>): Promise<T> {
  const filter = hosts.map((h) => `host ${h}`).join(' and ');
  const cap = await startCapture(loopbackCaptureFile(dir, name), { iface: 'lo', ...(filter ? { filter } : {}) });
  try {
    return await fn();
  } finally {
    await cap.stop();
  }
}
