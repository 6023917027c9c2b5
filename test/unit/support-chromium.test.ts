// The headless Chromium harness (test/support/chromium.ts) can both pass and fail a page: a sound page
// leaves no errors and draws what its DOM says; console errors, uncaught exceptions and failed loads
// are each caught; the browser and its profile are gone after close(). Loopback traffic only.
import { readdirSync, readFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { deflateSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromium, describeWithChromium, openPage, pngPixels, type Page } from '../support/chromium';

const dir = mkdtempSync(path.join(os.tmpdir(), 'dcomlab-chromium-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function html(name: string, body: string): string {
  const file = path.join(dir, name);
  writeFileSync(file, `<!doctype html>\n<html><head><meta charset="utf-8"><title>${name}</title></head>\n<body style="margin:0;background:#fff">${body}</body></html>\n`);
  return file;
}

/** Opens `file`, runs `fn` on the page, and always closes the browser. */
async function withPage<T>(file: string, fn: (p: Page) => Promise<T>, opts?: { width?: number; height?: number }): Promise<T> {
  const page = await openPage(file, opts);
  try {
    return await fn(page);
  } finally {
    await page.close();
  }
}

/** Living (not zombie) processes whose command line names one of this process's chromium profiles. */
function ourChromiums(): number[] {
  const mark = `dcomlab-chromium-${process.pid}-`;
  const pids: number[] = [];
  for (const e of readdirSync('/proc').filter((n) => /^\d+$/.test(n))) {
    try {
      const stat = readFileSync(`/proc/${e}/stat`, 'latin1');
      if (stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z')) continue;
      if (readFileSync(`/proc/${e}/cmdline`, 'latin1').includes(mark)) pids.push(Number(e));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

const ourProfiles = () => readdirSync(os.tmpdir()).filter((n) => n.startsWith(`dcomlab-chromium-${process.pid}-`));

type Rgba = [number, number, number, number];
const isRed = ([r, g, b, a]: Rgba) => r >= 240 && g <= 15 && b <= 15 && a === 255;
const isWhite = ([r, g, b, a]: Rgba) => r === 255 && g === 255 && b === 255 && a === 255;

describeWithChromium('headless chromium harness', () => {
  beforeAll(() => {
    console.log(`chromium: ${chromium().version}`);
  });

  it('a sound page: no errors, no requests; the DOM is read and the red line is red on screen', async () => {
    // 1600 px tall in an 800 px viewport: the second line is only in a full-page screenshot.
    const file = html('sound.html', `
<svg width="600" height="1600" style="display:block">
  <line class="exchange" x1="100" y1="200" x2="500" y2="200" stroke="#ff0000" stroke-width="6"/>
  <line class="exchange" x1="100" y1="1500" x2="500" y2="1500" stroke="#ff0000" stroke-width="6"/>
  <line class="exchange covered" x1="100" y1="400" x2="500" y2="400" stroke="#ff0000" stroke-width="6"/>
  <rect x="0" y="380" width="600" height="40" fill="#fff"/>
  <text x="100" y="100" fill="#000">inline only</text>
</svg>`);
    await withPage(file, async (p) => {
      expect(await p.evaluate<number>('document.querySelectorAll("svg .exchange").length')).toBe(3);
      const box = (sel: string) => `
        [...document.querySelectorAll('${sel}')].map((e) => {
          const r = e.getBoundingClientRect();
          return { x: r.x, y: r.y, w: r.width, h: r.height, stroke: getComputedStyle(e).stroke };
        })`;
      type Box = { x: number; y: number; w: number; h: number; stroke: string };
      const lines = await p.evaluate<Box[]>(box('svg .exchange:not(.covered)'));
      const [covered] = await p.evaluate<Box[]>(box('svg .exchange.covered'));
      expect(lines.map((l) => l.stroke)).toEqual(['rgb(255, 0, 0)', 'rgb(255, 0, 0)']);
      expect(await p.evaluate('window.devicePixelRatio')).toBe(1);
      expect(await p.evaluate('Promise.resolve(6 * 7)')).toBe(42);
      await expect(p.evaluate('null.x')).rejects.toThrow(/TypeError/);

      const t0 = performance.now();
      const png = await p.screenshot();
      const shotMs = performance.now() - t0;
      const img = pngPixels(png);
      expect([img.width, img.height]).toEqual([1280, 1600]);
      for (const l of lines) {
        // DOM coordinates are screenshot pixels (device scale factor 1).
        const cx = Math.round(l.x + l.w / 2);
        const cy = Math.round(l.y + l.h / 2);
        expect(isRed(img.at(cx, cy)), `pixel (${cx}, ${cy}) = ${img.at(cx, cy)}`).toBe(true);
        expect(isWhite(img.at(cx, cy - 20))).toBe(true);
        expect(isWhite(img.at(Math.round(l.x + l.w) + 20, cy))).toBe(true);
      }
      // Styled red is not drawn red: this line is under a white rectangle.
      expect(covered!.stroke).toBe('rgb(255, 0, 0)');
      expect(isWhite(img.at(Math.round(covered!.x + covered!.w / 2), Math.round(covered!.y + covered!.h / 2)))).toBe(true);
      expect(isWhite(img.at(1000, 700))).toBe(true);
      expect(isWhite(img.at(0, 0))).toBe(true);
      console.log(`screenshot of 1280x1600: ${shotMs.toFixed(0)} ms, ${png.length} bytes`);

      expect(p.errors).toEqual([]);
      expect(p.requests).toEqual([]);
    });
  });

  it('console.error is collected', async () => {
    const file = html('console.html', `<script>console.error('x'); console.log('fine'); console.warn('fine too');</script>`);
    await withPage(file, async (p) => {
      expect(p.errors).toHaveLength(1);
      expect(p.errors[0]).toMatch(/^console\.error: x \(file:.*console\.html:\d+:\d+\)$/);
    });
  });

  it('uncaught exceptions are collected: at load, from a timer, and an unhandled rejection', async () => {
    const file = html('throws.html', `<script>
setTimeout(() => { throw new Error('later'); }, 0);
Promise.reject(new Error('nobody waits'));
throw new Error('boom');
</script>`);
    await withPage(file, async (p) => {
      expect(p.errors).toHaveLength(3);
      expect(p.errors).toContainEqual(expect.stringMatching(/^Uncaught: Error: boom\n/));
      expect(p.errors).toContainEqual(expect.stringMatching(/^Uncaught: Error: later\n/));
      expect(p.errors).toContainEqual(expect.stringMatching(/^Uncaught \(in promise\): Error: nobody waits\n/));
      // An exception thrown by evaluate() goes to its caller, not to the page's errors.
      await expect(p.evaluate('throw new Error("mine")')).rejects.toThrow(/mine/);
      expect(p.errors).toHaveLength(3);
    });
  });

  describe('failed loads', () => {
    let server: Server;
    let port = 0;
    beforeAll(async () => {
      server = createServer((_req, res) => {
        res.writeHead(404, { 'content-type': 'text/plain' });
        res.end('no');
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      port = (server.address() as AddressInfo).port;
    });
    afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

    it('a missing local image, a refused port and an HTTP 404 are each collected', async () => {
      const file = html('loads.html', `
<img src="missing.png" alt="">
<img src="http://127.0.0.1:9/x.png" alt="">
<img src="http://127.0.0.1:${port}/nope.png" alt="">`);
      await withPage(file, async (p) => {
        const missing = new URL('missing.png', `file://${dir}/`).href;
        expect([...p.errors].sort()).toEqual([
          `load failed: ${missing}: net::ERR_FILE_NOT_FOUND`,
          // Chromium refuses port 9 (discard) itself: nothing is sent.
          'load failed: http://127.0.0.1:9/x.png: net::ERR_UNSAFE_PORT',
          `load failed: http://127.0.0.1:${port}/nope.png: HTTP 404`,
        ].sort());
        expect([...p.requests].sort()).toEqual([missing, 'http://127.0.0.1:9/x.png', `http://127.0.0.1:${port}/nope.png`].sort());
      });
    });
  });

  it('a load that never ends times out, and leaves no browser behind', async () => {
    const held: ServerResponse[] = [];
    const hang = createServer((_req, res) => held.push(res)); // never answers
    await new Promise<void>((resolve) => hang.listen(0, '127.0.0.1', resolve));
    try {
      const file = html('hangs.html', `<img src="http://127.0.0.1:${(hang.address() as AddressInfo).port}/slow.png" alt="">`);
      await expect(openPage(file, { timeoutMs: 1_500 })).rejects.toThrow(/no load event in 1500 ms/);
      expect(ourChromiums()).toEqual([]);
      expect(ourProfiles()).toEqual([]);
    } finally {
      for (const r of held) r.destroy();
      hang.closeAllConnections();
      await new Promise<void>((resolve) => hang.close(() => resolve()));
    }
  });

  it('a file that cannot be opened throws, and leaves no browser behind', async () => {
    await expect(openPage(path.join(dir, 'no-such.html'))).rejects.toThrow(/ERR_FILE_NOT_FOUND/);
    expect(ourChromiums()).toEqual([]);
    expect(ourProfiles()).toEqual([]);
  });

  it('close() stops the browser and its helpers and removes its profile; open + screenshot + close timed', async () => {
    const file = html('timed.html', '<svg width="100" height="100"><rect width="50" height="50" fill="red"/></svg>');
    const t0 = performance.now();
    const p = await openPage(file);
    const t1 = performance.now();
    try {
      expect(ourChromiums().length).toBeGreaterThan(2);
      expect(ourProfiles()).toHaveLength(1);
      expect(isRed(pngPixels(await p.screenshot()).at(25, 25))).toBe(true);
    } finally {
      const t2 = performance.now();
      await p.close();
      const t3 = performance.now();
      console.log(`open ${(t1 - t0).toFixed(0)} ms, screenshot ${(t2 - t1).toFixed(0)} ms, close ${(t3 - t2).toFixed(0)} ms`);
    }
    expect(ourChromiums()).toEqual([]);
    expect(ourProfiles()).toEqual([]);
    await p.close(); // twice is harmless
    await expect(p.evaluate('1')).rejects.toThrow(/browser closed/);
  });
});

// ---------------------------------------------------------------------------------------------------
// pngPixels on PNGs built here: every row filter, RGB and RGBA (no browser needed).

function crc32(buf: Buffer): number {
  let c = ~0;
  for (const b of buf) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0xedb88320 : c >>> 1;
  }
  return ~c >>> 0;
}

function chunk(type: string, data: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([len, body, crc]);
}

/** Encodes `rows` (channels bytes per pixel), row y with filter filters[y % filters.length]. */
function encodePng(width: number, rows: number[][], channels: 3 | 4, filters: number[]): Buffer {
  const stride = width * channels;
  const out: number[] = [];
  rows.forEach((row, y) => {
    const f = filters[y % filters.length]!;
    out.push(f);
    for (let i = 0; i < stride; i++) {
      const a = i >= channels ? row[i - channels]! : 0;
      const b = y > 0 ? rows[y - 1]![i]! : 0;
      const c = y > 0 && i >= channels ? rows[y - 1]![i - channels]! : 0;
      const p = a + b - c;
      const paeth = Math.abs(p - a) <= Math.abs(p - b) && Math.abs(p - a) <= Math.abs(p - c) ? a : Math.abs(p - b) <= Math.abs(p - c) ? b : c;
      const pred = [0, a, b, (a + b) >> 1, paeth][f]!;
      out.push((row[i]! - pred) & 0xff);
    }
  });
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(rows.length, 4);
  ihdr[8] = 8;
  ihdr[9] = channels === 4 ? 6 : 2;
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(Buffer.from(out))),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

describe('pngPixels', () => {
  const W = 7;
  const H = 10;
  const value = (x: number, y: number, k: number) => (x * 37 + y * 91 + k * 53 + x * y * 13) & 0xff;

  for (const channels of [3, 4] as const) {
    it(`decodes ${channels === 4 ? 'RGBA' : 'RGB'} rows under filters 0-4`, () => {
      const rows = Array.from({ length: H }, (_, y) => Array.from({ length: W * channels }, (_, i) => value(Math.floor(i / channels), y, i % channels)));
      const img = pngPixels(encodePng(W, rows, channels, [0, 1, 2, 3, 4]));
      expect([img.width, img.height]).toEqual([W, H]);
      for (let y = 0; y < H; y++) {
        for (let x = 0; x < W; x++) {
          expect(img.at(x, y)).toEqual([value(x, y, 0), value(x, y, 1), value(x, y, 2), channels === 4 ? value(x, y, 3) : 255]);
        }
      }
      expect(() => img.at(W, 0)).toThrow(RangeError);
    });
  }

  it('refuses what it does not decode', () => {
    expect(() => pngPixels(Buffer.from('GIF89a'))).toThrow(/not a PNG/);
    const png = encodePng(1, [[1, 2, 3]], 3, [0]);
    const sixteen = Buffer.from(png);
    sixteen[8 + 8 + 8] = 16; // IHDR bit depth (the CRC is not checked)
    expect(() => pngPixels(sixteen)).toThrow(/bit depth 16/);
  });
});
