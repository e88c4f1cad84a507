// `ipfs add` defaults (Kubo), passed to the importer explicitly: @helia/unixfs otherwise
// defaults to CIDv1, raw leaves, 1 MiB chunks and 1024 links per node.
import { fixedSize } from "ipfs-unixfs-importer/chunker";
import { balanced } from "ipfs-unixfs-importer/layout";

export const kuboAddOptions = {
  cidVersion: 0,
  rawLeaves: false,
  leafType: "file",
  reduceSingleLeafToSelf: true,
  chunker: fixedSize({ chunkSize: 262144 }),
  layout: balanced({ maxChildrenPerNode: 174 }),
};

/** Peak resident set of this process so far, in KiB (getrusage ru_maxrss, as VmHWM). */
export const maxRssKiB = () => process.resourceUsage().maxRSS;
