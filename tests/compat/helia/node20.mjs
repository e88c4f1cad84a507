// Node 20 lacks Promise.withResolvers (Node 22), which the libp2p 3 stack calls at run time.
// Imported first by helia.mjs; a no-op on Node 22 and later.
if (typeof Promise.withResolvers !== 'function') {
  Promise.withResolvers = function withResolvers () {
    let resolve, reject
    const promise = new this((res, rej) => { resolve = res; reject = rej })
    return { promise, resolve, reject }
  }
}
