//! Counts the JSON-RPC calls a server answers (each call of a batch counts), for `/metrics`.

use std::sync::{
    Arc,
    atomic::{AtomicU64, Ordering},
};

use jsonrpsee::core::middleware::{Batch, Notification, RpcServiceT};
use jsonrpsee::types::Request;

/// jsonrpsee RPC middleware adding every call to `calls`.
#[derive(Clone)]
pub(crate) struct Counted<S> {
    pub(crate) inner: S,
    pub(crate) calls: Arc<AtomicU64>,
}

impl<S: RpcServiceT + Send + Sync> RpcServiceT for Counted<S> {
    type MethodResponse = S::MethodResponse;
    type NotificationResponse = S::NotificationResponse;
    type BatchResponse = S::BatchResponse;

    fn call<'a>(&self, request: Request<'a>) -> impl Future<Output = Self::MethodResponse> + Send + 'a {
        self.calls.fetch_add(1, Ordering::Relaxed);
        self.inner.call(request)
    }

    fn batch<'a>(&self, requests: Batch<'a>) -> impl Future<Output = Self::BatchResponse> + Send + 'a {
        self.calls.fetch_add(requests.len() as u64, Ordering::Relaxed);
        self.inner.batch(requests)
    }

    fn notification<'a>(&self, n: Notification<'a>) -> impl Future<Output = Self::NotificationResponse> + Send + 'a {
        self.inner.notification(n)
    }
}

/// The layer that wraps each connection's service in [`Counted`].
#[derive(Clone)]
pub(crate) struct CountedLayer(pub(crate) Arc<AtomicU64>);

impl<S> tower::Layer<S> for CountedLayer {
    type Service = Counted<S>;

    fn layer(&self, inner: S) -> Counted<S> {
        Counted { inner, calls: self.0.clone() }
    }
}
