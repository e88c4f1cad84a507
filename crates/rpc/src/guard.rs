//! Who may talk to the RPC server from a browser, as geth decides it.
//!
//! - **Origin** (`--rpc-cors`): a request that carries an `Origin` header, which every browser
//!   page's fetch and WebSocket does, is refused with 403 unless that origin is allowed. Without
//!   this, any page the developer visits could drive the node's unlocked dev accounts. Requests
//!   without `Origin` (curl, ethers in Node, web3.py, cast) are not affected. Browser-extension
//!   origins (`chrome-extension://`, `moz-extension://`) are allowed: wallets such as MetaMask
//!   are code the user installed, not a page they happened to open.
//! - **Host** (`--rpc-vhosts`): a request whose `Host` names a domain not on the list is refused
//!   with 403, which defeats DNS rebinding. IP literals are always accepted (geth does the same:
//!   a rebinding attack needs a name).
//!
//! The same check runs before a WebSocket upgrade, so a page cannot open a socket either.

use std::{
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
};

use futures::{Future, FutureExt, TryFutureExt};
use http::{HeaderValue, Request, Response, StatusCode, header};
use jsonrpsee::{core::BoxError, server::HttpBody};
use tower::{Layer, Service};

/// The browser-facing policy: allowed origins and virtual hosts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrowserPolicy {
    /// Origins allowed to call (exact, case-insensitive, e.g. `http://localhost:3000`); `*` allows
    /// any. Empty: no web page may call.
    pub cors: Vec<String>,
    /// Host names accepted in the `Host` header (without port); `*` accepts any.
    pub vhosts: Vec<String>,
}

impl Default for BrowserPolicy {
    fn default() -> Self {
        Self { cors: vec![], vhosts: vec!["localhost".into()] }
    }
}

impl BrowserPolicy {
    /// Whether a request with this `Origin` value may be served.
    pub fn origin_allowed(&self, origin: &str) -> bool {
        let origin = origin.trim();
        if origin.starts_with("chrome-extension://") || origin.starts_with("moz-extension://") {
            return true;
        }
        self.cors.iter().any(|o| o == "*" || o.eq_ignore_ascii_case(origin))
    }

    /// Whether a request with this `Host` value may be served.
    pub fn host_allowed(&self, host: &str) -> bool {
        let name = host_name(host);
        if name.is_empty() || name.parse::<std::net::IpAddr>().is_ok() {
            return true;
        }
        self.vhosts.iter().any(|v| v == "*" || v.eq_ignore_ascii_case(name))
    }

    /// The CORS layer that answers preflights and adds headers for allowed origins.
    pub(crate) fn cors_layer(self: &Arc<Self>) -> tower_http::cors::CorsLayer {
        let policy = self.clone();
        tower_http::cors::CorsLayer::new()
            .allow_origin(tower_http::cors::AllowOrigin::predicate(move |origin: &HeaderValue, _| {
                origin.to_str().is_ok_and(|o| policy.origin_allowed(o))
            }))
            .allow_methods([http::Method::POST, http::Method::GET, http::Method::OPTIONS])
            .allow_headers([header::CONTENT_TYPE, header::AUTHORIZATION])
            .max_age(std::time::Duration::from_secs(600))
    }
}

/// `example.com:8545` → `example.com`, `[::1]:8545` → `::1`.
fn host_name(host: &str) -> &str {
    let host = host.trim();
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or_default();
    }
    match host.rsplit_once(':') {
        // One colon: host and port. More than one without brackets: a bare IPv6 address.
        Some((name, _)) if !name.contains(':') => name,
        _ => host,
    }
}

/// Tower layer that refuses requests the [`BrowserPolicy`] does not allow.
#[derive(Debug, Clone)]
pub(crate) struct GuardLayer(pub(crate) Arc<BrowserPolicy>);

impl<S> Layer<S> for GuardLayer {
    type Service = Guard<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Guard { inner, policy: self.0.clone() }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Guard<S> {
    inner: S,
    policy: Arc<BrowserPolicy>,
}

fn forbidden(msg: &'static str) -> Response<HttpBody> {
    let mut r = Response::new(HttpBody::from(msg));
    *r.status_mut() = StatusCode::FORBIDDEN;
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    r
}

impl<S, B> Service<Request<B>> for Guard<S>
where
    S: Service<Request<B>, Response = Response<HttpBody>>,
    S::Error: Into<BoxError> + 'static,
    S::Future: Send + 'static,
{
    type Response = Response<HttpBody>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send + 'static>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let headers = req.headers();
        let host = headers.get(header::HOST).map(|h| h.to_str().unwrap_or("\u{0}"));
        if host.is_some_and(|h| !self.policy.host_allowed(h)) {
            return async { Ok(forbidden("invalid host specified\n")) }.boxed();
        }
        let origin = headers.get(header::ORIGIN).map(|o| o.to_str().unwrap_or("\u{0}"));
        if origin.is_some_and(|o| !self.policy.origin_allowed(o)) {
            return async { Ok(forbidden("origin not allowed (see --rpc-cors)\n")) }.boxed();
        }
        Box::pin(self.inner.call(req).map_err(Into::into))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts() {
        let p = BrowserPolicy::default();
        for ok in ["localhost", "localhost:8545", "LOCALHOST:1", "127.0.0.1:8545", "[::1]:8545", "::1", "10.1.2.3", ""] {
            assert!(p.host_allowed(ok), "{ok}");
        }
        for bad in ["evil.example", "evil.example:8545", "localhost.evil.example", "\u{0}"] {
            assert!(!p.host_allowed(bad), "{bad}");
        }
        let any = BrowserPolicy { vhosts: vec!["*".into()], ..Default::default() };
        assert!(any.host_allowed("evil.example"));
    }

    #[test]
    fn origins() {
        let p = BrowserPolicy::default();
        assert!(!p.origin_allowed("http://evil.example"));
        assert!(!p.origin_allowed("http://localhost:3000"));
        assert!(!p.origin_allowed("null"));
        assert!(p.origin_allowed("chrome-extension://nkbihfbeogaeaoehlefnkodbefgpgknn"));
        let p = BrowserPolicy { cors: vec!["http://localhost:3000".into()], ..Default::default() };
        assert!(p.origin_allowed("http://LOCALHOST:3000"));
        assert!(!p.origin_allowed("http://localhost:3001"));
        let any = BrowserPolicy { cors: vec!["*".into()], ..Default::default() };
        assert!(any.origin_allowed("http://evil.example"));
    }
}
