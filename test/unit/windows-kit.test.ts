// The Windows lab kit (tools/windows): build.sh cross-compiles it with mingw-w64, and what it builds
// must agree with dcomlab's own definitions of the lab classes (src/dcom/server/lab-class.ts) and
// load on Windows XP SP2. Nothing runs on Windows here: the .exe files are checked as files.
//
// Needs the mingw-w64 i686 tools. In CI (CI=true) a missing tool FAILS the suite; elsewhere the
// suite is skipped with the reason printed (as test/support/peers.ts does for peers).
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CLSID_CServer, IClientCallback, ICServer, IID_IClientCallback, IID_ICServer, LIBID_DcomLab,
} from '../../src/dcom/server/lab-class';
import { isCI } from '../support/peers';
import { PROJECT_ROOT } from '../support/paths';

const KIT = path.join(PROJECT_ROOT, 'tools', 'windows');
const TOOLS = ['widl', 'gcc', 'g++', 'windres', 'objdump'].map((t) => `i686-w64-mingw32-${t}`);
const TIMEOUT = 120_000;

/** DLLs present on every Windows XP SP2 machine (the kit may import nothing else). */
const XP_DLLS = ['kernel32.dll', 'user32.dll', 'advapi32.dll', 'ole32.dll', 'oleaut32.dll', 'msvcrt.dll', 'secur32.dll', 'rpcrt4.dll'];
/**
 * Functions a mingw-w64 CRT, libgcc or libstdc++ can pull in that XP SP2 does not export (Microsoft
 * documents them as Windows Vista / Server 2003 or later, or absent from XP's msvcrt.dll). Importing
 * one makes the loader refuse the .exe on XP ("procedure entry point ... could not be located").
 */
const POST_XP_FUNCTIONS = [
  'GetTickCount64', 'InitializeCriticalSectionEx', 'InitOnceExecuteOnce', 'InitOnceBeginInitialize', 'InitializeSRWLock',
  'AcquireSRWLockExclusive', 'AcquireSRWLockShared', 'TryAcquireSRWLockExclusive', 'InitializeConditionVariable',
  'SleepConditionVariableCS', 'SleepConditionVariableSRW', 'WakeConditionVariable', 'WakeAllConditionVariable',
  'FlsAlloc', 'FlsGetValue', 'FlsSetValue', 'FlsFree', 'GetSystemTimePreciseAsFileTime', 'CreateEventExW',
  'CreateSemaphoreExW', 'GetFileInformationByHandleEx', 'GetCurrentProcessorNumber', 'GetThreadId', 'GetErrorMode',
  'GetLogicalProcessorInformation', 'QueryFullProcessImageNameW', 'CompareStringEx', 'LCMapStringEx', 'GetLocaleInfoEx',
  'GetUserDefaultLocaleName', 'RegDeleteTreeW', 'RegGetValueW', 'CancelIoEx', 'CreateSymbolicLinkW',
  'GetFinalPathNameByHandleW', 'SetThreadStackGuarantee',
  // msvcrt.dll gained the secure (_s) and 64-bit-offset functions after XP.
  '_vsnwprintf_s', '_snwprintf_s', 'swprintf_s', 'sprintf_s', 'wcscpy_s', 'strcpy_s', 'memcpy_s', 'memmove_s',
  '_fseeki64', '_ftelli64', 'strnlen', 'wcsnlen', '_get_errno', '_set_errno', '_set_invalid_parameter_handler',
];

// ---------------------------------------------------------------------------------------------------
// PE32 by hand (Microsoft PE/COFF specification).

interface Pe {
  machine: number;
  magic: number;
  os: [number, number];
  subsystem: [number, number];
  imports: Map<string, string[]>;
  /** Resources as "TYPE/NAME" (names upper case, ids as #n) -> data, first language only. */
  resources: Map<string, Buffer>;
}

