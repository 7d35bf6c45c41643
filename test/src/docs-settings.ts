/**
 * `pnpm docs:settings`: rewrites the README's settings tables from the processes' declarations
 * (server/src/config.ts, client/src/config.ts). The configuration test fails while they differ.
 */
import { fileURLToPath } from "node:url";

import { writeReadmeSettings } from "./docs/settings-docs.js";

const readme = fileURLToPath(new URL("../../README.md", import.meta.url));
console.log(writeReadmeSettings(readme) ? `${readme}: settings tables rewritten` : `${readme}: settings tables already up to date`);
