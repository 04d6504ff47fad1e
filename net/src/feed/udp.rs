//! UDP transport for the feed: a sender to a list of destinations and a retransmission request server.

use super::{MoldPublisher, RetransmitAnswer};
use crate::moldudp64::RequestPacket;
use std::io;
use std::net::{IpAddr, SocketAddr, UdpSocket};

/// Sends each packet to every destination (unicast addresses, or multicast groups), through one non-blocking socket
/// per destination, connected to it.
///
/// Connected, because an unconnected `sendto` looks up the route and copies the address on every packet: about an
/// eighth of the send's cost on loopback, paid by the gateway once per published packet. A destination whose route
/// is not known when the sender is made (a network not yet up) is not refused: its socket stays unconnected and is
/// addressed on every packet, and `unconnected` says which and why. Non-blocking, because the gateway must never
/// wait for the network: a packet a socket cannot take now is lost for that destination, which is what the
/// retransmission server is for, and `send` counts it.
#[derive(Debug)]
pub struct UdpFeedSender {
    /// In the order of the destinations.
    destinations: Vec<Destination>,
}

#[derive(Debug)]
struct Destination {
    socket: UdpSocket,
    address: SocketAddr,
    /// Why the socket is not connected (None: connected to `address`).
    unconnected: Option<String>,
}

impl Destination {
    #[inline]
    fn send(&self, packet: &[u8]) -> io::Result<usize> {
        if self.unconnected.is_none() {
            self.socket.send(packet)
        } else {
            self.socket.send_to(packet, self.address)
        }
    }
}

/// What one `send` came to, counted in destinations.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SendOutcome {
    /// Destinations that did not get the packet: no room in their socket, or an error from the network.
    pub lost: u32,
    /// Reports of an unreachable port that the packet's send met: a connected socket hears of the last packet's
    /// rejection on its next send, which then fails without sending. That send is made once more, so the report
    /// costs no packet; a subscriber that restarts misses nothing for it.
    pub unreachable_reports: u32,
}

impl UdpFeedSender {
    /// One socket per destination, bound to `bind` (`0.0.0.0` is taken as `::` for an IPv6 destination) and
    /// connected to the destination. `bind`'s port must be 0 (an ephemeral port each) when there is more than one
    /// destination. For multicast destinations, `multicast_ttl` sets the hop limit (1 keeps packets on the local
    /// network) and loopback stays enabled.
    pub fn new(
        bind: SocketAddr,
        destinations: &[SocketAddr],
        multicast_ttl: u32,
    ) -> io::Result<Self> {
        if destinations.len() > 1 && bind.port() != 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "the feed binds one socket per destination: with {} destinations its bind port must be 0, not {}",
                    destinations.len(),
                    bind.port()
                ),
            ));
        }
        let mut opened = Vec::with_capacity(destinations.len());
        for &address in destinations {
            // The wildcard address of IPv4 stands for "any" in the destination's own family.
            let local = match (bind, address) {
                (SocketAddr::V4(any), SocketAddr::V6(_)) if any.ip().is_unspecified() => {
                    SocketAddr::from((std::net::Ipv6Addr::UNSPECIFIED, any.port()))
                }
                _ => bind,
            };
            let socket = UdpSocket::bind(local)?;
            if matches!(address.ip(), IpAddr::V4(ip) if ip.is_multicast()) {
                socket.set_multicast_ttl_v4(multicast_ttl)?;
                socket.set_multicast_loop_v4(true)?;
            }
            let unconnected = socket.connect(address).err().map(|error| error.to_string());
            socket.set_nonblocking(true)?;
            opened.push(Destination {
                socket,
                address,
                unconnected,
            });
        }
        Ok(UdpFeedSender {
            destinations: opened,
        })
    }

    /// The destinations whose socket could not be connected, and why; packets to them are addressed one by one.
    pub fn unconnected(&self) -> impl Iterator<Item = (SocketAddr, &str)> {
        self.destinations.iter().filter_map(|destination| {
            destination
                .unconnected
                .as_deref()
                .map(|why| (destination.address, why))
        })
    }

    /// The address packets to the `index`th destination come from.
    pub fn local_addr(&self, index: usize) -> io::Result<SocketAddr> {
        match self.destinations.get(index) {
            Some(destination) => destination.socket.local_addr(),
            None => Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!(
                    "the feed has {} UDP destinations, not {}",
                    self.destinations.len(),
                    index + 1
                ),
            )),
        }
    }

    /// Sends one packet to every destination. A destination that does not take it does not stop the others.
    pub fn send(&self, packet: &[u8]) -> SendOutcome {
        let mut outcome = SendOutcome::default();
        for destination in &self.destinations {
            let mut sent = destination.send(packet);
            if matches!(&sent, Err(error) if error.kind() == io::ErrorKind::ConnectionRefused) {
                outcome.unreachable_reports += 1;
                sent = destination.send(packet);
            }
            if sent.is_err() {
                outcome.lost += 1;
            }
        }
        outcome
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
