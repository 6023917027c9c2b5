// SPNEGO (RFC 4178, MS-SPNG) wrapping NTLM: the DER it needs, its tokens, initiator and acceptor.
export * from './der';
export * from './tokens';
export { SpnegoInitiator, type SpnegoInitiatorOptions } from './initiator';
export { SpnegoAcceptor } from './acceptor';
