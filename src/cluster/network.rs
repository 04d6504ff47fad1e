//! Raft over TCP between the boxes.
//!
//! Every frame is `[u32 LE length][body]`; bodies are bincode. A connection starts with the client sending the
//! cluster token as one frame; the server compares it in constant time and answers one byte, 1 (accepted), or
//! closes the connection (refused: nothing of Raft is read from, or sent to, a peer without the token). Then the
//! client sends `Request` frames and reads one `Response` frame for each, in order. One connection per openraft
//! client (a replication stream, a vote round, a health checker), reconnected after any error.

use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use openraft::error::{
    InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Unreachable,
};
use openraft::network::{Backoff, RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use openraft::BasicNode;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

use super::health::PeerHealth;
use super::leader_loss::LeaderLoss;
use super::types::{NodeId, Raft, TypeConfig};

/// Largest frame accepted (a batch of records, a snapshot chunk).
const MAX_FRAME_BYTES: usize = 256 << 20;
const MAX_TOKEN_BYTES: usize = 1024;
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(1);
const CONNECT_TIMEOUT: Duration = Duration::from_millis(200);
const ACCEPTED: u8 = 1;

#[derive(Debug, Serialize, Deserialize)]
pub enum Request {
    Append(AppendEntriesRequest<TypeConfig>),
    Vote(VoteRequest<NodeId>),
    Snapshot(InstallSnapshotRequest<TypeConfig>),
    Ping,
    /// This node's last log index and how long ago it heard from `leader` (`leader_loss.rs`: who stands first
    /// after the leader crashed, and when).
    LogState {
        leader: NodeId,
    },
}

#[derive(Debug, Serialize, Deserialize)]
pub enum Response {
    Append(Result<AppendEntriesResponse<NodeId>, RaftError<NodeId>>),
    Vote(Result<VoteResponse<NodeId>, RaftError<NodeId>>),
    Snapshot(Result<InstallSnapshotResponse<NodeId>, RaftError<NodeId, InstallSnapshotError>>),
    Pong {
        node_id: NodeId,
    },
    LogState {
        node_id: NodeId,
        last_log_index: Option<u64>,
        leader_contact_age_us: Option<u64>,
    },
}

/// Equal length and equal bytes, in time that depends only on the lengths.
pub fn token_matches(presented: &[u8], expected: &[u8]) -> bool {
    let mut diff = (presented.len() ^ expected.len()) as u64;
    for index in 0..presented.len().max(expected.len()) {
        let a = presented.get(index).copied().unwrap_or(0);
        let b = expected.get(index).copied().unwrap_or(0);
        diff |= u64::from(a ^ b);
    }
    std::hint::black_box(diff) == 0
}

async fn write_frame(stream: &mut TcpStream, body: &[u8]) -> io::Result<()> {
    let len = u32::try_from(body.len())
        .ok()
        .filter(|&len| len as usize <= MAX_FRAME_BYTES)
        .ok_or_else(|| io::Error::other(format!("frame of {} bytes is too large", body.len())))?;
    let mut frame = Vec::with_capacity(4 + body.len());
    frame.extend_from_slice(&len.to_le_bytes());
    frame.extend_from_slice(body);
    stream.write_all(&frame).await
}

async fn read_frame(stream: &mut TcpStream, max: usize) -> io::Result<Vec<u8>> {
    let mut len = [0u8; 4];
    stream.read_exact(&mut len).await?;
    let len = u32::from_le_bytes(len) as usize;
    if len > max {
        return Err(io::Error::other(format!(
            "frame of {len} bytes exceeds {max}"
        )));
    }
    let mut body = vec![0u8; len];
    stream.read_exact(&mut body).await?;
    Ok(body)
}

/// Accepts Raft connections until the task is aborted; aborting it also ends every connection it accepted.
pub async fn serve(
    listener: TcpListener,
    raft: Raft,
    token: Arc<str>,
    leader_loss: Arc<LeaderLoss>,
) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _peer)) = accepted else { continue };
                let _ = stream.set_nodelay(true);
                connections.spawn(serve_connection(
                    stream,
                    raft.clone(),
                    Arc::clone(&token),
                    Arc::clone(&leader_loss),
                ));
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

