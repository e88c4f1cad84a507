// Compiles Tracee.sol with the pinned solc (same settings as common/compile.js) and prints
// {Name: {abi, bytecode}}; the committed Tracee.json must equal this output.
const fs = require("fs");
const path = require("path");
const solc = require("solc");

const source = fs.readFileSync(path.join(__dirname, "Tracee.sol"), "utf8");
const input = {
  language: "Solidity",
  sources: { "Tracee.sol": { content: source } },
  settings: {
    evmVersion: "prague",
    optimizer: { enabled: true, runs: 200 },
    metadata: { bytecodeHash: "none", appendCBOR: false },
    outputSelection: { "*": { "*": ["abi", "evm.bytecode.object"] } },
  },
};
const out = JSON.parse(solc.compile(JSON.stringify(input)));
const errors = (out.errors || []).filter((e) => e.severity === "error");
if (errors.length) {
  console.error(errors.map((e) => e.formattedMessage).join("\n"));
  process.exit(1);
}
const result = {};
for (const [name, c] of Object.entries(out.contracts["Tracee.sol"])) {
  result[name] = { abi: c.abi, bytecode: "0x" + c.evm.bytecode.object };
}
process.stdout.write(JSON.stringify(result, null, 1) + "\n");
