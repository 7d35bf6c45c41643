import { existsSync, readFileSync } from "node:fs";
import { parseEnv } from "node:util";

import yargs from "yargs";

/**
 * One setting of a process: a flag `--<key>` and an environment variable `NDNREG_<KEY>` (dashes
 * become underscores), both read as text and turned into a value by `parse`; or, for a flag-only
 * setting, a flag without a value.
 */
export interface Setting<T> {
  /** One line for --help and the README's tables. */
  readonly describe: string;
  /** The text used when nothing sets the setting; absent: the setting is required. */
  readonly default?: string;
  /** How --help and the docs show the default when its text says too little (e.g. "NDN-FCH"). */
  readonly defaultText?: string;
  /** Variables also read, after NDNREG_<KEY>, with the same meaning (e.g. NDNTS_UPLINK). */
  readonly envAliases?: readonly string[];
  /** A password or token: never echoed in an error. */
  readonly secret?: boolean;
  /**
   * A flag without a value and without a variable, for something a run does instead of its usual
   * work (a variable left in a .env would change every run): `parse` gets "true" when it is given.
   */
  readonly flagOnly?: boolean;
  /** Text to value; throws an Error saying what was expected (the loader adds where the text came from). */
  readonly parse: (text: string) => T;
}

/** A flag-only setting (see Setting.flagOnly): true when the flag is given. */
export function flagOnlySetting(describe: string): Setting<boolean> {
  return { describe, default: "false", flagOnly: true, parse: (t) => t === "true" };
}

/** A process's settings by flag name, in the order --help lists them. */
export type SettingTable = Readonly<Record<string, Setting<unknown>>>;

export type SettingValues<S extends SettingTable> = { readonly [K in keyof S]: ReturnType<S[K]["parse"]> };

const ENV_PREFIX = "NDNREG_";

/** NDNREG_<FLAG>: the flag's environment variable. */
export function envName(flag: string): string {
  return ENV_PREFIX + flag.toUpperCase().replaceAll("-", "_");
}

/** Every variable a setting is read from, in order: NDNREG_<FLAG>, then its aliases; none for a flag-only one. */
export function settingEnvNames(flag: string, setting: Setting<unknown>): string[] {
  return setting.flagOnly ? [] : [envName(flag), ...setting.envAliases ?? []];
}

type Env = Readonly<Record<string, string | undefined>>;

export interface LoadOptions {
  /** Program name for --help and errors. */
  readonly program: string;
  /** What --help prints above the flags. */
  readonly usage: string;
  readonly version: string;
  /** Command-line arguments (without node and the script). */
  readonly argv: readonly string[];
  readonly env: Env;
  /** A file of KEY=value lines read below the environment (./.env); absent or missing: none. */
  readonly envFile?: string;
  /** Variables a process no longer reads, with the flag that replaced each: finding one set is an error. */
  readonly retired?: Readonly<Record<string, string>>;
}

/**
 * Each setting's value from, first to last: its flag, its variable (then its aliases) in the
 * environment, in the env file, its default. Only declared variables are read, so unrelated
 * NDNREG_* variables are harmless. Exits after printing --help or --version; throws an Error of
 * one line for a bad flag, a bad value, a missing required setting or a retired variable.
 */
export function loadSettings<S extends SettingTable>(table: S, opts: LoadOptions): SettingValues<S> {
  const fileEnv = readEnvFile(opts.envFile);
  rejectRetired(opts, fileEnv);
  const args = parseFlags(table, opts);
  const values: Record<string, unknown> = {};
  for (const [flag, setting] of Object.entries(table)) {
    const found = findText(flag, setting, args, opts.env, fileEnv, opts.envFile);
    if (found === undefined) {
      throw new Error(`--${flag} (or ${envName(flag)}) is required: ${setting.describe}`);
    }
    try {
      values[flag] = setting.parse(found.text);
    } catch (err: unknown) {
      const shown = setting.secret ? "(hidden)" : found.text;
      throw new Error(`${found.where(shown)}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
  }
  return values as SettingValues<S>;
}

/** Where a setting's text came from, for error messages: `--flag text`, `NAME=text`, `NAME=text in .env`. */
interface Found {
  readonly text: string;
  readonly where: (shown: string) => string;
}

function findText(
  flag: string, setting: Setting<unknown>, args: Readonly<Record<string, unknown>>, env: Env, fileEnv: Env, envFile?: string,
): Found | undefined {
  const fromFlag = args[flag];
  if (typeof fromFlag === "string") {
    return { text: fromFlag, where: (shown) => `--${flag} ${shown}` };
  }
  if (fromFlag === true) {
    return { text: "true", where: () => `--${flag}` };
  }
  const names = settingEnvNames(flag, setting);
  for (const [source, suffix] of [[env, ""], [fileEnv, ` in ${envFile}`]] as const) {
    for (const name of names) {
      const text = source[name];
      if (text !== undefined) {
        return { text, where: (shown) => `${name}=${shown}${suffix}` };
      }
    }
  }
  return setting.default === undefined ? undefined : { text: setting.default, where: (shown) => `the default of --${flag} (${shown})` };
}

function readEnvFile(file: string | undefined): Env {
  if (file === undefined || !existsSync(file)) {
    return {};
  }
  try {
    return parseEnv(readFileSync(file, "utf8"));
  } catch (err: unknown) {
    throw new Error(`${file}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
}

function rejectRetired(opts: LoadOptions, fileEnv: Env): void {
  const found = Object.entries(opts.retired ?? {}).flatMap(([old, flag]) => {
    const where = opts.env[old] !== undefined ? "" : fileEnv[old] !== undefined ? ` (in ${opts.envFile})` : undefined;
    return where === undefined ? [] : [`${old}${where} is now ${envName(flag)} (--${flag})`];
  });
  if (found.length > 0) {
    throw new Error(`settings were renamed, and the old names are no longer read: ${found.join("; ")}`);
  }
}

/** The flags given on the command line, as text; --help and --version print and exit. */
function parseFlags(table: SettingTable, opts: LoadOptions): Readonly<Record<string, unknown>> {
  const cli = yargs([...opts.argv])
    .scriptName(opts.program)
    .usage(opts.usage)
    // Every value stays text for the setting's own parse; a flag given twice takes the last value.
    .parserConfiguration({
      "parse-numbers": false, "parse-positional-numbers": false, "boolean-negation": false, "camel-case-expansion": false,
      "dot-notation": false, "duplicate-arguments-array": false, "greedy-arrays": false,
    })
    .strict()
    .wrap(Math.min(120, process.stdout.columns || 120))
    .fail((message: string | undefined, err: Error | undefined) => {
      throw err ?? new Error(`${message ?? "bad arguments"} (run with --help for the flags)`);
    });
  for (const [flag, s] of Object.entries(table)) {
    if (s.flagOnly) {
      cli.option(flag, { type: "boolean", describe: s.describe });
      continue;
    }
    const env = settingEnvNames(flag, s).join(" or ");
    cli.option(flag, {
      requiresArg: true,
      describe: `${s.describe} [env ${env}]${s.default === undefined ? " [required]" : ""}`,
      ...s.default === undefined || s.secret ? {} : { defaultDescription: defaultText(s) },
    });
  }
  return cli.version(opts.version).help().parseSync();
}

/** The default as --help shows it. */
function defaultText(s: Setting<unknown>): string {
  return s.defaultText ?? (s.default === "" ? "(empty)" : s.default ?? "(required)");
}
