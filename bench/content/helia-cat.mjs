// Reads a file back from an FsBlockstore at BLOCKDIR with @helia/unixfs (offline, no libp2p).
//   node helia-cat.mjs BLOCKDIR CID
//     reads the whole file, prints {"bytes", "ms", "maxRssKiB"}
//   node helia-cat.mjs BLOCKDIR CID --ranges LENGTH OFFSET...
//     for each offset, times cat({offset, length}) from the call to its first chunk and to
//     the last; prints {"ranges": [{"offset", "bytes", "firstByteMs", "ms"}], "maxRssKiB"}
//     (in-process: no process start, the store already open)
import { CID } from "multiformats/cid";
import { unixfs } from "@helia/unixfs";
import { FsBlockstore } from "blockstore-fs";
import { maxRssKiB } from "./kubo-options.mjs";

const [, , blockdir, cidStr, mode, ...rest] = process.argv;
if (!blockdir || !cidStr) {
  console.error("usage: node helia-cat.mjs BLOCKDIR CID [--ranges LENGTH OFFSET...]");
  process.exit(2);
}
const blockstore = new FsBlockstore(blockdir, { createIfMissing: false });
await blockstore.open();
const fs = unixfs({ blockstore });
const cid = CID.parse(cidStr);

async function read(opts) {
  const t0 = performance.now();
  let first = null;
  let bytes = 0;
  for await (const chunk of fs.cat(cid, { offline: true, ...opts })) {
    if (first === null) first = performance.now() - t0;
    bytes += chunk.byteLength;
  }
  return { bytes, firstByteMs: first, ms: performance.now() - t0 };
}

if (mode === "--ranges") {
  const [length, ...offsets] = rest.map(Number);
  const ranges = [];
  for (const offset of offsets) ranges.push({ offset, ...(await read({ offset, length })) });
  console.log(JSON.stringify({ ranges, maxRssKiB: maxRssKiB() }));
} else {
  const { bytes, ms } = await read({});
  console.log(JSON.stringify({ bytes, ms, maxRssKiB: maxRssKiB() }));
}
await blockstore.close();
