// NTLM (MS-NLMP): keys and responses, session security, messages, and the RPC initiator and
// acceptor built on them.
export * from './flags';
export * from './keys';
export * from './seal';
export * from './messages';
export * from './verify';
export { NtlmSessionSecurity } from './session';
export { NtlmInitiator, negotiateFlagsForLevel, type NtlmInitiatorOptions } from './initiator';
export { NtlmAcceptor, type NtlmAcceptorOptions } from './acceptor';
export { NtlmError } from './errors';
