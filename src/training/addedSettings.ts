// Settings added to a command after run folders made without them already existed. Such a folder's
// config.json lacks the key, and its stages ran the behaviour the setting's older value names. The
// command that made the folder, rerun as it was (the setting left at its default), goes on under
// that older value and keeps the folder's config.json as it was; so does a command that names the
// older value. Any other value the command names (a flag, a preset, a --config file), the default
// included, asks for another run, which RunDir.open refuses with the differing key. `eed run` and
// `eed prune` both resume their folders this way.

/** An added setting's key, with the value runs made before it existed ran under. */
export type AddedSettings = Readonly<Record<string, unknown>>;

/**
 * `config` with each added setting the folder's recorded config (`existing`) lacks set to its older
 * value, where the command left it at its default; `adopted` names them ("key value") for the log.
 */
export function adoptAddedSettings<C extends Record<string, unknown>>(
  config: C,
  existing: Readonly<Record<string, unknown>> | null,
  added: AddedSettings,
  defaultOf: (key: string) => unknown,
  explicit: ReadonlySet<string> = new Set(),
): { config: C; adopted: string[] } {
  const adopted: string[] = [];
  if (!existing) return { config, adopted };
  let out = config;
  for (const [k, older] of Object.entries(added)) {
    if (k in existing || explicit.has(k) || out[k] === older || out[k] !== defaultOf(k)) continue;
    out = { ...out, [k]: older };
    adopted.push(`${k} ${JSON.stringify(older)}`);
  }
  return { config: out, adopted };
}

/**
 * The config to record for a folder: an added setting at its older value is left out where the
 * folder's recorded config lacks it, so that config.json reads as it did (new folders record it).
 */
export function recordAsBefore(
  record: Readonly<Record<string, unknown>>,
  existing: Readonly<Record<string, unknown>> | null,
  added: AddedSettings,
): Record<string, unknown> {
  if (!existing) return { ...record };
  return Object.fromEntries(Object.entries(record).filter(([k, v]) => !(k in added && !(k in existing) && added[k] === v)));
}
