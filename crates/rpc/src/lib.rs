//! Ethereum JSON-RPC for Lightstreams, on jsonrpsee: HTTP and WebSocket on one port.
//!
//! Covers what ethers, viem, web3.py and foundry's cast call in ordinary use (see docs/rpc.md),
//! with geth's error codes and messages. Every request is bounded: body size, batch length,
//! connection count, log range and result count.
//!
//! ```no_run
//! # async fn run(chain: std::sync::Arc<ls_chain::Chain>) -> Result<(), Box<dyn std::error::Error>> {
//! let api = ls_rpc::EthApi::new(chain, vec![], "lightstreams/v0.1.0".into());
//! let server = ls_rpc::start(ls_rpc::RpcConfig::default(), ls_rpc::module(api)).await?;
//! println!("listening on {}", server.local_addr);
//! # Ok(()) }
//! ```

mod api;
mod counted;
mod debug;
pub mod dev;
pub mod error;
mod filters;
pub mod fuzzing;
mod guard;
mod methods;
mod pubsub;

use std::net::SocketAddr;

pub use dev::DevControl;
pub use api::{EthApi, RpcLimits, SUGGESTED_TIP, SYNC_SLACK, rpc_block, rpc_header, rpc_receipts, rpc_transaction};
pub use guard::BrowserPolicy;
use jsonrpsee::{
    Methods, RpcModule,
    server::{BatchRequestConfig, Server, ServerConfig, ServerHandle, serve_with_graceful_shutdown, stop_channel},
};

/// The remote address of the connection a call came on, in every method's `Extensions` (for
/// limits per peer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerAddr(pub SocketAddr);

/// Server limits and address.
#[derive(Debug, Clone)]
pub struct RpcConfig {
    pub addr: SocketAddr,
    /// Largest request body (bytes). geth: 5 MiB.
    pub max_request_body: u32,
    /// Largest response body (bytes).
    pub max_response_body: u32,
    /// Most calls in one batch.
    pub max_batch: u32,
    pub max_connections: u32,
    /// Most subscriptions one WebSocket connection may hold.
    pub max_subscriptions_per_connection: u32,
    /// Which web pages (Origin) and host names (Host) may call.
    pub browser: BrowserPolicy,
}

impl Default for RpcConfig {
    fn default() -> Self {
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 8545)),
            max_request_body: 5 * 1024 * 1024,
            max_response_body: 64 * 1024 * 1024,
            max_batch: 1000,
            max_connections: 1000,
            max_subscriptions_per_connection: 1024,
            browser: BrowserPolicy::default(),
        }
    }
}

/// Subscription ids as geth makes them: `0x` and 16 random bytes in hex. web3.py checks the
/// shape (jsonrpsee's default ids are integers).
#[derive(Debug, Clone, Copy)]
struct HexIdProvider;

impl jsonrpsee::core::traits::IdProvider for HexIdProvider {
    fn next_id(&self) -> jsonrpsee::types::SubscriptionId<'static> {
        let bytes: [u8; 16] = rand::random();
        jsonrpsee::types::SubscriptionId::Str(format!("0x{}", alloy_primitives::hex::encode(bytes)).into())
    }
}

/// The eth_, net_, web3_ module for `api`.
pub fn module(api: EthApi) -> RpcModule<EthApi> {
    let mut m = RpcModule::new(api);
    methods::register(&mut m);
    debug::register(&mut m);
    dev::register(&mut m);
    pubsub::register(&mut m);
    m
}

/// A running server.
#[derive(Debug)]
pub struct RunningServer {
    pub local_addr: SocketAddr,
    pub handle: ServerHandle,
    /// JSON-RPC calls answered so far (each call of a batch counts).
    pub calls: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

/// Binds and starts serving `module` (merge more namespaces into it first). Each call's
/// `Extensions` hold the [`PeerAddr`] it came from (jsonrpsee's own accept loop keeps that to
/// itself, so this one accepts connections and hands them to jsonrpsee's service).
pub async fn start<C: Send + Sync + 'static>(
    cfg: RpcConfig,
    module: RpcModule<C>,
) -> std::io::Result<RunningServer> {
    use tower::Service as _;
    let policy = std::sync::Arc::new(cfg.browser.clone());
    let config = ServerConfig::builder()
        .max_request_body_size(cfg.max_request_body)
        .max_response_body_size(cfg.max_response_body)
        .max_connections(cfg.max_connections)
        .max_subscriptions_per_connection(cfg.max_subscriptions_per_connection)
        .set_batch_request_config(BatchRequestConfig::Limit(cfg.max_batch))
        .set_id_provider(HexIdProvider)
        .build();
    let calls = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let service = Server::builder()
        .set_config(config)
        .set_rpc_middleware(jsonrpsee::core::middleware::RpcServiceBuilder::new().layer(counted::CountedLayer(calls.clone())))
        .set_http_middleware(
            tower::ServiceBuilder::new().layer(guard::GuardLayer(policy.clone())).layer(policy.cors_layer()),
        )
        .to_service_builder();
    let listener = tokio::net::TcpListener::bind(cfg.addr).await?;
    let local_addr = listener.local_addr()?;
    let (stop, handle) = stop_channel();
    let methods: Methods = module.into();
    tokio::spawn(async move {
        loop {
            let (socket, peer) = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok(conn) => conn,
                    Err(e) => {
                        // Out of descriptors, say: wait rather than spin.
                        tracing::debug!(error = %e, "accepting an RPC connection failed");
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                        continue;
                    }
                },
                _ = stop.clone().shutdown() => break,
            };
            let _ = socket.set_nodelay(true);
            // One jsonrpsee service per connection (one connection id: subscriptions live on it).
            let svc = service.clone().build(methods.clone(), stop.clone());
            let svc = tower::service_fn(move |mut req: http::Request<hyper::body::Incoming>| {
                req.extensions_mut().insert(PeerAddr(peer));
                let mut svc = svc.clone();
                async move { svc.call(req).await }
            });
            tokio::spawn(serve_with_graceful_shutdown(socket, svc, stop.clone().shutdown()));
        }
    });
    Ok(RunningServer { local_addr, handle, calls })
}
