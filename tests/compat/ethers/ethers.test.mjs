// ethers 6 against the node under test (RPC_URL / WS_URL). Run by ./run with node --test.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import {
  JsonRpcProvider, WebSocketProvider, Wallet, ContractFactory, Contract, id, keccak256,
  encodeRlp, toBeHex, getCreate2Address, solidityPackedKeccak256, parseEther, AbiCoder, concat,
} from "ethers";

const ART = JSON.parse(readFileSync(new URL("../common/Store.json", import.meta.url)));
const KEY0 = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
const KEY1 = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d";
// cacheTimeout -1: ethers otherwise reuses identical requests (e.g. the pending nonce) for 250 ms,
// which hands back stale nonces on any chain that seals faster than that (anvil included).
const provider = new JsonRpcProvider(process.env.RPC_URL, undefined, { pollingInterval: 100, cacheTimeout: -1 });
const wallet = new Wallet(KEY0, provider);
const other = new Wallet(KEY1, provider);
let store;

before(async () => {
  const factory = new ContractFactory(ART.Store.abi, ART.Store.bytecode, wallet);
  store = await factory.deploy(42n);
  await store.waitForDeployment();
});
after(() => provider.destroy());

const q = (x) => (BigInt(x) === 0n ? "0x" : toBeHex(BigInt(x)));

test("chain id, block number and dev accounts", async () => {
  assert.equal((await provider.getNetwork()).chainId, 1337n);
  assert.ok((await provider.getBlockNumber()) >= 1);
  const accounts = await provider.send("eth_accounts", []);
  assert.equal(accounts[0].toLowerCase(), wallet.address.toLowerCase());
});

test("deployed contract answers calls", async () => {
  assert.equal(await store.value(), 42n);
  assert.equal((await store.owner()).toLowerCase(), wallet.address.toLowerCase());
  assert.ok((await provider.getCode(await store.getAddress())).length > 2);
});

test("state-changing tx, events via queryFilter and getLogs", async () => {
  const rc = await (await store.set(7n, "seven")).wait();
  assert.equal(rc.status, 1);
  assert.equal(await store.value(), 7n);
  const evs = await store.queryFilter(store.filters.ValueChanged(wallet.address, 7n), 0);
  assert.equal(evs.length, 1);
  assert.equal(evs[0].args.note, "seven");
  const logs = await provider.getLogs({
    address: await store.getAddress(),
    topics: [id("ValueChanged(address,uint256,string)")],
    fromBlock: 0,
  });
  assert.equal(logs.length, 1);
  assert.equal(logs[0].transactionHash, rc.hash);
  const none = await provider.getLogs({ address: await store.getAddress(), topics: [id("Nope()")], fromBlock: 0 });
  assert.equal(none.length, 0);
});

test("contract.on receives events through eth_newFilter polling", async () => {
  const got = new Promise((resolve) => store.once("ValueChanged", (by, v, note) => resolve([v, note])));
  await new Promise((r) => setTimeout(r, 300)); // let the filter install
  await (await store.set(11n, "eleven")).wait();
  const [v, note] = await Promise.race([got, new Promise((_, rej) => setTimeout(() => rej(new Error("no event in 10 s")), 10000))]);
  assert.equal(v, 11n);
  assert.equal(note, "eleven");
});

test("newHeads over WebSocket", async () => {
  const ws = new WebSocketProvider(process.env.WS_URL);
  try {
    const seen = new Promise((resolve) => ws.once("block", (n) => resolve(n)));
    await new Promise((r) => setTimeout(r, 200));
    const rc = await (await wallet.sendTransaction({ to: other.address, value: 1n })).wait();
    const n = await Promise.race([seen, new Promise((_, rej) => setTimeout(() => rej(new Error("no head in 10 s")), 10000))]);
    assert.ok(n >= rc.blockNumber - 1);
  } finally {
    await ws.destroy();
  }
});

test("logs and pending transactions over WebSocket subscriptions", async () => {
  const ws = new WebSocketProvider(process.env.WS_URL);
  try {
    const wsStore = store.connect(ws);
    const gotLog = new Promise((resolve) => wsStore.once("ValueChanged", (by, v, note) => resolve(note)));
    const gotPending = new Promise((resolve) => ws.once("pending", (hash) => resolve(hash)));
    await new Promise((r) => setTimeout(r, 300));
    const tx = await store.set(21n, "over ws");
    const timeout = (what) => new Promise((_, rej) => setTimeout(() => rej(new Error(`no ${what} in 10 s`)), 10000));
    assert.equal(await Promise.race([gotPending, timeout("pending tx")]), tx.hash);
    assert.equal(await Promise.race([gotLog, timeout("log")]), "over ws");
    await tx.wait();
  } finally {
    await ws.destroy();
  }
});

test("value transfer costs exactly value + gasUsed * effectiveGasPrice", async () => {
  const before0 = await provider.getBalance(wallet.address);
  const before1 = await provider.getBalance(other.address);
  const rc = await (await wallet.sendTransaction({ to: other.address, value: parseEther("1.5") })).wait();
  assert.equal(rc.gasUsed, 21000n);
  const after0 = await provider.getBalance(wallet.address, rc.blockNumber);
  const after1 = await provider.getBalance(other.address, rc.blockNumber);
  assert.equal(after1 - before1, parseEther("1.5"));
  assert.equal(before0 - after0, parseEther("1.5") + rc.gasUsed * rc.gasPrice);
});

