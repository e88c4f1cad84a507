// Helia against a running lightstreams node, over loopback only.
// Usage: node helia.mjs <node multiaddr with /p2p/id> <gateway url> <cid uploaded to the node> <its length>
//        <manifest cid of an encrypted file on the node> <its ciphertext cid> <plaintext file>
// HELIA_TRANSPORT=ws gives Helia WebSockets only (@libp2p/websockets, no listener: what a
// browser has) and the node's /ws address must be passed; HELIA_TRANSPORT=quic gives it QUIC
// only (@chainsafe/libp2p-quic) for the node's /quic-v1 address; otherwise Helia speaks TCP.
// 1. Helia (that transport, + noise + yamux on TCP and WebSockets, + identify, Bitswap, no
//    routers, no bootstrap) dials the node over it and checks its identify lists
//    /ipfs/bitswap/1.2.0.
// 2. Helia fetches the node's file by CID over Bitswap; bytes must equal the known pattern.
// 3. Helia adds a file; the node's gateway reads it (the node fetches it from Helia over
//    Bitswap, on the connection Helia opened); bytes must be equal.
// 4. Helia fetches an encrypted file's manifest (dag-json, naming the ciphertext) and its
//    ciphertext, an ordinary UnixFS file: the same bytes the node's gateway serves, and no run
//    of the plaintext in them.
// Prints "<n> passed" lines; exits non-zero on the first failure.
import './node20.mjs'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { withBitswap } from '@helia/bitswap'
import { withLibp2pLight } from '@helia/libp2p'
import { unixfs } from '@helia/unixfs'
import { identify } from '@libp2p/identify'
import { tcp } from '@libp2p/tcp'
import { webSockets } from '@libp2p/websockets'
import { quic } from '@chainsafe/libp2p-quic'
import { multiaddr } from '@multiformats/multiaddr'
import { createHeliaLight } from 'helia'
import { readFileSync } from 'node:fs'
import { CID } from 'multiformats/cid'

const [nodeAddr, gateway, theirCid, theirLen, manifestCid, ciphertextCid, plainFile] = process.argv.slice(2)
const pattern = (len, seed) => {
  const b = new Uint8Array(len)
  for (let i = 0; i < len; i++) b[i] = (i * 31 + seed) % 251
  return b
}
const equal = (a, b) => a.length === b.length && a.every((x, i) => x === b[i])
const concat = async (it) => {
  const parts = []
  let n = 0
  for await (const p of it) { parts.push(p); n += p.length }
  const out = new Uint8Array(n)
  let o = 0
  for (const p of parts) { out.set(p, o); o += p.length }
  return out
}

const transport = process.env.HELIA_TRANSPORT ?? 'tcp'
const transports = {
  tcp: { listen: ['/ip4/127.0.0.1/tcp/0'], make: tcp, marker: '/tcp/', seed: 11 },
  ws: { listen: [], make: webSockets, marker: '/ws', seed: 13 },
  quic: { listen: ['/ip4/127.0.0.1/udp/0/quic-v1'], make: quic, marker: '/quic-v1', seed: 17 }
}
const t = transports[transport]
if (t === undefined) throw new Error(`HELIA_TRANSPORT=${transport}: tcp, ws or quic`)
const label = transport === 'tcp' ? 'helia' : `helia-${transport}`
const helia = withBitswap(withLibp2pLight(createHeliaLight({ routers: [] }), {
  addresses: { listen: t.listen },
  transports: [t.make()],
  connectionEncrypters: [noise()],
  streamMuxers: [yamux()],
  services: { identify: identify() }
}))
let passed = 0
try {
  await helia.start()
  const fs = unixfs(helia)

  // 1. dial, identify
  const conn = await helia.libp2p.dial(multiaddr(nodeAddr), { signal: AbortSignal.timeout(10000) })
  let protocols = []
  for (let i = 0; i < 100 && !protocols.includes('/ipfs/bitswap/1.2.0'); i++) {
    await new Promise(r => setTimeout(r, 50))
    protocols = (await helia.libp2p.peerStore.get(conn.remotePeer)).protocols
  }
  if (!protocols.includes('/ipfs/bitswap/1.2.0')) throw new Error(`identify lists no bitswap: ${protocols}`)
  const over = conn.remoteAddr.toString()
  if (!over.includes(t.marker) || (transport === 'tcp' && over.includes('/ws'))) throw new Error(`connected over ${over}`)
  passed++

  // 2. Helia reads the node's file
  const got = await concat(fs.cat(CID.parse(theirCid), { signal: AbortSignal.timeout(30000) }))
  if (!equal(got, pattern(Number(theirLen), 7))) throw new Error(`${theirCid}: ${got.length} bytes differ from the node's ${theirLen}`)
  passed++

  // 3. the node reads Helia's file (CIDv1, raw leaves, Helia's defaults), through its gateway
  // (another file per transport: the node must not already hold it from the other run)
  const mine = pattern(1_300_000, t.seed)
  const cid = await fs.addBytes(mine)
  const resp = await fetch(`${gateway}/ipfs/${cid}`, { signal: AbortSignal.timeout(60000) })
  if (resp.status !== 200) throw new Error(`gateway answered ${resp.status} for Helia's ${cid}: ${await resp.text()}`)
  const back = new Uint8Array(await resp.arrayBuffer())
  if (!equal(back, mine)) throw new Error(`${cid}: the gateway's ${back.length} bytes differ from Helia's`)
  passed++

  // 4. an encrypted file travels as ciphertext
  // blockstore.get gives the bytes or, in newer interface-blockstore, an iterable of pieces
  const got4 = await helia.blockstore.get(CID.parse(manifestCid), { signal: AbortSignal.timeout(30000) })
  const manifest = JSON.parse(new TextDecoder().decode(got4 instanceof Uint8Array ? got4 : await concat(got4)))
  if (manifest.ciphertext?.['/'] !== ciphertextCid) throw new Error(`manifest ${manifestCid} names ${JSON.stringify(manifest.ciphertext)}, not ${ciphertextCid}`)
  const ct = await concat(fs.cat(CID.parse(ciphertextCid), { signal: AbortSignal.timeout(30000) }))
  const served = new Uint8Array(await (await fetch(`${gateway}/ipfs/${ciphertextCid}`, { signal: AbortSignal.timeout(30000) })).arrayBuffer())
  if (!equal(ct, served)) throw new Error(`ciphertext ${ciphertextCid}: Helia's ${ct.length} bytes differ from the gateway's ${served.length}`)
  const plain = readFileSync(plainFile)
  if (ct.length < plain.length || Buffer.from(ct).includes(plain.subarray(0, 32))) throw new Error('the ciphertext is not encrypted')
  passed++
  // everything went over the one connection Helia dialled
  const conns = helia.libp2p.getConnections(conn.remotePeer).map(c => c.remoteAddr.toString())
  if (conns.length !== 1 || conns[0] !== conn.remoteAddr.toString()) throw new Error(`connections to the node: ${conns}`)
  console.log(`node ${conn.remotePeer} over ${conn.remoteAddr}; Helia's file ${cid}`)
  console.log(`${label}: ${passed} passed, 0 failed`)
} catch (e) {
  console.error(`${label}: check ${passed + 1} failed: ${e.stack ?? e}`)
  process.exitCode = 1
} finally {
  await helia.stop()
}
