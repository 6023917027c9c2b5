import { DcomlabError } from '../../base/errors';

/** An NTLM computation or message that cannot proceed; `what` says which. */
export class NtlmError extends DcomlabError {
  override name = 'NtlmError';
  constructor(readonly what: string) {
    super(`NTLM: ${what}`);
  }
}
