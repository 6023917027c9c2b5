// Headless Chromium for tests of self-contained HTML pages: open a file, collect what went wrong
// (console errors, uncaught exceptions, failed loads), read the DOM, take a screenshot, read its pixels.
//
// Chromium is driven over the DevTools protocol on --remote-debugging-pipe: fd 3 carries our commands,
// fd 4 its answers and events, each a JSON text ended by a NUL byte. No WebSocket (Node 20 has none),
// no port, no dependency. One browser per page, in a fresh --user-data-dir that close() removes.
//
// Like the other peers (./peers.ts): in CI (CI=true) a missing chromium fails the suite, elsewhere the
// suite is skipped with a warning. DCOMLAB_CHROMIUM=/path/to/chromium picks another browser.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { accessSync, constants, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statfsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { pathToFileURL } from 'node:url';
import { inflateSync } from 'node:zlib';
import { describe, it } from 'vitest';
import { isCI, type PeerStatus } from './peers';

/** The flags every launch uses; openPage adds --remote-debugging-pipe and --user-data-dir. */
export const CHROMIUM_FLAGS: readonly string[] = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

const DEFAULT_CHROMIUM = '/usr/bin/chromium';
/** Default time limit of one protocol command, and of the page's load. */
const COMMAND_TIMEOUT_MS = 30_000;

/** The browser to use: $DCOMLAB_CHROMIUM, else /usr/bin/chromium; undefined if that file is not there. */
export function chromiumPath(): string | undefined {
  const p = process.env.DCOMLAB_CHROMIUM || DEFAULT_CHROMIUM;
  return existsSync(p) ? p : undefined;
}

/**
 * The executable to spawn for `p`. Debian's /usr/bin/chromium is a shell launcher that adds flags of its
 * own (from /etc/chromium.d: --enable-remote-extensions, --load-extension=..., --enable-gpu-rasterization)
 * and then `exec`s $LIBDIR/$APPNAME; we run that binary directly so the flags are exactly ours.
 */
export function chromiumExecutable(p: string): string {
  let head: string;
  try {
    head = readFileSync(p).subarray(0, 16_384).toString('latin1');
  } catch {
    return p;
  }
  if (!head.startsWith('#!')) return p;
  const app = /^APPNAME=(\S+)$/m.exec(head)?.[1];
  const lib = /^LIBDIR=(\S+)$/m.exec(head)?.[1];
  if (!app || !lib) return p;
  const bin = path.join(lib.replace(/\$\{?APPNAME\}?/g, app), app);
  return existsSync(bin) ? bin : p;
}

let status: (PeerStatus & { version?: string }) | undefined;

/** Is chromium usable here (`chromium --version` runs)? Probed once per process. */
export function chromium(): PeerStatus & { version?: string } {
  if (status) return status;
  const p = chromiumPath();
  const install = '(Debian: apt-get install chromium; or set DCOMLAB_CHROMIUM)';
  if (!p) {
    const wanted = process.env.DCOMLAB_CHROMIUM || DEFAULT_CHROMIUM;
    status = { ok: false, why: `${wanted} not found ${install}` };
    return status;
  }
  try {
    accessSync(p, constants.X_OK);
    const exe = chromiumExecutable(p);
    const version = execFileSync(exe, ['--version'], { encoding: 'utf8', timeout: 20_000, stdio: ['ignore', 'pipe', 'pipe'] }).trim();
    status = { ok: true, version };
  } catch (err) {
    status = { ok: false, why: `${p} --version failed: ${(err as Error).message.split('\n')[0]} ${install}` };
  }
  return status;
}

/**
 * `describe(title, fn)` when chromium is usable. Otherwise: in CI the suite fails with one test naming
 * the reason; elsewhere it is skipped with a console warning (the rule of describeWithPeers).
 */
