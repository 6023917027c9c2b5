// Self-contained HTML reports: `scenario --report` (the verdict table, then each scenario's
// conversation as a sequence diagram) and `sessions --report` (a capture's associations, its DCOM
// story and the diagram). One file, inline CSS and SVG, no script and nothing fetched: it opens
// anywhere, also from a mail attachment.
import type { SessionsReport } from '../dissect/sessions';
import { associationIdentity, hostOf } from '../dissect/sessions';
import { headline, scenarioByName, type ScenarioResult } from '../lab/scenarios';
import { COLORS, escapeXml as esc, lanesFor, sequenceSvg } from './sequence';

const CSS = `
body { font-family: sans-serif; margin: 24px 32px; color: ${COLORS.text}; background: #fff; }
h1 { font-size: 22px; margin: 0 0 4px; } h2 { font-size: 18px; margin: 32px 0 6px; } h3 { font-size: 15px; margin: 18px 0 6px; }
p.meta { color: ${COLORS.muted}; margin: 0 0 18px; }
table { border-collapse: collapse; margin: 8px 0 16px; font-size: 13px; }
th, td { border: 1px solid #d0d7de; padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: #f3f5f8; }
td.mono, span.mono { font-family: monospace; }
.pass { color: #116329; font-weight: bold; } .fail { color: ${COLORS.failed}; font-weight: bold; }
.diagram { overflow-x: auto; border: 1px solid #d0d7de; border-radius: 6px; margin: 8px 0 24px; }
ul.story { font-size: 13px; } ul.story li { margin: 2px 0; }
.legend span { display: inline-block; margin-right: 18px; font-size: 12px; }
.legend i { display: inline-block; width: 28px; height: 3px; vertical-align: middle; margin-right: 6px; }
`;

function page(title: string, subtitle: string, body: string[]): string {
  return [
    '<!DOCTYPE html>',
    '<html lang="en"><head><meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    `<title>${esc(title)}</title>`,
    `<style>${CSS}</style>`,
    '</head><body>',
    `<h1>${esc(title)}</h1>`,
    `<p class="meta">${esc(subtitle)}</p>`,
    ...body,
    '</body></html>',
    '',
  ].join('\n');
}

const legend = `<p class="legend"><span><i style="background:${COLORS.ok}"></i>exchange that succeeded</span><span><i style="background:${COLORS.failed}"></i>failed: a fault, a nak, a failing HRESULT or no answer</span></p>`;

function table(head: string[], rows: string[][]): string {
  return `<table><thead><tr>${head.map((h) => `<th>${esc(h)}</th>`).join('')}</tr></thead><tbody>\n${rows.map((r) => `<tr>${r.join('')}</tr>`).join('\n')}\n</tbody></table>`;
}
const td = (s: string | number, cls?: string) => `<td${cls ? ` class="${cls}"` : ''}>${esc(String(s))}</td>`;

/** The boxes of a capture, named from its DCOM story: who activated (client) and who was activated (server). */
function boxTitles(r: SessionsReport): Map<string, string> {
  const titles = new Map<string, string>();
  for (const a of r.activations) {
    titles.set(hostOf(a.server), 'server box');
    if (!titles.has(hostOf(a.client))) titles.set(hostOf(a.client), 'client box');
  }
  return titles;
}

/** The diagram of one capture's exchanges (with its legend), or a sentence when there were none. */
function diagram(r: SessionsReport, id: string, titles = boxTitles(r)): string {
  if (r.exchanges.length === 0) return '<p>No DCE/RPC exchange in this capture.</p>';
  return `${legend}<div class="diagram">${sequenceSvg(r.exchanges, lanesFor(r.exchanges, titles), id)}</div>`;
}

function story(r: SessionsReport): string {
  const items: string[] = [];
  for (const x of r.activations) {
    items.push(`${x.operation} of <span class="mono">${esc(x.clsid ?? '?')}</span> from ${esc(x.client)}: ${esc(x.hresult ?? 'no answer')}` +
      `${x.oxid ? `, OXID <span class="mono">${esc(x.oxid)}</span> at ${esc(x.bindings.join(' ') || '?')}` : ''}`);
  }
  for (const x of r.resolutions) items.push(`${x.operation} ${esc(x.from)} → ${esc(x.resolver)} OXID <span class="mono">${esc(x.oxid ?? '?')}</span>: ${esc(x.status ?? 'no answer')}`);
  for (const x of r.callbacks) items.push(`callback ${esc(x.from)} → ${esc(x.to)}: ${esc(x.interfaces.join(', '))}`);
  return items.length ? `<ul class="story">${items.map((i) => `<li>${i}</li>`).join('')}</ul>` : '';
}