function parsePe(buf: Buffer): Pe {
  expect(buf.toString('latin1', 0, 2), 'MZ signature').toBe('MZ');
  const pe = buf.readUInt32LE(0x3c);
  expect(buf.toString('latin1', pe, pe + 4), 'PE signature').toBe('PE\0\0');
  const coff = pe + 4;
  const machine = buf.readUInt16LE(coff);
  const nSections = buf.readUInt16LE(coff + 2);
  const optSize = buf.readUInt16LE(coff + 16);
  const opt = coff + 20;
  const magic = buf.readUInt16LE(opt);
  const os: [number, number] = [buf.readUInt16LE(opt + 40), buf.readUInt16LE(opt + 42)];
  const subsystem: [number, number] = [buf.readUInt16LE(opt + 48), buf.readUInt16LE(opt + 50)];
  const dataDirs = opt + 96; // PE32: the data directories start at optional-header offset 96
  const dir = (i: number) => ({ rva: buf.readUInt32LE(dataDirs + 8 * i), size: buf.readUInt32LE(dataDirs + 8 * i + 4) });
  const sections: { va: number; vsize: number; raw: number; rawSize: number }[] = [];
  for (let i = 0, s = opt + optSize; i < nSections; i++, s += 40) {
    sections.push({ vsize: buf.readUInt32LE(s + 8), va: buf.readUInt32LE(s + 12), rawSize: buf.readUInt32LE(s + 16), raw: buf.readUInt32LE(s + 20) });
  }
  const off = (rva: number): number => {
    const s = sections.find((x) => rva >= x.va && rva < x.va + Math.max(x.vsize, x.rawSize));
    if (!s) throw new Error(`RVA 0x${rva.toString(16)} is in no section`);
    return rva - s.va + s.raw;
  };
  const cstr = (at: number) => buf.toString('latin1', at, buf.indexOf(0, at));

  const imports = new Map<string, string[]>();
  const imp = dir(1);
  if (imp.rva) {
    for (let d = off(imp.rva); ; d += 20) {
      const lookup = buf.readUInt32LE(d), nameRva = buf.readUInt32LE(d + 12), iat = buf.readUInt32LE(d + 16);
      if (!lookup && !nameRva && !iat) break;
      const fns: string[] = [];
      for (let t = off(lookup || iat); ; t += 4) {
        const v = buf.readUInt32LE(t);
        if (!v) break;
        fns.push(v & 0x80000000 ? `#${v & 0xffff}` : cstr(off(v) + 2));
      }
      imports.set(cstr(off(nameRva)).toLowerCase(), fns);
    }
  }

  const resources = new Map<string, Buffer>();
  const rsrc = dir(2);
  if (rsrc.rva) {
    const base = off(rsrc.rva);
    const entries = (at: number) => {
      const n = buf.readUInt16LE(at + 12) + buf.readUInt16LE(at + 14);
      return Array.from({ length: n }, (_, i) => {
        const name = buf.readUInt32LE(at + 16 + 8 * i), to = buf.readUInt32LE(at + 20 + 8 * i);
        const label = name & 0x80000000
          ? buf.toString('utf16le', base + (name & 0x7fffffff) + 2, base + (name & 0x7fffffff) + 2 + 2 * buf.readUInt16LE(base + (name & 0x7fffffff))).toUpperCase()
          : `#${name}`;
        return { label, sub: (to & 0x80000000) !== 0, at: base + (to & 0x7fffffff) };
      });
    };
    for (const type of entries(base).filter((e) => e.sub)) {
      for (const name of entries(type.at).filter((e) => e.sub)) {
        const lang = entries(name.at)[0];
        if (!lang || lang.sub) continue;
        const start = off(buf.readUInt32LE(lang.at));
        resources.set(`${type.label}/${name.label}`, buf.subarray(start, start + buf.readUInt32LE(lang.at + 4)));
      }
    }
  }
  return { machine, magic, os, subsystem, imports, resources };
}

// ---------------------------------------------------------------------------------------------------
// The C text widl generated, and the IDL.