async fn serve_connection(
    mut stream: TcpStream,
    raft: Raft,
    token: Arc<str>,
    leader_loss: Arc<LeaderLoss>,
) -> io::Result<()> {
    let node_id = leader_loss.node_id;
    let presented =
        tokio::time::timeout(HANDSHAKE_TIMEOUT, read_frame(&mut stream, MAX_TOKEN_BYTES))
            .await
            .map_err(|_| io::Error::other("handshake timed out"))??;
    if !token_matches(&presented, token.as_bytes()) {
        // Refused: close without a word of Raft.
        return Err(io::Error::other("peer presented a wrong cluster token"));
    }
    stream.write_all(&[ACCEPTED]).await?;
    // The leader whose replication stream this connection carries, and when it was last heard.
    let mut replicating: Option<(NodeId, Instant)> = None;
    loop {
        let body = match read_frame(&mut stream, MAX_FRAME_BYTES).await {
            Ok(body) => body,
            Err(err) => {
                if let Some((leader, last_contact)) = replicating {
                    tokio::spawn(Arc::clone(&leader_loss).connection_ended(
                        raft.clone(),
                        leader,
                        last_contact,
                    ));
                }
                return Err(err);
            }
        };
        let request: Request = bincode::deserialize(&body).map_err(io::Error::other)?;
        let response = match request {
            Request::Append(rpc) => {
                let leader = rpc.vote.leader_id().voted_for();
                let response = raft.append_entries(rpc).await;
                if let (Some(leader), Ok(_)) = (leader, &response) {
                    replicating = Some((leader, Instant::now()));
                    leader_loss.heard_from(leader);
                }
                Response::Append(response)
            }
            Request::Vote(rpc) => Response::Vote(raft.vote(rpc).await),
            Request::Snapshot(rpc) => Response::Snapshot(raft.install_snapshot(rpc).await),
            Request::Ping => Response::Pong { node_id },
            Request::LogState { leader } => Response::LogState {
                node_id,
                last_log_index: raft.metrics().borrow().last_log_index,
                leader_contact_age_us: leader_loss.contact_age_us(leader),
            },
        };
        let body = bincode::serialize(&response).map_err(io::Error::other)?;
        write_frame(&mut stream, &body).await?;
    }
}

/// Why a call to a peer failed.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    #[error("connect to {addr}: {source}")]
    Connect { addr: String, source: io::Error },
    #[error("{addr} refused the cluster token")]
    Refused { addr: String },
    #[error("{addr}: {source}")]
    Io { addr: String, source: io::Error },
    #[error("{addr}: no answer within {timeout:?}")]
    Timeout { addr: String, timeout: Duration },
    #[error("{addr}: unexpected response")]
    Unexpected { addr: String },
}

/// A client connection to one peer.
#[derive(Debug)]
pub struct PeerClient {
    pub target: NodeId,
    addr: String,
    token: Arc<str>,
    stream: Option<TcpStream>,
    health: Option<Arc<PeerHealth>>,
    /// How long openraft pauses replication to this peer after it was unreachable.
    pub backoff_interval: Duration,
}

impl PeerClient {
    pub fn new(
        target: NodeId,
        addr: String,
        token: Arc<str>,
        health: Option<Arc<PeerHealth>>,
    ) -> PeerClient {
        PeerClient {
            target,
            addr,
            token,
            stream: None,
            health,
            backoff_interval: Duration::from_millis(100),
        }
    }

    async fn connect(&mut self) -> Result<(), CallError> {
        if self.stream.is_some() {
            return Ok(());
        }
        let addr = self.addr.clone();
        let connect = async {
            let mut stream =
                TcpStream::connect(&addr)
                    .await
                    .map_err(|source| CallError::Connect {
                        addr: addr.clone(),
                        source,
                    })?;
            let _ = stream.set_nodelay(true);
            let io_err = |source| CallError::Io {
                addr: addr.clone(),
                source,
            };
            write_frame(&mut stream, self.token.as_bytes())
                .await
                .map_err(io_err)?;
            let mut answer = [0u8; 1];
            match stream.read_exact(&mut answer).await {
                Ok(_) if answer[0] == ACCEPTED => Ok(stream),
                _ => Err(CallError::Refused { addr: addr.clone() }),
            }
        };
        let stream = tokio::time::timeout(CONNECT_TIMEOUT, connect)
            .await
            .map_err(|_| CallError::Timeout {
                addr: self.addr.clone(),
                timeout: CONNECT_TIMEOUT,
            })??;
        self.stream = Some(stream);
        Ok(())
    }

    /// One request and its response, within `timeout` (connecting included). Any failure drops the connection
    /// and counts against the peer's passive health.
    pub async fn call(
        &mut self,
        request: &Request,
        timeout: Duration,
    ) -> Result<Response, CallError> {
        let result = tokio::time::timeout(timeout, self.call_inner(request)).await;
        let result = match result {
            Ok(result) => result,
            Err(_) => Err(CallError::Timeout {
                addr: self.addr.clone(),
                timeout,
            }),
        };
        if let Err(err) = &result {
            self.stream = None;
            if let Some(health) = &self.health {
                if !matches!(request, Request::Ping) {
                    health.record_rpc_failure(err.to_string());
                }
            }
        }
        result
    }

