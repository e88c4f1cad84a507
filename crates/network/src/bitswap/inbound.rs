//! Accepting inbound Bitswap streams without losing any to a moment's scheduling delay.
//!
//! `libp2p-stream` hands each inbound stream of a protocol to the application through a
//! channel with one slot for all connections: a second stream negotiated (on any connection)
//! before the task reading that channel has been scheduled is dropped, which resets it, so the
//! peer's message is lost and its next write fails ("connection is closed"). Two peers
//! answering a want-have at the same moment hit it. This behaviour only accepts our Bitswap
//! protocols and queues each negotiated stream for [`super::accept`] with room for
//! [`INBOUND_QUEUE`]; outbound streams still go through `libp2p-stream`.

use std::{
    convert::Infallible,
    future::{Ready, ready},
    task::{Context, Poll},
};

use libp2p::{
    Multiaddr, PeerId, Stream, StreamProtocol,
    core::{Endpoint, InboundUpgrade, UpgradeInfo, transport::PortUse, upgrade::DeniedUpgrade},
    swarm::{
        ConnectionDenied, ConnectionHandler, ConnectionHandlerEvent, ConnectionId, FromSwarm, NetworkBehaviour,
        SubstreamProtocol, THandler, THandlerInEvent, THandlerOutEvent, ToSwarm,
        handler::{ConnectionEvent, FullyNegotiatedInbound},
    },
};
use tokio::sync::mpsc;

/// Negotiated streams waiting for the accepting task, over all connections. Streams are
/// already bounded by yamux (`max_streams_per_connection` per connection); past this many
/// waiting the node is overloaded and further streams are dropped.
pub const INBOUND_QUEUE: usize = 1024;

/// A negotiated inbound stream: who opened it, and which of our protocols it speaks.
pub type Incoming = (PeerId, Stream, StreamProtocol);

/// Accepts inbound streams of `protocols` on every connection.
pub struct Behaviour {
    protocols: Vec<StreamProtocol>,
    queue: mpsc::Sender<Incoming>,
}

impl Behaviour {
    /// The behaviour and the receiving end of its queue (see [`super::accept`]).
    pub fn new(protocols: Vec<StreamProtocol>) -> (Self, mpsc::Receiver<Incoming>) {
        let (queue, rx) = mpsc::channel(INBOUND_QUEUE);
        (Self { protocols, queue }, rx)
    }

    fn handler(&self, peer: PeerId) -> Handler {
        Handler { peer, protocols: self.protocols.clone(), queue: self.queue.clone() }
    }
}

impl NetworkBehaviour for Behaviour {
    type ConnectionHandler = Handler;
    type ToSwarm = Infallible;

    fn handle_established_inbound_connection(
        &mut self,
        _: ConnectionId,
        peer: PeerId,
        _: &Multiaddr,
        _: &Multiaddr,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        Ok(self.handler(peer))
    }

    fn handle_established_outbound_connection(
        &mut self,
        _: ConnectionId,
        peer: PeerId,
        _: &Multiaddr,
        _: Endpoint,
        _: PortUse,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        Ok(self.handler(peer))
    }

    fn on_swarm_event(&mut self, _: FromSwarm) {}

    fn on_connection_handler_event(&mut self, _: PeerId, _: ConnectionId, event: THandlerOutEvent<Self>) {
        match event {}
    }

    fn poll(&mut self, _: &mut Context<'_>) -> Poll<ToSwarm<Self::ToSwarm, THandlerInEvent<Self>>> {
        Poll::Pending
    }
}

/// One connection's side: negotiates our protocols on inbound streams and queues them. It
/// never keeps the connection alive by itself (open streams and the idle timeout do).
pub struct Handler {
    peer: PeerId,
    protocols: Vec<StreamProtocol>,
    queue: mpsc::Sender<Incoming>,
}

impl ConnectionHandler for Handler {
    type FromBehaviour = Infallible;
    type ToBehaviour = Infallible;
    type InboundProtocol = Protocols;
    type OutboundProtocol = DeniedUpgrade;
    type InboundOpenInfo = ();
    type OutboundOpenInfo = ();

    fn listen_protocol(&self) -> SubstreamProtocol<Protocols> {
        SubstreamProtocol::new(Protocols(self.protocols.clone()), ())
    }

    fn poll(&mut self, _: &mut Context<'_>) -> Poll<ConnectionHandlerEvent<DeniedUpgrade, (), Infallible>> {
        Poll::Pending
    }

    fn on_behaviour_event(&mut self, event: Infallible) {
        match event {}
    }

    fn on_connection_event(&mut self, event: ConnectionEvent<Protocols, DeniedUpgrade>) {
        if let ConnectionEvent::FullyNegotiatedInbound(FullyNegotiatedInbound { protocol: (stream, proto), .. }) =
            event
            && let Err(e) = self.queue.try_send((self.peer, stream, proto))
        {
            // Dropping the stream resets it: the peer sees its write fail.
            tracing::debug!(peer = %self.peer, error = %e, "an inbound bitswap stream is dropped");
        }
    }
}

/// Our protocols, offered to a peer opening a stream; the stream comes out as it is.
pub struct Protocols(Vec<StreamProtocol>);

impl UpgradeInfo for Protocols {
    type Info = StreamProtocol;
    type InfoIter = std::vec::IntoIter<StreamProtocol>;

    fn protocol_info(&self) -> Self::InfoIter {
        self.0.clone().into_iter()
    }
}

impl InboundUpgrade<Stream> for Protocols {
    type Output = (Stream, StreamProtocol);
    type Error = Infallible;
    type Future = Ready<Result<Self::Output, Infallible>>;

    fn upgrade_inbound(self, stream: Stream, proto: StreamProtocol) -> Self::Future {
        ready(Ok((stream, proto)))
    }
}
