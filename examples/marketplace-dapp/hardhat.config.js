require("@nomicfoundation/hardhat-chai-matchers");
require("@nomicfoundation/hardhat-ethers");
const { subtask } = require("hardhat/config");
const { TASK_COMPILE_SOLIDITY_GET_SOLC_BUILD } = require("hardhat/builtin-tasks/task-names");

// Compile with the npm `solc` package (solcjs, pinned in package.json) instead of letting
// hardhat download a compiler: builds need no network beyond the npm registry.
const SOLC_VERSION = "0.8.30";
subtask(TASK_COMPILE_SOLIDITY_GET_SOLC_BUILD, async ({ solcVersion }, hre, runSuper) => {
  if (solcVersion !== SOLC_VERSION) return runSuper();
  const solc = require("solc");
  return {
    compilerPath: require.resolve("solc/soljson.js"),
    isSolcJs: true,
    version: solcVersion,
    longVersion: solc.version().replace(/\.Emscripten\.clang$/, ""),
  };
});

// The standard test mnemonic: the ten accounts anvil, hardhat and a Lightstreams dev node fund.
const accounts = { mnemonic: "test test test test test test test test test test test junk" };

module.exports = {
  solidity: { version: SOLC_VERSION, settings: { optimizer: { enabled: true, runs: 200 }, evmVersion: "prague" } },
  networks: {
    // A Lightstreams node (`lightstreams node --dev`, or a validator of a network).
    lightstreams: { url: process.env.RPC_URL || "http://127.0.0.1:8545", chainId: 1337, accounts },
    // anvil (`anvil --chain-id 1337`): the same project, only the URL differs.
    anvil: { url: process.env.RPC_URL || "http://127.0.0.1:8545", chainId: 1337, accounts },
  },
  mocha: { timeout: 60000 },
};
