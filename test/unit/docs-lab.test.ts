// docs/lab.md, the runbook for the Windows lab, checked against the code it describes:
// - its `| scenario | expected |` table lists SCENARIOS in order, each with the headline
//   `dcomlab scenario all` prints in its "expected" column (computed here from SCENARIOS);
// - every scenario has its own heading;
// - every `dcomlab ...` / `node dist/cli/main.js ...` command line names only subcommands,
//   options and scenario names that exist (asked of the built command with `--help`: needs
//   `npm run build`, which `npm test` runs first);
// - every file it names under tools/windows/ exists.
// Each check is a function returning its problems; the last block feeds each one a broken copy
// of the doc, so none of them can pass vacuously.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { describeStatus } from '../../src/base/status';
import { SCENARIOS, type Expectation } from '../../src/lab';
import { PROJECT_ROOT } from '../support/paths';

const DOC = path.join(PROJECT_ROOT, 'docs', 'lab.md');
const CLI = path.join(PROJECT_ROOT, 'dist', 'cli', 'main.js');

/** The headline of `dcomlab scenario all`'s "expected" column, from an expectation. */
function headline(e: Expectation): string {
  if (e.forwardHr !== undefined) return `${e.forwardOutcome === 'fault' ? 'fault ' : ''}${describeStatus(e.forwardHr, 'hresult')}`;
  if (e.activationHr !== undefined) return `activation ${describeStatus(e.activationHr, 'hresult')}`;
  throw new Error('a scenario expects neither a ForwardCall nor an activation HRESULT');
}

// ---- markdown ---------------------------------------------------------------------------------

/** The table whose header row starts `| scenario | expected |`: its rows' cells, trimmed. */
function scenarioTable(md: string): string[][] | undefined {
  const lines = md.split(/\r?\n/);
  const start = lines.findIndex((l) => /^\|\s*scenario\s*\|\s*expected\s*\|/.test(l));
  if (start < 0) return undefined;
  const rows: string[][] = [];
  for (let i = start + 2; i < lines.length && lines[i]!.trim().startsWith('|'); i++) {
    rows.push(lines[i]!.trim().replace(/^\|/, '').replace(/\|$/, '').split('|').map((c) => c.trim()));
  }
  return rows;
}

const unticked = (cell: string): string | undefined => /^`([^`]+)`$/.exec(cell)?.[1];

function checkTable(md: string): string[] {
  const rows = scenarioTable(md);
  if (!rows) return ['no table headed `| scenario | expected |`'];
  const problems: string[] = [];
  const names = rows.map((r) => unticked(r[0] ?? '') ?? `(not in backticks: ${r[0]})`);
  const want = SCENARIOS.map((s) => s.name);
  if (JSON.stringify(names) !== JSON.stringify(want)) problems.push(`table scenarios ${names.join(', ')}; SCENARIOS: ${want.join(', ')}`);
  for (const r of rows) {
    const s = SCENARIOS.find((x) => x.name === unticked(r[0] ?? ''));
    if (!s) continue;
    const got = unticked(r[1] ?? '');
    const expected = headline(s.expect);
    if (got !== expected) problems.push(`${s.name}: table says ${r[1]}, the scenario expects \`${expected}\``);
  }
  return problems;
}

