// The DApp's test suite. It runs unchanged against hardhat's in-process network, anvil and a
// Lightstreams dev node: only `--network` (and so the RPC URL) changes.
const { expect } = require("chai");
const { ethers, network } = require("hardhat");
const {
  loadFixture, mine, setBalance, impersonateAccount, stopImpersonatingAccount, takeSnapshot, time,
} = require("@nomicfoundation/hardhat-network-helpers");
const { anyUint } = require("@nomicfoundation/hardhat-chai-matchers/withArgs");

const PRICE = ethers.parseEther("1");
const FEE_BPS = 250n; // 2.5 %
// The arbiter is a contract wallet (a multisig, say): an address nobody holds a key for.
const ARBITER = ethers.getAddress("0x00000000000000000000000000000000000a4b17");
const State = { None: 0n, Listed: 1n, Paid: 2n, Released: 3n, Refunded: 4n, Cancelled: 5n };

async function deployMarket() {
  const [deployer, seller, buyer, other] = await ethers.getSigners();
  const market = await ethers.deployContract("Marketplace", [ARBITER, FEE_BPS], deployer);
  await market.waitForDeployment();
  await (await market.connect(seller).list("Vintage camera", PRICE)).wait();
  return { market, deployer, seller, buyer, other };
}

async function paidFixture() {
  const f = await deployMarket();
  await (await f.market.connect(f.buyer).buy(1, { value: PRICE })).wait();
  const releaseAt = await f.market.releaseTime(1);
  return { ...f, releaseAt };
}

// A signer that asks the node itself to sign (eth_sendTransaction), as impersonated accounts
// need: hardhat's own provider signs locally with the configured mnemonic and refuses other
// senders, on every remote network.
async function nodeSigner(address) {
  if (network.name === "hardhat") return ethers.getImpersonatedSigner(address); // in-process
  const provider = new ethers.JsonRpcProvider(network.config.url, undefined, { staticNetwork: true });
  provider.pollingInterval = 100;
  return new ethers.JsonRpcSigner(provider, address);
}

describe("Marketplace (plain deploy, no network helpers)", function () {
  let market, seller, buyer, other;
  before(async function () {
    ({ market, seller, buyer, other } = await deployMarket());
  });

  it("refuses a zero arbiter and an excessive fee with their reasons", async function () {
    const Market = await ethers.getContractFactory("Marketplace");
    await expect(Market.deploy(ethers.ZeroAddress, 0)).to.be.revertedWith("arbiter is zero");
    await expect(Market.deploy(ARBITER, 1001)).to.be.revertedWith("fee above 10%");
  });

  it("lists an item and emits Listed", async function () {
    await expect(market.connect(seller).list("Record player", ethers.parseEther("0.5")))
      .to.emit(market, "Listed")
      .withArgs(2n, seller.address, ethers.parseEther("0.5"), "Record player");
    expect(await market.listingCount()).to.equal(2n);
    await expect(market.connect(seller).list("Nothing", 0)).to.be.revertedWith("price is zero");
  });

  it("refuses a wrong payment with a custom error and its arguments", async function () {
    await expect(market.connect(buyer).buy(1, { value: PRICE - 1n }))
      .to.be.revertedWithCustomError(market, "WrongPayment")
      .withArgs(PRICE - 1n, PRICE);
    await expect(market.connect(seller).buy(1, { value: PRICE })).to.be.revertedWith("seller cannot buy");
  });

  it("escrows the payment: the buyer pays, the contract holds it", async function () {
    const tx = market.connect(buyer).buy(1, { value: PRICE });
    await expect(tx).to.emit(market, "Paid").withArgs(1n, buyer.address, PRICE);
    await expect(tx).to.changeEtherBalances([buyer, market], [-PRICE, PRICE]);
    expect((await market.listings(1)).state).to.equal(State.Paid);
  });

  it("pays the seller and the arbiter's fee when the buyer confirms", async function () {
    await expect(market.connect(other).confirm(1))
      .to.be.revertedWithCustomError(market, "NotBuyer")
      .withArgs(other.address);
    const fee = (PRICE * FEE_BPS) / 10_000n;
    const tx = market.connect(buyer).confirm(1);
    await expect(tx).to.emit(market, "Released").withArgs(1n, seller.address, PRICE - fee, fee);
    await expect(tx).to.changeEtherBalances([market, seller, ARBITER], [-PRICE, PRICE - fee, fee]);
    await expect(market.connect(buyer).confirm(1))
      .to.be.revertedWithCustomError(market, "WrongState")
      .withArgs(1n, State.Released);
  });
});

