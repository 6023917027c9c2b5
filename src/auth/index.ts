// Authentication: the crypto primitives NTLM needs and NTLM itself.
export * as crypto from './crypto';
export * as ntlm from './ntlm';
export { NtlmError } from './ntlm/errors';
