// The HTML reports in a real browser: `sessions CAPTURE --report` and `scenario NAME --report` open in
// headless Chromium with no console error and no request; the sequence diagram has one arrow per
// PDU exchange tshark finds in the capture (bind, alter_context, and each call's first fragment), and
// the calls tshark shows answered by a fault are drawn red, on screen (screenshot pixels), not only
// in the markup.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { dcomlab } from '../support/cli';
import { describeWithChromium, openPage, pngPixels, type Page } from '../support/chromium';
import { describeWithPeers } from '../support/peers';
import { PROJECT_ROOT } from '../support/paths';
import { tsharkFields } from '../support/tshark';

const EXCHANGE_STARTS = 'dcerpc.pkt_type == 11 || dcerpc.pkt_type == 14 || (dcerpc.pkt_type == 0 && dcerpc.cn_flags.first_frag == 1)';

/** label: the operation and its detail line (level · identity · result), as the diagram writes them. */
interface Arrow { frame: number; failed: boolean; cls: string; stroke: string; label: string; x: number; y: number }

/** Every arrow of the page's diagrams: its exchange's frame, state, colour and where its line's middle is on the page. */
async function arrows(page: Page): Promise<Arrow[]> {
  return page.evaluate<Arrow[]>(`[...document.querySelectorAll('svg.sequence g.exchange')].map((g) => {
    const line = g.querySelector('.arrow');
    const r = line.getBoundingClientRect();
    return { frame: Number(g.dataset.frame), failed: g.dataset.failed === 'true', cls: g.getAttribute('class'),
      stroke: getComputedStyle(line).stroke, label: [...g.querySelectorAll('text')].slice(1).map((t) => t.textContent).join(' | '),
      x: Math.round(r.left + r.width / 2 + window.scrollX), y: Math.round(r.top + r.height / 2 + window.scrollY) };
  })`);
}

const isRed = ([r, g, b]: readonly number[]) => r! > 180 && g! < 70 && b! < 70;
const isBlue = ([r, , b]: readonly number[]) => b! > r! + 40;

/** tshark's exchanges (their first frames) and the requests it saw answered by a fault. */
function tsharkExchanges(file: string): { starts: number[]; faulted: number[] } {
  const starts = tsharkFields(file, ['frame.number'], EXCHANGE_STARTS).map((r) => Number(r[0]));
  const faulted = tsharkFields(file, ['dcerpc.request_in'], 'dcerpc.pkt_type == 3').map((r) => Number(r[0]));
  return { starts, faulted };
}

async function checkDiagram(html: string, capture: string): Promise<Arrow[]> {
  const page = await openPage(html, { width: 1300 });
  try {
    const shown = await arrows(page);
    const png = pngPixels(await page.screenshot());
    expect(page.errors).toEqual([]);
    expect(page.requests).toEqual([]);
    const want = tsharkExchanges(capture);
    expect(want.starts.length).toBeGreaterThan(0);
    // One arrow per exchange, in capture order, at tshark's frames.
    expect(shown.map((a) => a.frame)).toEqual(want.starts);
    expect(want.faulted.length).toBeGreaterThan(0);
    for (const a of shown) {
      const px = png.at(a.x, a.y);
      if (want.faulted.includes(a.frame)) {
        expect(a.failed, a.label).toBe(true);
        expect(a.cls).toContain('failed');
        expect(a.stroke).toBe('rgb(208, 0, 0)');
        expect(isRed(px), `${a.label}: pixel ${px.join(',')} at ${a.x},${a.y}`).toBe(true);
      } else if (!a.failed) {
        expect(isBlue(px), `${a.label}: pixel ${px.join(',')} at ${a.x},${a.y}`).toBe(true);
      }
    }
    return shown;
  } finally {
    await page.close();
  }
}

describeWithPeers(['tshark'], 'HTML reports in headless Chromium', () => {
  describeWithChromium('reports', () => {
    let dir: string;
    beforeAll(() => {
      dir = mkdtempSync(path.join(os.tmpdir(), 'dcomlab-report-test-'));
    });
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    for (const name of ['sp2-anonymous-callback', 'sp2-firewall']) {
      it(`sessions pcaps/${name}.pcapng --report: an arrow per exchange, the faulted calls red`, async () => {
        const capture = path.join(PROJECT_ROOT, 'pcaps', `${name}.pcapng`);
        const html = path.join(dir, `${name}.html`);
        const r = dcomlab(['sessions', capture, '--report', html]);
        expect(r.status, r.stderr).toBe(0);
        expect(r.stderr).toContain(`report written to ${html}`);
        const shown = await checkDiagram(html, capture);
        const failed = shown.filter((a) => a.failed).map((a) => a.label);
        if (name === 'sp2-anonymous-callback') {
          expect(failed.some((l) => l.startsWith('IClientCallback::BackwardCall') && /ANONYMOUS LOGON · fault rpc_s_access_denied 0x00000005/.test(l))).toBe(true);
          // ForwardCall returned E_ACCESSDENIED in its response (no fault): red all the same.
          expect(failed.some((l) => l.startsWith('ICServer::ForwardCall') && /E_ACCESSDENIED 0x80070005/.test(l))).toBe(true);
        } else {
          expect(failed.some((l) => l.startsWith('ICServer::ForwardCall') && /fault E_OUTOFMEMORY 0x8007000E/i.test(l))).toBe(true);
        }
      }, 60_000);
    }

    it('scenario --report --capture DIR: the verdict table, and the diagram of the capture dumpcap made', async () => {
      if (process.getuid?.() !== 0) {
        console.warn('skipped: dumpcap on lo needs root here (the in-process recording is tested below)');
        return;
      }
      const html = path.join(dir, 'scenario.html');
      const caps = path.join(dir, 'caps');
      const r = dcomlab(['scenario', 'sp2-anonymous-callback', '--report', html, '--capture', caps, '--resolver-port', 'auto']);
      expect(r.status, r.stderr).toBe(0);
      await checkDiagram(html, path.join(caps, 'sp2-anonymous-callback.pcapng'));
    }, 60_000);

    it('scenario --report alone: built from an in-process recording; the verdicts, the failing callback red', async () => {
      const html = path.join(dir, 'recorded.html');
      const r = dcomlab(['scenario', 'sp2-anonymous-callback', '--report', html, '--resolver-port', '1135']);
      expect(r.status, r.stderr).toBe(0);
      const page = await openPage(html);
      try {
        expect(page.errors).toEqual([]);
        const verdicts = await page.evaluate<string[][]>(`[...document.querySelectorAll('table')[0].querySelectorAll('tbody tr')].map((tr) => [...tr.cells].map((c) => c.textContent))`);
        expect(verdicts).toEqual([['sp2-anonymous-callback', 'E_ACCESSDENIED 0x80070005', 'E_ACCESSDENIED 0x80070005', 'NT AUTHORITY\\ANONYMOUS LOGON (refused)', expect.stringMatching(/^\d+$/), 'PASS']]);
        const shown = await arrows(page);
        const callback = shown.find((a) => a.label.startsWith('IClientCallback::BackwardCall'));
        expect(callback?.failed).toBe(true);
        expect(isRed(pngPixels(await page.screenshot()).at(callback!.x, callback!.y))).toBe(true);
        // Each connection once: the boxes record only what they accept, so exactly one bind of ICServer.
        expect(shown.filter((a) => a.label.startsWith('bind ICServer'))).toHaveLength(1);
      } finally {
        await page.close();
      }
    }, 60_000);
  });
});
