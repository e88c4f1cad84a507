// Deploys the Marketplace and lists one item. The network decides where:
//   npx hardhat run scripts/deploy.js --network lightstreams   (RPC_URL, default 127.0.0.1:8545)
// ARBITER (address) and FEE_BPS may be set in the environment; the arbiter defaults to the
// second account.
const { ethers, network } = require("hardhat");

async function main() {
  const [deployer, second] = await ethers.getSigners();
  const arbiter = process.env.ARBITER || second.address;
  const feeBps = Number(process.env.FEE_BPS || 250);
  const market = await ethers.deployContract("Marketplace", [arbiter, feeBps], deployer);
  await market.waitForDeployment();
  const address = await market.getAddress();
  const receipt = await (await market.list("First item", ethers.parseEther("0.1"))).wait();
  const { chainId } = await ethers.provider.getNetwork();
  console.log(`network ${network.name} (chain id ${chainId})`);
  console.log(`Marketplace deployed at ${address} by ${deployer.address}, arbiter ${arbiter}, fee ${feeBps} bps`);
  console.log(`listed item 1 in block ${receipt.blockNumber}`);
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
