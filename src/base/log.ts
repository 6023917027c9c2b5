// Structured logs (pino). Libraries log nothing unless given a logger; the CLI makes one.
// Never log a secret: callers pass identities and reasons, never passwords, hashes or keys.
import pino, { type Logger } from 'pino';

export type { Logger };

export const silentLogger: Logger = pino({ level: 'silent' });

export interface LoggerOptions {
  level?: string;
  /** Human-readable lines (pino-pretty) instead of JSON. */
  pretty?: boolean;
  /** Write to this file descriptor (default 2, stderr: stdout is for command output). */
  fd?: number;
}

export function createLogger(o: LoggerOptions = {}): Logger {
  const level = o.level ?? 'info';
  const fd = o.fd ?? 2;
  if (o.pretty) {
    return pino({ level }, pino.transport({ target: 'pino-pretty', options: { destination: fd, colorize: false, translateTime: 'HH:MM:ss.l', ignore: 'pid,hostname' } }));
  }
  return pino({ level }, pino.destination({ fd, sync: true }));
}
