// Compiles one Solidity file (default: Store.sol beside this script) with the pinned solc (npm,
// pure JS) and prints {Name: {abi, bytecode}}. Every suite compiles its test contracts here, so
// they share one compiler version and one set of settings.
//   node compile.js [path/to/File.sol]
const fs = require("fs");
const path = require("path");
const solc = require("solc");

const file = process.argv[2] || path.join(__dirname, "Store.sol");
const name = path.basename(file);
const source = fs.readFileSync(file, "utf8");
const input = {
  language: "Solidity",
  sources: { [name]: { content: source } },
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
for (const [contract, c] of Object.entries(out.contracts[name])) {
  result[contract] = { abi: c.abi, bytecode: "0x" + c.evm.bytecode.object };
}
process.stdout.write(JSON.stringify(result, null, 1) + "\n");
