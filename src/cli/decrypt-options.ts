// Credentials to decrypt a capture with (dissect, sessions): each --password / --nt-hash is tried
// on every NTLM session, restricted to --user when given (several of each may be given). The
// environment may hold one password (DCOMLAB_PASSWORD) so it stays out of shell history.
import type { Command } from 'commander';
import type { DecryptCredentials } from '../dissect/decrypt';
import { collect } from './common';
import { CliError } from './errors';

export interface DecryptCliOptions {
  password?: string[];
  ntHash?: string[];
  user?: string[];
}

export function addDecryptOptions(cmd: Command): Command {
  return cmd
    .option('--password <p>', 'a password to decrypt and verify NTLM-protected PDUs with (repeatable; env DCOMLAB_PASSWORD)', collect)
    .option('--nt-hash <hex>', 'an NT hash instead of a password (repeatable)', collect)
    .option('--user <[DOMAIN\\]NAME>', 'only try the credentials for this account (repeatable)', collect);
}

export function decryptCredentialsFrom(o: DecryptCliOptions): DecryptCredentials[] {
  const secrets: DecryptCredentials[] = [];
  const passwords = [...(o.password ?? []), ...(process.env.DCOMLAB_PASSWORD ? [process.env.DCOMLAB_PASSWORD] : [])];
  for (const p of passwords) secrets.push({ password: p });
  for (const h of o.ntHash ?? []) {
    if (!/^[0-9a-fA-F]{32}$/.test(h)) throw new CliError('--nt-hash must be 32 hex digits');
    secrets.push({ ntHash: Buffer.from(h, 'hex') });
  }
  const users = o.user ?? [];
  if (!users.length) return secrets;
  return users.flatMap((u) => secrets.map((s) => ({ ...s, user: u })));
}