export function describeWithChromium(title: string, fn: () => void): void {
  const s = chromium();
  if (s.ok) {
    describe(title, fn);
    return;
  }
  const reason = `chromium not available: ${s.why ?? 'unknown reason'}`;
  if (isCI()) {
    describe(title, () => {
      it('needs peer: chromium', () => {
        throw new Error(`CI must have every peer installed (see .ci/run). ${reason}`);
      });
    });
  } else {
    console.warn(`skipped: ${title}: ${reason}`);
    describe.skip(title, fn);
  }
}

// ---------------------------------------------------------------------------------------------------
// The DevTools protocol over the pipe

interface CdpMessage {
  id?: number;
  method?: string;
  params?: Record<string, unknown>;
  result?: Record<string, unknown>;
  error?: { code: number; message: string; data?: string };
  sessionId?: string;
}

class CdpPipe {
  private nextId = 1;
  private readonly pending = new Map<number, { method: string; resolve: (r: never) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }>();
  private readonly listeners = new Set<(m: CdpMessage) => void>();
  private chunks: Buffer[] = [];
  private closedWith: Error | undefined;

  constructor(private readonly out: Writable, inp: Readable) {
    inp.on('data', (chunk: Buffer) => this.receive(chunk));
    // A write after the browser is gone: the exit handler reports it, with the browser's stderr.
    out.on('error', () => undefined);
    inp.on('error', () => undefined);
  }

  private receive(chunk: Buffer): void {
    let start = 0;
    for (let nul = chunk.indexOf(0); nul !== -1; nul = chunk.indexOf(0, start)) {
      this.chunks.push(chunk.subarray(start, nul));
      const text = Buffer.concat(this.chunks).toString('utf8');
      this.chunks = [];
      start = nul + 1;
      this.dispatch(JSON.parse(text) as CdpMessage);
    }
    if (start < chunk.length) this.chunks.push(chunk.subarray(start));
  }

  private dispatch(m: CdpMessage): void {
    if (m.id !== undefined) {
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      clearTimeout(p.timer);
      if (m.error) p.reject(new Error(`${p.method}: ${m.error.message}${m.error.data ? ` (${m.error.data})` : ''}`));
      else p.resolve((m.result ?? {}) as never);
      return;
    }
    for (const l of this.listeners) l(m);
  }