function associations(r: SessionsReport): string {
  return table(['stream', 'client', 'server', 'role', 'interfaces', 'auth', 'identity', 'calls', 'faults'], r.associations.map((a) => [
    td(a.stream), td(a.client, 'mono'), td(a.server, 'mono'), td(a.role ?? ''), td(a.interfaces.map((i) => `${i.name}${i.accepted ? '' : ' (refused)'}`).join(', ')),
    td(a.auth ? `${a.auth.type} ${a.auth.level}` : 'none'), td(associationIdentity(a) ?? '-'), td(a.calls), td(a.faults.length, a.faults.length ? 'fail' : undefined),
  ]));
}

/** `dcomlab sessions CAPTURE --report FILE.html`. */
export function sessionsReportHtml(r: SessionsReport): string {
  const failed = r.exchanges.filter((x) => x.failed).length;
  return page(`dcomlab sessions: ${r.file.split('/').pop()}`, `${r.file} · ${r.associations.length} association(s), ${r.exchanges.length} exchange(s), ${failed} failed`, [
    '<h2>Conversation</h2>', diagram(r, 'capture'),
    '<h2>DCOM story</h2>', story(r) || '<p>No activation, OXID resolution or callback.</p>',
    '<h2>Associations</h2>', associations(r),
  ]);
}

export interface ScenarioReportEntry {
  result: ScenarioResult;
  /** The conversation, read back from the scenario's capture. */
  sessions?: SessionsReport;
  /** The boxes' addresses (lane titles). */
  serverHost: string;
  clientHost: string;
  /** Where the capture came from, for the reader. */
  capture: string;
}

/** `dcomlab scenario ... --report FILE.html`. */
export function scenarioReportHtml(entries: readonly ScenarioReportEntry[], meta: { topology: string; totalMs: number }): string {
  const pass = entries.filter((e) => e.result.verdict === 'PASS').length;
  const rows = entries.map(({ result: r }) => {
    const s = scenarioByName(r.name);
    const o = r.observed;
    return [
      `<td><a href="#${esc(r.name)}">${esc(r.name)}</a></td>`, td(s ? headline(s.expect) : r.expected), td(headline(o)),
      td(o.arrivedAs ? `${o.arrivedAs}${o.backwardRan ? '' : ' (refused)'}` : '-'), td(r.durationMs), td(r.verdict, r.verdict === 'PASS' ? 'pass' : 'fail'),
    ];
  });
  const body = ['<h2>Verdicts</h2>', table(['scenario', 'expected', 'observed', 'callback arrived as', 'ms', 'verdict'], rows)];
  for (const e of entries) {
    const r = e.result;
    const s = scenarioByName(r.name);
    body.push(`<h2 id="${esc(r.name)}">${esc(r.name)} <span class="${r.verdict === 'PASS' ? 'pass' : 'fail'}">${r.verdict}</span></h2>`);
    if (s) body.push(`<p>${esc(s.summary)}</p>`);
    body.push(`<p>Expected: ${esc(r.expected)}.${r.mismatches.length ? '' : ' Observed as expected.'}</p>`);
    if (r.mismatches.length) body.push(`<ul>${r.mismatches.map((m) => `<li class="fail">${esc(m)}</li>`).join('')}</ul>`);
    if (r.observed.forward?.unmarshalError) body.push(`<p>The server: ${esc(r.observed.forward.unmarshalError)}.</p>`);
    if (e.sessions) {
      const titles = new Map([[e.serverHost, 'server box'], [e.clientHost, 'client box']]);
      body.push(diagram(e.sessions, r.name, titles));
    } else body.push('<p>No capture of this scenario.</p>');
    body.push(`<p class="meta">Built from ${esc(e.capture)}.</p>`);
  }
  return page('dcomlab: the SP2 callback scenarios', `${pass}/${entries.length} as expected on ${meta.topology} in ${meta.totalMs} ms`, body);
}
