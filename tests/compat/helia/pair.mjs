// For bench/p2p.sh (not a test): two Helia nodes in one process, on loopback, with the same
// stack as helia.mjs. A adds SIZE_MB of random bytes (Helia's defaults: CIDv1, raw leaves), B
// dials A and reads the file over Bitswap. Prints one JSON line: {"mb", "seconds", "cid"}.
import './node20.mjs'
import { randomBytes } from 'node:crypto'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { withBitswap } from '@helia/bitswap'
import { withLibp2pLight } from '@helia/libp2p'
import { unixfs } from '@helia/unixfs'
import { identify } from '@libp2p/identify'
import { tcp } from '@libp2p/tcp'
import { createHeliaLight } from 'helia'

const mb = Number(process.argv[2] ?? 100)
const make = () => withBitswap(withLibp2pLight(createHeliaLight({ routers: [] }), {
  addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
  transports: [tcp()],
  connectionEncrypters: [noise()],
  streamMuxers: [yamux()],
  services: { identify: identify() }
}))
const a = make()
const b = make()
try {
  await a.start()
  await b.start()
  const bytes = randomBytes(mb * 1024 * 1024)
  const cid = await unixfs(a).addBytes(bytes)
  await b.libp2p.dial(a.libp2p.getMultiaddrs()[0], { signal: AbortSignal.timeout(10000) })
  const start = process.hrtime.bigint()
  let n = 0
  for await (const chunk of unixfs(b).cat(cid, { signal: AbortSignal.timeout(600000) })) n += chunk.length
  const seconds = Number(process.hrtime.bigint() - start) / 1e9
  if (n !== bytes.length) throw new Error(`read ${n} of ${bytes.length} bytes`)
  console.log(JSON.stringify({ mb, seconds, cid: cid.toString() }))
} finally {
  await b.stop()
  await a.stop()
}
