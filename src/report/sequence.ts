// A sequence diagram of a capture's exchanges as inline SVG: one lifeline per box (address), one
// arrow per exchange from caller to callee, labelled with the operation, then the auth level,
// identity and result. A failed exchange (a fault, a nak, a failing HRESULT, no answer) is red.
// Plain SVG with presentation attributes: no script, no external font or stylesheet.
import type { ExchangeReport } from '../dissect/exchanges';
import { hostOf } from '../dissect/sessions';

export interface Lane {
  /** The box's address (the host part of the exchanges' endpoints). */
  host: string;
  /** What it is in the story: "client box", "server box"... */
  title?: string;
}

export const COLORS = { ok: '#1f4e79', failed: '#d00000', lifeline: '#9aa5b1', text: '#1b1b1b', muted: '#5f6b7a' } as const;

const LANE_GAP = 440;
const LEFT = 150;
const TOP = 78;
const ROW = 54;
const SELF_LOOP = 46;

export const escapeXml = (s: string) => s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);


/** The lanes in order of first appearance, callers before callees; `titles` names the known boxes. */
export function lanesFor(exchanges: readonly ExchangeReport[], titles: ReadonlyMap<string, string> = new Map()): Lane[] {
  const order: string[] = [];
  for (const x of exchanges) {
    for (const h of [hostOf(x.from), hostOf(x.to)]) if (!order.includes(h)) order.push(h);
  }
  return order.map((host) => ({ host, ...(titles.has(host) ? { title: titles.get(host)! } : {}) }));
}

function ms(from: string, to: string): string {
  const d = Date.parse(to) - Date.parse(from);
  return Number.isFinite(d) ? `+${d.toFixed(0)} ms` : '';
}

/** The diagram; `id` keeps several diagrams on one page apart (marker ids). */
export function sequenceSvg(exchanges: readonly ExchangeReport[], lanes: readonly Lane[], id = 'seq'): string {
  const x = new Map(lanes.map((l, i) => [l.host, LEFT + i * LANE_GAP]));
  const width = LEFT + Math.max(0, lanes.length - 1) * LANE_GAP + 260;
  const height = TOP + exchanges.length * ROW + 30;
  const t0 = exchanges[0]?.time ?? '';
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" class="sequence" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="sequence diagram, ${exchanges.length} exchanges">`);
  out.push('<defs>');
  for (const [k, c] of [['ok', COLORS.ok], ['failed', COLORS.failed]] as const) {
    out.push(`<marker id="${id}-${k}" viewBox="0 0 10 10" refX="10" refY="5" markerUnits="userSpaceOnUse" markerWidth="12" markerHeight="12" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="${c}"/></marker>`);
  }
  out.push('</defs>');
  out.push(`<rect x="0" y="0" width="${width}" height="${height}" fill="#ffffff"/>`);
  for (const l of lanes) {
    const lx = x.get(l.host)!;
    out.push(`<g class="lane" data-host="${escapeXml(l.host)}">`);
    out.push(`<rect x="${lx - 100}" y="8" width="200" height="44" rx="6" fill="#eef3f8" stroke="${COLORS.lifeline}"/>`);
    out.push(`<text x="${lx}" y="27" text-anchor="middle" font-family="sans-serif" font-size="13" font-weight="bold" fill="${COLORS.text}">${escapeXml(l.title ?? 'host')}</text>`);
    out.push(`<text x="${lx}" y="44" text-anchor="middle" font-family="monospace" font-size="12" fill="${COLORS.muted}">${escapeXml(l.host)}</text>`);
    out.push(`<line x1="${lx}" y1="52" x2="${lx}" y2="${height - 10}" stroke="${COLORS.lifeline}" stroke-dasharray="4 4"/>`);
    out.push('</g>');
  }
  exchanges.forEach((e, i) => {
    const y = TOP + i * ROW + 24;
    const x1 = x.get(hostOf(e.from)) ?? LEFT;
    const x2 = x.get(hostOf(e.to)) ?? LEFT;
    const state = e.failed ? 'failed' : 'ok';
    const color = COLORS[state];
    const detail = [e.authLevel ?? 'unauthenticated', e.identity, e.result].filter((p) => p !== undefined).join(' · ');
    const title = `frame ${e.frame}${e.answerFrame !== undefined ? `–${e.answerFrame}` : ''}, stream ${e.stream}: ${e.from} → ${e.to}`;
    out.push(`<g class="exchange ${state}" data-kind="${e.kind}" data-stream="${e.stream}" data-frame="${e.frame}" data-failed="${e.failed}">`);
    out.push(`<title>${escapeXml(title)}</title>`);
    out.push(`<text x="12" y="${y + 4}" font-family="monospace" font-size="11" fill="${COLORS.muted}">${escapeXml(ms(t0, e.time))}</text>`);
    const stroke = `stroke="${color}" stroke-width="${e.failed ? 3 : 2}" fill="none" marker-end="url(#${id}-${state})"`;
    let lx: number;
    if (x1 === x2) {
      // A box calling itself: a loop out to the right and back.
      out.push(`<path class="arrow" d="M${x1},${y - 10} h${SELF_LOOP} v20 h-${SELF_LOOP}" ${stroke}/>`);
      lx = x1 + SELF_LOOP + 8;
    } else {
      out.push(`<line class="arrow" x1="${x1}" y1="${y}" x2="${x2}" y2="${y}" ${stroke}/>`);
      lx = Math.min(x1, x2) + 22;
    }
    out.push(`<text x="${lx}" y="${y - 7}" font-family="sans-serif" font-size="13" font-weight="${e.kind === 'call' ? 'bold' : 'normal'}" fill="${e.failed ? color : COLORS.text}">${escapeXml(e.label)}</text>`);
    out.push(`<text x="${lx}" y="${y + 16}" font-family="sans-serif" font-size="11" fill="${e.failed ? color : COLORS.muted}">${escapeXml(detail)}</text>`);
    out.push('</g>');
  });
  out.push('</svg>');
  return out.join('\n');
}
