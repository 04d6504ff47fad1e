//! `crossline config`: the commented example, checking a file, hashing a password.

use crate::config::{Config, DEFAULT_TOML};
use std::io::BufRead;
use std::path::Path;

/// The configuration `serve` runs on: the file given, or the embedded default.
pub fn load(path: Option<&Path>) -> anyhow::Result<Config> {
    Ok(match path {
        Some(path) => Config::load(path)?,
        None => Config::embedded()?,
    })
}

pub fn example() -> anyhow::Result<i32> {
    print!("{DEFAULT_TOML}");
    Ok(0)
}

pub fn check(path: &Path) -> anyhow::Result<i32> {
    match Config::load(path) {
        Ok(config) => {
            println!(
                "{}: ok ({} instruments, {} accounts, {} users)",
                path.display(),
                config.instruments.len(),
                config.accounts.len(),
                config.users.len()
            );
            Ok(0)
        }
        Err(error) => {
            println!("{error}");
            Ok(1)
        }
    }
}

pub fn hash_password() -> anyhow::Result<i32> {
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    let password = line.trim_end_matches(['\r', '\n']);
    let hash = crossline_net::session::hash_password(password)
        .map_err(|error| anyhow::anyhow!("{error}"))?;
    println!("{hash}");
    Ok(0)
}
