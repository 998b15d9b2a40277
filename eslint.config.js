import convexPlugin from "@convex-dev/eslint-plugin";
import tseslint from "typescript-eslint";

export default tseslint.config(
  {
    ignores: ["node_modules/**", "convex/_generated/**", ".cache/**", "reports/**", "bench/results/**"],
  },
  ...tseslint.configs.recommended,
  ...convexPlugin.configs.recommended,
  {
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      // Money is bigint: a Number() on an amount is a bug waiting to happen.
      "no-restricted-globals": ["error", { name: "parseFloat", message: "No floats on money: use bigint." }],
    },
  },
);