/** GUIDs defined in C text: DEFINE_GUID(name, l, w1, w2, b1..b8) or MIDL_DEFINE_GUID(type, name, ...). */
function cGuids(text: string): Map<string, string> {
  const out = new Map<string, string>();
  const re = /\b(?:MIDL_DEFINE_GUID\(\s*\w+\s*,|DEFINE_GUID\()\s*(\w+)\s*,((?:\s*0x[0-9a-fA-F]+\s*,?){11})\)/g;
  for (const m of text.matchAll(re)) {
    const n = m[2]!.split(',').map((x) => BigInt(x.trim()));
    expect(n).toHaveLength(11);
    const hex = (v: bigint, w: number) => v.toString(16).padStart(w, '0');
    const b = n.slice(3).map((v) => hex(v, 2)).join('');
    out.set(m[1]!, `${hex(n[0]!, 8)}-${hex(n[1]!, 4)}-${hex(n[2]!, 4)}-${b.slice(0, 4)}-${b.slice(4)}`);
  }
  return out;
}

/** Method names of `interface NAME : IUnknown { ... }` in declaration order. */
function idlMethods(idl: string, name: string): string[] {
  const code = idl.replace(/\/\*[\s\S]*?\*\//g, '').replace(/\/\/.*$/gm, '');
  const m = new RegExp(`\\binterface\\s+${name}\\s*:\\s*IUnknown\\s*\\{([^}]*)\\}`).exec(code);
  if (!m) throw new Error(`lab.idl: no "interface ${name} : IUnknown { ... }"`);
  return [...m[1]!.matchAll(/\bHRESULT\s+(\w+)\s*\(/g)].map((x) => x[1]!);
}

/** The function-pointer members of `typedef struct NAMEVtbl { ... } NAMEVtbl;` in order. */
function vtblMethods(header: string, name: string): string[] {
  const m = new RegExp(`typedef struct ${name}Vtbl\\s*\\{([\\s\\S]*?)\\}\\s*${name}Vtbl;`).exec(header);
  if (!m) throw new Error(`lab.h: no ${name}Vtbl`);
  return [...m[1]!.matchAll(/\(\s*STDMETHODCALLTYPE\s*\*\s*(\w+)\s*\)/g)].map((x) => x[1]!);
}

/** The server's view: operation names ordered by opnum, with their opnums. */
function tsOps(iface: { ops: Record<string, { name: string; opnum: number }> }): { name: string; opnum: number }[] {
  return Object.values(iface.ops).map((o) => ({ name: o.name, opnum: o.opnum })).sort((a, b) => a.opnum - b.opnum);
}

/** A GUID's 16 bytes as Windows stores it (the first three fields little-endian). */
function guidBytes(g: string): Buffer {
  const h = g.replace(/-/g, '');
  const b = Buffer.from(h, 'hex');
  return Buffer.concat([Buffer.from(b.subarray(0, 4)).reverse(), Buffer.from(b.subarray(4, 6)).reverse(), Buffer.from(b.subarray(6, 8)).reverse(), b.subarray(8)]);
}

// ---------------------------------------------------------------------------------------------------

const missing = TOOLS.filter((t) => spawnSync('sh', ['-c', `command -v ${t}`], { encoding: 'utf8' }).status !== 0);
const why = `missing ${missing.join(', ')} (Debian 12: apt-get install gcc-mingw-w64-i686 g++-mingw-w64-i686 mingw-w64-tools)`;

function kitSuite(): void {
  let out = '';
  let log = '';
  const file = (name: string) => path.join(out, name);

  beforeAll(() => {
    out = mkdtempSync(path.join(os.tmpdir(), 'dcomlab-windows-kit-'));
    log = execFileSync('bash', [path.join(KIT, 'build.sh'), out], { encoding: 'utf8', timeout: TIMEOUT, stdio: ['ignore', 'pipe', 'pipe'] });
  }, TIMEOUT);
  afterAll(() => {
    if (out) rmSync(out, { recursive: true, force: true });
  });

  it('build.sh names what it built; the kit is complete', () => {
    for (const f of ['labserver.exe', 'labclient.exe', 'lab.tlb', 'lab.h', 'lab_i.c', 'register.cmd', 'labserver.reg']) {
      expect(log).toMatch(new RegExp(`^\\s+${f.replace('.', '\\.')}\\s+\\d+ bytes$`, 'm'));
      expect(readFileSync(file(f)).length, f).toBeGreaterThan(0);
    }
    // cmd.exe and regedit get CRLF line endings.
    const cmd = readFileSync(file('register.cmd'), 'latin1');
    expect(cmd.split('\n').slice(0, -1).every((l) => l.endsWith('\r'))).toBe(true);
  });

  for (const exe of ['labserver.exe', 'labclient.exe']) {
    it(`${exe}: PE32 for i386, loadable by XP SP2, imports only XP-era DLLs and functions, embeds lab.tlb`, () => {
      const pe = parsePe(readFileSync(file(exe)));
      expect(pe.machine, 'IMAGE_FILE_MACHINE_I386').toBe(0x14c);
      expect(pe.magic, 'PE32 optional header').toBe(0x10b);
      // XP (5.1) refuses images that ask for a newer OS or subsystem version.
      expect(pe.os[0] * 100 + pe.os[1]).toBeLessThanOrEqual(501);
      expect(pe.subsystem[0] * 100 + pe.subsystem[1]).toBeLessThanOrEqual(501);
      const dlls = [...pe.imports.keys()];
      expect(dlls).toEqual(expect.arrayContaining(['ole32.dll', 'oleaut32.dll']));
      expect(dlls.filter((d) => !XP_DLLS.includes(d)), `${exe} imports ${dlls.join(', ')}`).toEqual([]);
      const fns = [...pe.imports.values()].flat();
      expect(fns.filter((f) => POST_XP_FUNCTIONS.includes(f))).toEqual([]);
      expect(fns).toEqual(expect.arrayContaining(['CoInitializeSecurity', 'LoadTypeLibEx']));
      // LoadTypeLibEx(exe path) looks for resource TYPELIB #1.
      expect(pe.resources.get('TYPELIB/#1')?.equals(readFileSync(file('lab.tlb')))).toBe(true);
    });
  }

  it('lab.tlb: an MSFT type library holding the LIBID, CLSID and IIDs, importing stdole2', () => {
    const tlb = readFileSync(file('lab.tlb'));
    expect(tlb.toString('latin1', 0, 4)).toBe('MSFT');
    for (const [name, g] of Object.entries({ LIBID_DcomLab, CLSID_CServer, IID_ICServer, IID_IClientCallback })) {
      expect(tlb.indexOf(guidBytes(g)), name).toBeGreaterThan(0);
    }
    expect(tlb.indexOf('stdole2.tlb', 0, 'latin1')).toBeGreaterThan(0);
    expect(tlb.indexOf(guidBytes('00020430-0000-0000-c000-000000000046')), 'stdole2 LIBID').toBeGreaterThan(0);
  });

  it("the GUIDs widl generated (lab_i.c and lab.h) are dcomlab's", () => {
    const want = { IID_ICServer, IID_IClientCallback, CLSID_CServer, LIBID_DcomLabLib: LIBID_DcomLab };
    for (const f of ['lab_i.c', 'lab.h']) {
      const got = cGuids(readFileSync(file(f), 'utf8'));
      expect(Object.fromEntries(Object.keys(want).map((k) => [k, got.get(k)])), f).toEqual(want);
    }
  });

  it("lab.idl's methods are the server's operations, in opnum order (3 + index after IUnknown)", () => {
    const idl = readFileSync(path.join(KIT, 'lab.idl'), 'utf8');
    for (const iface of [ICServer, IClientCallback]) {
      const methods = idlMethods(idl, iface.name);
      const ops = tsOps(iface);
      expect(new Set(methods), iface.name).toEqual(new Set(ops.map((o) => o.name)));
      expect(methods, `${iface.name}: no method twice`).toHaveLength(ops.length);
      expect(methods.map((m, i) => [m, 3 + i]), iface.name).toEqual(ops.map((o) => [o.name, o.opnum]));
      expect(new RegExp(`uuid\\(\\s*${iface.uuid}\\s*\\)[^\\]]*\\]\\s*interface\\s+${iface.name}\\b`, 'i').test(idl), `${iface.name} uuid`).toBe(true);
    }
  });

  it("lab.h's vtables (what the Windows compiler lays out) follow the same order", () => {
    const header = readFileSync(file('lab.h'), 'utf8');
    for (const iface of [ICServer, IClientCallback]) {
      const slots = vtblMethods(header, iface.name);
      expect(slots.slice(0, 3)).toEqual(['QueryInterface', 'AddRef', 'Release']);
      expect(slots.slice(3).map((m, i) => [m, 3 + i]), iface.name).toEqual(tsOps(iface).map((o) => [o.name, o.opnum]));
    }
  });
}

if (missing.length === 0) {
  describe('Windows lab kit (tools/windows/build.sh)', { timeout: TIMEOUT }, kitSuite);
} else if (isCI()) {
  describe('Windows lab kit (tools/windows/build.sh)', () => {
    it('needs the mingw-w64 i686 tools', () => {
      throw new Error(`CI must have the mingw-w64 tools installed: ${why}`);
    });
  });
} else {
  console.warn(`skipped: Windows lab kit: ${why}`);
  describe.skip('Windows lab kit (tools/windows/build.sh)', kitSuite);
}
