// Compiles contracts/src and contracts/test with the pinned solc (npm, pure JS) and writes one
// artifact per contract: {abi, bytecode, deployedBytecode}, stable JSON, byte-reproducible
// (no metadata hash). Usage: node compile.mjs [outDir]  (default ../crates/contracts/artifacts)
import { readFileSync, readdirSync, writeFileSync, mkdirSync } from "node:fs";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const solc = require("solc");
const here = dirname(fileURLToPath(import.meta.url));
const out = process.argv[2] ?? join(here, "..", "crates", "contracts", "artifacts");

const sources = {};
for (const dir of ["src", "test"]) {
  for (const f of readdirSync(join(here, dir)).filter((f) => f.endsWith(".sol")).sort()) {
    sources[`${dir}/${f}`] = { content: readFileSync(join(here, dir, f), "utf8") };
  }
}
const input = {
  language: "Solidity",
  sources,
  settings: {
    evmVersion: "prague",
    optimizer: { enabled: true, runs: 200 },
    metadata: { bytecodeHash: "none", appendCBOR: false },
    outputSelection: { "*": { "*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"] } },
  },
};
const res = JSON.parse(solc.compile(JSON.stringify(input), {
  import: (path) => {
    try { return { contents: readFileSync(join(here, path), "utf8") }; } catch (e) { return { error: String(e) }; }
  },
}));
const errors = (res.errors ?? []).filter((e) => e.severity === "error");
if (errors.length) {
  console.error(errors.map((e) => e.formattedMessage).join("\n"));
  process.exit(1);
}
mkdirSync(out, { recursive: true });
const sortKeys = (v) => Array.isArray(v) ? v.map(sortKeys)
  : v && typeof v === "object" ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, sortKeys(v[k])])) : v;
for (const [file, contracts] of Object.entries(res.contracts)) {
  for (const [name, c] of Object.entries(contracts)) {
    if (c.evm.bytecode.object === "") continue; // interfaces
    const artifact = sortKeys({
      abi: c.abi,
      bytecode: "0x" + c.evm.bytecode.object,
      deployedBytecode: "0x" + c.evm.deployedBytecode.object,
      compiler: `solc ${solc.version()}`,
      source: file,
    });
    writeFileSync(join(out, `${name}.json`), JSON.stringify(artifact, null, 1) + "\n");
  }
}
console.error(`compiled ${Object.keys(sources).length} sources with solc ${solc.version()} into ${out}`);