  send<T = Record<string, unknown>>(method: string, params: object = {}, sessionId?: string, timeoutMs = COMMAND_TIMEOUT_MS): Promise<T> {
    if (this.closedWith) return Promise.reject(new Error(`${method}: ${this.closedWith.message}`));
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`${method}: no answer from chromium in ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, { method, resolve: resolve as (r: never) => void, reject, timer });
      this.out.write(JSON.stringify({ id, method, params, ...(sessionId ? { sessionId } : {}) }) + '\0');
    });
  }

  on(listener: (m: CdpMessage) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Fails every command in flight and every later one. */
  close(err: Error): void {
    this.closedWith ??= err;
    for (const [id, p] of this.pending) {
      this.pending.delete(id);
      clearTimeout(p.timer);
      p.reject(new Error(`${p.method}: ${err.message}`));
    }
  }
}

// ---------------------------------------------------------------------------------------------------
// Pages

export interface PageOptions {
  /** Viewport in CSS pixels (device scale factor 1: a CSS pixel is a screenshot pixel). Default 1280x800. */
  width?: number;
  height?: number;
  /** Time limit of the load, in ms. Default 30 s. */
  timeoutMs?: number;
}

export interface Page {
  /** The file:// URL that was opened. */
  url: string;
  /**
   * What went wrong in the page, collected until close(): console.error/console.assert messages,
   * uncaught exceptions and unhandled rejections, failed loads (network errors, HTTP status >= 400),
   * and the browser's other error-level log entries. A sound page leaves it empty.
   */
  errors: string[];
  /** Every URL the page asked for besides its own (data: URLs excluded). A self-contained page asks for none. */
  requests: string[];
  /** Runs `expr` in the page (a promise is awaited) and returns its value (JSON-like values only). */
  evaluate<T = unknown>(expr: string): Promise<T>;
  /** A PNG of the whole page (beyond the viewport), one pixel per CSS pixel. */
  screenshot(): Promise<Buffer>;
  /** Closes the browser (Browser.close, then SIGKILL by PID if it lingers) and removes its profile. */
  close(): Promise<void>;
}

interface RemoteObject {
  type: string;
  subtype?: string;
  value?: unknown;
  unserializableValue?: string;
  description?: string;
}

interface ExceptionDetails {
  text: string;
  url?: string;
  lineNumber?: number;
  columnNumber?: number;
  exception?: RemoteObject;
}

function describeValue(o: RemoteObject): string {
  if (o.unserializableValue !== undefined) return o.unserializableValue;
  if (o.type === 'string') return String(o.value);
  if (o.value !== undefined) return JSON.stringify(o.value);
  return o.description ?? o.type;
}

function describeException(d: ExceptionDetails): string {
  const what = d.exception?.description ?? (d.exception ? describeValue(d.exception) : d.text);
  const where = d.url ? ` (${d.url}:${(d.lineNumber ?? 0) + 1}:${(d.columnNumber ?? 0) + 1})` : '';
  // A thrown Error's description already ends with its stack, which names the place.
  return `${d.text}: ${what}${d.exception?.description?.includes('\n    at ') ? '' : where}`;
}

/** Chromium's own fallback when /dev/shm is small (Docker's 64 MB): its shared memory goes to /tmp. */
function smallDevShm(): boolean {
  try {
    const s = statfsSync('/dev/shm');
    return s.bavail * s.bsize < 1024 ** 3;
  } catch {
    return false;
  }
}

/** Browsers not yet closed, killed by PID if the process exits first (a test that never called close). */
const live = new Map<ChildProcess, string>();
let exitHookInstalled = false;

const PROFILE_PREFIX = 'dcomlab-chromium-';

/** Profiles of processes that died before they could remove them (SIGKILL): "dcomlab-chromium-<pid>-...". */
function pruneProfiles(): void {
  let names: string[];
  try {
    names = readdirSync(os.tmpdir());
  } catch {
    return;
  }
  for (const name of names) {
    const m = new RegExp(`^${PROFILE_PREFIX}(\\d+)-`).exec(name);
    if (!m || Number(m[1]) === process.pid) continue;
    try {
      process.kill(Number(m[1]), 0);
      continue;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EPERM') continue;
    }
    rmSync(path.join(os.tmpdir(), name), { recursive: true, force: true });
  }
}

interface Proc {
  pid: number;
  pgid: number;
  cmdline: string;
}

/** Living processes (zombies left out: an init that is slow to reap them must not make us wait). */
function processes(): Proc[] {
  const out: Proc[] = [];
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return out;
  }
  for (const e of entries) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = readFileSync(`/proc/${e}/stat`, 'latin1');
      // "pid (comm) state ppid pgrp ...": comm may hold spaces and parentheses.
      const [state, , pgrp] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (state === 'Z' || state === 'X') continue;
      out.push({ pid: Number(e), pgid: Number(pgrp), cmdline: readFileSync(`/proc/${e}/cmdline`, 'latin1') });
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/**
 * What is left of one browser: its process group (it leads one: detached), and its crash handlers,
 * which detach into sessions of their own but keep their crash database in our profile.
 */
function leftovers(pgid: number, profile: string): number[] {
  return processes()
    .filter((p) => p.pgid === pgid || (p.cmdline.includes('crashpad') && p.cmdline.includes(`--database=${profile}/`)))
    .map((p) => p.pid);
}

/** SIGKILL to the browser's process group, so its renderers and helpers go too. */
function killGroup(child: ChildProcess): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
}

/** Waits up to `ms` for what is left of the browser to end by itself, then SIGKILLs the rest by PID. */
async function reap(pgid: number, profile: string, ms: number): Promise<void> {
  const until = Date.now() + ms;
  let left = leftovers(pgid, profile);
  while (left.length > 0 && Date.now() < until) {
    await new Promise((r) => setTimeout(r, 20));
    left = leftovers(pgid, profile);
  }
  for (const pid of left) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone meanwhile
    }
  }
}

/**
 * Opens `file` in a fresh headless Chromium and waits for its load event (and one animation frame).
 * Throws if chromium is missing, the file cannot be opened, or the load times out; the browser is
 * then already stopped. Call close() in a finally.
 */
export async function openPage(file: string, opts: PageOptions = {}): Promise<Page> {
  const bin = chromiumPath();
  if (!bin) throw new Error(`chromium not available: ${chromium().why}`);
  const width = opts.width ?? 1280;
  const height = opts.height ?? 800;
  const timeoutMs = opts.timeoutMs ?? COMMAND_TIMEOUT_MS;
  const url = pathToFileURL(path.resolve(file)).href;

  pruneProfiles();
  const profile = mkdtempSync(path.join(os.tmpdir(), `${PROFILE_PREFIX}${process.pid}-`));
  const args = [...CHROMIUM_FLAGS, `--user-data-dir=${profile}`, '--remote-debugging-pipe'];
  if (smallDevShm()) args.push('--disable-dev-shm-usage');
  // Everything the browser writes goes inside the profile: its crash database and dconf (HOME, XDG),
  // its singleton socket (TMPDIR). close() removes the lot.
  const home = path.join(profile, 'home');
  const tmp = path.join(profile, 'tmp');
  mkdirSync(home);
  mkdirSync(tmp);
  const env = { ...process.env, HOME: home, XDG_CONFIG_HOME: path.join(home, '.config'), XDG_CACHE_HOME: path.join(home, '.cache'), TMPDIR: tmp };
  const child = spawn(chromiumExecutable(bin), args, { stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe'], detached: true, env });
  live.set(child, profile);
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.on('exit', () => {
      for (const [c, dir] of live) {
        killGroup(c);
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }

  let stderr = '';
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (s: string) => {
    stderr += s;
    // Keep the last 8 kB, in whole lines.
    if (stderr.length > 8_000) stderr = stderr.slice(stderr.indexOf('\n', stderr.length - 8_000) + 1);
  });
  const exited = new Promise<void>((resolve) => {
    child.once('exit', () => resolve());
  });
  const cdp = new CdpPipe(child.stdio[3] as Writable, child.stdio[4] as Readable);
  let closing = false;
  child.once('error', (err) => cdp.close(new Error(`cannot start ${bin}: ${err.message}`)));
  const exitHow = () => child.signalCode ?? `code ${child.exitCode}`;
  /** The last lines of chromium's stderr, without its D-Bus complaints (there is no bus in a test). */
  const stderrTail = () => {
    const lines = stderr.trim().split('\n').filter((l) => l && !/dbus/i.test(l)).slice(-5);
    return lines.length ? `:\n${lines.join('\n')}` : '';
  };
  child.once('exit', () => {
    cdp.close(new Error(closing ? 'browser closed' : `chromium exited (${exitHow()})${stderrTail()}`));
  });

  let closed: Promise<void> | undefined;
  const close = (): Promise<void> =>
    (closed ??= (async () => {
      closing = true;
      if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
        await cdp.send('Browser.close', {}, undefined, 2_000).catch(() => undefined);
        const t = setTimeout(() => killGroup(child), 3_000);
        await exited;
        clearTimeout(t);
      }
      // Its zygotes and crash handlers end a moment after the browser.
      if (child.pid !== undefined) await reap(child.pid, profile, 2_000);
      live.delete(child);
      rmSync(profile, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 });
    })());

  const errors: string[] = [];
  const requests: string[] = [];
  try {
    const { targetId } = await cdp.send<{ targetId: string }>('Target.createTarget', { url: 'about:blank' });
    const { sessionId } = await cdp.send<{ sessionId: string }>('Target.attachToTarget', { targetId, flatten: true });
    const send = <T = Record<string, unknown>>(method: string, params: object = {}, t?: number) => cdp.send<T>(method, params, sessionId, t);

    const requestUrls = new Map<string, string>();
    let loaded: () => void = () => undefined;
    let notLoaded: (err: Error) => void = () => undefined;
    const loadFired = new Promise<void>((resolve, reject) => {
      loaded = resolve;
      notLoaded = reject;
    });
    loadFired.catch(() => undefined); // awaited below; a failure before that must not go unhandled
    void exited.then(() => notLoaded(new Error(`chromium exited (${exitHow()}) before the load event of ${url}${stderrTail()}`)));
    cdp.on((m) => {
      if (m.sessionId !== sessionId) return;
      const p = (m.params ?? {}) as Record<string, any>;
      switch (m.method) {
        case 'Page.loadEventFired':
          loaded();
          break;
        case 'Runtime.consoleAPICalled':
          if (p.type === 'error' || p.type === 'assert') {
            const frame = p.stackTrace?.callFrames?.[0];
            const where = frame ? ` (${frame.url}:${frame.lineNumber + 1}:${frame.columnNumber + 1})` : '';
            errors.push(`console.${p.type}: ${(p.args as RemoteObject[]).map(describeValue).join(' ')}${where}`);
          }
          break;
        case 'Runtime.exceptionThrown':
          errors.push(describeException(p.exceptionDetails as ExceptionDetails));
          break;
        case 'Network.requestWillBeSent': {
          const u = String(p.request?.url ?? '');
          requestUrls.set(p.requestId, u);
          if (u !== url && !u.startsWith('data:')) requests.push(u);
          break;
        }
        case 'Network.responseReceived':
          if (p.response?.status >= 400) errors.push(`load failed: ${p.response.url}: HTTP ${p.response.status}`);
          break;
        case 'Network.loadingFailed':
          if (!p.canceled) errors.push(`load failed: ${requestUrls.get(p.requestId) ?? p.requestId}: ${p.errorText}${p.blockedReason ? ` (${p.blockedReason})` : ''}`);
          break;
        case 'Log.entryAdded':
          // Failed loads are reported above, with their URL, from the Network domain.
          if (p.entry?.level === 'error' && p.entry.source !== 'network') {
            errors.push(`${p.entry.source}: ${p.entry.text}${p.entry.url ? ` (${p.entry.url})` : ''}`);
          }
          break;
        case 'Inspector.targetCrashed':
          errors.push('the page crashed');
          notLoaded(new Error(`the page crashed while loading ${url}`));
          break;
      }
    });

    await Promise.all([send('Page.enable'), send('Runtime.enable'), send('Log.enable'), send('Network.enable'), send('Inspector.enable')]);
    await send('Emulation.setDeviceMetricsOverride', { width, height, deviceScaleFactor: 1, mobile: false });
    const nav = await send<{ errorText?: string }>('Page.navigate', { url });
    if (nav.errorText) throw new Error(`cannot open ${url}: ${nav.errorText}`);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      loadFired,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${url}: no load event in ${timeoutMs} ms`)), timeoutMs);
      }),
    ]).finally(() => clearTimeout(timer));

    const evaluate = async <T = unknown>(expr: string): Promise<T> => {
      const r = await send<{ result: RemoteObject; exceptionDetails?: ExceptionDetails }>('Runtime.evaluate', {
        expression: expr,
        returnByValue: true,
        awaitPromise: true,
      });
      if (r.exceptionDetails) throw new Error(`evaluate(${JSON.stringify(expr.slice(0, 80))}) threw: ${describeException(r.exceptionDetails)}`);
      return r.result.value as T;
    };
    // Let what the load event set off (timers, the first frame) run before anyone looks.
    await evaluate('new Promise((r) => requestAnimationFrame(() => setTimeout(r, 0)))');

    return {
      url,
      errors,
      requests,
      evaluate,
      async screenshot() {
        const m = await send<{ cssContentSize: { width: number; height: number } }>('Page.getLayoutMetrics');
        const clip = {
          x: 0,
          y: 0,
          width: Math.max(width, Math.ceil(m.cssContentSize.width)),
          height: Math.max(height, Math.ceil(m.cssContentSize.height)),
          scale: 1,
        };
        const r = await send<{ data: string }>('Page.captureScreenshot', { format: 'png', clip, captureBeyondViewport: true, fromSurface: true });
        return Buffer.from(r.data, 'base64');
      },
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}

