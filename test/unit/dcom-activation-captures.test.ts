// IRemoteSCMActivator in real captures (MS-DCOM 3.1.2.5.2.3) against tshark's isystemactivator
// dissector: the activation properties BLOB (MS-DCOM 2.2.22) decoded, compared, and re-encoded.
import path from 'node:path';
import { expect, it } from 'vitest';
import * as ndr from '../../src/ndr';
import { dissectCapture } from '../../src/dissect/dissect';
import type { PduRecord } from '../../src/dissect/dissect';
import { findVerificationTrailer } from '../../src/rpc/verification-trailer';
import {
  IRemoteSCMActivator, IID_IRemoteSCMActivator, decodeActivationInterfacePointer, encodeActivationInterfacePointer,
  findActivationProperty, CLSID_ActivationPropertiesIn, CLSID_ActivationPropertiesOut,
  IID_IActivationPropertiesIn, IID_IActivationPropertiesOut, type ActivationBlobRef,
} from '../../src/dcom/activation';
import { parseDualStringArray } from '../../src/dcom/types';
import { decodeObjref } from '../../src/dcom/objref';
import { describeWithPeers } from '../support/peers';
import { runTshark } from '../support/tshark';
import { SHARED_PCAPS } from '../support/paths';

interface Call {
  frame: number;
  opnum: number;
  request?: { rec: PduRecord; stub: Buffer };
  response?: { rec: PduRecord; stub: Buffer };
}

async function activationCalls(file: string): Promise<Call[]> {
  const calls = new Map<string, Call>();
  const reqOpnum = new Map<string, number>();
  await dissectCapture(file, (rec, pdu) => {
    if (pdu === undefined || !('stub' in pdu)) return;
    const key = `${rec.stream}/${rec.callId}`;
    if (rec.interface?.uuid !== IID_IRemoteSCMActivator) return;
    const stub = Buffer.from((pdu as { stub: Buffer }).stub);
    if (rec.ptype === 0) {
      reqOpnum.set(key, rec.opnum!);
      calls.set(key, { frame: rec.frame, opnum: rec.opnum!, request: { rec, stub } });
    } else if (rec.ptype === 2) {
      const c = calls.get(key);
      if (c) c.response = { rec, stub };
    }
  }, { decodePdus: true });
  return [...calls.values()];
}

/** tshark -T fields for one frame: each field's occurrences. */
function fields(file: string, frame: number, names: string[]): Record<string, string[]> {
  const out = runTshark(['-r', file, '-Y', `frame.number == ${frame}`, '-T', 'fields', '-E', 'separator=\t', '-E', 'aggregator=|',
    ...names.flatMap((n) => ['-e', n])]).trimEnd().split('\n').pop()!.split('\t');
  const r = Object.fromEntries(names.map((n, i) => [n, (out[i] ?? '') === '' ? [] : out[i]!.split('|')]));
  // Every field asked for is one tshark shows in that frame: an empty list would compare equal to nothing.
  for (const n of names) expect(r[n], `tshark ${n} in frame ${frame}`).not.toHaveLength(0);
  return r;
}

const CAPTURES = [
  { file: path.join(SHARED_PCAPS, 'zeek', 'kerberos135_auth.pcapng'), opnum: 4 },
  { file: path.join(SHARED_PCAPS, 'suricata-verify', 'dcerpc-ctxids.pcap'), opnum: 3 },
];

const hex8 = (n: number) => `0x${(n >>> 0).toString(16).padStart(8, '0')}`;

function reencodeBlob(direction: 'in' | 'out', a: ActivationBlobRef): Buffer {
  const { objref, header, headerTrace, trailing, dwReserved, properties } = a;
  const { pObjectData: _ignored, ...o } = objref;
  return encodeActivationInterfacePointer(direction, { ...header, headerTrace, trailing, blobReserved: dwReserved }, properties, o).abData;
}

