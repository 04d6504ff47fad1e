//! `crossline cluster status`: this node's view of its cluster (role, Raft state, leader, term, committed seq,
//! each peer's health), read from the node's GET /health.

use crate::config::Config;
use anyhow::Context;
use serde_json::Value;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(2);

/// Fetches GET /health from the admin server at `admin`.
fn fetch_health(admin: SocketAddr) -> anyhow::Result<Value> {
    let mut stream = TcpStream::connect_timeout(&admin, TIMEOUT)
        .with_context(|| format!("connecting to the admin server at {admin}"))?;
    stream.set_read_timeout(Some(TIMEOUT))?;
    stream.set_write_timeout(Some(TIMEOUT))?;
    write!(
        stream,
        "GET /health HTTP/1.1\r\nHost: {admin}\r\nConnection: close\r\n\r\n"
    )?;
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .context("reading the answer to GET /health")?;
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, body)| body)
        .context("an HTTP answer without a body")?;
    serde_json::from_str(body).context("GET /health did not answer JSON")
}

/// Prints the status; exit code 0 when the node answered and is clustered, 1 when it runs standalone.
pub fn status(config: &Config, admin: Option<SocketAddr>, json: bool) -> anyhow::Result<i32> {
    let admin = admin.unwrap_or(config.admin.listen);
    let health = fetch_health(admin)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&health)?);
        return Ok(i32::from(health["cluster"].is_null()));
    }
    let role = health["role"].as_str().unwrap_or("?");
    let cluster = &health["cluster"];
    if cluster.is_null() {
        println!(
            "{admin}: a standalone node (role {role}, seq {})",
            health["engine_seq"]
        );
        return Ok(1);
    }
    let optional = |value: &Value| {
        if value.is_null() {
            String::from("none")
        } else {
            value.to_string()
        }
    };
    println!(
        "node {} ({role}): raft {} term {}, leader {}, committed seq {}, journal written seq {}, \
         engine seq {}, state hash {}",
        cluster["node_id"],
        cluster["state"].as_str().unwrap_or("?"),
        cluster["term"],
        optional(&cluster["leader"]),
        cluster["committed_seq"],
        cluster["journal_written_seq"],
        health["engine_seq"],
        health["state_hash"].as_str().unwrap_or("?"),
    );
    println!(
        "members: voters {}, learners {}",
        cluster["voters"], cluster["learners"]
    );
    for peer in cluster["peers"].as_array().into_iter().flatten() {
        println!(
            "peer {} at {}: {} (active {} passes/{} fails in a row, last rtt {} us, {} ms ago; passive \
             failures in window {}{}){}",
            peer["id"],
            peer["addr"].as_str().unwrap_or("?"),
            if peer["healthy"].as_bool() == Some(true) {
                "healthy"
            } else {
                "UNHEALTHY"
            },
            peer["consecutive_passes"],
            peer["consecutive_fails"],
            optional(&peer["last_rtt_us"]),
            optional(&peer["last_check_ms_ago"]),
            peer["passive_failures_in_window"],
            if peer["passive_tripped"].as_bool() == Some(true) {
                ", tripped"
            } else {
                ""
            },
            peer["last_error"]
                .as_str()
                .map_or(String::new(), |error| format!("; last error: {error}")),
        );
    }
    Ok(0)
}
