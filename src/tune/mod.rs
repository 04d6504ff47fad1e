//! `crossline tune`: what the host does to a latency-critical appliance. Today: the hiccup meter.

pub mod jitter;
