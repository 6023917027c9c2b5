// Interfaces written as data (ndr.iface) meet the runtime here: a server registers typed
// handlers, a client calls typed operations. Marshalling is the NDR engine's, never repeated.
import * as ndr from '../ndr';
import { RpcFault } from '../base/errors';
import { Status } from '../base/status';
import type { CallContext, DispatchInterface } from './server';
import type { CallOptions, InterfaceId, RpcConnection } from './client';

type AnyOp = ndr.Op<any, any>;
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyIface = ndr.Iface<any>;

export type Handler<O extends AnyOp> = (args: ndr.In<O>, ctx: CallContext) => Promise<ndr.Out<O>> | ndr.Out<O>;
export type Handlers<I extends AnyIface> = { [K in keyof I['ops']]?: Handler<I['ops'][K]> };

/** p_syntax_id_t version of an interface definition (major low 16 bits, minor high 16). */
export function syntaxVersion(i: AnyIface): number {
  return (i.version.major | (i.version.minor << 16)) >>> 0;
}

export function interfaceId(i: AnyIface): InterfaceId {
  return { uuid: i.uuid, version: syntaxVersion(i), name: i.name };
}

/**
 * Build the PDU-level dispatcher for an interface. Operations without a handler answer
 * nca_s_op_rng_error, as an opnum the server does not implement does.
 */
export function dispatcherFor<I extends AnyIface>(i: I, handlers: Handlers<I>): DispatchInterface {
  let opCount = 0;
  for (const o of Object.values(i.ops) as AnyOp[]) opCount = Math.max(opCount, o.opnum + 1);
  return {
    uuid: i.uuid,
    version: syntaxVersion(i),
    name: i.name,
    opCount,
    async dispatch(opnum: number, stub: Buffer, ctx: CallContext): Promise<Buffer> {
      const op = i.byOpnum(opnum) as AnyOp | undefined;
      const h = op ? (handlers as Record<string, Handler<AnyOp> | undefined>)[op.name] : undefined;
      if (!op || !h) throw new RpcFault(Status.nca_s_op_rng_error, `${i.name} opnum ${opnum} is not implemented`);
      const { value: args, trace } = ndr.decodeParams(op.in, stub, { le: ctx.littleEndian, trace: true });
      const out = await h(args, ctx);
      // [out] size_is/length_is may name [in] parameters (ept_map's towers: size_is(max_towers)),
      // and the response numbers its pointers above the request's, as Windows does.
      return ndr.encodeParams(op.out, out, { scope: args, firstReferentId: referentIdAfter(trace.refIds) });
    },
  };
}

/** The first referent id above every id a request used (at least 0x00020000, the usual start). */
export function referentIdAfter(ids: readonly number[]): number {
  let max = 0;
  for (const id of ids) if (id > max) max = id;
  if (max < 0x00020000 || max > 0xfffffff0 - 8) return 0x00020000; // ids near 2^32: nothing above them to use
  return ((max + 4) & ~3) >>> 0;
}

/** A bound interface on a client connection: typed calls by operation. */
export class InterfaceClient<I extends AnyIface> {
  constructor(readonly conn: RpcConnection, readonly iface: I, readonly ctxId: number) {}

  async call<O extends I['ops'][keyof I['ops']]>(op: O, args: ndr.In<O>, opts: CallOptions = {}): Promise<ndr.Out<O>> {
    const stub = ndr.encodeParams(op.in, args);
    const out = await this.conn.call(this.ctxId, op.opnum, stub, opts);
    return ndr.decodeParams(op.out, out, { scope: args as Record<string, unknown> }) as ndr.Out<O>;
  }
}

/** Bind (or alter_context) a connection to an interface definition. */
export async function bindInterface<I extends AnyIface>(conn: RpcConnection, i: I): Promise<InterfaceClient<I>> {
  const ctxId = await conn.bind(interfaceId(i));
  return new InterfaceClient(conn, i, ctxId);
}
