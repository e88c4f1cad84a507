// Sends the same transactions to our dev node (RPC_URL) and to anvil (ANVIL_URL), then compares
// what debug_traceTransaction answers on both with callTracer (plain, withLog, onlyTopCall),
// prestateTracer (plain and diffMode) and the default struct logger, field by field, gas
// included. Prints one line per difference and exits 1 if there is any.
//
// The only fields left out, and why:
// - the coinbase account in prestateTracer output: each node has its own coinbase address, and
//   the tip it is paid depends on the node's base fee, which follows its own block history.
// - the top call frame's `gas` in callTracer output: geth (and reth) report the transaction's gas
//   limit there, anvil the gas left after the intrinsic cost. We follow geth; the check below
//   holds our value to the transaction's gas limit instead.
// - the top call frame's `gasUsed` (callTracer) and `gas` (struct logger): anvil 1.7.1 reports the
//   block's cumulative gas used up to and including the transaction, which differs from the
//   transaction's own when it is not first in its block (run8 here). We hold ours to the
//   receipt's gasUsed, and anvil's to its receipt's cumulativeGasUsed.
// - in prestateTracer's default mode, accounts that were empty before the transaction (the
//   contracts a deploy creates): anvil 1.7.1 lists them with balance 0, geth leaves them out (its
//   prestate tracer deletes created accounts whose prestate was empty) and so do we
//   (revm-inspectors 0.44). They are dropped from anvil's answer only, so one in ours still shows.
// Everything else (balances included) is deterministic because every transaction is legacy with
// a fixed gas price, so it costs gasUsed * gasPrice on both nodes whatever their base fee.
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const artifacts = JSON.parse(fs.readFileSync(path.join(here, "Tracee.json"), "utf8"));
const DEV0 = "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266";
const DEV1 = "0x70997970c51812dc3a010c7d01b50e0d17dc79c8";
const GAS_PRICE = "0x2540be400"; // 10 gwei, above either node's base fee

let id = 0;
async function rpc(url, method, params) {
  const res = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ jsonrpc: "2.0", id: ++id, method, params }),
  });
  const body = await res.json();
  if (body.error) {
    const e = new Error(`${method}: ${body.error.message}`);
    e.rpc = body.error;
    throw e;
  }
  return body.result;
}

async function receipt(url, hash) {
  const deadline = Date.now() + 20000;
  while (Date.now() < deadline) {
    const r = await rpc(url, "eth_getTransactionReceipt", [hash]);
    if (r) return r;
    await new Promise((ok) => setTimeout(ok, 50));
  }
  throw new Error(`no receipt for ${hash} within 20 s`);
}

const word = (n) => BigInt(n).toString(16).padStart(64, "0");
// Selectors of Caller's functions (keccak of the signature, first 4 bytes).
const RUN = "0xa444f5e9"; // run(uint256)
const BOOM = "0xa169ce09"; // boom()

function send(url, tx) {
  return rpc(url, "eth_sendTransaction", [{ gasPrice: GAS_PRICE, ...tx }]);
}

/// The same scenario on one node: returns the transaction hashes by name and the Caller address.
async function scenario(url) {
  const hashes = {};
  hashes.deploy = await send(url, { from: DEV0, data: artifacts.Caller.bytecode, gas: "0x2dc6c0" });
  const deployed = await receipt(url, hashes.deploy);
  if (deployed.status !== "0x1") throw new Error("deploy failed");
  const caller = deployed.contractAddress;
  // Two back to back (possibly one block): the second is traced on the state the first left.
  hashes.run7 = await send(url, { from: DEV0, to: caller, data: RUN + word(7), value: "0x3e8", gas: "0x493e0" });
  hashes.run8 = await send(url, { from: DEV0, to: caller, data: RUN + word(8), gas: "0x493e0" });
  await receipt(url, hashes.run7);
  await receipt(url, hashes.run8);
  // Reverts: a custom error bubbled from the callee, and a reason string.
  hashes.run13 = await send(url, { from: DEV1, to: caller, data: RUN + word(13), gas: "0x493e0" });
  hashes.boom = await send(url, { from: DEV1, to: caller, data: BOOM, gas: "0x493e0" });
  const r13 = await receipt(url, hashes.run13);
  const rb = await receipt(url, hashes.boom);
  if (r13.status !== "0x0" || rb.status !== "0x0") throw new Error("reverting transactions did not revert");
  hashes.transfer = await send(url, { from: DEV1, to: DEV0, value: "0x1", gas: "0x5208" });
  await receipt(url, hashes.transfer);
  return { hashes, caller };
}

const TRACERS = {
  callTracer: { tracer: "callTracer" },
  callTracerWithLog: { tracer: "callTracer", tracerConfig: { withLog: true } },
  callTracerOnlyTop: { tracer: "callTracer", tracerConfig: { onlyTopCall: true } },
  prestateTracer: { tracer: "prestateTracer" },
  prestateDiff: { tracer: "prestateTracer", tracerConfig: { diffMode: true } },
  structLogger: { disableStorage: false, enableMemory: true, enableReturnData: true },
};