    async fn call_inner(&mut self, request: &Request) -> Result<Response, CallError> {
        self.connect().await?;
        let addr = self.addr.clone();
        let io_err = |source| CallError::Io {
            addr: addr.clone(),
            source,
        };
        let body = bincode::serialize(request).map_err(|err| io_err(io::Error::other(err)))?;
        let stream = self.stream.as_mut().expect("connected above");
        write_frame(stream, &body).await.map_err(io_err)?;
        let body = read_frame(stream, MAX_FRAME_BYTES).await.map_err(io_err)?;
        bincode::deserialize(&body).map_err(|err| io_err(io::Error::other(err)))
    }

    /// An active health check: round-trip time of a ping.
    pub async fn ping(&mut self, timeout: Duration) -> Result<Duration, CallError> {
        let start = Instant::now();
        match self.call(&Request::Ping, timeout).await? {
            Response::Pong { node_id } if node_id == self.target => Ok(start.elapsed()),
            _ => Err(CallError::Unexpected {
                addr: self.addr.clone(),
            }),
        }
    }

    fn rpc_error<E: std::error::Error>(err: CallError) -> RPCError<NodeId, BasicNode, E> {
        match err {
            CallError::Connect { .. } | CallError::Refused { .. } => {
                RPCError::Unreachable(Unreachable::new(&err))
            }
            _ => RPCError::Network(NetworkError::new(&err)),
        }
    }
}

/// Builds one `PeerClient` per openraft client.
#[derive(Debug, Clone)]
pub struct Network {
    pub token: Arc<str>,
    pub peers: Vec<Arc<PeerHealth>>,
    /// How long replication to an unreachable peer pauses before retrying.
    pub backoff: Duration,
}

impl RaftNetworkFactory<TypeConfig> for Network {
    type Network = PeerClient;

    async fn new_client(&mut self, target: NodeId, node: &BasicNode) -> PeerClient {
        let health = self.peers.iter().find(|peer| peer.id == target).cloned();
        // This node's configured route to the peer wins over the address in the membership (which the first
        // leader wrote from its own configuration): each node may reach a peer differently (a proxy, NAT).
        let addr = health
            .as_ref()
            .map_or_else(|| node.addr.clone(), |peer| peer.addr.clone());
        let mut client = PeerClient::new(target, addr, Arc::clone(&self.token), health);
        client.backoff_interval = self.backoff;
        client
    }
}

impl RaftNetwork<TypeConfig> for PeerClient {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<NodeId>, RPCError<NodeId, BasicNode, RaftError<NodeId>>> {
        match self.call(&Request::Append(rpc), option.hard_ttl()).await {
            Ok(Response::Append(Ok(response))) => Ok(response),
            Ok(Response::Append(Err(err))) => {
                Err(RPCError::RemoteError(RemoteError::new(self.target, err)))
            }
            Ok(_) => Err(Self::rpc_error(CallError::Unexpected {
                addr: self.addr.clone(),
            })),
            Err(err) => Err(Self::rpc_error(err)),
        }
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<
        InstallSnapshotResponse<NodeId>,
        RPCError<NodeId, BasicNode, RaftError<NodeId, InstallSnapshotError>>,
    > {
        match self.call(&Request::Snapshot(rpc), option.hard_ttl()).await {
            Ok(Response::Snapshot(Ok(response))) => Ok(response),
            Ok(Response::Snapshot(Err(err))) => {
                Err(RPCError::RemoteError(RemoteError::new(self.target, err)))
            }
            Ok(_) => Err(Self::rpc_error(CallError::Unexpected {
                addr: self.addr.clone(),
            })),
            Err(err) => Err(Self::rpc_error(err)),
        }
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        option: RPCOption,
    ) -> Result<VoteResponse<NodeId>, RPCError<NodeId, BasicNode, RaftError<NodeId>>> {
        match self.call(&Request::Vote(rpc), option.hard_ttl()).await {
            Ok(Response::Vote(Ok(response))) => Ok(response),
            Ok(Response::Vote(Err(err))) => {
                Err(RPCError::RemoteError(RemoteError::new(self.target, err)))
            }
            Ok(_) => Err(Self::rpc_error(CallError::Unexpected {
                addr: self.addr.clone(),
            })),
            Err(err) => Err(Self::rpc_error(err)),
        }
    }

    fn backoff(&self) -> Backoff {
        Backoff::new(std::iter::repeat(self.backoff_interval))
    }
}
