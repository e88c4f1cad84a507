//! Starts the real `lightstreams` binary on loopback and talks JSON-RPC to it.
#![allow(dead_code)]

use std::{
    io::{BufRead, BufReader},
    path::Path,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use alloy_primitives::{Address, Bytes, U256};
use alloy_signer_local::PrivateKeySigner;
use serde_json::{Value, json};

pub const KEY0: &str = "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
pub const KEY1: &str = "59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d";
pub const KEY2: &str = "5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a";
pub const KEY3: &str = "7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6";
/// The first two dev accounts (the addresses of KEY0 and KEY1).
pub const DEV0: Address = alloy_primitives::address!("f39Fd6e51aad88F6F4ce6aB8827279cffFb92266");
pub const DEV1: Address = alloy_primitives::address!("70997970C51812dc3A010C7d01b50e0d17dc79C8");

pub struct Node {
    pub child: Child,
    pub url: String,
    pub gateway: String,
    /// `http://host:port/metrics` when the node was started with `--metrics-addr`.
    pub metrics: Option<String>,
    /// The libp2p peer id and dialable addresses it printed (empty with `--p2p-addr none`).
    pub peer_id: String,
    pub p2p_addrs: Vec<String>,
    client: reqwest::blocking::Client,
    /// The data directory of a node started without one: removed when the node is dropped
    /// (a node killed with SIGKILL cannot remove its own temporary directory).
    _tmp: Option<tempfile::TempDir>,
}

impl Node {
    /// Starts `lightstreams node --dev` with `extra` args on a free loopback port (100 ms blocks
    /// unless `extra` names a `--block-time`).
    pub fn start(datadir: Option<&Path>, extra: &[&str]) -> Node {
        let bin = env!("CARGO_BIN_EXE_lightstreams");
        let mut cmd = Command::new(bin);
        cmd.args(["node", "--dev", "--quiet", "--rpc-addr", "127.0.0.1:0", "--gateway-addr", "127.0.0.1:0"]);
        if !extra.contains(&"--block-time") {
            cmd.args(["--block-time", "100ms"]);
        }
        // Never the default port 4001: tests run side by side.
        if !extra.contains(&"--p2p-addr") {
            cmd.args(["--p2p-addr", "/ip4/127.0.0.1/tcp/0"]);
        }
        let tmp = match datadir {
            Some(d) => {
                cmd.arg("--datadir").arg(d);
                None
            }
            None => {
                let t = tempfile::Builder::new().prefix("lightstreams-test-").tempdir().expect("a temporary directory");
                cmd.arg("--datadir").arg(t.path());
                Some(t)
            }
        };
        cmd.args(extra);
        let mut node = Self::spawn(cmd);
        node._tmp = tmp;
        node
    }

    /// Starts `lightstreams node --config <config>` (a node of a network `testnet` wrote).
    pub fn start_config(config: &Path) -> Node {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_lightstreams"));
        cmd.args(["node", "--quiet", "--config"]).arg(config);
        Self::spawn(cmd)
    }

    fn spawn(mut cmd: Command) -> Node {
        cmd.env("RUST_LOG", "warn").stdout(Stdio::piped()).stderr(Stdio::inherit());
        let mut child = cmd.spawn().expect("start lightstreams");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut gateway = String::new();
            let mut metrics = None;
            let (mut peer_id, mut p2p) = (String::new(), Vec::new());
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(url) = line.strip_prefix("Metrics on ") {
                    metrics = Some(url.trim().to_string());
                }
                if let Some(addr) = line.strip_prefix("Gateway listening on ") {
                    gateway = addr.trim().to_string();
                }
                if let Some(id) = line.strip_prefix("Peer ID: ") {
                    peer_id = id.trim().to_string();
                }
                if let Some(addr) = line.strip_prefix("P2P listening on ") {
                    p2p.push(addr.trim().to_string());
                }
                if let Some(addr) = line.strip_prefix("Listening on ") {
                    let _ = tx.send((addr.trim().to_string(), gateway.clone(), metrics.clone(), peer_id.clone(), p2p.clone()));
                }
            }
        });
        let (addr, gateway, metrics, peer_id, p2p_addrs) =
            rx.recv_timeout(Duration::from_secs(30)).expect("node printed its address");
        Node {
            child,
            url: format!("http://{addr}"),
            gateway: format!("http://{gateway}"),
            metrics,
            peer_id,
            p2p_addrs,
            client: reqwest::blocking::Client::new(),
            _tmp: None,
        }
    }

    pub fn raw(&self, body: &str) -> (u16, Value) {
        self.try_raw(body).expect("request")
    }

    /// Like [`Node::raw`], but a connection the server closed is an `Err`.
    pub fn try_raw(&self, body: &str) -> Result<(u16, Value), reqwest::Error> {
        let resp = self
            .client
            .post(&self.url)
            .header("content-type", "application/json")
            .body(body.to_string())
            .timeout(Duration::from_secs(20))
            .send()?;
        let status = resp.status().as_u16();
        let text = resp.text().unwrap_or_default();
        Ok((status, serde_json::from_str(&text).unwrap_or(Value::String(text))))
    }

    /// Calls `method`, returning the whole response object.
    pub fn call(&self, method: &str, params: Value) -> Value {
        let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
        self.raw(&body.to_string()).1
    }

    /// Calls `method` and returns `result`, panicking on an error.
    pub fn ok(&self, method: &str, params: Value) -> Value {
        let r = self.call(method, params);
        assert!(r.get("error").is_none(), "{method} failed: {r}");
        r["result"].clone()
    }

    pub fn u256(&self, method: &str, params: Value) -> U256 {
        let v = self.ok(method, params);
        v.as_str().expect("hex string").parse().expect("hex quantity")
    }

    /// Polls for a receipt for up to `timeout`.
    pub fn wait_receipt(&self, hash: &str, timeout: Duration) -> Value {
        let start = Instant::now();
        loop {
            let r = self.ok("eth_getTransactionReceipt", json!([hash]));
            if !r.is_null() {
                return r;
            }
            assert!(start.elapsed() < timeout, "no receipt for {hash} within {timeout:?}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Uploads `data` to the gateway (pinned, CIDv0) and returns its CID.
    pub fn add(&self, data: &[u8]) -> String {
        let created: Value =
            self.client.post(format!("{}/ipfs", self.gateway)).body(data.to_vec()).send().unwrap().json().unwrap();
        created["Hash"].as_str().expect("the upload names its CID").to_string()
    }

    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn signer(key: &str) -> PrivateKeySigner {
    key.parse().expect("valid key")
}

/// A signed EIP-1559 transaction as raw hex.
pub fn signed_tx(key: &str, nonce: u64, to: Option<Address>, value: U256, input: Bytes, gas: u64) -> String {
    ls_testkit::raw_hex(&ls_testkit::eip1559(&signer(key), nonce, to, value, input, gas))
}