// ---------------------------------------------------------------------------------------------------
// PNG pixels

export interface Pixels {
  width: number;
  height: number;
  /** [r, g, b, a], 0..255 each. */
  at(x: number, y: number): [number, number, number, number];
}

/**
 * Decodes a PNG as Chromium writes it: 8-bit greyscale, grey+alpha, RGB or RGBA, not interlaced,
 * any of the five row filters. Anything else is refused with a clear error.
 */
export function pngPixels(png: Buffer): Pixels {
  const SIG = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  if (png.length < 8 || !png.subarray(0, 8).equals(SIG)) throw new Error('not a PNG');
  let width = 0;
  let height = 0;
  let channels = 0;
  let colorType = -1;
  const idat: Buffer[] = [];
  for (let off = 8; off + 8 <= png.length; ) {
    const len = png.readUInt32BE(off);
    const type = png.toString('latin1', off + 4, off + 8);
    const data = png.subarray(off + 8, off + 8 + len);
    off += 12 + len;
    if (type === 'IHDR') {
      width = data.readUInt32BE(0);
      height = data.readUInt32BE(4);
      const depth = data[8];
      colorType = data[9]!;
      const interlace = data[12];
      channels = ({ 0: 1, 2: 3, 4: 2, 6: 4 } as Record<number, number>)[colorType] ?? 0;
      if (depth !== 8 || !channels || interlace !== 0) {
        throw new Error(`unsupported PNG: bit depth ${depth}, colour type ${colorType}, interlace ${interlace}`);
      }
    } else if (type === 'IDAT') {
      idat.push(data);
    } else if (type === 'IEND') {
      break;
    }
  }
  if (!channels) throw new Error('PNG without IHDR');
  const raw = inflateSync(Buffer.concat(idat));
  const stride = width * channels;
  if (raw.length < height * (stride + 1)) throw new Error(`PNG data too short: ${raw.length} bytes for ${width}x${height}`);
  const px = Buffer.alloc(height * stride);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)];
    const src = y * (stride + 1) + 1;
    const row = y * stride;
    const prev = row - stride;
    for (let i = 0; i < stride; i++) {
      const a = i >= channels ? px[row + i - channels]! : 0;
      const b = y > 0 ? px[prev + i]! : 0;
      const c = y > 0 && i >= channels ? px[prev + i - channels]! : 0;
      let pred: number;
      switch (filter) {
        case 0: pred = 0; break;
        case 1: pred = a; break;
        case 2: pred = b; break;
        case 3: pred = (a + b) >> 1; break;
        case 4: {
          const p = a + b - c;
          const pa = Math.abs(p - a);
          const pb = Math.abs(p - b);
          const pc = Math.abs(p - c);
          pred = pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
          break;
        }
        default: throw new Error(`bad PNG filter ${filter} on row ${y}`);
      }
      px[row + i] = (raw[src + i]! + pred) & 0xff;
    }
  }
  return {
    width,
    height,
    at(x, y) {
      if (!Number.isInteger(x) || !Number.isInteger(y) || x < 0 || y < 0 || x >= width || y >= height) {
        throw new RangeError(`pixel (${x}, ${y}) is outside the ${width}x${height} image`);
      }
      const o = y * stride + x * channels;
      switch (colorType) {
        case 0: return [px[o]!, px[o]!, px[o]!, 255];
        case 4: return [px[o]!, px[o]!, px[o]!, px[o + 1]!];
        case 2: return [px[o]!, px[o + 1]!, px[o + 2]!, 255];
        default: return [px[o]!, px[o + 1]!, px[o + 2]!, px[o + 3]!];
      }
    },
  };
}
