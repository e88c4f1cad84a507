// Golden vectors: the CID `ipfs add` (Kubo defaults) gives for deterministic inputs, computed by
// ipfs-unixfs-importer configured as Kubo configures it:
//   CIDv0: 256 KiB fixed chunks, balanced DAG, 174 links per node, dag-pb leaves (UnixFS file),
//          a single-chunk file is its own leaf.
//   CIDv1 (`--cid-version 1`): the same with raw leaves.
// Input bytes are byte(i) = (i * 31 + 7) % 251, so no data files are committed.
// Usage: node generate.mjs > vectors.json
import { importer } from "ipfs-unixfs-importer";
import { fixedSize } from "ipfs-unixfs-importer/chunker";
import { balanced } from "ipfs-unixfs-importer/layout";
import { MemoryBlockstore } from "blockstore-core/memory";

const CHUNK = 262144;
const sizes = {
  empty: 0,
  one_byte: 1,
  one_chunk: CHUNK,
  one_chunk_plus_one: CHUNK + 1,
  chunks_174: 174 * CHUNK,
  chunks_175: 175 * CHUNK,
  odd_3_5_chunks: 3 * CHUNK + CHUNK / 2 + 7,
  multi_level_30mib: 30 * 1024 * 1024 + 12345,
};

function* bytes(len) {
  const block = 1 << 20;
  for (let off = 0; off < len; off += block) {
    const n = Math.min(block, len - off);
    const buf = new Uint8Array(n);
    for (let i = 0; i < n; i++) buf[i] = ((off + i) * 31 + 7) % 251;
    yield buf;
  }
}

// `ipfs add` defaults (and `--cid-version 1`, which turns on raw leaves).
function kuboOptions(cidVersion) {
  return {
    cidVersion,
    rawLeaves: cidVersion === 1,
    leafType: "file",
    reduceSingleLeafToSelf: true,
    chunker: fixedSize({ chunkSize: CHUNK }),
    layout: balanced({ maxChildrenPerNode: 174 }),
    wrapWithDirectory: false,
  };
}

async function cidOf(len, cidVersion) {
  const opts = kuboOptions(cidVersion);
  let last;
  for await (const entry of importer([{ content: bytes(len) }], new MemoryBlockstore(), opts)) last = entry;
  return last.cid.toString();
}

// A directory as `ipfs add -r dir` builds it (plain directory nodes, links sorted by name).
const tree = { "a.txt": 1, "b.bin": CHUNK + 1, "sub/c.dat": 10, "sub/d/e": 3 * CHUNK };

async function dirCidOf(cidVersion) {
  const opts = kuboOptions(cidVersion);
  const files = Object.entries(tree).map(([p, len]) => ({ path: `dir/${p}`, content: bytes(len) }));
  const cids = {};
  for await (const entry of importer(files, new MemoryBlockstore(), opts)) cids[entry.path] = entry.cid.toString();
  return cids;
}

const out = { tool: "ipfs-unixfs-importer 17.1.1 (npm), Kubo ipfs add defaults", byte_formula: "(i * 31 + 7) % 251", vectors: [] };
for (const [name, size] of Object.entries(sizes)) {
  out.vectors.push({ name, size, cid_v0: await cidOf(size, 0), cid_v1_raw_leaves: await cidOf(size, 1) });
}
out.directory = { files: tree, cid_v0: await dirCidOf(0), cid_v1_raw_leaves: await dirCidOf(1) };
process.stdout.write(JSON.stringify(out, null, 1) + "\n");
