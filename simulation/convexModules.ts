/**
 * convex-test normally finds the functions through Vite's `import.meta.glob`;
 * under plain tsx (the simulation, the benchmarks) the same map is built from
 * the file system. `overrides` replaces modules by key (e.g.
 * "./convex/policies.ts") with instrumented versions.
 */
import { readdirSync, statSync } from "node:fs";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

export type ModuleMap = Record<string, () => Promise<unknown>>;

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

export function convexModules(overrides: (modules: ModuleMap) => ModuleMap = (m) => m): ModuleMap {
  const dir = path.join(ROOT, "convex");
  const walk = (d: string): string[] =>
    readdirSync(d).flatMap((f) => {
      const p = path.join(d, f);
      return statSync(p).isDirectory() ? walk(p) : [p];
    });
  const modules: ModuleMap = {};
  for (const file of walk(dir)) {
    if (!/\.(ts|js)$/.test(file) || file.endsWith(".d.ts")) continue;
    const rel = path.relative(dir, file).split(path.sep).join("/");
    modules[`./convex/${rel}`] = () => import(pathToFileURL(file).href);
  }
  return overrides(modules);
}