test("revert reason string and custom error decode", async () => {
  await assert.rejects(store.failWithReason.staticCall(), (e) => {
    assert.equal(e.code, "CALL_EXCEPTION");
    assert.equal(e.reason, "store: always fails");
    return true;
  });
  await assert.rejects(store.set.staticCall(2_000_000n, "big"), (e) => {
    assert.equal(e.revert?.name, "TooLarge");
    assert.deepEqual([...e.revert.args], [2_000_000n, 1_000_000n]);
    return true;
  });
  // Sending it fails at estimateGas; ethers leaves decoding to the caller there.
  await assert.rejects(store.set(2_000_000n, "big"), (e) => {
    assert.equal(e.code, "CALL_EXCEPTION");
    assert.equal(store.interface.parseError(e.data)?.name, "TooLarge");
    return true;
  });
});

test("estimateGas and fee data", async () => {
  const gas = await store.set.estimateGas(5n, "five");
  assert.ok(gas > 21000n && gas < 200000n, `estimate ${gas}`);
  const fee = await provider.getFeeData();
  assert.ok(fee.maxFeePerGas > 0n && fee.maxPriorityFeePerGas > 0n && fee.gasPrice > 0n);
  const hist = await provider.send("eth_feeHistory", ["0x4", "latest", [25, 75]]);
  assert.equal(hist.baseFeePerGas.length, hist.gasUsedRatio.length + 1);
});

test("legacy, EIP-2930 and EIP-1559 transactions", async () => {
  const fee = await provider.getFeeData();
  const t0 = await (await wallet.sendTransaction({ type: 0, to: other.address, value: 1n, gasPrice: fee.gasPrice })).wait();
  const t1 = await (await wallet.sendTransaction({
    type: 1, to: await store.getAddress(), data: store.interface.encodeFunctionData("set", [3n, "x"]),
    gasPrice: fee.gasPrice, accessList: [{ address: await store.getAddress(), storageKeys: [toBeHex(0, 32)] }],
  })).wait();
  const t2 = await (await wallet.sendTransaction({ type: 2, to: other.address, value: 1n })).wait();
  for (const [rc, type] of [[t0, 0], [t1, 1], [t2, 2]]) {
    assert.equal(rc.status, 1);
    assert.equal(rc.type, type);
    assert.equal((await provider.getTransaction(rc.hash)).type, type);
  }
});

test("block hash recomputed from the header fields", async () => {
  const n = await provider.getBlockNumber();
  const b = await provider.send("eth_getBlockByNumber", [toBeHex(n), false]);
  const fields = [
    b.parentHash, b.sha3Uncles, b.miner, b.stateRoot, b.transactionsRoot, b.receiptsRoot, b.logsBloom,
    q(b.difficulty), q(b.number), q(b.gasLimit), q(b.gasUsed), q(b.timestamp), b.extraData, b.mixHash, b.nonce,
    q(b.baseFeePerGas), b.withdrawalsRoot, q(b.blobGasUsed), q(b.excessBlobGas), b.parentBeaconBlockRoot, b.requestsHash,
  ];
  assert.equal(keccak256(encodeRlp(fields)), b.hash);
  const full = await provider.getBlock(n, true);
  assert.equal(full.hash, b.hash);
  assert.equal(full.prefetchedTransactions.length, b.transactions.length);
});

test("nonce too low is reported as such", async () => {
  await assert.rejects(
    wallet.sendTransaction({ to: other.address, value: 1n, nonce: 0 }),
    (e) => e.code === "NONCE_EXPIRED" || /nonce too low/.test(String(e.message)),
  );
});

test("eth_getBlockReceipts matches per-transaction receipts", async () => {
  const rc = await (await wallet.sendTransaction({ to: other.address, value: 2n })).wait();
  const all = await provider.send("eth_getBlockReceipts", [toBeHex(rc.blockNumber)]);
  const mine = all.find((r) => r.transactionHash === rc.hash);
  assert.ok(mine);
  assert.equal(BigInt(mine.gasUsed), rc.gasUsed);
});

test("CREATE2 address predicted by the client", async () => {
  const factory = await (await new ContractFactory(ART.Factory.abi, ART.Factory.bytecode, wallet).deploy()).waitForDeployment();
  const salt = id("lightstreams");
  const init = concat([ART.Store.bytecode, AbiCoder.defaultAbiCoder().encode(["uint256"], [5n])]);
  const predicted = getCreate2Address(await factory.getAddress(), salt, keccak256(init));
  const rc = await (await factory.deploy(salt, 5n)).wait();
  const ev = rc.logs.map((l) => factory.interface.parseLog(l)).find((l) => l?.name === "Deployed");
  assert.equal(ev.args.store, predicted);
  assert.equal(await new Contract(predicted, ART.Store.abi, provider).value(), 5n);
});

test("eth_sendTransaction through the node's account", async () => {
  const signer = await provider.getSigner(1);
  const rc = await (await signer.sendTransaction({ to: wallet.address, value: 3n })).wait();
  assert.equal(rc.status, 1);
  assert.equal(rc.from.toLowerCase(), other.address.toLowerCase());
  const sig = await signer.signMessage("hello");
  const { verifyMessage } = await import("ethers");
  assert.equal(verifyMessage("hello", sig), other.address);
  const domain = { name: "Lightstreams", version: "1", chainId: 1337, verifyingContract: await store.getAddress() };
  const types = { Grant: [{ name: "file", type: "bytes32" }, { name: "reader", type: "address" }] };
  const message = { file: id("f"), reader: wallet.address };
  const tsig = await signer.signTypedData(domain, types, message);
  const { verifyTypedData } = await import("ethers");
  assert.equal(verifyTypedData(domain, types, message, tsig), other.address);
});