describeWithPeers(['tshark'], 'IRemoteSCMActivator in captures vs tshark', () => {
  for (const cap of CAPTURES) {
    const name = path.basename(cap.file);
    let callsP: Promise<Call[]> | undefined;
    const calls = () => (callsP ??= activationCalls(cap.file));

    it(`${name}: one opnum ${cap.opnum} call with request and response`, async () => {
      const cs = await calls();
      expect(cs).toHaveLength(1);
      expect(cs[0]!.opnum).toBe(cap.opnum);
      expect(cs[0]!.request).toBeDefined();
      expect(cs[0]!.response).toBeDefined();
    });

    it(`${name}: request activation properties match tshark and re-encode to the same octets`, async () => {
      const c = (await calls())[0]!;
      const op = IRemoteSCMActivator.byOpnum(c.opnum)!;
      const raw = c.request!.stub;
      const stub = findVerificationTrailer(raw)?.stub ?? raw;
      const d = ndr.decodeParams(op.in, stub, { trace: true });
      expect(d.end).toBe(stub.length);
      const v = d.value as ndr.In<typeof IRemoteSCMActivator.ops.RemoteCreateInstance>;
      expect(ndr.encodeParams(op.in, v as never, { replay: d.trace })).toEqual(stub);
      if (c.opnum === 4) expect(v.pUnkOuter).toBeNull();
      const mip = v.pActProperties!;
      const a = decodeActivationInterfacePointer(mip, { trace: true });

      const t = fields(cap.file, c.request!.rec.frame, [
        'dcom.iid', 'dcom.clsid', 'isystemactivator.actproperties.size', 'isystemactivator.customhdr.clsid',
        'isystemactivator.customhdr.datasize', 'isystemactivator.properties.instninfo.clsid',
        'isystemactivator.properties.instninfo.iid', 'isystemactivator.properties.instninfo.iidcount',
        'isystemactivator.properties.sri.protseq', 'isystemactivator.properties.sri.cltimplvl',
        'isystemactivator.properties.si.ci.name', 'isystemactivator.properties.spcl.sid',
        'isystemactivator.properties.spcl.origclsctx', 'dcom.version_major', 'dcom.version_minor',
      ]);
      expect(a.objref.iid).toBe(IID_IActivationPropertiesIn);
      expect(a.objref.clsid).toBe(CLSID_ActivationPropertiesIn);
      expect(t['dcom.iid']![0]).toBe(a.objref.iid);
      expect(t['dcom.clsid']![0]).toBe(a.objref.clsid);
      expect(t['isystemactivator.actproperties.size']![0]).toBe(String(a.dwSize));
      expect(t['isystemactivator.customhdr.clsid']).toEqual(a.header.pclsid);
      expect(t['isystemactivator.customhdr.datasize']).toEqual(a.header.pSizes!.map(String));

      const inst = findActivationProperty(a.properties, 'InstantiationInfoData')!;
      expect(inst).toBeDefined();
      expect(t['isystemactivator.properties.instninfo.clsid']).toEqual([inst.classId]);
      expect(t['isystemactivator.properties.instninfo.iid']).toEqual(inst.pIID);
      expect(t['isystemactivator.properties.instninfo.iidcount']).toEqual([String(inst.cIID)]);
      const scm = findActivationProperty(a.properties, 'ScmRequestInfoData')!;
      expect(t['isystemactivator.properties.sri.protseq']).toEqual(scm.remoteRequest!.pRequestedProtseqs!.map(String));
      expect(t['isystemactivator.properties.sri.cltimplvl']).toEqual([String(scm.remoteRequest!.ClientImpLevel)]);
      const sec = findActivationProperty(a.properties, 'SecurityInfoData')!;
      expect(t['isystemactivator.properties.si.ci.name']).toEqual([sec.pServerInfo!.pwszName]);
      const spcl = findActivationProperty(a.properties, 'SpecialPropertiesData')!;
      expect(t['isystemactivator.properties.spcl.sid']).toEqual([String(spcl.dwSessionId)]);
      expect(t['isystemactivator.properties.spcl.origclsctx']).toEqual([String(spcl.dwOrigClsctx)]);
      // COM versions: ORPCTHIS.version, then InstantiationInfoData.clientCOMVersion
      expect(t['dcom.version_major']).toEqual([v.orpcthis.version.MajorVersion, inst.clientCOMVersion.MajorVersion].map(String));
      expect(t['dcom.version_minor']).toEqual([v.orpcthis.version.MinorVersion, inst.clientCOMVersion.MinorVersion].map(String));
      expect(a.properties.map((p) => p.name)).toEqual([
        'SpecialPropertiesData', 'InstantiationInfoData', 'ActivationContextInfoData', 'SecurityInfoData', 'LocationInfoData', 'ScmRequestInfoData',
      ]);

      // The BLOB, re-encoded from its decoded value (with the NDR traces), is the same octets.
      expect(reencodeBlob('in', a)).toEqual(mip.abData);
      // And without traces (this encoder's defaults) it still decodes to the same values.
      const plain = decodeActivationInterfacePointer(mip);
      const again = decodeActivationInterfacePointer(encodeActivationInterfacePointer('in', plain.header, plain.properties));
      expect(again.properties).toEqual(plain.properties);
      expect(again.header).toEqual(plain.header);
      // Windows' BLOB is exactly what this encoder writes by default (sizes, padding, referent ids).
      expect(encodeActivationInterfacePointer('in', plain.header, plain.properties, { reserved: plain.objref.reserved }).abData).toEqual(mip.abData);
    });

    it(`${name}: response activation properties match tshark and re-encode to the same octets`, async () => {
      const c = (await calls())[0]!;
      const op = IRemoteSCMActivator.byOpnum(c.opnum)!;
      const stub = c.response!.stub;
      const d = ndr.decodeParams(op.out, stub, { trace: true });
      expect(d.end).toBe(stub.length);
      const v = d.value as ndr.Out<typeof IRemoteSCMActivator.ops.RemoteCreateInstance>;
      expect(ndr.encodeParams(op.out, v as never, { replay: d.trace })).toEqual(stub);
      const mip = v.ppActProperties!;
      const a = decodeActivationInterfacePointer(mip, { trace: true });

      const t = fields(cap.file, c.response!.rec.frame, [
        'dcom.iid', 'dcom.clsid', 'dcom.hresult', 'isystemactivator.actproperties.size', 'isystemactivator.customhdr.clsid',
        'isystemactivator.customhdr.datasize', 'isystemactivator.properties.pi.ifnum', 'isystemactivator.properties.iid',
        'isystemactivator.properties.retval', 'isystemactivator.properties.scmresp.oxid',
        'isystemactivator.properties.scmresp.authhint', 'isystemactivator.properties.scmresp.rmtunknid',
        'dcom.dualstringarray.network_addr', 'dcom.dualstringarray.tower_id', 'dcom.version_major', 'dcom.version_minor',
      ]);
      expect(a.objref.iid).toBe(IID_IActivationPropertiesOut);
      expect(a.objref.clsid).toBe(CLSID_ActivationPropertiesOut);
      expect(t['dcom.iid']![0]).toBe(a.objref.iid);
      expect(t['dcom.clsid']![0]).toBe(a.objref.clsid);
      expect(t['isystemactivator.actproperties.size']![0]).toBe(String(a.dwSize));
      expect(t['isystemactivator.customhdr.clsid']).toEqual(a.header.pclsid);
      expect(t['isystemactivator.customhdr.datasize']).toEqual(a.header.pSizes!.map(String));
      expect(a.properties.map((p) => p.name)).toEqual(['PropsOutInfo', 'ScmReplyInfoData']);

      const po = findActivationProperty(a.properties, 'PropsOutInfo')!;
      expect(t['isystemactivator.properties.pi.ifnum']).toEqual([String(po.cIfs)]);
      expect(t['isystemactivator.properties.iid']).toEqual(po.piid);
      expect(t['isystemactivator.properties.retval']).toEqual(po.phresults!.map(String));
      // The call's HRESULT is the last dcom.hresult tshark shows.
      expect(t['dcom.hresult']!.at(-1)).toBe(hex8(v.hresult));
      const rr = findActivationProperty(a.properties, 'ScmReplyInfoData')!.remoteReply!;
      expect(t['isystemactivator.properties.scmresp.oxid']).toEqual([`0x${rr.Oxid.toString(16).padStart(16, '0')}`]);
      expect(t['isystemactivator.properties.scmresp.authhint']).toEqual([String(rr.authnHint)]);
      expect(t['isystemactivator.properties.scmresp.rmtunknid']).toEqual([rr.ipidRemUnknown]);
      expect(t['dcom.version_major']).toEqual([String(rr.serverVersion.MajorVersion)]);
      expect(t['dcom.version_minor']).toEqual([String(rr.serverVersion.MinorVersion)]);
      // String bindings: first the interface's OBJREF_STANDARD resolver address, then pdsaOxidBindings.
      const objref = decodeObjref(po.ppIntfData![0]!.abData);
      expect(objref.flags).toBe(1);
      const std = objref.flags === 1 ? objref.saResAddr.stringBindings : [];
      const oxidB = parseDualStringArray(rr.pdsaOxidBindings!).stringBindings;
      expect(oxidB.length).toBeGreaterThan(0);
      expect(t['dcom.dualstringarray.network_addr']).toEqual([...std, ...oxidB].map((b) => b.networkAddr));
      expect(t['dcom.dualstringarray.tower_id']).toEqual([...std, ...oxidB].map((b) => `0x${b.towerId.toString(16).padStart(4, '0')}`));

      expect(reencodeBlob('out', a)).toEqual(mip.abData);
      const plain = decodeActivationInterfacePointer(mip);
      const again = decodeActivationInterfacePointer(encodeActivationInterfacePointer('out', plain.header, plain.properties));
      expect(again.properties).toEqual(plain.properties);
      expect(encodeActivationInterfacePointer('out', plain.header, plain.properties, { reserved: plain.objref.reserved }).abData).toEqual(mip.abData);
    });
  }
});
