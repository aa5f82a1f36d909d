//! `passcom peer`, `passcom demo` and `passcom watch` (owned by the network work).

use std::process::ExitCode;

/// Arguments of `passcom peer`.
#[derive(clap::Args)]
pub struct PeerArgs {}

/// Arguments of `passcom demo`.
#[derive(clap::Args)]
pub struct DemoArgs {}

/// Arguments of `passcom watch`.
#[derive(clap::Args)]
pub struct WatchArgs {}

/// Runs one peer until Ctrl-C.
pub fn run_peer(_args: PeerArgs) -> Result<ExitCode, String> {
    Err("not built yet".into())
}

/// Runs the local demo network.
pub fn run_demo(_args: DemoArgs) -> Result<ExitCode, String> {
    Err("not built yet".into())
}

/// Prints gossip events as JSON lines.
pub fn run_watch(_args: WatchArgs) -> Result<ExitCode, String> {
    Err("not built yet".into())
}
