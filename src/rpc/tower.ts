// Protocol towers (C706 Appendix L, MS-RPCE 2.2.1.2.1 / 2.2.1.1.x): the octet string inside an
// endpoint mapper twr_t. Little-endian floor count, then floors of (lhs_length, lhs, rhs_length,
// rhs); ports and addresses on the right-hand side are big-endian. Used by the endpoint mapper,
// its client and the dissector.
import { DcomlabError } from '../base/errors';
import { readGuid, writeGuid } from '../base/guid';
import { NDR20 } from '../pdu';
import { formatStringBinding } from './binding';

/** Protocol identifiers of floor left-hand sides (C706 Appendix I; MS-RPCE 2.2.1.2.1). */
export const TowerProto = {
  UUID: 0x0d,
  RPC_CL: 0x0a,
  RPC_CO: 0x0b,
  TCP: 0x07,
  UDP: 0x08,
  IP: 0x09,
  NCALRPC: 0x0c,
  SMB: 0x0f,
  NAMED_PIPE: 0x10,
  NETBIOS: 0x11,
  HTTP: 0x1f,
} as const;

export interface TowerFloor {
  lhs: Buffer;
  rhs: Buffer;
}

export interface DecodedTower {
  floors: TowerFloor[];
  /** Floor 1: the interface. */
  iface?: { uuid: string; version: number };
  /** Floor 2: the transfer syntax. */
  transferSyntax?: { uuid: string; version: number };
  /** Floor 3 onwards: protocol sequence and endpoint. */
  protseq?: string;
  port?: number;
  host?: string;
  endpoint?: string;
  /** String binding when the tower is complete enough to form one. */
  binding?: string;
}

export class TowerError extends DcomlabError {
  override name = 'TowerError';
  constructor(readonly offset: number, what: string) {
    super(`bad protocol tower at offset ${offset}: ${what}`);
  }
}

/** Split a tower octet string into floors; tolerant of zero-length right-hand sides. */
export function decodeFloors(buf: Buffer): TowerFloor[] {
  if (buf.length < 2) throw new TowerError(0, 'no floor count');
  const count = buf.readUInt16LE(0);
  let o = 2;
  const floors: TowerFloor[] = [];
  for (let i = 0; i < count; i++) {
    if (o + 2 > buf.length) throw new TowerError(o, `floor ${i + 1}: lhs length missing`);
    const ll = buf.readUInt16LE(o);
    o += 2;
    if (o + ll > buf.length) throw new TowerError(o, `floor ${i + 1}: lhs of ${ll} bytes beyond the tower`);
    const lhs = buf.subarray(o, o + ll);
    o += ll;
    if (o + 2 > buf.length) throw new TowerError(o, `floor ${i + 1}: rhs length missing`);
    const rl = buf.readUInt16LE(o);
    o += 2;
    if (o + rl > buf.length) throw new TowerError(o, `floor ${i + 1}: rhs of ${rl} bytes beyond the tower`);
    floors.push({ lhs, rhs: buf.subarray(o, o + rl) });
    o += rl;
  }
  return floors;
}

export function encodeFloors(floors: TowerFloor[]): Buffer {
  let n = 2;
  for (const f of floors) n += 4 + f.lhs.length + f.rhs.length;
  const b = Buffer.alloc(n);
  b.writeUInt16LE(floors.length, 0);
  let o = 2;
  for (const f of floors) {
    b.writeUInt16LE(f.lhs.length, o); o += 2;
    f.lhs.copy(b, o); o += f.lhs.length;
    b.writeUInt16LE(f.rhs.length, o); o += 2;
    f.rhs.copy(b, o); o += f.rhs.length;
  }
  return b;
}

/** A UUID floor: lhs = 0x0d, uuid, major version; rhs = minor version (both little-endian). */
export function uuidFloor(uuid: string, version: number): TowerFloor {
  const lhs = Buffer.alloc(19);
  lhs[0] = TowerProto.UUID;
  writeGuid(lhs, 1, uuid, true);
  lhs.writeUInt16LE(version & 0xffff, 17);
  const rhs = Buffer.alloc(2);
  rhs.writeUInt16LE(version >>> 16, 0);
  return { lhs, rhs };
}

