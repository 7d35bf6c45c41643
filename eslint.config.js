// One tool for lint and format. Type-checked rules catch what tsc does not: promises left
// floating or passed where a callback is expected, awaits of non-promises. The @stylistic rules
// write down the house style (double quotes, semicolons, two spaces, trailing commas in
// multi-line literals, lines up to 160 characters).
import js from "@eslint/js";
import stylistic from "@stylistic/eslint-plugin";
import tseslint from "typescript-eslint";

/** @public */
export default tseslint.config(
  { ignores: ["**/dist/", "bench-results/", "**/*.cjs", "**/*.js"] },
  js.configs.recommended,
  tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    plugins: { "@stylistic": stylistic },
    rules: {
      // node:test's describe() and test() return promises the runner itself awaits.
      "@typescript-eslint/no-floating-promises": ["error", {
        allowForKnownSafeCalls: [{ from: "package", package: "node:test", name: ["describe", "test", "before", "after", "beforeEach", "afterEach"] }],
      }],
      "@typescript-eslint/no-misused-promises": "error",
      "@typescript-eslint/await-thenable": "error",
      // An async function without await is fine where the interface wants a promise.
      "@typescript-eslint/require-await": "off",
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      // NDNts names print as their URI.
      "@typescript-eslint/restrict-template-expressions": ["error", { allow: [{ from: "package", package: "@ndn/packet", name: "Name" }] }],
      "@stylistic/quotes": ["error", "double", { avoidEscape: true }],
      "@stylistic/semi": ["error", "always"],
      "@stylistic/indent": ["error", 2, { SwitchCase: 1, flatTernaryExpressions: true }],
      "@stylistic/comma-dangle": ["error", "always-multiline"],
      "@stylistic/max-len": ["error", { code: 160, ignoreStrings: true, ignoreTemplateLiterals: true, ignoreRegExpLiterals: true, ignorePattern: "^#!" }],
      "@stylistic/eol-last": "error",
      "@stylistic/no-trailing-spaces": "error",
    },
  },
);
