#!/usr/bin/env node
// A solc command line for forge (`forge build --use <this file>`) over the npm `solc` package
// (the official solc compiled to WebAssembly). solcjs' own command line refuses forge's
// `--allow-paths`, so this one takes `--version` and `--standard-json` (input on stdin), reads
// imports relative to `--base-path`/`--include-path`, and ignores the rest.
const fs = require("fs");
const path = require("path");
const solc = require("solc");
const args = process.argv.slice(2);
if (args.includes("--version")) {
  console.log(`solc, the solidity compiler commandline interface\nVersion: ${solc.version()}`);
  process.exit(0);
}
const roots = [];
for (let i = 0; i < args.length; i++) {
  if (args[i] === "--base-path" || args[i] === "--include-path") roots.push(args[++i]);
}
if (roots.length === 0) roots.push(process.cwd());
const input = fs.readFileSync(0, "utf8");
const findImports = (p) => {
  for (const root of [...roots, ""]) {
    const file = path.resolve(root, p);
    if (fs.existsSync(file)) return { contents: fs.readFileSync(file, "utf8") };
  }
  return { error: `File not found: ${p}` };
};
process.stdout.write(solc.compile(input, { import: findImports }));
