//! Starts the admin HTTP server on a running appliance's state.

use crate::admin::appliance::{ApplianceBackend, Live};
use crate::config::Config;
use crate::metrics::Metrics;
use crate::pipeline::admin_ring::AdminSubmitter;
use crate::pipeline::follower::FollowerState;
use anyhow::Context;
use crossline_journal::Watermarks;
use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

pub type MarketState = FollowerState<crate::admin::market::MarketView>;

/// What GET /health says of this node's place: its role, and the cluster's status when clustered.
pub struct NodeView {
    pub role: Live<String>,
    pub cluster: Option<Live<serde_json::Value>>,
    pub query: Option<Arc<crate::query::QueryLag>>,
}

/// How long a POST waits for the engine to apply its command.
const SUBMIT_TIMEOUT: Duration = Duration::from_secs(5);

/// Starts the admin HTTP server on `config.admin.listen`; it stops when `stop` is set.
pub fn start(
    config: &Config,
    metrics: Arc<Metrics>,
    follower: Arc<Mutex<MarketState>>,
    submitter: Arc<AdminSubmitter>,
    watermarks: Arc<Watermarks>,
    node: NodeView,
    stop: Arc<AtomicBool>,
) -> anyhow::Result<Option<(SocketAddr, JoinHandle<()>)>> {
    let listener = TcpListener::bind(config.admin.listen)
        .with_context(|| format!("binding the admin HTTP server on {}", config.admin.listen))?;
    let addr = listener.local_addr().context("admin address")?;
    let backend = Arc::new(ApplianceBackend {
        role: node.role,
        cluster: node.cluster,
        query: node.query,
        metrics,
        follower,
        submitter,
        watermarks,
        submit_timeout: SUBMIT_TIMEOUT,
    });
    let handle = crate::admin::http::spawn(listener, config.admin.token.clone(), backend, stop)
        .context("starting the admin HTTP server")?;
    Ok(Some((addr, handle)))
}
