// Register a file, list it, buy it from a second account, and see hasAccess turn true, with
// ethers 6. On lightstreams the contracts are predeployed (lightstreams_contracts); on any
// other chain (TARGET=anvil) this script deploys the same committed artifacts first.
import { test, before } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { JsonRpcProvider, Wallet, ContractFactory, Contract, AbiCoder, getCreateAddress, keccak256, parseEther, ZeroAddress } from "ethers";

const art = (n) => JSON.parse(readFileSync(new URL(`../../../crates/contracts/artifacts/${n}.json`, import.meta.url)));
const provider = new JsonRpcProvider(process.env.RPC_URL, undefined, { pollingInterval: 100, cacheTimeout: -1 });
const owner = new Wallet("0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80", provider);
const buyer = new Wallet("0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d", provider);
const payee = "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC";
let registry, market;

before(async () => {
  let addrs;
  try {
    addrs = await provider.send("lightstreams_contracts", []);
  } catch {
    addrs = null; // not a lightstreams node: deploy
  }
  if (addrs) {
    registry = new Contract(addrs.FileRegistry.address, addrs.FileRegistry.abi, owner);
    market = new Contract(addrs.Market.address, addrs.Market.abi, owner);
  } else {
    const nonce = await provider.getTransactionCount(owner.address, "pending");
    const marketAddr = getCreateAddress({ from: owner.address, nonce: nonce + 1 });
    const R = art("FileRegistry"), M = art("Market");
    registry = await (await new ContractFactory(R.abi, R.bytecode, owner).deploy(marketAddr, { nonce })).waitForDeployment();
    market = await (await new ContractFactory(M.abi, M.bytecode, owner).deploy(await registry.getAddress(), 0, owner.address, { nonce: nonce + 1 })).waitForDeployment();
    assert.equal(await market.getAddress(), marketAddr);
  }
});

test("register, list, buy, hasAccess", async () => {
  const cid = "0x01711220" + keccak256("0x" + Date.now().toString(16).padStart(16, "0")).slice(2);
  // The id depends on the registering account and a salt it picks, so it is known up front.
  const salt = keccak256(cid);
  const expected = keccak256(AbiCoder.defaultAbiCoder().encode(["address", "bytes32"], [owner.address, salt]));
  assert.equal(await registry.fileIdOf(owner.address, salt), expected);
  const rc = await (await registry.register(salt, cid, "ipfs://metadata", false)).wait();
  const reg = rc.logs.map((l) => registry.interface.parseLog(l)).find((l) => l?.name === "FileRegistered");
  const fileId = reg.args.fileId;
  assert.equal(fileId, expected);
  assert.equal(reg.args.owner, owner.address);
  assert.equal(await registry.hasAccess(fileId, buyer.address, 1), false);

  const price = parseEther("1");
  await (await market.list(fileId, ZeroAddress, price, 0, [{ account: payee, bps: 10000 }])).wait();
  // A wrong price is refused with the custom error, decoded by ethers.
  await assert.rejects(market.connect(buyer).buy.staticCall(fileId, ZeroAddress, price * 2n, 0, { value: price * 2n }), (e) => {
    assert.equal(e.revert?.name, "WrongPrice");
    return true;
  });
  const before = await provider.getBalance(payee);
  const bought = await (await market.connect(buyer).buy(fileId, ZeroAddress, price, 0, { value: price })).wait();
  assert.equal(bought.status, 1);
  assert.equal(await registry.hasAccess(fileId, buyer.address, 1), true);
  assert.equal((await provider.getBalance(payee)) - before, price);

  // The access history can be rebuilt from logs alone.
  const bought_ = await registry.queryFilter(registry.filters.AccessPurchased(fileId, buyer.address), 0);
  assert.equal(bought_.length, 1);
  assert.equal(bought_[0].args.expiry, 0n);
  const listed = await market.queryFilter(market.filters.Listed(fileId), 0);
  assert.equal(listed[0].args.payees[0].account, payee);
  const purchases = await market.queryFilter(market.filters.Purchased(fileId, buyer.address), 0);
  assert.equal(purchases.length, 1);
  assert.equal(purchases[0].args.price, price);
  assert.equal(purchases[0].args.expiry, 0n);
  // A second permanent purchase changes nothing and is refused.
  await assert.rejects(market.connect(buyer).buy.staticCall(fileId, ZeroAddress, price, 0, { value: price }), (e) => {
    assert.equal(registry.interface.parseError(e.data)?.name, "AlreadyPurchased");
    return true;
  });
});

// A file sold with `lightstreams file add --price`, bought with ethers calling the Market
// directly (as a DApp would), then decrypted with `lightstreams file get`: the committee
// releases the key to the account ethers paid from.
test("bought with ethers, read with lightstreams file get", { skip: process.env.TARGET === "anvil" }, async () => {
  const { execFileSync } = await import("node:child_process");
  const { mkdtempSync, writeFileSync, readFileSync: read } = await import("node:fs");
  const { join } = await import("node:path");
  const { tmpdir } = await import("node:os");
  const dir = mkdtempSync(join(tmpdir(), "ls-ethers-"));
  const song = Buffer.from("ETHERS-BOUGHT-".repeat(30000));
  writeFileSync(join(dir, "song.flac"), song);
  const ls = (args, keys) =>
    execFileSync(process.env.LIGHTSTREAMS_BIN, [...args, "--node", process.env.GATEWAY_URL, "--rpc", process.env.RPC_URL], {
      env: { ...process.env, LIGHTSTREAMS_KEYS: join(dir, keys), LIGHTSTREAMS_KEYSTORE: join(dir, "no-keystore") },
      stdio: ["ignore", "pipe", "pipe"],
    }).toString();
  const added = JSON.parse(ls(["file", "add", "--json", "--from", owner.address, "--price", "0.5", join(dir, "song.flac")], "creator"));
  const listing = (await market.listingOf(added.FileId)).listing;
  assert.equal(listing.price, parseEther("0.5"));
  // Before paying: refused, with a message that says what to do.
  await assert.rejects(async () => ls(["file", "get", added.FileId, "-o", join(dir, "early.flac"), "--from", buyer.address], "buyer"), (e) => {
    assert.match(e.stderr.toString(), /may not read file .*file buy/);
    return true;
  });
  await (await market.connect(buyer).buy(added.FileId, ZeroAddress, listing.price, listing.duration, { value: listing.price })).wait();
  ls(["file", "get", added.FileId, "-o", join(dir, "out.flac"), "--from", buyer.address], "buyer");
  assert.deepEqual(read(join(dir, "out.flac")), song);
});