function checkHeadings(md: string): string[] {
  const headings = md.split(/\r?\n/).filter((l) => /^#{1,6} /.test(l)).map((l) => l.replace(/^#+ /, '').trim());
  return SCENARIOS.filter((s) => !headings.some((h) => h === s.name || h === `\`${s.name}\``)).map((s) => `no heading for ${s.name}`);
}

/** The fenced code blocks' lines, continuation lines (trailing backslash) joined. */
function codeLines(md: string): string[] {
  const out: string[] = [];
  let inBlock = false;
  let pending = '';
  for (const line of md.split(/\r?\n/)) {
    if (/^\s*```/.test(line)) {
      inBlock = !inBlock;
      pending = '';
      continue;
    }
    if (!inBlock) continue;
    if (/\\\s*$/.test(line)) {
      pending += line.replace(/\\\s*$/, ' ');
      continue;
    }
    out.push(pending + line);
    pending = '';
  }
  return out;
}

/** Shell words: single and double quotes, backslash kept as is (Windows paths), `#` comments cut. */
function shellWords(s: string): string[] {
  const words: string[] = [];
  let cur = '';
  let has = false;
  let quote: string | null = null;
  for (const ch of s) {
    if (quote) {
      if (ch === quote) quote = null;
      else cur += ch;
    } else if (ch === "'" || ch === '"') {
      quote = ch;
      has = true;
    } else if (/\s/.test(ch)) {
      if (has || cur) words.push(cur);
      cur = '';
      has = false;
    } else if (ch === '#' && !has && !cur) {
      break;
    } else cur += ch;
  }
  if (has || cur) words.push(cur);
  return words;
}

/** Split a command line at &&, ||, ;, | outside quotes. */
function splitCommands(line: string): string[] {
  const parts: string[] = [];
  let cur = '';
  let quote: string | null = null;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i]!;
    if (quote) {
      if (ch === quote) quote = null;
      cur += ch;
    } else if (ch === "'" || ch === '"') {
      quote = ch;
      cur += ch;
    } else if (ch === ';' || ch === '|' || (ch === '&' && line[i + 1] === '&')) {
      parts.push(cur);
      cur = '';
      if (line[i + 1] === ch) i++;
    } else cur += ch;
  }
  parts.push(cur);
  return parts;
}

/** The inline code spans outside fenced blocks. */
function inlineSpans(md: string): string[] {
  const out: string[] = [];
  let inBlock = false;
  for (const line of md.split(/\r?\n/)) {
    if (/^\s*```/.test(line)) {
      inBlock = !inBlock;
      continue;
    }
    if (!inBlock) for (const m of line.matchAll(/`([^`]+)`/g)) out.push(m[1]!);
  }
  return out;
}

interface DocCommand {
  line: string;
  /** The arguments after `dcomlab` / `node dist/cli/main.js`. */
  args: string[];
  /** In running text (`dcomlab ping`): a mention, which may leave out required arguments. */
  inline: boolean;
}

function commandsIn(text: string, inline: boolean): DocCommand[] {
  const out: DocCommand[] = [];
  for (const part of splitCommands(text.replace(/^\s*\$\s+/, ''))) {
    let w = shellWords(part);
    while (w.length && (w[0] === 'sudo' || /^[A-Z_][A-Z0-9_]*=/.test(w[0]!))) w = w.slice(1);
    if (w[0] === 'dcomlab') out.push({ line: part.trim(), args: w.slice(1), inline });
    else if (w[0] === 'node' && w[1] === 'dist/cli/main.js') out.push({ line: part.trim(), args: w.slice(2), inline });
  }
  return out;
}

/** The dcomlab invocations in the doc: every code block line, and every inline code span. */
function dcomlabCommands(md: string): DocCommand[] {
  return [...codeLines(md).flatMap((l) => commandsIn(l, false)), ...inlineSpans(md).flatMap((l) => commandsIn(l, true))];
}

// ---- the command's own help -------------------------------------------------------------------

interface Help {
  /** The command path from the Usage line ("scenario run"). */
  path: string[];
  /** Positional arguments from the Usage line. */
  args: { required: boolean; variadic: boolean }[];
  subcommands: string[];
  /** Every flag (long and short) → whether it takes a value. */
  options: Map<string, boolean>;
  /** The help text, for the error message. */
  text: string;
}

const helpCache = new Map<string, Help | string>();

/** `dcomlab WORDS --help`, parsed; a string when the command refuses. */
function help(words: string[]): Help | string {
  const key = words.join(' ');
  const hit = helpCache.get(key);
  if (hit) return hit;
  const r = spawnSync(process.execPath, [CLI, ...words, '--help'], { encoding: 'utf8', timeout: 30_000 });
  let parsed: Help | string;
  const usage = /^Usage: dcomlab(.*)$/m.exec(r.stdout);
  if (r.status !== 0 || !usage) parsed = `\`dcomlab ${key} --help\` failed (exit ${r.status}): ${(r.stderr || r.stdout).trim().split('\n')[0]}`;
  else {
    const tokens = usage[1]!.trim().split(/\s+/).filter(Boolean);
    const p: string[] = [];
    const args: Help['args'] = [];
    for (const t of tokens) {
      if (t === '[options]' || t === '[command]') continue;
      if (/^[<[]/.test(t)) args.push({ required: t.startsWith('<'), variadic: t.includes('...') });
      else p.push(t);
    }
    const options = new Map<string, boolean>();
    const section = (name: string) => {
      const m = new RegExp(`^${name}:\\n((?:  .*\\n?|\\s*\\n)*)`, 'm').exec(r.stdout);
      return m ? m[1]!.split('\n') : [];
    };
    for (const l of section('Options')) {
      const m = /^ {2}((?:-{1,2}[\w-]+(?:, )?)+)( [<[][^\s>\]]+[>\]])?/.exec(l);
      if (!m) continue;
      for (const f of m[1]!.split(', ').map((x) => x.trim()).filter(Boolean)) options.set(f, !!m[2]);
    }
    const subcommands = section('Commands').map((l) => /^ {2}(\S+)/.exec(l)?.[1]).filter((x): x is string => !!x && x !== 'help');
    parsed = { path: p, args, subcommands, options, text: r.stdout };
  }
  helpCache.set(key, parsed);
  return parsed;
}

/**
 * The subcommand a group runs when its first word is none of its subcommands (commander's
 * isDefault), or undefined. `--help` cannot tell (the group prints its own help), so ask with an
 * unknown option, which stops commander before any action runs: a group without a default says
 * "unknown command"; with one, the default rejects the option. Which subcommand that is: the one
 * that takes arguments.
 */
function defaultSubcommand(words: string[], group: Help): string | undefined {
  const r = spawnSync(process.execPath, [CLI, ...words, '__no_such_word__', '--no-such-option-probe'], { encoding: 'utf8', timeout: 30_000 });
  if (/unknown command/.test(r.stderr) || !/unknown option '--no-such-option-probe'/.test(r.stderr)) return undefined;
  const takingArgs = group.subcommands.filter((s) => {
    const h = help([...words, s]);
    return typeof h !== 'string' && h.args.length > 0;
  });
  return takingArgs.length === 1 ? takingArgs[0] : undefined;
}

/** What is wrong with one `dcomlab ARGS` line: unknown subcommand, option, positional, scenario. */
function checkCommand(args: string[], mention = false): string[] {
  const leading: string[] = [];
  for (const a of args) {
    if (a.startsWith('-')) break;
    leading.push(a);
  }
  // Descend through subcommands as far as the words go.
  const words: string[] = [];
  for (const a of leading) {
    const h = help(words);
    if (typeof h === 'string') return [h];
    if (!h.subcommands.includes(a)) break;
    words.push(a);
  }
  const here = help(words);
  if (typeof here === 'string') return [here];
  if (here.subcommands.length && here.args.length === 0) {
    // A command group: the next word is a subcommand or goes to its default subcommand.
    const next = leading[words.length];
    if (next === undefined) return [`\`dcomlab ${words.join(' ')}\` needs a subcommand (${here.subcommands.join(', ')})`];
    const sub = defaultSubcommand(words, here);
    if (sub === undefined) return [`\`dcomlab ${words.join(' ')}\` has no subcommand ${next} and no default one`];
    const h = help([...words, sub]);
    if (typeof h === 'string') return [h];
    return checkAgainst(h, args, words.length, mention);
  }
  if (words.length === 0) return [`\`dcomlab ${args.join(' ')}\`: no subcommand named ${leading[0] ?? '(none)'}`];
  return checkAgainst(here, args, words.length, mention);
}

function checkAgainst(h: Help, args: string[], consumed: number, mention: boolean): string[] {
  const problems: string[] = [];
  const name = h.path.join(' ');
  const positionals: string[] = [];
  for (let i = consumed; i < args.length; i++) {
    const a = args[i]!;
    if (a.startsWith('-') && a !== '-') {
      const flag = a.includes('=') ? a.slice(0, a.indexOf('=')) : a;
      if (!h.options.has(flag)) {
        problems.push(`\`dcomlab ${name}\` has no option ${flag}`);
        continue;
      }
      if (h.options.get(flag) && !a.includes('=')) {
        if (i + 1 >= args.length) problems.push(`\`dcomlab ${name}\`: ${flag} needs a value`);
        i++;
      }
    } else positionals.push(a);
  }
  const max = h.args.some((x) => x.variadic) ? Infinity : h.args.length;
  const min = h.args.filter((x) => x.required).length;
  if (positionals.length > max) problems.push(`\`dcomlab ${name}\` takes ${max} argument(s), given ${positionals.join(' ')}`);
  if (!mention && positionals.length < min) problems.push(`\`dcomlab ${name}\` needs ${min} argument(s), given ${positionals.length}`);
  if (name === 'scenario run') {
    for (const p of positionals) {
      if (p !== 'all' && !SCENARIOS.some((s) => s.name === p)) problems.push(`no scenario named ${p}`);
    }
  }
  return problems;
}

function checkCommands(md: string): string[] {
  const cmds = dcomlabCommands(md);
  if (cmds.length === 0) return ['no dcomlab command in any code block'];
  return cmds.flatMap((c) => checkCommand(c.args, c.inline).map((p) => `${c.line}: ${p}`));
}

// ---- files ------------------------------------------------------------------------------------

function namedKitFiles(md: string): string[] {
  const names = new Set<string>();
  for (const m of md.matchAll(/tools\/windows\/[\w./-]*[\w-]/g)) names.add(m[0]);
  return [...names];
}

function checkKitFiles(md: string): string[] {
  const named = namedKitFiles(md);
  if (named.length === 0) return ['names no file under tools/windows/'];
  return named.filter((f) => !existsSync(path.join(PROJECT_ROOT, f))).map((f) => `${f} does not exist`);
}

// ---- the checks -------------------------------------------------------------------------------

describe('docs/lab.md', () => {
  let md = '';
  beforeAll(() => {
    md = readFileSync(DOC, 'utf8');
  });

  it('the scenario table lists SCENARIOS in order with the headline `dcomlab scenario all` expects', () => {
    expect(scenarioTable(md)?.length).toBe(SCENARIOS.length);
    expect(checkTable(md)).toEqual([]);
  });

  it('every scenario has its own heading', () => {
    expect(checkHeadings(md)).toEqual([]);
  });

  it('names only dcomlab subcommands and options that exist', () => {
    expect(existsSync(CLI), 'dist/cli/main.js: run `npm run build` first').toBe(true);
    const cmds = dcomlabCommands(md).filter((c) => !c.inline);
    // The runbook's own commands are among those checked (the parser found them).
    const firsts = new Set(cmds.map((c) => c.args[0]));
    for (const sub of ['serve', 'client', 'scenario', 'sessions']) expect(firsts, `a \`dcomlab ${sub}\` command in a code block`).toContain(sub);
    expect(cmds.some((c) => c.args[0] === 'serve' && c.args.includes('--lab'))).toBe(true);
    expect(checkCommands(md)).toEqual([]);
  });

  it('every file it names under tools/windows/ exists', () => {
    expect(checkKitFiles(md)).toEqual([]);
  });
});

describe('the checks catch a broken doc', () => {
  let md = '';
  beforeAll(() => {
    md = readFileSync(DOC, 'utf8');
  });
  const rowOf = (name: string) => md.split('\n').find((l) => l.startsWith(`| \`${name}\``))!;

  it('a wrong headline, a missing row, swapped rows, an unquoted name, no table', () => {
    const first = SCENARIOS[0]!.name;
    const second = SCENARIOS[1]!.name;
    const row = rowOf(first);
    expect(row).toBeDefined();
    expect(checkTable(md.replace(row, row.replace(/`(E_|S_|fault|activation|RPC_)[^`]*`/, '`S_OK 0x00000001`')))).not.toEqual([]);
    expect(checkTable(md.replace(row + '\n', ''))).not.toEqual([]);
    const row2 = rowOf(second);
    expect(checkTable(md.replace(row, '@@').replace(row2, row).replace('@@', row2))).not.toEqual([]);
    expect(checkTable(md.replace(row, row.replace(`\`${first}\``, first)))).not.toEqual([]);
    expect(checkTable(md.replace(/\| scenario \| expected \|/, '| name | expected |'))).toEqual(['no table headed `| scenario | expected |`']);
    // The headline follows the status table: the hex is describeStatus's lower case, not upper.
    const fault = SCENARIOS.find((s) => s.expect.forwardOutcome === 'fault')!;
    expect(headline(fault.expect)).toBe('fault E_OUTOFMEMORY 0x8007000e');
    expect(headline(SCENARIOS.find((s) => s.expect.forwardHr === undefined)!.expect)).toBe('activation E_ACCESSDENIED 0x80070005');
  });

  it('a missing heading', () => {
    const name = SCENARIOS[3]!.name;
    const broken = md.replace(new RegExp(`^(#+) \`?${name}\`?$`, 'm'), '$1 renamed');
    expect(checkHeadings(broken)).toEqual([`no heading for ${name}`]);
  });

  it('an unknown subcommand, option, scenario name, or a missing value', () => {
    expect(checkCommand(['serv', '--host', '0.0.0.0']).length).toBe(1);
    expect(checkCommand(['serve', '--exporter-prot', '49500'])).toContain('`dcomlab serve` has no option --exporter-prot');
    expect(checkCommand(['serve', '--exporter-port'])).toEqual(['`dcomlab serve`: --exporter-port needs a value']);
    expect(checkCommand(['scenario', 'sp3-firewall'])).toEqual(['no scenario named sp3-firewall']);
    expect(checkCommand(['scenario', 'all', '--resolver-port', '1135'])).toEqual([]);
    expect(checkCommand(['scenario', 'list', 'extra'])).toEqual(['`dcomlab scenario list` takes 0 argument(s), given extra']);
    expect(checkCommand(['client', '--server', '192.168.56.22', '--block', 'resolver'])).toEqual([]);
    expect(checkCommand(['sessions'])).toEqual(['`dcomlab sessions` needs 1 argument(s), given 0']);
    expect(checkCommand(['serve', '--epm-port', '1135', '--resolver-port=1135'])).toEqual([]);
    const broken = md.replace(/(node dist\/cli\/main\.js client[\s\S]*?)--accept/, '$1--acept');
    expect(broken).not.toBe(md);
    expect(checkCommands(broken).some((p) => p.includes('has no option --acept'))).toBe(true);
    expect(checkCommands('no code here')).toEqual(['no dcomlab command in any code block']);
  });

  it('the command parser: continuation lines, sudo, env, prompts, && and quotes', () => {
    const doc = ['```sh', "$ sudo DCOMLAB_PASSWORD='a b' node dist/cli/main.js client --server 1.2.3.4 \\", "    --accept 'X\\dcomsvc:Svc-Lab1!' && dcomlab scenario list  # comment", '```'].join('\n');
    expect(dcomlabCommands(doc + '\nRun `dcomlab ping` or `sudo node dist/cli/main.js serve --lab`; not `dcomlab:`.').map((c) => [c.inline, ...c.args])).toEqual([
      [false, 'client', '--server', '1.2.3.4', '--accept', 'X\\dcomsvc:Svc-Lab1!'],
      [false, 'scenario', 'list'],
      [true, 'ping'],
      [true, 'serve', '--lab'],
    ]);
    // A mention may leave out required arguments; a command line may not.
    expect(checkCommand(['ping'], true)).toEqual([]);
    expect(checkCommand(['ping'])).toEqual(['`dcomlab ping` needs 1 argument(s), given 0']);
    expect(checkCommands('Use `dcomlab serve --no-such-flag` here.')).toEqual(['dcomlab serve --no-such-flag: `dcomlab serve` has no option --no-such-flag']);
  });

  it('a file under tools/windows/ that does not exist', () => {
    expect(checkKitFiles(md + '\nSee tools/windows/no-such-file.cpp.\n')).toContain('tools/windows/no-such-file.cpp does not exist');
    expect(checkKitFiles('nothing')).toEqual(['names no file under tools/windows/']);
  });
});