/// Lower-cases addresses and hex so checksummed and plain spellings compare equal, and drops the
/// coinbase from prestate output (see the top of this file).
function normalize(v, coinbase) {
  if (Array.isArray(v)) return v.map((x) => normalize(x, coinbase));
  if (v && typeof v === "object") {
    const out = {};
    for (const [k, x] of Object.entries(v)) {
      const key = /^0x[0-9a-fA-F]+$/.test(k) ? k.toLowerCase() : k;
      if (coinbase && key === coinbase) continue;
      out[key] = normalize(x, coinbase);
    }
    return out;
  }
  if (typeof v === "string" && /^0x[0-9a-fA-F]*$/.test(v)) return v.toLowerCase();
  return v;
}

function diff(a, b, at, out) {
  if (typeof a !== typeof b || Array.isArray(a) !== Array.isArray(b) || (a === null) !== (b === null)) {
    out.push(`${at}: ${JSON.stringify(a)} vs anvil ${JSON.stringify(b)}`);
  } else if (Array.isArray(a)) {
    if (a.length !== b.length) out.push(`${at}: length ${a.length} vs anvil ${b.length}`);
    for (let i = 0; i < Math.min(a.length, b.length); i++) diff(a[i], b[i], `${at}[${i}]`, out);
  } else if (a && typeof a === "object") {
    for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) {
      if (!(k in a)) out.push(`${at}.${k}: missing vs anvil ${JSON.stringify(b[k])}`);
      else if (!(k in b)) out.push(`${at}.${k}: ${JSON.stringify(a[k])} vs anvil missing`);
      else diff(a[k], b[k], `${at}.${k}`, out);
    }
  } else if (a !== b) {
    out.push(`${at}: ${JSON.stringify(a)} vs anvil ${JSON.stringify(b)}`);
  }
  return out;
}

async function coinbaseOf(url, hash) {
  const tx = await rpc(url, "eth_getTransactionByHash", [hash]);
  const block = await rpc(url, "eth_getBlockByNumber", [tx.blockNumber, false]);
  return block.miner.toLowerCase();
}

const ours = process.env.RPC_URL;
const anvil = process.env.ANVIL_URL;
const [a, b] = await Promise.all([scenario(ours), scenario(anvil)]);
if (a.caller.toLowerCase() !== b.caller.toLowerCase()) {
  console.error(`Caller deployed at ${a.caller} here and ${b.caller} on anvil`);
  process.exit(1);
}
let compared = 0;
const problems = [];
for (const name of Object.keys(a.hashes)) {
  for (const [tracerName, opts] of Object.entries(TRACERS)) {
    const [x, y] = await Promise.all([
      rpc(ours, "debug_traceTransaction", [a.hashes[name], opts]),
      rpc(anvil, "debug_traceTransaction", [b.hashes[name], opts]),
    ]);
    const prestate = tracerName.startsWith("prestate");
    const nx = normalize(x, prestate && (await coinbaseOf(ours, a.hashes[name])));
    const ny = normalize(y, prestate && (await coinbaseOf(anvil, b.hashes[name])));
    if (tracerName.startsWith("callTracer") || tracerName === "structLogger") {
      const { gas } = await rpc(ours, "eth_getTransactionByHash", [a.hashes[name]]);
      const mine = await rpc(ours, "eth_getTransactionReceipt", [a.hashes[name]]);
      const theirs = await rpc(anvil, "eth_getTransactionReceipt", [b.hashes[name]]);
      const used = tracerName === "structLogger" ? [nx.gas, ny.gas].map((g) => "0x" + g.toString(16)) : [nx.gasUsed, ny.gasUsed];
      if (used[0] !== mine.gasUsed) problems.push(`${name}/${tracerName}: gas used ${used[0]}, receipt says ${mine.gasUsed}`);
      if (used[1] !== theirs.cumulativeGasUsed) problems.push(`${name}/${tracerName}: anvil's gas used ${used[1]}, its receipt's cumulative ${theirs.cumulativeGasUsed}`);
      if (tracerName === "structLogger") {
        delete nx.gas;
        delete ny.gas;
      } else {
        if (nx.gas !== gas) problems.push(`${name}/${tracerName}.gas: ${nx.gas}, not the transaction's gas limit ${gas}`);
        delete nx.gas;
        delete ny.gas;
        delete nx.gasUsed;
        delete ny.gasUsed;
      }
    }
    if (tracerName === "prestateTracer") {
      for (const [addr, acc] of Object.entries(ny)) {
        if (acc.balance === "0x0" && !acc.nonce && !acc.code) delete ny[addr];
      }
    }
    const found = diff(nx, ny, `${name}/${tracerName}`, []);
    problems.push(...found);
    if (tracerName === "structLogger" && name !== "transfer" && !(nx.structLogs || []).length) {
      problems.push(`${name}/${tracerName}: no struct logs`);
    }
    compared++;
    if (process.env.DUMP) console.log(name, tracerName, JSON.stringify(nx));
  }
}
// A block trace holds the same per-transaction results.
const tx = await rpc(ours, "eth_getTransactionByHash", [a.hashes.run8]);
const block = await rpc(ours, "debug_traceBlockByNumber", [tx.blockNumber, TRACERS.callTracer]);
const single = await rpc(ours, "debug_traceTransaction", [a.hashes.run8, TRACERS.callTracer]);
const inBlock = block.find((r) => r.txHash === a.hashes.run8);
if (!inBlock) problems.push("debug_traceBlockByNumber: run8 missing");
else problems.push(...diff(inBlock.result, single, "traceBlockByNumber(run8)", []));

for (const p of problems) console.error(`DIFF ${p}`);
console.log(`trace compare: ${compared} traces compared, ${problems.length} differences`);
process.exit(problems.length ? 1 : 0);
