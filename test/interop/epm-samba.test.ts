// dcomlab's endpoint mapper client (the built CLI) against Samba 4.17's endpoint mapper on
// 127.0.0.1:135, with Impacket (tools/peers/epm_list.py) as the second opinion.
//
// Samba ends an ept_lookup enumeration with status ept_s_not_registered (0x16c9a0d6) on the call after
// its last batch, where Windows answers status 0 with a null handle; Impacket's rpcdump/hept_lookup
// raise on it, so "what Impacket lists" comes from epm_list.py (Impacket's request classes, its own loop).
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeWithPeers, startSamba, type SambaPeer } from '../support/peers';
import { cli, EPM_LIST_PY, parseJson, python, sortedRows, type ImpacketEntry } from './helpers';

const SAMR = '12345778-1234-abcd-ef00-0123456789ac';

interface CliEntry {
  object: string;
  annotation: string;
  iface?: { uuid: string; version: string; name?: string };
  binding?: string;
  protseq?: string;
}

describeWithPeers(['samba', 'impacket'], 'dcomlab epm lookup/map against Samba (127.0.0.1:135)', () => {
  let samba: SambaPeer;
  beforeAll(async () => {
    samba = await startSamba();
  }, 240_000);
  afterAll(async () => {
    await samba?.stop();
  });

  it('`dcomlab epm lookup --json` lists the same endpoints as Impacket', async () => {
    const [imp, mine] = await Promise.all([python(EPM_LIST_PY, [samba.host]), cli(['epm', 'lookup', samba.host, '--json'])]);
    const theirs = parseJson<ImpacketEntry[]>(imp, 'epm_list.py');
    expect(mine.code, mine.stderr).toBe(0);
    expect(mine.stderr).toBe('');
    const ours = JSON.parse(mine.stdout) as CliEntry[];

    // Samba 4.17 with `server services = rpc` registers dozens of entries over ncacn_ip_tcp, ncacn_np,
    // ncalrpc and ncacn_http; the comparison below is the real check, these only guard against an empty list.
    expect(theirs.length).toBeGreaterThan(20);
    expect(theirs.filter((e) => e.protseq === 'ncacn_ip_tcp').length).toBeGreaterThan(0);
    // Every tower has an interface floor, so both sides have a uuid and version for each entry.
    expect(theirs.every((e) => e.uuid && e.version && e.binding)).toBe(true);

    // Same multiset of (uuid, version, binding, protseq, annotation, object): no entry lost, added or repeated.
    const theirRows = theirs.map((e) => [e.uuid!, e.version!, e.binding!, e.protseq ?? '', e.annotation, e.object]);
    const ourRows = ours.map((e) => [e.iface?.uuid ?? '', e.iface?.version ?? '', e.binding ?? '', e.protseq ?? '', e.annotation, e.object]);
    expect(ourRows).toHaveLength(theirRows.length);
    expect(sortedRows(ourRows)).toEqual(sortedRows(theirRows));

    // SAMR over TCP is there. Samba registers its TCP towers with the address 0.0.0.0 (it listens on
    // 127.0.0.1 only), and both clients show the tower as it is.
    const samr = ours.filter((e) => e.iface?.uuid === SAMR && e.protseq === 'ncacn_ip_tcp');
    expect(samr.length).toBeGreaterThan(0);
    expect(samr.every((e) => /^ncacn_ip_tcp:0\.0\.0\.0\[\d+\]$/.test(e.binding ?? '')), JSON.stringify(samr)).toBe(true);
    expect(samr[0]!.iface).toEqual({ uuid: SAMR, version: '1.0', name: 'SAMR' });
  });

  it('`dcomlab epm map` prints SAMR\'s ncacn_ip_tcp binding, the port Impacket\'s hept_map gets', async () => {
    const [mine, imp, mineJson] = await Promise.all([
      cli(['epm', 'map', samba.host, `${SAMR}:1.0`]),
      python(EPM_LIST_PY, ['--map', SAMR, '1.0', samba.host]),
      cli(['epm', 'map', samba.host, `${SAMR}:1.0`, '--json']),
    ]);
    const theirs = parseJson<{ binding: string }>(imp, 'epm_list.py --map');
    expect(theirs.binding).toMatch(/^ncacn_ip_tcp:127\.0\.0\.1\[\d+\]$/);
    expect(mine.code, mine.stderr).toBe(0);
    expect(mine.stdout).toBe(`${theirs.binding}\n`);
    const port = Number(/\[(\d+)\]$/.exec(theirs.binding)![1]);
    expect(JSON.parse(mineJson.stdout)).toEqual({ interface: SAMR, name: 'SAMR', binding: theirs.binding, port });
    // ept_map's answer names the port ept_lookup lists for SAMR over TCP (with 0.0.0.0 made 127.0.0.1,
    // the address we asked).
    const look = JSON.parse((await cli(['epm', 'lookup', samba.host, '--json'])).stdout) as CliEntry[];
    const listed = look.filter((e) => e.iface?.uuid === SAMR && e.protseq === 'ncacn_ip_tcp').map((e) => e.binding);
    expect(listed).toContain(`ncacn_ip_tcp:0.0.0.0[${port}]`);
  });

  it('an interface Samba does not serve: Samba and dcomlab both say ept_s_not_registered', async () => {
    const missing = '0badc0de-0000-4000-8000-000000000135';
    const [mine, imp] = await Promise.all([
      cli(['epm', 'map', samba.host, `${missing}:1.0`]),
      python(EPM_LIST_PY, ['--map', missing, '1.0', samba.host]),
    ]);
    expect(imp.code).toBe(1);
    expect(JSON.parse(imp.stdout)).toMatchObject({ code: 0x16c9a0d6 });
    expect(mine.code).toBe(2);
    expect(mine.stdout).toBe('');
    expect(mine.stderr).toMatch(/^dcomlab: .*ept_s_not_registered/);
  });
});
