// How the DCOM client authenticates: one set of credentials, turned into a fresh initiator for
// every connection it opens (the activator on 135, each object exporter, each resolver), each at
// the level that connection needs (MS-DCOM 3.2.4.1.1.2, 3.2.4.1.2.2).
import { createInitiator } from '../../auth';
import type { ClientCredentials } from '../../auth/types';
import { AuthLevel, AuthType } from '../../pdu';
import type { ClientOptions } from '../../rpc/client';

export interface DcomAuth {
  credentials: ClientCredentials;
  /** RPC_C_AUTHN_LEVEL_* for activation and ORPC calls (MS-RPCE 2.2.1.1.8). */
  level: number;
  /** RPC_C_AUTHN_WINNT (10, default) or RPC_C_AUTHN_GSS_NEGOTIATE (9). */
  authType?: number;
}

/** The `auth` option of one RpcConnection at `level`; undefined = unauthenticated. */
export function connectionAuth(auth: DcomAuth | undefined, level: number): ClientOptions['auth'] {
  if (!auth || level <= AuthLevel.none) return undefined;
  return { initiator: createInitiator(auth.authType ?? AuthType.winnt, auth.credentials, level), level };
}

/**
 * The level an object exporter is bound at: the client's own level, raised to the exporter's
 * authnHint, "the minimum authentication level supported by the object exporter" (MS-DCOM
 * 3.1.2.5.1.5). An unauthenticated client stays unauthenticated (the server decides).
 */
export function exporterLevel(auth: DcomAuth | undefined, authnHint: number): number {
  if (!auth || auth.level <= AuthLevel.none) return AuthLevel.none;
  return Math.max(auth.level, Math.min(authnHint, AuthLevel.pkt_privacy));
}

/**
 * The level of an OXID resolution request: "at least RPC_C_AUTHN_LEVEL_PKT_INTEGRITY" with the
 * caller's credentials (MS-DCOM 3.2.4.1.2.2); none when the client has none.
 */
export function resolverLevel(auth: DcomAuth | undefined): number {
  if (!auth || auth.level <= AuthLevel.none) return AuthLevel.none;
  return Math.max(auth.level, AuthLevel.pkt_integrity);
}
