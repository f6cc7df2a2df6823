// Bundles the client into dist/: src/main.js (with socket.io-client and the CSS it
// imports) becomes dist/assets/app-<hash>.js and .css, whose names change with their
// content (so the node serves them as immutable), and index.html is written with those
// names. `node build.mjs` from web/ (scripts/build-web runs it after `npm ci`).

import { build } from "esbuild";
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = dirname(fileURLToPath(import.meta.url));
const dist = join(root, "dist");
const staging = join(root, "dist.tmp");

rmSync(staging, { recursive: true, force: true });
const result = await build({
  entryPoints: { app: join(root, "src/main.js") },
  bundle: true,
  format: "esm",
  target: ["es2020"],
  minify: true,
  sourcemap: "linked",
  outdir: join(staging, "assets"),
  entryNames: "[name]-[hash]",
  assetNames: "[name]-[hash]",
  metafile: true,
  logLevel: "warning",
});

const outputs = Object.keys(result.metafile.outputs).map((file) => basename(file));
const script = outputs.find((file) => file.endsWith(".js"));
const style = outputs.find((file) => file.endsWith(".css"));
if (!script || !style) throw new Error(`esbuild wrote no app script or style: ${outputs.join(", ")}`);

const page = readFileSync(join(root, "index.html"), "utf8")
  .replace("%STYLE%", `assets/${style}`)
  .replace("%SCRIPT%", `assets/${script}`);
mkdirSync(staging, { recursive: true });
writeFileSync(join(staging, "index.html"), page);

// Swap in the new build at once, so a running node never serves half of one.
rmSync(dist, { recursive: true, force: true });
renameSync(staging, dist);
console.log(`web/dist: index.html, assets/${script}, assets/${style}`);
