// Adds FILE to an FsBlockstore at BLOCKDIR with @helia/unixfs (no libp2p), Kubo's add settings,
// reading the file as a stream. Prints {"cid", "bytes", "ms", "maxRssKiB"} as JSON.
// Usage: node helia-add.mjs FILE BLOCKDIR
import { createReadStream, statSync } from "node:fs";
import { unixfs } from "@helia/unixfs";
import { FsBlockstore } from "blockstore-fs";
import { kuboAddOptions, maxRssKiB } from "./kubo-options.mjs";

const [, , file, blockdir] = process.argv;
if (!file || !blockdir) {
  console.error("usage: node helia-add.mjs FILE BLOCKDIR");
  process.exit(2);
}
const blockstore = new FsBlockstore(blockdir);
await blockstore.open();
const fs = unixfs({ blockstore });
const bytes = statSync(file).size;
const t0 = performance.now();
const cid = await fs.addByteStream(createReadStream(file, { highWaterMark: 1 << 20 }), kuboAddOptions);
const ms = performance.now() - t0;
await blockstore.close();
console.log(JSON.stringify({ cid: cid.toString(), bytes, ms, maxRssKiB: maxRssKiB() }));
