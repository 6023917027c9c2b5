// `scenario --report FILE.html`: each scenario's conversation read back from a capture of it (the
// --capture DIR ones when given; otherwise an in-process recording of both boxes in a scratch
// directory, removed afterwards), then the page.
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CaptureRecorder, recordingComment } from '../capture/recorder';
import { analyzeSessions } from '../dissect/sessions';
import { LAB_ACCOUNTS, runScenario, type RunOptions, type Scenario, type ScenarioResult } from '../lab/scenarios';
import { NETNS_TOPOLOGY } from '../lab/netns';
import { scenarioReportHtml, type ScenarioReportEntry } from '../report/html';
import { CliError } from './errors';

/** The loopback topology's two boxes. */
export const LOOPBACK_HOSTS = { serverHost: '127.0.0.2', clientHost: '127.0.0.3' } as const;

/** Run a loopback scenario recording every connection once (each box records what it accepts) into `file`. */
export async function recordLoopback(s: Scenario, o: RunOptions, file: string): Promise<ScenarioResult> {
  const accounts = Object.values(LAB_ACCOUNTS).map((a) => ({ name: `${a.domain}\\${a.user}` }));
  const recorder = CaptureRecorder.open(file, { comment: recordingComment(`dcomlab scenario ${s.name} (loopback, both boxes)`, accounts) });
  try {
    const r = await runScenario(s, { ...o, tap: recorder.tap });
    // Let the sockets' last close events arrive, so that their FINs are recorded as they happened.
    await new Promise((done) => setTimeout(done, 100));
    return r;
  } finally {
    recorder.close();
  }
}

export class ScenarioReport {
  private readonly entries: { result: ScenarioResult; file: string | undefined }[] = [];
  private tmp: string | undefined;

  constructor(readonly topology: string, readonly captureDir: string | undefined) {}

  /** A scratch directory for recordings nobody asked to keep. */
  scratch(): string {
    return (this.tmp ??= mkdtempSync(path.join(os.tmpdir(), 'dcomlab-report-')));
  }

  add(result: ScenarioResult, file: string | undefined): void {
    this.entries.push({ result, file });
  }

  async write(file: string, totalMs: number): Promise<void> {
    const hosts = this.topology === 'netns' ? { serverHost: NETNS_TOPOLOGY.serverAddr, clientHost: NETNS_TOPOLOGY.clientAddr } : LOOPBACK_HOSTS;
    const entries: ScenarioReportEntry[] = [];
    for (const e of this.entries) {
      const kept = this.captureDir !== undefined;
      const have = e.file !== undefined && existsSync(e.file);
      entries.push({
        result: e.result, ...hosts, ...(have ? { sessions: await analyzeSessions(e.file!) } : {}),
        capture: !have ? 'no capture' : kept ? e.file! : this.topology === 'netns' ? "a capture of the server box's interface (not kept; --capture DIR keeps it)" : 'an in-process recording of both boxes (not kept; --capture DIR keeps a capture)',
      });
    }
    try {
      writeFileSync(file, scenarioReportHtml(entries, { topology: this.topology, totalMs }));
    } catch (e) {
      throw new CliError(`cannot write --report ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
  }

  cleanup(): void {
    if (this.tmp) rmSync(this.tmp, { recursive: true, force: true });
    this.tmp = undefined;
  }
}