function readUuidFloor(f: TowerFloor): { uuid: string; version: number } | undefined {
  if (f.lhs.length < 19 || f.lhs[0] !== TowerProto.UUID) return undefined;
  const major = f.lhs.readUInt16LE(17);
  const minor = f.rhs.length >= 2 ? f.rhs.readUInt16LE(0) : 0;
  return { uuid: readGuid(f.lhs, 1, true), version: (major | (minor << 16)) >>> 0 };
}

/** The five-floor ncacn_ip_tcp tower: interface, NDR 2.0, RPC CO, TCP port, IPv4 address. */
export function tcpTower(iface: { uuid: string; version: number }, host: string, port: number): Buffer {
  const portB = Buffer.alloc(2);
  portB.writeUInt16BE(port, 0);
  const ip = Buffer.alloc(4);
  const parts = host.split('.').map(Number);
  if (parts.length === 4 && parts.every((x) => Number.isInteger(x) && x >= 0 && x <= 255)) parts.forEach((x, i) => (ip[i] = x));
  return encodeFloors([
    uuidFloor(iface.uuid, iface.version),
    uuidFloor(NDR20.uuid, NDR20.version),
    { lhs: Buffer.from([TowerProto.RPC_CO]), rhs: Buffer.from([0, 0]) },
    { lhs: Buffer.from([TowerProto.TCP]), rhs: portB },
    { lhs: Buffer.from([TowerProto.IP]), rhs: ip },
  ]);
}

/** Decode a tower octet string into its meaning and, where possible, a string binding. */
export function decodeTower(buf: Buffer): DecodedTower {
  const floors = decodeFloors(buf);
  const t: DecodedTower = { floors };
  if (floors[0]) {
    const i = readUuidFloor(floors[0]);
    if (i) t.iface = i;
  }
  if (floors[1]) {
    const s = readUuidFloor(floors[1]);
    if (s) t.transferSyntax = s;
  }
  let rpc = '';
  for (const f of floors.slice(2)) {
    const id = f.lhs[0];
    switch (id) {
      case TowerProto.RPC_CO: rpc = 'ncacn'; break; // Wine sends a zero-length rhs here: tolerated
      case TowerProto.RPC_CL: rpc = 'ncadg'; break;
      case TowerProto.TCP:
        if (f.rhs.length >= 2) t.port = f.rhs.readUInt16BE(0);
        t.protseq = rpc === 'ncadg' ? 'ncadg_ip_tcp' : 'ncacn_ip_tcp';
        break;
      case TowerProto.UDP:
        if (f.rhs.length >= 2) t.port = f.rhs.readUInt16BE(0);
        t.protseq = 'ncadg_ip_udp';
        break;
      case TowerProto.HTTP:
        if (f.rhs.length >= 2) t.port = f.rhs.readUInt16BE(0);
        t.protseq = 'ncacn_http';
        break;
      case TowerProto.IP:
        if (f.rhs.length >= 4) t.host = `${f.rhs[0]}.${f.rhs[1]}.${f.rhs[2]}.${f.rhs[3]}`;
        break;
      case TowerProto.SMB:
        t.protseq = 'ncacn_np';
        t.endpoint = cString(f.rhs);
        break;
      case TowerProto.NAMED_PIPE:
        if (t.protseq === 'ncacn_np') t.host = cString(f.rhs);
        else { t.protseq = 'ncalrpc'; t.endpoint = cString(f.rhs); }
        break;
      case TowerProto.NETBIOS:
        t.host = cString(f.rhs);
        break;
      case TowerProto.NCALRPC:
        t.protseq = 'ncalrpc';
        t.endpoint = cString(f.rhs);
        break;
    }
  }
  if (t.protseq && (t.protseq === 'ncacn_ip_tcp' || t.protseq === 'ncadg_ip_udp' || t.protseq === 'ncacn_http')) {
    if (t.host !== undefined) {
      t.binding = t.protseq === 'ncacn_ip_tcp'
        ? formatStringBinding({ host: t.host, port: t.port })
        : `${t.protseq}:${t.host}[${t.port ?? ''}]`;
    }
  } else if (t.protseq) {
    t.binding = `${t.protseq}:${t.host ?? ''}[${t.endpoint ?? ''}]`;
  }
  return t;
}

function cString(b: Buffer): string {
  const z = b.indexOf(0);
  return b.toString('latin1', 0, z >= 0 ? z : b.length);
}
