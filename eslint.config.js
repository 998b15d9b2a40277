import convexPlugin from "@convex-dev/eslint-plugin";
import tseslint from "typescript-eslint";

/**
 * The backend's layers (docs/architecture.md, "Code layers"), enforced:
 *   convex/domain   pure rules and math: nothing of Convex, no environment
 *   convex/model    database helpers: no environment, no function builders
 *   convex/chain    Stacks and Hiro: never the books
 *   convex/*.ts     Convex functions: no Clarity or Stacks encoding of their own
 */
const FUNCTION_BUILDERS = [
  "query",
  "internalQuery",
  "mutation",
  "internalMutation",
  "action",
  "internalAction",
  "httpAction",
];

const rawBuilders = {
  group: ["**/_generated/server"],
  importNames: FUNCTION_BUILDERS,
  message: "Use the builders of convex/functions.ts: they turn a domain PoolError into the client's ConvexError.",
};

const environment = {
  group: ["**/_generated/server"],
  importNames: ["env"],
  message: "Only convex/config.ts reads the environment; pass the configuration in.",
};

const configModule = {
  regex: "^(\\.{1,2}/)+(convex/)?config(\\.ts)?$",
  message: "Only Convex function handlers read the configuration; pass what is needed in.",
};

/** Any relative path with a `..` segment, however it is spelled (`../x`, `./../x`, `a/../../x`). */
const LEAVES_FOLDER = "(^|/)\\.\\.(/|$)";
/** A relative path into convex/model, however it is spelled (`../model`, `./../model/x`, `../../convex/model/x`). */
const INTO_MODEL = "^(\\.{1,2}/)+(convex/)?model(/|$)";
const CONVEX_PACKAGES = "^convex(-helpers)?(/|$)";
const STACKS_ENCODING = "^@stacks/(transactions|network)(/|$)";

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
  {
    // The domain's files import each other (`./x`) and packages, never a file outside the folder.
    files: ["convex/domain/**/*.ts"],
    rules: {
      "no-restricted-imports": [
        "error",
        {
          patterns: [
            { regex: CONVEX_PACKAGES, message: "The domain is pure: nothing of Convex." },
            { regex: "(^|/)_generated(/|$)", message: "The domain is pure: nothing of Convex." },
            { regex: LEAVES_FOLDER, message: "The domain depends on nothing of the backend's other layers." },
          ],
        },
      ],
      "no-restricted-globals": ["error", { name: "process", message: "The domain never reads the environment." }],
      "no-restricted-properties": [
        "error",
        { object: "process", property: "env", message: "The domain never reads the environment." },
        { object: "globalThis", property: "process", message: "The domain never reads the environment." },
      ],
    },
  },
  {
    files: ["convex/model/**/*.ts"],
    rules: {
      "no-restricted-imports": ["error", { patterns: [rawBuilders, environment, configModule] }],
    },
  },
  {
    files: ["convex/chain/**/*.ts"],
    rules: {
      "no-restricted-imports": [
        "error",
        {
          patterns: [
            rawBuilders,
            environment,
            { regex: INTO_MODEL, message: "The chain layer never touches the books." },
          ],
        },
      ],
    },
  },
  {
    // The watcher and the exit trust no database: the chain through convex/chain and the pure
    // domain, nothing of the books, the configuration or Convex (README "Operations: the watcher and the exit").
    files: ["tools/**/*.ts"],
    rules: {
      "no-restricted-imports": [
        "error",
        {
          patterns: [
            {
              regex: "^(\\.\\.?/)+convex/(?!(chain|domain)/)",
              message: "Tools import convex/chain and convex/domain only: never the books, the configuration or Convex functions.",
            },
            { regex: "^convex(-helpers)?(/|$)", message: "Tools are plain Node processes: nothing of Convex." },
          ],
        },
      ],
    },
  },
  {
    files: ["convex/*.ts"],
    ignores: ["convex/functions.ts", "convex/config.ts", "convex/auth.config.ts"],
    rules: {
      "no-restricted-imports": [
        "error",
        {
          patterns: [
            { regex: STACKS_ENCODING, message: "Clarity encoding and parsing belong in convex/chain; networks come from convex/config.ts." },
            rawBuilders,
            environment,
          ],
        },
      ],
      // A dynamic import is no way around the rule above.
      "no-restricted-syntax": [
        "error",
        {
          selector: "ImportExpression[source.value=/^@stacks\\/(transactions|network)/]",
          message: "Clarity encoding and parsing belong in convex/chain.",
        },
      ],
    },
  },
);
