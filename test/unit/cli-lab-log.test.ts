// `serve --lab`'s one-line log: the records the server writes anyway, told as sentences.
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { labLine, labLogger } from '../../src/cli/lab-log';
import { CLSID_CServer } from '../../src/dcom/server/lab-class';

const at = Date.UTC(2026, 10, 25, 9, 30, 1, 234);

describe('serve --lab log lines', () => {
  it('an activation names the method, class, caller, level, HRESULT and OXID; a refused one says why', () => {
    expect(labLine({ level: 30, time: at, event: 'activation', op: 'RemoteCreateInstance', clsid: CLSID_CServer, from: '10.0.0.2', caller: 'DCOMLAB\\labadmin', hresult: 'S_OK 0x00000000', oxid: '00000000000000ab' } as never))
      .toBe('09:30:01.234  activation  RemoteCreateInstance of CServer from 10.0.0.2 as DCOMLAB\\labadmin (unauthenticated): S_OK 0x00000000, OXID 00000000000000ab');
    const refused = labLine({ level: 40, time: at, event: 'activation', op: 'RemoteActivation', clsid: '11111111-2222-3333-4444-555555555555', from: '10.0.0.2', caller: 'X\\u', hresult: 'E_ACCESSDENIED 0x80070005', err: 'launch denied' });
    expect(refused).toMatch(/RemoteActivation of \{11111111-2222-3333-4444-555555555555\} .*: E_ACCESSDENIED 0x80070005, refused: launch denied$/);
  });

  it('resolutions, ForwardCall and callbacks each get their sentence', () => {
    expect(labLine({ level: 30, time: at, event: 'resolve', op: 'ResolveOxid2', oxid: 'ab', from: '10.0.0.2', status: 'OK' })).toMatch(/ resolve\s+ResolveOxid2 of OXID ab from 10\.0\.0\.2: OK$/);
    expect(labLine({ level: 40, time: at, event: 'forward-failed', why: 'OXID resolve at 10.0.0.2:135 timed out after 2.0 s', status: 'E_OUTOFMEMORY 0x8007000e' }))
      .toMatch(/ ForwardCall not run: OXID resolve at 10\.0\.0\.2:135 timed out after 2\.0 s; the client gets E_OUTOFMEMORY 0x8007000e$/);
    expect(labLine({ level: 30, time: at, event: 'callback', cookie: 3, to: '10.0.0.2:135', as: 'ANONYMOUS LOGON', hresult: 'E_ACCESSDENIED 0x80070005' }))
      .toMatch(/ callback\s+BackwardCall\(3\) at 10\.0\.0\.2:135 as ANONYMOUS LOGON: E_ACCESSDENIED 0x80070005$/);
  });

  it('other records: warnings shown, chatter only at debug', () => {
    expect(labLine({ level: 30, time: at, msg: 'listening' })).toBeUndefined();
    expect(labLine({ level: 30, time: at, msg: 'listening' }, true)).toMatch(/ info: listening$/);
    expect(labLine({ level: 40, time: at, msg: 'bind refused' })).toMatch(/ warning: bind refused$/);
    // A launch refusal is told once, by the activation's line.
    expect(labLine({ level: 40, time: at, event: 'launch-denied', msg: 'launch denied' })).toBeUndefined();
    expect(labLine({ level: 40, time: at, event: 'denied', iface: 'ICServer', from: '10.0.0.2', caller: 'NT AUTHORITY\\ANONYMOUS LOGON', msg: 'access denied by MachineAccessRestriction' }))
      .toMatch(/ denied\s+ICServer call from 10\.0\.0\.2 as NT AUTHORITY\\ANONYMOUS LOGON: access denied by MachineAccessRestriction$/);
  });

  it('the logger writes those lines for the records the server logs', () => {
    const out = new PassThrough();
    let text = '';
    out.on('data', (d) => (text += d));
    const log = labLogger('info', out);
    log.child({ part: 'resolver' }).info({ event: 'resolve', op: 'ResolveOxid', oxid: '01', from: '10.0.0.9', status: 'OK' }, 'OXID resolution');
    log.info('not for people');
    log.warn({ event: 'activation', op: 'RemoteCreateInstance', clsid: CLSID_CServer, from: '10.0.0.9', caller: 'u', authLevel: 2, hresult: 'E_ACCESSDENIED 0x80070005', err: 'launch denied' }, 'activation refused');
    const lines = text.trim().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/resolve\s+ResolveOxid of OXID 01 from 10\.0\.0\.9: OK$/);
    expect(lines[1]).toMatch(/activation\s+RemoteCreateInstance of CServer from 10\.0\.0\.9 as u \(connect\): E_ACCESSDENIED 0x80070005, refused: launch denied$/);
  });
});
