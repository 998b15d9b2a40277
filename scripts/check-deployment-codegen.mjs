#!/usr/bin/env node
// Type-checks the code against the `convex/_generated` a deployment writes.
//
//   npm run check:codegen            # part of `npm run check`, so CI runs it
//   node scripts/check-deployment-codegen.mjs --keep      # keep the copy to look at
//   node scripts/check-deployment-codegen.mjs --verbose   # show the Convex CLI's output
//   node scripts/check-deployment-codegen.mjs --convex-only   # skip the root tsconfig.json
//
// The repository commits `convex/_generated` as `npx convex codegen --system-udfs`
// writes it offline. `npx convex dev`, `npx convex deploy` and a `codegen` against a
// deployment write something else (convex 1.48, src/cli/lib/codegen.ts:
// doInitialComponentCodegen + doFinalComponentCodegen instead of doCodegen):
//   api.js       `components = componentsGeneric()` beside `api` and `internal`
//   api.d.ts     `components: {...}` typed from the deployment's analysis
//   server.d.ts  `env: Env`, where `Env` lists only the variables the platform
//                injects (CONVEX_CLOUD_URL, CONVEX_SITE_URL) and those declared in
//                convex.config.ts, instead of `Record<string, string | undefined>`
//   server.js    the same `env`, documented
// and then runs `tsc --project convex` before it pushes. Code that compiles with one
// variant can fail with the other (reading `env.SOME_VARIABLE` does), which only
// shows up at deploy time. This script makes it show up in CI:
//
// 1. Copies the working tree (git's tracked and untracked-but-not-ignored files)
//    into a temporary directory, with node_modules linked in. The committed
//    `convex/_generated` is never touched.
// 2. Runs the real Convex CLI of node_modules, `convex codegen`, in that copy against
//    a stand-in deployment served by this script on 127.0.0.1: it answers the two
//    requests the CLI makes (`/api/get_config_hashes`, `/api/deploy2/start_push`)
//    with what a deployment answers for an app without components: an analysis of
//    the root with no child components and no declared environment variables. So
//    the CLI's own code chooses and renders the templates, exactly as against a
//    deployment; nothing is sent anywhere.
// 3. Runs `tsc --noEmit` on the copy with convex/tsconfig.json (what `convex dev` and
//    `deploy` run) and with the root tsconfig.json (what `npm run typecheck` runs),
//    side by side, and reports the errors with repository-relative paths.
//
// The stand-in knows no more than an app without components: if the app gets a
// convex.config.ts (components, declared variables) or convex.json asks for
// `codegen.staticApi` / `staticDataModel` (types from the deployment's analysis of
// every function), this script stops with exit code 2 and says so, rather than
// checking against generated code no deployment would write.
//
// Exit codes: 0 both projects type-check; 1 type errors; 2 the check could not run.

import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import { createRequire } from "node:module";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import zlib from "node:zlib";

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const args = new Set(process.argv.slice(2));
const keep = args.has("--keep");
const verbose = args.has("--verbose");
const convexOnly = args.has("--convex-only");
const unknownArgs = [...args].filter((arg) => !["--keep", "--verbose", "--convex-only"].includes(arg));
const CLI_TIMEOUT_MS = 120_000;
const TSC_TIMEOUT_MS = 300_000;

class CannotCheck extends Error {}

function log(line = "") {
  process.stdout.write(`${line}\n`);
}

function seconds(startedAt) {
  return `${((Date.now() - startedAt) / 1000).toFixed(1)} s`;
}

// ---------------------------------------------------------------------------
// What the project is

