// Where things are: the project, the shared third-party captures beside it, and our own captures.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The project root (the folder holding package.json). */
export const PROJECT_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Real third-party captures, read-only, at ../shared/pcaps (never copied into the project). */
export const SHARED_PCAPS = path.resolve(PROJECT_ROOT, '..', 'shared', 'pcaps');

/** Captures this project made with real peers (tools/make-pcaps.sh), described in pcaps/README.md. */
export const PROJECT_PCAPS = path.join(PROJECT_ROOT, 'pcaps');

const NOT_CAPTURES = /^(README|MANIFEST)(\..*)?$/i;

function listFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...listFiles(full));
    else if (entry.isFile() && !NOT_CAPTURES.test(entry.name)) out.push(full);
  }
  return out.sort();
}

/** Every capture under ../shared/pcaps (recursively, absolute paths, sorted), without README/MANIFEST. */
export function listSharedCaptures(): string[] {
  return listFiles(SHARED_PCAPS);
}

/** Every capture under pcaps/ (absolute paths, sorted), without README. */
export function listProjectCaptures(): string[] {
  return listFiles(PROJECT_PCAPS);
}

/** One row of ../shared/pcaps/MANIFEST.tsv. */
export interface ManifestRow {
  /** Path relative to SHARED_PCAPS, e.g. "zeek/mapi.pcap". */
  file: string;
  /** Absolute path. */
  path: string;
  sourceRepo: string;
  pathInRepo: string;
  commit: string;
  license: string;
  /** DCE/RPC PDUs tshark 4.0 finds in the whole file, SMB-carried ones included. */
  dcerpcPdus: number;
  /** Per transport, from the notes' "Transport: tcp:352 smb1:92." (absent transport = 0). */
  transport: { tcp: number; smb1: number; smb2: number };
  /** From the notes' "tshark malformed frames: N." */
  malformedFrames: number;
  interfacesSeen: string;
  authLevelsSeen: string;
  notes: string;
}

/** Parses ../shared/pcaps/MANIFEST.tsv (columns looked up by header name). */
export function readSharedManifest(): ManifestRow[] {
  const text = readFileSync(path.join(SHARED_PCAPS, 'MANIFEST.tsv'), 'utf8');
  const [header, ...lines] = text.split(/\r?\n/).filter((l) => l.trim() !== '');
  const cols = header!.split('\t');
  const col = (cells: string[], name: string): string => {
    const i = cols.indexOf(name);
    if (i < 0) throw new Error(`MANIFEST.tsv has no column ${name} (columns: ${cols.join(', ')})`);
    return cells[i] ?? '';
  };
  return lines.map((line) => {
    const cells = line.split('\t');
    const notes = col(cells, 'notes');
    const transportText = /Transport:([^.]*)\./.exec(notes)?.[1] ?? '';
    const count = (name: string) => Number(new RegExp(`\\b${name}:(\\d+)`).exec(transportText)?.[1] ?? 0);
    const malformed = /tshark malformed frames: (\d+)/.exec(notes);
    const file = col(cells, 'shared_as');
    return {
      file,
      path: path.join(SHARED_PCAPS, file),
      sourceRepo: col(cells, 'source_repo'),
      pathInRepo: col(cells, 'path_in_repo'),
      commit: col(cells, 'commit'),
      license: col(cells, 'license'),
      dcerpcPdus: Number(col(cells, 'dcerpc_pdus')),
      transport: { tcp: count('tcp'), smb1: count('smb1'), smb2: count('smb2') },
      malformedFrames: malformed ? Number(malformed[1]) : NaN,
      interfacesSeen: col(cells, 'interfaces_seen'),
      authLevelsSeen: col(cells, 'auth_levels_seen'),
      notes,
    };
  });
}
