//! The rig's modes, one file each. A mode generates or loads its flow, measures it, and returns a `Report`.

pub mod cluster_spawn;
pub mod codec;
pub mod echo;
pub mod echo_io;
pub mod engine;
pub mod failover;
pub mod feed_send;
pub mod journal;
pub mod pipeline;
pub mod query;
pub mod replication;
pub mod restart;
pub mod wire;
