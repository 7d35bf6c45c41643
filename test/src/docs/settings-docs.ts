import { readFileSync, writeFileSync } from "node:fs";

import { CLIENT_SETTINGS } from "@ndnreg/client/config";
import { SERVER_SETTINGS } from "@ndnreg/server/config";
import { settingEnvNames, type SettingTable } from "@ndnreg/shared/config";

/** Each process's settings table, by the name its README section's markers use. */
export const SETTING_TABLES: Readonly<Record<"server" | "client", SettingTable>> = { server: SERVER_SETTINGS, client: CLIENT_SETTINGS };

/** Every variable a setting is read from: NDNREG_<FLAG>, then its aliases (none for a flag-only setting). */
export function envNames(flag: string, table: SettingTable): string[] {
  return settingEnvNames(flag, table[flag]!);
}

/** The README's table of a process's settings, as the declarations give it. */
export function settingsMarkdown(table: SettingTable): string {
  const cell = (t: string) => t.replaceAll("|", "\\|");
  return [
    "| flag | environment | default | meaning |",
    "|---|---|---|---|",
    ...Object.entries(table).map(([flag, s]) => {
      const dflt = s.flagOnly ? "(off)" : s.default === undefined ? "(required)" : s.secret ? ""
        : s.defaultText ?? (s.default === "" ? "(empty)" : `\`${s.default}\``);
      const env = s.flagOnly ? "(flag only)" : envNames(flag, table).map((n) => `\`${n}\``).join(", ");
      return `| \`--${flag}\` | ${env} | ${cell(dflt)} | ${cell(s.describe)} |`;
    }),
  ].join("\n");
}

/** The README between `<!-- settings:<process> -->` and `<!-- /settings -->` (without their newlines), or undefined. */
export function readmeSettingsSection(readme: string, name: string): string | undefined {
  return sectionPattern(name).exec(readme)?.[2]?.replace(/\n$/, "");
}

function sectionPattern(name: string): RegExp {
  return new RegExp(`(<!-- settings:${name} -->\\n)([\\s\\S]*?)(<!-- /settings -->)`);
}

/** Rewrite the README's settings tables from the declarations (`pnpm docs:settings`); true if it changed. */
export function writeReadmeSettings(file: string): boolean {
  const before = readFileSync(file, "utf8");
  let after = before;
  for (const [name, table] of Object.entries(SETTING_TABLES)) {
    if (readmeSettingsSection(after, name) === undefined) {
      throw new Error(`${file}: no <!-- settings:${name} --> ... <!-- /settings --> section`);
    }
    after = after.replace(sectionPattern(name), (_, open: string, _old: string, close: string) => `${open}${settingsMarkdown(table)}\n${close}`);
  }
  writeFileSync(file, after);
  return after !== before;
}