function projectSettings() {
  const require = createRequire(path.join(repoRoot, "package.json"));
  const convexPackage = require.resolve("convex/package.json");
  const convexVersion = JSON.parse(fs.readFileSync(convexPackage, "utf8")).version;
  const convexCli = path.join(path.dirname(convexPackage), "bin", "main.js");
  const tsc = path.join(path.dirname(require.resolve("typescript/package.json")), "bin", "tsc");

  let projectConfig = {};
  const configPath = path.join(repoRoot, "convex.json");
  if (fs.existsSync(configPath)) projectConfig = JSON.parse(fs.readFileSync(configPath, "utf8"));
  const functionsDir = (projectConfig.functions ?? "convex/").replace(/\/+$/, "");

  if (projectConfig.codegen?.staticApi || projectConfig.codegen?.staticDataModel) {
    throw new CannotCheck(
      "convex.json sets codegen.staticApi or codegen.staticDataModel: the generated types then come " +
        "from the deployment's analysis of every function and the schema, which the offline stand-in " +
        "does not have. Extend the stand-in (functions, schema) or check against a real deployment.",
    );
  }
  for (const name of ["convex.config.ts", "convex.config.js"]) {
    if (fs.existsSync(path.join(repoRoot, functionsDir, name))) {
      throw new CannotCheck(
        `${functionsDir}/${name} exists: with components or declared environment variables the ` +
          "deployment's analysis (child components, `env` declarations) decides the generated code, " +
          "and the offline stand-in only knows an app without them. Extend the stand-in " +
          "(analysis.definition.childComponents / envVars) or check against a real deployment.",
      );
    }
  }
  return { convexVersion, convexCli, tsc, functionsDir };
}

// ---------------------------------------------------------------------------
// A copy of the working tree

function workingTreeFiles() {
  const listed = spawnSync("git", ["ls-files", "-z", "--cached", "--others", "--exclude-standard"], {
    cwd: repoRoot,
    encoding: "utf8",
    maxBuffer: 64 * 1024 * 1024,
  });
  if (listed.status === 0) return listed.stdout.split("\0").filter(Boolean);

  // Not a git checkout: everything but dependencies, git's data and caches.
  const skipped = new Set(["node_modules", ".git", ".cache"]);
  const files = [];
  const walk = (relative) => {
    for (const entry of fs.readdirSync(path.join(repoRoot, relative), { withFileTypes: true })) {
      if (skipped.has(entry.name)) continue;
      const child = relative ? path.join(relative, entry.name) : entry.name;
      if (entry.isDirectory()) walk(child);
      else files.push(child);
    }
  };
  walk("");
  return files;
}

function copyWorkingTree(destination) {
  let copied = 0;
  for (const relative of workingTreeFiles()) {
    if (relative.split(/[\\/]/)[0] === "node_modules") continue; // linked below (even if a link itself)
    const source = path.join(repoRoot, relative);
    let stat;
    try {
      stat = fs.lstatSync(source);
    } catch {
      continue; // deleted in the working tree
    }
    if (stat.isDirectory()) continue; // a nested repository
    const target = path.join(destination, relative);
    fs.mkdirSync(path.dirname(target), { recursive: true });
    if (stat.isSymbolicLink()) fs.symlinkSync(fs.readlinkSync(source), target);
    else fs.copyFileSync(source, target);
    copied += 1;
  }
  fs.symlinkSync(path.join(repoRoot, "node_modules"), path.join(destination, "node_modules"), "dir");
  return copied;
}

// ---------------------------------------------------------------------------
// The stand-in deployment

function readBody(request) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    request.on("data", (chunk) => chunks.push(chunk));
    request.on("error", reject);
    request.on("end", () => {
      let body = Buffer.concat(chunks);
      const encoding = request.headers["content-encoding"];
      if (encoding === "br") body = zlib.brotliDecompressSync(body);
      else if (encoding === "gzip") body = zlib.gunzipSync(body);
      resolve(body.length > 0 ? JSON.parse(body.toString("utf8")) : {});
    });
  });
}

/** What a deployment answers `start_push` with for an app without components. */
function startPushAnswer(convexVersion) {
  return {
    environmentVariables: {},
    externalDepsId: null,
    componentDefinitionPackages: {},
    appAuth: [],
    analysis: {
      "": {
        definition: {
          path: "",
          definitionType: { type: "app" },
          childComponents: [],
          httpMounts: {},
          exports: { type: "branch", branch: [] },
          envVars: [],
        },
        schema: null,
        functions: {},
        udfConfig: { serverVersion: convexVersion, importPhaseRngSeed: null, importPhaseUnixTimestamp: null },
      },
    },
    app: {
      definitionPath: "",
      componentPath: "",
      args: {},
      childComponents: {},
      httpRoutes: { httpModuleRoutes: null, mounts: [] },
      exports: {},
    },
    schemaChange: { allocatedComponentIds: null, schemaIds: null },
  };
}