describe("Marketplace (fixtures, time travel, impersonation)", function () {
  it("loadFixture gives every test the same fresh state", async function () {
    const { market, seller } = await loadFixture(deployMarket);
    await (await market.connect(seller).list("Extra", 1n)).wait();
    expect(await market.listingCount()).to.equal(2n);
    const again = await loadFixture(deployMarket);
    expect(await again.market.getAddress()).to.equal(await market.getAddress());
    expect(await again.market.listingCount()).to.equal(1n);
  });

  it("the seller cannot claim before the release delay", async function () {
    const { market, seller, releaseAt } = await loadFixture(paidFixture);
    await expect(market.connect(seller).claim(1))
      .to.be.revertedWithCustomError(market, "TooEarly")
      .withArgs(anyUint, releaseAt);
    await time.increase(3 * 24 * 3600); // three days later: still too early
    await expect(market.connect(seller).claim(1)).to.be.revertedWithCustomError(market, "TooEarly");
  });

  it("the seller claims once time.increaseTo reaches the release time", async function () {
    const { market, seller, releaseAt } = await loadFixture(paidFixture);
    await time.increaseTo(releaseAt);
    expect(await time.latest()).to.equal(Number(releaseAt));
    const fee = (PRICE * FEE_BPS) / 10_000n;
    await expect(market.connect(seller).claim(1))
      .to.changeEtherBalances([market, seller, ARBITER], [-PRICE, PRICE - fee, fee]);
  });

  it("setNextBlockTimestamp gives the claim's block exactly that time", async function () {
    const { market, seller, releaseAt } = await loadFixture(paidFixture);
    // One second early is refused with the block's exact time...
    await time.setNextBlockTimestamp(releaseAt - 1n);
    await expect(market.connect(seller).claim(1))
      .to.be.revertedWithCustomError(market, "TooEarly")
      .withArgs(releaseAt - 1n, releaseAt);
    await time.setNextBlockTimestamp(releaseAt);
    const receipt = await (await market.connect(seller).claim(1, { gasLimit: 200_000 })).wait();
    expect(receipt.status).to.equal(1);
    const block = await ethers.provider.getBlock(receipt.blockNumber);
    expect(block.timestamp).to.equal(Number(releaseAt));
  });

  it("mine() adds blocks, with an interval between their timestamps", async function () {
    await loadFixture(deployMarket);
    const before = await ethers.provider.getBlock("latest");
    await mine(100);
    expect(await time.latestBlock()).to.equal(before.number + 100);
    await mine(3, { interval: 3600 });
    const after = await ethers.provider.getBlock("latest");
    expect(after.number).to.equal(before.number + 103);
    expect(after.timestamp - before.timestamp).to.be.at.least(2 * 3600);
  });

  it("a fresh key funded with setBalance buys an item", async function () {
    const { market } = await loadFixture(deployMarket);
    const wallet = ethers.Wallet.createRandom().connect(ethers.provider);
    const funds = ethers.parseEther("3");
    await setBalance(wallet.address, funds);
    expect(await ethers.provider.getBalance(wallet.address)).to.equal(funds);
    const tx = market.connect(wallet).buy(1, { value: PRICE });
    await expect(tx).to.emit(market, "Paid").withArgs(1n, wallet.address, PRICE);
    await expect(tx).to.changeEtherBalance(wallet, -PRICE);
  });

  it("the arbiter (impersonated, no key) refunds the buyer", async function () {
    const { market, buyer } = await loadFixture(paidFixture);
    await expect(market.connect(buyer).refund(1)).to.be.revertedWith("only the arbiter");
    await setBalance(ARBITER, ethers.parseEther("1"));
    await impersonateAccount(ARBITER);
    const arbiter = await nodeSigner(ARBITER);
    const tx = market.connect(arbiter).refund(1);
    await expect(tx).to.emit(market, "Refunded").withArgs(1n, buyer.address, PRICE);
    await expect(tx).to.changeEtherBalances([market, buyer], [-PRICE, PRICE]);
    expect((await market.listings(1)).state).to.equal(State.Refunded);
    await stopImpersonatingAccount(ARBITER);
    await expect(arbiter.sendTransaction({ to: ARBITER, value: 1n })).to.be.rejected;
  });

  it("takeSnapshot().restore() undoes a sale", async function () {
    const { market, buyer } = await loadFixture(deployMarket);
    const snapshot = await takeSnapshot();
    await (await market.connect(buyer).buy(1, { value: PRICE })).wait();
    expect((await market.listings(1)).state).to.equal(State.Paid);
    await snapshot.restore();
    expect((await market.listings(1)).state).to.equal(State.Listed);
    expect(await ethers.provider.getBalance(await market.getAddress())).to.equal(0n);
  });
});
