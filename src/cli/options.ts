// Declarative command options: one table gives the defaults, the --help text, the command-line
// parser (kebab-case flags) and validation of JSON config files and presets. Precedence:
// defaults < preset < --config file < command-line flags.

import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

export type OptionSpec =
  | { type: 'number'; default: number; help: string; min?: number; max?: number; integer?: boolean }
  | { type: 'string'; default: string; help: string }
  | { type: 'boolean'; default: boolean; help: string }
  | { type: 'enum'; default: string; values: readonly string[]; help: string };

export type OptionTable = Record<string, OptionSpec>;

export type Resolved<T extends OptionTable> = {
  [K in keyof T]: T[K] extends { type: 'number' } ? number : T[K] extends { type: 'boolean' } ? boolean : string;
};

const kebab = (k: string) => k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

export function optionHelp(table: OptionTable): string {
  return Object.entries(table)
    .map(([k, s]) => {
      const values = s.type === 'enum' ? ` (${s.values.join('|')})` : '';
      const flag = `--${s.type === 'boolean' ? `[no-]${kebab(k)}` : `${kebab(k)} <${s.type === 'enum' ? 'name' : s.type}>`}`;
      return `  ${flag.padEnd(30)} ${s.help}${values} [default: ${JSON.stringify(s.default)}]`;
    })
    .join('\n');
}

/** Checks one value against its spec; `where` names the source for the error message. */
function coerce(key: string, spec: OptionSpec, raw: unknown, where: string): number | string | boolean {
  const bad = (expected: string) =>
    new Error(`${where}: option '${key}' expects ${expected}, got ${JSON.stringify(raw)}`);
  switch (spec.type) {
    case 'number': {
      const v = typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : raw;
      if (typeof v !== 'number' || !Number.isFinite(v)) throw bad('a number');
      if (spec.integer && !Number.isInteger(v)) throw bad('an integer');
      if (spec.min !== undefined && v < spec.min) throw bad(`a number >= ${spec.min}`);
      if (spec.max !== undefined && v > spec.max) throw bad(`a number <= ${spec.max}`);
      return v;
    }
    case 'boolean':
      if (typeof raw === 'boolean') return raw;
      if (raw === 'true' || raw === 'false') return raw === 'true';
      throw bad('true or false');
    case 'enum':
      if (typeof raw !== 'string' || !spec.values.includes(raw)) throw bad(`one of ${spec.values.join(', ')}`);
      return raw;
    default:
      if (typeof raw !== 'string') throw bad('a string');
      return raw;
  }
}

function applyObject<T extends OptionTable>(table: T, target: Record<string, unknown>, source: Record<string, unknown>, where: string): void {
  for (const [k, v] of Object.entries(source)) {
    const spec = table[k];
    if (!spec) {
      const near = Object.keys(table).filter((o) => o.toLowerCase().includes(k.toLowerCase().slice(0, 4)));
      throw new Error(`${where}: unknown option '${k}'${near.length ? ` (did you mean ${near.join(', ')}?)` : ''}`);
    }
    target[k] = coerce(k, spec, v, where);
  }
}

export interface ResolveResult<T extends OptionTable, F extends OptionTable = Record<never, OptionSpec>> {
  config: Resolved<T>;
  /** The command-line-only options (resolveOptions' `commandFlags`), defaults filled in. */
  flags: Resolved<F>;
  positionals: string[];
  help: boolean;
  /** The --preset given, if any. */
  preset: string | null;
  /** The config keys a preset, the --config file or a flag set (the others have their defaults). */
  explicit: Set<string>;
}

/**
 * Resolves a command's options from its table, named presets, an optional --config JSON file and
 * the flags in argv. `commandFlags` are options of the invocation rather than of the work (eed
 * run's --stage, --job, --fresh): parsed and checked like the others, from the command line only,
 * and kept out of the config.
 */