function startStandIn({ convexVersion, functionsDir }) {
  const seen = { requests: [], refused: null, pushed: false };
  const server = http.createServer((request, response) => {
    const answer = (status, body) => {
      response.writeHead(status, { "Content-Type": "application/json" });
      response.end(JSON.stringify(body));
    };
    readBody(request).then(
      (body) => {
        seen.requests.push(`${request.method} ${request.url}`);
        if (request.method === "POST" && request.url === "/api/get_config_hashes") {
          answer(200, { config: { functions: `${functionsDir}/` }, moduleHashes: [], nodeDependencies: [], udfServerVersion: null });
        } else if (request.method === "POST" && request.url === "/api/deploy2/start_push") {
          const components = body.componentDefinitions ?? [];
          if (components.length > 0) {
            seen.refused = `the app defines ${components.length} component(s); the offline stand-in analyzes none`;
            answer(400, { code: "OfflineStandIn", message: seen.refused });
            return;
          }
          seen.pushed = true;
          answer(200, startPushAnswer(convexVersion));
        } else {
          seen.refused = `the Convex CLI asked for ${request.method} ${request.url}, which the offline stand-in does not serve`;
          answer(404, { code: "OfflineStandIn", message: seen.refused });
        }
      },
      (error) => {
        seen.refused = `unreadable request ${request.method} ${request.url}: ${error.message}`;
        answer(400, { code: "OfflineStandIn", message: seen.refused });
      },
    );
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve({ server, seen, url: `http://127.0.0.1:${server.address().port}` }));
  });
}

// ---------------------------------------------------------------------------
// Processes

function run(command, commandArgs, options) {
  return new Promise((resolve) => {
    const child = spawn(command, commandArgs, { ...options, stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (chunk) => (output += chunk));
    child.stderr.on("data", (chunk) => (output += chunk));
    const timer = setTimeout(() => child.kill("SIGKILL"), options.timeout);
    child.on("error", (error) => {
      clearTimeout(timer);
      resolve({ status: null, output: `${output}${error.message}\n` });
    });
    child.on("close", (status, signal) => {
      clearTimeout(timer);
      resolve({ status, output: signal ? `${output}(stopped by ${signal})\n` : output });
    });
  });
}

/** The CLI's environment: no deployment, proxy or telemetry settings of the caller's. */
function cliEnvironment() {
  const environment = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (/^CONVEX_/.test(name) || /^(https?|all|no)_proxy$/i.test(name)) continue;
    environment[name] = value;
  }
  environment.CI = "1"; // the CLI reports no errors to Sentry under CI
  environment.NO_PROXY = "127.0.0.1,localhost";
  return environment;
}

async function renderDeploymentCodegen(copy, settings) {
  const standIn = await startStandIn(settings);
  try {
    const startedAt = Date.now();
    const result = await run(
      process.execPath,
      [settings.convexCli, "codegen", "--url", standIn.url, "--admin-key", "offline-stand-in", "--typecheck", "disable"],
      { cwd: copy, env: cliEnvironment(), timeout: CLI_TIMEOUT_MS },
    );
    if (verbose || result.status !== 0 || !standIn.seen.pushed) {
      log(`  convex codegen output:`);
      for (const line of result.output.trimEnd().split("\n")) log(`    ${line}`);
      log(`  requests to the stand-in: ${standIn.seen.requests.join(", ") || "none"}`);
    }
    if (standIn.seen.refused) throw new CannotCheck(standIn.seen.refused);
    if (result.status !== 0) throw new CannotCheck(`convex codegen against the stand-in exited with ${result.status}`);
    if (!standIn.seen.pushed) {
      throw new CannotCheck("convex codegen never asked the stand-in for the deployment's analysis (start_push)");
    }
    return seconds(startedAt);
  } finally {
    standIn.server.close();
  }
}

// ---------------------------------------------------------------------------
// The report

