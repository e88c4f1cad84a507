// CAR interop with the JS IPFS stack Helia is built on (@ipld/car, ipfs-unixfs-importer and
// -exporter): reads a CAR made by our car_tool and checks root and bytes; writes a CAR of the
// same pattern for car_tool to read. Usage:
//   node car-interop.mjs check <ours.car> <expected-root> <len>
//   node car-interop.mjs make <len> <v0|v1> <out.car>      (prints the root)
//   node car-interop.mjs make-dir <out.car>                (a directory tree; prints {root, files})
import { readFileSync, createWriteStream } from "node:fs";
import { Readable } from "node:stream";
import { CarReader, CarWriter } from "@ipld/car";
import { importer } from "ipfs-unixfs-importer";
import { fixedSize } from "ipfs-unixfs-importer/chunker";
import { balanced } from "ipfs-unixfs-importer/layout";
import { exporter } from "ipfs-unixfs-exporter";
import { MemoryBlockstore } from "blockstore-core/memory";

const byteAt = (i) => (i * 31 + 7) % 251;
const [, , cmd, ...args] = process.argv;

if (cmd === "check") {
  const [file, expectedRoot, lenStr] = args;
  const reader = await CarReader.fromBytes(readFileSync(file));
  const roots = await reader.getRoots();
  if (roots.length !== 1 || roots[0].toString() !== expectedRoot) throw new Error(`roots ${roots} != ${expectedRoot}`);
  const store = new MemoryBlockstore();
  for await (const { cid, bytes } of reader.blocks()) await store.put(cid, bytes);
  const entry = await exporter(roots[0], store);
  let i = 0;
  for await (const chunk of entry.content()) {
    for (const b of chunk) {
      if (b !== byteAt(i)) throw new Error(`byte ${i} differs`);
      i++;
    }
  }
  if (i !== Number(lenStr)) throw new Error(`read ${i} bytes, expected ${lenStr}`);
  console.log("ok");
} else if (cmd === "make") {
  const [lenStr, v, out] = args;
  const len = Number(lenStr);
  // A plain map store, so every block written by the importer goes into the CAR.
  const blocks = new Map();
  const store = {
    put: async (cid, bytes) => { blocks.set(cid.toString(), { cid, bytes }); return cid; },
    get: async (cid) => blocks.get(cid.toString())?.bytes,
    has: async (cid) => blocks.has(cid.toString()),
  };
  const content = (function* () {
    for (let off = 0; off < len; off += 1 << 20) {
      const n = Math.min(1 << 20, len - off);
      const b = new Uint8Array(n);
      for (let i = 0; i < n; i++) b[i] = byteAt(off + i);
      yield b;
    }
  })();
  const opts = { cidVersion: v === "v1" ? 1 : 0, rawLeaves: v === "v1", chunker: fixedSize({ chunkSize: 262144 }), layout: balanced({ maxChildrenPerNode: 174 }) };
  let root;
  for await (const e of importer([{ content }], store, opts)) root = e.cid;
  const { writer, out: carOut } = CarWriter.create([root]);
  const done = new Promise((res) => Readable.from(carOut).pipe(createWriteStream(out)).on("finish", res));
  for (const block of blocks.values()) await writer.put(block);
  await writer.close();
  await done;
  console.log(root.toString());
} else if (cmd === "make-dir") {
  // A directory as `ipfs add -r site` builds it; files are the byte pattern at their sizes.
  const [out] = args;
  const tree = { "index.html": 20, "media/clip.bin": 600000, "media/notes.txt": 5 };
  const blocks = new Map();
  const store = {
    put: async (cid, bytes) => { blocks.set(cid.toString(), { cid, bytes }); return cid; },
    get: async (cid) => blocks.get(cid.toString())?.bytes,
    has: async (cid) => blocks.has(cid.toString()),
  };
  const pattern = (len) => { const b = new Uint8Array(len); for (let i = 0; i < len; i++) b[i] = byteAt(i); return b; };
  const files = Object.entries(tree).map(([p, len]) => ({ path: `site/${p}`, content: pattern(len) }));
  const opts = { cidVersion: 0, rawLeaves: false, chunker: fixedSize({ chunkSize: 262144 }), layout: balanced({ maxChildrenPerNode: 174 }) };
  let root;
  for await (const e of importer(files, store, opts)) if (e.path === "site") root = e.cid;
  const { writer, out: carOut } = CarWriter.create([root]);
  const done = new Promise((res) => Readable.from(carOut).pipe(createWriteStream(out)).on("finish", res));
  for (const block of blocks.values()) await writer.put(block);
  await writer.close();
  await done;
  console.log(JSON.stringify({ root: root.toString(), files: tree }));
} else {
  console.error("usage: check <car> <root> <len> | make <len> <v0|v1> <out>");
  process.exit(2);
}
