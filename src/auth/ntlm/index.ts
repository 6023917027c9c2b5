// NTLM (MS-NLMP): keys and responses, session security, messages.
export * from './flags';
export * from './keys';
export * from './seal';
export * from './messages';
export { NtlmError } from './errors';
