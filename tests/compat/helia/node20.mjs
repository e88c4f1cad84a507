// Node 20 lacks what the libp2p 3 stack expects of Node 22 at run time: Promise.withResolvers,
// and a global WebSocket (which @libp2p/websockets dials with; `ws` stands in, as Node 22's own
// is the same WHATWG API). Imported first by helia.mjs; a no-op on Node 22 and later.
import { WebSocket } from 'ws'

if (typeof Promise.withResolvers !== 'function') {
  Promise.withResolvers = function withResolvers () {
    let resolve, reject
    const promise = new this((res, rej) => { resolve = res; reject = rej })
    return { promise, resolve, reject }
  }
}
if (typeof globalThis.WebSocket !== 'function') {
  globalThis.WebSocket = WebSocket
}
