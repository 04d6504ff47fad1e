//! UDP transport for the feed: a sender to a list of destinations and a retransmission request server.

use super::{MoldPublisher, RetransmitAnswer};
use crate::moldudp64::RequestPacket;
use std::io;
use std::net::{IpAddr, SocketAddr, UdpSocket};

/// Sends each packet to every destination (unicast addresses, or multicast groups), through one connected,
/// non-blocking socket per destination.
///
/// Connected, because an unconnected `sendto` looks up the route and copies the address on every packet: about an
/// eighth of the send's cost on loopback, paid by the gateway once per published packet. Non-blocking, because the
/// gateway must never wait for the network: a packet a socket cannot take now is a lost packet, which is what the
/// retransmission server is for, and `send` reports it.
#[derive(Debug)]
pub struct UdpFeedSender {
    /// One socket per destination, connected to it, in the order of the destinations.
    sockets: Vec<UdpSocket>,
}

impl UdpFeedSender {
    /// Binds one socket per destination on `bind` (port 0 for an ephemeral one) and connects it. For multicast
    /// destinations, `multicast_ttl` sets the hop limit (1 keeps packets on the local network) and loopback stays
    /// enabled.
    pub fn new(
        bind: SocketAddr,
        destinations: &[SocketAddr],
        multicast_ttl: u32,
    ) -> io::Result<Self> {
        let mut sockets = Vec::with_capacity(destinations.len());
        for destination in destinations {
            let socket = UdpSocket::bind(bind)?;
            if matches!(destination.ip(), IpAddr::V4(ip) if ip.is_multicast()) {
                socket.set_multicast_ttl_v4(multicast_ttl)?;
                socket.set_multicast_loop_v4(true)?;
            }
            socket.connect(destination)?;
            socket.set_nonblocking(true)?;
            sockets.push(socket);
        }
        Ok(UdpFeedSender { sockets })
    }

    /// The address of the first destination's socket (the one packets to it come from).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        match self.sockets.first() {
            Some(socket) => socket.local_addr(),
            None => Err(io::Error::new(
                io::ErrorKind::NotConnected,
                "the feed has no UDP destination",
            )),
        }
    }

    /// Sends one packet to every destination. A failed send to one destination does not stop the others; the
    /// first error is returned: a socket with no room (`WouldBlock`), or an error the network reported for an
    /// earlier packet (a connected socket hears of an unreachable port on its next send).
    pub fn send(&self, packet: &[u8]) -> io::Result<()> {
        let mut first_error = None;
        for socket in &self.sockets {
            if let Err(error) = socket.send(packet) {
                first_error.get_or_insert(error);
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

/// Answers MoldUDP64 request packets from the publisher's store on its own UDP port. Non-blocking: call
/// `poll` from the publishing loop; it handles at most `max_requests` datagrams per call.
#[derive(Debug)]
pub struct RetransmitServer {
    socket: UdpSocket,
    request: [u8; 64],
    answer: Box<[u8]>,
}

impl RetransmitServer {
    /// Binds `bind`; answers are at most `max_packet_bytes` long.
    pub fn bind(bind: SocketAddr, max_packet_bytes: usize) -> io::Result<Self> {
        let socket = UdpSocket::bind(bind)?;
        socket.set_nonblocking(true)?;
        Ok(RetransmitServer {
            socket,
            request: [0; 64],
            answer: vec![0; max_packet_bytes.max(crate::moldudp64::HEADER_BYTES)]
                .into_boxed_slice(),
        })
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.socket.local_addr()
    }

    /// Reads waiting requests and answers each from `publisher`'s store; returns how many packets were sent.
    /// Malformed requests, other sessions and requests older than the store get no answer (the
    /// MoldUDP64 specification has no negative reply); `MoldPublisher::answer_request` says which.
    pub fn poll(&mut self, publisher: &MoldPublisher, max_requests: usize) -> io::Result<usize> {
        let mut answered = 0;
        for _ in 0..max_requests {
            let (len, from) = match self.socket.recv_from(&mut self.request) {
                Ok(received) => received,
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => break,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                Err(error) => return Err(error),
            };
            let Ok(request) = RequestPacket::decode(self.request.get(..len).unwrap_or_default())
            else {
                continue;
            };
            if let RetransmitAnswer::Packet { packet_bytes, .. } =
                publisher.answer_request(&request, &mut self.answer)
            {
                let packet = self.answer.get(..packet_bytes).unwrap_or_default();
                match self.socket.send_to(packet, from) {
                    Ok(_) => answered += 1,
                    Err(error) if error.kind() == io::ErrorKind::WouldBlock => {}
                    Err(error) => return Err(error),
                }
            }
        }
        Ok(answered)
    }
}
