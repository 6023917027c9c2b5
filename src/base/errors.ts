// Typed errors. Each carries the protocol's numeric status and its name, so the CLI can
// print "E_ACCESSDENIED 0x80070005" and never a stack trace.
import { describeStatus, hex32, statusName, type StatusLayer } from './status';

export class DcomlabError extends Error {
  override name = 'DcomlabError';
  /** Numeric status from the protocol, when there is one. */
  readonly status?: number;
  constructor(message: string, status?: number) {
    super(message);
    if (status !== undefined) this.status = status >>> 0;
  }
  get statusName(): string | undefined {
    return this.status === undefined ? undefined : statusName(this.status);
  }
}

/** A fault PDU answered by the server (or one we are about to send). */
export class RpcFault extends DcomlabError {
  override name = 'RpcFault';
  constructor(status: number, detail?: string, layer?: StatusLayer) {
    super(`fault ${describeStatus(status, layer)}${detail ? `: ${detail}` : ''}`, status);
  }
}

/** The server refused the association (bind_nak), with its reject reason. */
export class BindRejected extends DcomlabError {
  override name = 'BindRejected';
  constructor(readonly reason: number, readonly reasonName: string, detail?: string) {
    super(`bind rejected: ${reasonName} (${reason})${detail ? `: ${detail}` : ''}`, reason);
  }
}

/** A PDU or stream that is not valid DCE/RPC. `offset` is where the reader stood. */
export class PduDecodeError extends DcomlabError {
  override name = 'PduDecodeError';
  constructor(readonly offset: number, readonly what: string) {
    super(`bad PDU at offset ${offset}: ${what}`);
  }
}

/** An NDR stub that cannot be decoded; `field` names what was being read. */
export class NdrDecodeError extends DcomlabError {
  override name = 'NdrDecodeError';
  constructor(readonly offset: number, readonly field: string, readonly what: string) {
    super(`NDR decode error at offset ${offset} (${field}): ${what}`);
  }
}

export class NdrEncodeError extends DcomlabError {
  override name = 'NdrEncodeError';
  constructor(readonly field: string, readonly what: string) {
    super(`NDR encode error (${field}): ${what}`);
  }
}

/** A capture file that cannot be read: file, byte offset and what is wrong. */
export class CaptureError extends DcomlabError {
  override name = 'CaptureError';
  constructor(readonly file: string, readonly offset: number, readonly what: string) {
    super(`${file}: offset ${offset}: ${what}`);
  }
}

export class AuthError extends DcomlabError {
  override name = 'AuthError';
  constructor(readonly reason: string, status?: number) {
    super(`authentication failed: ${reason}${status !== undefined ? ` (${describeStatus(status)})` : ''}`, status);
  }
}

export class ObjrefError extends DcomlabError {
  override name = 'ObjrefError';
  constructor(readonly offset: number, readonly what: string) {
    super(`bad OBJREF at offset ${offset}: ${what}`);
  }
}

/** A COM method or activation that returned a failure HRESULT (MS-ERREF 2.1). */
export class ComError extends DcomlabError {
  override name = 'ComError';
  constructor(readonly hresult: number, readonly what: string) {
    super(`${what}: ${describeStatus(hresult, 'hresult')}`, hresult);
  }
}

/** One line for a person: message and status, never a stack. */
export function formatError(err: unknown): string {
  if (err instanceof DcomlabError) {
    if (err.status !== undefined && !err.message.includes(hex32(err.status))) {
      return `${err.message} [${describeStatus(err.status)}]`;
    }
    return err.message;
  }
  if (err instanceof Error) {
    const code = (err as NodeJS.ErrnoException).code;
    return code ? `${err.message} (${code})` : err.message;
  }
  return String(err);
}
