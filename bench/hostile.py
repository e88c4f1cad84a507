#!/usr/bin/env python3
"""Hostile mix against one running node (see bench/hostile.sh, which starts it).

For DURATION seconds, at once:
  - heavy eth_calls at the gas cap (an endless loop placed by a state override),
  - batches of 1 000 eth_calls,
  - clients installing as many filters as they are allowed, with the most addresses allowed,
  - stalled uploads: gateway connections that send a few bytes of a large body and then wait,
  - a steady transfer load (signed by the node: eth_sendTransaction from dev accounts),
while a separate client measures eth_blockNumber latency. Prints p50/p99/max latency, blocks
sealed, transfers mined, errors seen, and the node's peak RSS (VmHWM). Standard library only.
"""
import json
import os
import socket
import sys
import threading
import time
import urllib.request

RPC = os.environ["RPC"]
GATEWAY = os.environ["GATEWAY"]
PID = int(os.environ["NODE_PID"])
DURATION = float(os.environ.get("DURATION", "60"))
DEV = [
    "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266",
    "0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
    "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC",
]
TARGET = "0x00000000000000000000000000000000000000cc"
LOOP = "0x5b600056"
stop = threading.Event()
counts = {}
lock = threading.Lock()


def bump(key, n=1):
    with lock:
        counts[key] = counts.get(key, 0) + n


def rpc(body, timeout=30.0):
    req = urllib.request.Request(RPC, data=json.dumps(body).encode(), headers={"content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return json.loads(r.read())


def call(method, params, timeout=30.0):
    return rpc({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}, timeout)


def heavy_call(i):
    return {"jsonrpc": "2.0", "id": i, "method": "eth_call",
            "params": [{"from": DEV[0], "to": TARGET, "gas": "0xffffffffffffffff"}, "latest", {TARGET: {"code": LOOP}}]}


def loop(name, fn):
    def run():
        while not stop.is_set():
            try:
                bump(name + " started")
                fn()
                bump(name + " done")
            except Exception as e:  # the node refusing or timing out is expected; count it
                bump(name + " errors")
                if stop.wait(0.05):
                    return
    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


def heavy():
    rpc(heavy_call(1), timeout=60)


def batch():
    rpc([heavy_call(i) if i % 10 == 0 else
         {"jsonrpc": "2.0", "id": i, "method": "eth_call", "params": [{"to": DEV[1], "data": "0x"}, "latest"]}
         for i in range(1000)], timeout=120)


def filters():
    addresses = ["0x%040x" % i for i in range(1000)]
    r = call("eth_newFilter", [{"address": addresses, "fromBlock": "latest"}])
    if "error" in r:
        bump("filters refused")
        stop.wait(0.2)
    else:
        call("eth_getFilterChanges", [r["result"]])


def stalled_upload():
    host, port = GATEWAY.replace("http://", "").rsplit(":", 1)
    s = socket.create_connection((host, int(port)), timeout=10)
    try:
        s.sendall(b"POST /ipfs HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000\r\n\r\n" + b"a" * 1000)
        # Hold the connection without sending more, until the node gives up on us or time's up.
        s.settimeout(max(0.1, min(30.0, DURATION)))
        try:
            s.recv(1024)
        except OSError:
            pass
    finally:
        s.close()


def transfer():
    for sender in DEV[1:]:
        r = call("eth_sendTransaction", [{"from": sender, "to": DEV[0], "value": "0x1"}])
        if "error" in r:
            raise RuntimeError(r["error"])


def block_number():
    return int(call("eth_blockNumber", [], timeout=10)["result"], 16)


def peak_rss_mib():
    try:
        with open(f"/proc/{PID}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return float("nan")
    return float("nan")


def main():
    start_block = block_number()
    threads = [loop("heavy calls", heavy) for _ in range(4)]
    threads += [loop("1000-call batches", batch) for _ in range(2)]
    threads += [loop("filter installs", filters) for _ in range(2)]
    threads += [loop("stalled uploads", stalled_upload) for _ in range(8)]
    threads += [loop("transfer rounds", transfer)]
    latencies = []
    deadline = time.monotonic() + DURATION
    while time.monotonic() < deadline:
        t0 = time.monotonic()
        try:
            block_number()
            latencies.append((time.monotonic() - t0) * 1000)
        except Exception:
            bump("latency probe errors")
        time.sleep(0.01)
    stop.set()
    end_block = block_number()
    alive = True
    try:
        os.kill(PID, 0)
    except OSError:
        alive = False
    latencies.sort()
    pct = lambda p: latencies[min(len(latencies) - 1, int(len(latencies) * p))] if latencies else float("nan")
    print(f"node alive after the mix:        {alive}")
    print(f"blocks sealed during the mix:    {end_block - start_block}")
    print(f"eth_blockNumber latency (ms):    p50 {pct(0.5):.1f}  p99 {pct(0.99):.1f}  max {latencies[-1] if latencies else float('nan'):.1f}  ({len(latencies)} probes)")
    print(f"peak RSS (VmHWM):                {peak_rss_mib():.0f} MiB")
    for k in sorted(counts):
        print(f"  {k:<30} {counts[k]}")
    p99_ok = pct(0.99) < 50
    rss_ok = peak_rss_mib() < 1024
    print(f"targets: p99 < 50 ms {'met' if p99_ok else 'MISSED'}; RSS < 1 GiB {'met' if rss_ok else 'MISSED'}")
    return 0 if alive and end_block > start_block else 1


if __name__ == "__main__":
    sys.exit(main())