export function resolveOptions<T extends OptionTable, F extends OptionTable = Record<never, OptionSpec>>(
  command: string,
  table: T,
  presets: Record<string, Partial<Resolved<T>>>,
  argv: string[],
  commandFlags: F = {} as F,
): ResolveResult<T, F> {
  const parseOpts: Record<string, { type: 'string' | 'boolean' }> = {
    preset: { type: 'string' },
    config: { type: 'string' },
    help: { type: 'boolean' },
  };
  for (const k of Object.keys(commandFlags))
    if (k in table || k in parseOpts) throw new Error(`resolveOptions(${command}): '${k}' is both a config option and a command flag`);
  const every: OptionTable = { ...table, ...commandFlags };
  for (const [k, s] of Object.entries(every)) parseOpts[kebab(k)] = { type: s.type === 'boolean' ? 'boolean' : 'string' };
  // Boolean flags also take --no-<flag> and --<flag>=true|false; node's parser knows neither, and
  // would read `--flag false` as the flag plus a stray word (refused below).
  // node's parser lets the last of repeated flags win; a repeat is refused instead, as a likely
  // mistake (a flag added to a command line that already had it).
  const seen = new Set<string>();
  for (const a of argv) {
    const name = /^--(?:no-)?([a-z0-9-]+)(?:=|$)/.exec(a)?.[1];
    if (name === undefined || !(name in parseOpts)) continue;
    if (seen.has(name)) throw new Error(`command line: --${name} is given twice`);
    seen.add(name);
  }
  const switches: Record<string, boolean> = {};
  const args: string[] = [];
  for (const a of argv) {
    const m = /^--(no-)?([a-z0-9-]+)(?:=(.*))?$/.exec(a);
    const key = m ? Object.keys(every).find((k) => kebab(k) === m[2] && every[k].type === 'boolean') : undefined;
    if (!m || key === undefined || (m[1] === undefined && m[3] === undefined)) {
      args.push(a);
      continue;
    }
    if (m[1] !== undefined && m[3] !== undefined) throw new Error(`command line: --no-${m[2]} takes no value, got '${a}'`);
    if (m[3] !== undefined && m[3] !== 'true' && m[3] !== 'false')
      throw new Error(`command line: --${m[2]} is a switch: give --${m[2]}, --no-${m[2]} or --${m[2]}=true|false, got '${a}'`);
    switches[key] = m[1] === undefined && m[3] === 'true';
  }
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({ args, options: parseOpts, allowPositionals: true, strict: true });
  } catch (e) {
    throw new Error(`command line: ${(e as Error).message}`);
  }
  if (parsed.positionals.length)
    throw new Error(
      `command line: unexpected argument${parsed.positionals.length > 1 ? 's' : ''} ${parsed.positionals.map((p) => `'${p}'`).join(', ')}` +
        ' (switches take no value: --flag or --no-flag; other options take one)',
    );
  const values = parsed.values as Record<string, string | boolean | undefined>;
  for (const [k, v] of Object.entries(switches)) values[kebab(k)] = v;
  const config: Record<string, unknown> = {};
  for (const [k, s] of Object.entries(table)) config[k] = s.default;
  const explicit = new Set<string>();
  if (values.preset !== undefined) {
    const p = presets[String(values.preset)];
    if (!p)
      throw new Error(`--preset: unknown ${command} preset '${values.preset}' (available: ${Object.keys(presets).join(', ')})`);
    applyObject(table, config, p as Record<string, unknown>, `preset '${values.preset}'`);
    for (const k of Object.keys(p)) explicit.add(k);
  }
  if (values.config !== undefined) {
    const path = String(values.config);
    let obj: unknown;
    try {
      obj = JSON.parse(readFileSync(path, 'utf8'));
    } catch (e) {
      throw new Error(`config file ${path}: ${(e as Error).message}`);
    }
    if (!obj || typeof obj !== 'object' || Array.isArray(obj)) throw new Error(`config file ${path}: expected a JSON object`);
    applyObject(table, config, obj as Record<string, unknown>, `config file ${path}`);
    for (const k of Object.keys(obj)) explicit.add(k);
  }
  const flags: Record<string, unknown> = {};
  for (const k of Object.keys(table)) {
    const v = values[kebab(k)];
    if (v !== undefined) flags[k] = v;
  }
  applyObject(table, config, flags, 'command line');
  for (const k of Object.keys(flags)) explicit.add(k);
  const invocation: Record<string, unknown> = {};
  const given: Record<string, unknown> = {};
  for (const [k, s] of Object.entries(commandFlags)) {
    invocation[k] = s.default;
    if (values[kebab(k)] !== undefined) given[k] = values[kebab(k)];
  }
  applyObject(commandFlags, invocation, given, 'command line');
  return {
    config: config as Resolved<T>,
    flags: invocation as Resolved<F>,
    positionals: parsed.positionals,
    help: values.help === true,
    preset: values.preset === undefined ? null : String(values.preset),
    explicit,
  };
}
