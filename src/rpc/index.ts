// The RPC runtime: server, client, endpoint mapper, interfaces as data.
export * from './server';
export * from './client';
export * from './binding';
export * from './tower';
export * from './typed';
export * from './epm-database';
export * from './epm-server';
export * from './epm-client';
export * from './mgmt-server';
export * from './known-interfaces';
export { epm, twr_t, ept_entry_t, rpc_if_id_t } from './interfaces/epm';
export { mgmt, rpc_if_id_vector_t } from './interfaces/mgmt';
export * from './registry';
export * from './auth-provider';
