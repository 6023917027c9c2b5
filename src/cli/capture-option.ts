// `--capture FILE` of `dcomlab serve` and `dcomlab client`: a pcapng recording of the command's own
// sockets (src/capture/recorder.ts), whose section comment names the accounts (never their
// passwords) that decrypt it. The file is closed when the command ends, and on SIGINT/SIGTERM or
// any other exit before that (the recorder writes synchronously, so an exit handler can close it).
import { CaptureRecorder, recordingComment } from '../capture/recorder';
import type { Logger } from '../base/log';
import { formatError } from '../base/errors';
import { CliError } from './errors';

export interface RecordedAccount {
  name: string;
  role?: string;
}

export interface Recording {
  recorder: CaptureRecorder;
  file: string;
  /** Close the file (idempotent) and say what it holds. */
  close(): void;
}

/** DOMAIN\user, or user when there is no domain. */
export function accountName(a: { user: string; domain?: string | undefined }): string {
  return a.domain ? `${a.domain}\\${a.user}` : a.user;
}

/** Open `file` for recording; `what` says what is recorded (the first line of the section comment). */
export function openRecording(file: string, what: string, accounts: readonly RecordedAccount[], log: Logger): Recording {
  let recorder: CaptureRecorder;
  try {
    recorder = CaptureRecorder.open(file, {
      comment: recordingComment(what, accounts),
      os: `${process.platform} ${process.arch}, Node ${process.versions.node}`,
      onError: (e) => log.error({ file, err: formatError(e) }, 'capture: cannot write the file; recording stopped'),
    });
  } catch (e) {
    throw new CliError(`cannot write --capture ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  let closed = false;
  const close = () => {
    if (closed) return;
    closed = true;
    process.off('exit', close);
    recorder.close();
    log.info({ file, packets: recorder.writer.packets, connections: recorder.connections }, 'capture written');
  };
  // Whatever ends the process (an error, process.exit), the buffered packets reach the file.
  process.on('exit', close);
  log.info({ file }, 'recording connections (pcapng)');
  return { recorder, file, close };
}
