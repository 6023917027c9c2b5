// Shared CLI plumbing: loggers for people, host:port parsing, JSON output.
import { createLogger, type Logger } from '../base/log';
import { CliError } from './errors';

export function cliLogger(level: string | undefined, quiet = false): Logger {
  return createLogger({ level: quiet ? 'warn' : level ?? 'info', pretty: process.stderr.isTTY === true });
}

export function parsePort(s: string, what = 'port'): number {
  const n = Number(s);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new CliError(`${what} must be 0-65535, not ${JSON.stringify(s)}`);
  return n;
}

/** "IFUUID" or "IFUUID:MAJOR.MINOR" → p_syntax_id_t version (major low, minor high). */
export function parseIfSpec(s: string): { uuid: string; version: number } {
  const m = /^\{?([0-9a-fA-F-]{36})\}?(?::(\d+)(?:\.(\d+))?)?$/.exec(s.trim());
  if (!m) throw new CliError(`interface must be UUID[:MAJOR.MINOR], not ${JSON.stringify(s)}`);
  const major = m[2] ? Number(m[2]) : 1;
  const minor = m[3] ? Number(m[3]) : 0;
  return { uuid: m[1]!.toLowerCase(), version: (major | (minor << 16)) >>> 0 };
}

export function collect(v: string, prev: string[] = []): string[] {
  return [...prev, v];
}
