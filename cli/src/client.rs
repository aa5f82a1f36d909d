//! Client and admin commands against a peer's HTTP API (owned by the API work).

use std::process::ExitCode;

/// Client subcommands.
#[derive(clap::Subcommand)]
pub enum ClientCommand {
    /// Show the peer's status.
    Status,
}

/// Runs a client command.
pub fn run(_cmd: ClientCommand) -> Result<ExitCode, String> {
    Err("not built yet".into())
}
