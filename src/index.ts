// dcomlab's library entry point: every layer, bottom up.
export * from './base/errors';
export * from './base/status';
export * from './base/guid';
export * as capture from './capture';
export * as pdu from './pdu';
export * as ndr from './ndr';
export * as auth from './auth';
export * as rpc from './rpc';
export * as dcom from './dcom';
export * as lab from './lab';
export { interfaceName, registerInterfaceName } from './rpc/known-interfaces';
export { dissectCapture, type PduRecord, type DissectSummary } from './dissect/dissect';
export { VERSION } from './version';