function compareGenerated(copy, functionsDir) {
  const committedDir = path.join(repoRoot, functionsDir, "_generated");
  const renderedDir = path.join(copy, functionsDir, "_generated");
  const list = (dir) => (fs.existsSync(dir) ? fs.readdirSync(dir).filter((name) => fs.statSync(path.join(dir, name)).isFile()) : []);
  const names = [...new Set([...list(committedDir), ...list(renderedDir)])].sort();
  const width = Math.max(...names.map((name) => name.length));
  for (const name of names) {
    const committed = path.join(committedDir, name);
    const rendered = path.join(renderedDir, name);
    let status;
    if (!fs.existsSync(rendered)) status = "not written by a deployment";
    else if (!fs.existsSync(committed)) status = "only written by a deployment";
    else {
      const before = fs.readFileSync(committed, "utf8").split("\n");
      const after = fs.readFileSync(rendered, "utf8").split("\n");
      const beforeSet = new Set(before);
      const afterSet = new Set(after);
      const added = after.filter((line) => !beforeSet.has(line)).length;
      const removed = before.filter((line) => !afterSet.has(line)).length;
      status = added === 0 && removed === 0 ? "same lines" : `differs (${added} lines only here, ${removed} only in the committed file)`;
    }
    log(`    ${name.padEnd(width)}  ${status}`);
  }
}

async function typeCheck(copy, settings) {
  const projects = [{ label: `tsc --project ${settings.functionsDir}`, args: ["--project", settings.functionsDir] }];
  if (!convexOnly && fs.existsSync(path.join(copy, "tsconfig.json"))) {
    projects.push({ label: "tsc --project tsconfig.json", args: ["--project", "tsconfig.json"] });
  }
  const width = Math.max(...projects.map((project) => project.label.length));
  const results = await Promise.all(
    projects.map(async (project) => {
      const startedAt = Date.now();
      const result = await run(process.execPath, [settings.tsc, ...project.args, "--noEmit", "--pretty", "false"], {
        cwd: copy,
        env: process.env,
        timeout: TSC_TIMEOUT_MS,
      });
      return { ...project, ...result, took: seconds(startedAt) };
    }),
  );
  let failed = false;
  for (const result of results) {
    const errors = result.output.split("\n").filter((line) => /error TS\d+:/.test(line)).length;
    if (result.status === 0) {
      log(`  ${result.label.padEnd(width)}  ok (${result.took})`);
      continue;
    }
    failed = true;
    log(`  ${result.label.padEnd(width)}  ${errors > 0 ? `${errors} error(s)` : `failed (exit ${result.status})`} (${result.took})`);
    for (const line of result.output.trimEnd().split("\n")) log(`    ${line}`);
  }
  return failed;
}

async function main() {
  const startedAt = Date.now();
  if (unknownArgs.length > 0) throw new CannotCheck(`unknown argument(s) ${unknownArgs.join(" ")}; known: --keep, --verbose, --convex-only`);
  const settings = projectSettings();
  log(`check:codegen: type-check against the convex/_generated a deployment writes (convex ${settings.convexVersion})`);

  const copy = fs.mkdtempSync(path.join(os.tmpdir(), "deployment-codegen-"));
  try {
    const files = copyWorkingTree(copy);
    log(`  copied ${files} files of the working tree to ${copy}`);
    const took = await renderDeploymentCodegen(copy, settings);
    log(`  rendered ${settings.functionsDir}/_generated with \`convex codegen\` against the offline stand-in (${took}):`);
    compareGenerated(copy, settings.functionsDir);

    const failed = await typeCheck(copy, settings);
    if (failed) {
      log("");
      log("  The code does not type-check with the generated code of `npx convex dev` / `npx convex deploy`,");
      log("  so a deploy would stop at its typecheck. (If `npm run typecheck` passes, the errors are");
      log("  specific to the deployment variant.) The usual cause is reading a variable off `env` of");
      log("  _generated/server: a deployment types it with only CONVEX_CLOUD_URL, CONVEX_SITE_URL and the");
      log("  variables convex.config.ts declares. Read variables through convex/config.ts instead.");
    }
    log(`check:codegen: ${failed ? "FAILED" : "ok"} (${seconds(startedAt)})`);
    return failed ? 1 : 0;
  } finally {
    if (keep) log(`  kept ${copy}`);
    else {
      // The link first, so that nothing can follow it into the real node_modules.
      fs.rmSync(path.join(copy, "node_modules"), { force: true });
      fs.rmSync(copy, { recursive: true, force: true });
    }
  }
}

main().then(
  (code) => process.exit(code),
  (error) => {
    if (error instanceof CannotCheck) log(`check:codegen: cannot check: ${error.message}`);
    else log(`check:codegen: cannot check: ${error.stack ?? error}`);
    process.exit(2);
  },
);
