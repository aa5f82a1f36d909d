//! `passcom`: run an airline peer, the local demo network, client and admin commands,
//! simulations and benchmarks.
//!
//! Each subcommand lives in its own module; this file only parses and dispatches.

mod bench;
mod client;
mod peer;
mod simulate;

use clap::{CommandFactory, Parser, Subcommand};
use std::process::ExitCode;

/// Passcom sells airline tickets over a peer-to-peer network of airlines, and never sells a
/// seat twice.
#[derive(Parser)]
#[command(name = "passcom", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run one airline peer until Ctrl-C.
    Peer(peer::PeerArgs),
    /// Print the peer id of the identity in a data folder (for a closed roster, `--roster`).
    #[command(
        after_help = "Example:\n  echo \"rumos $(passcom peer-id --data ./data/rumos)\" >> roster.txt"
    )]
    PeerId(peer::PeerIdArgs),
    /// Write the closed roster of a network whose data folders are all here (identities are
    /// created where missing); an existing roster that says the same is kept.
    #[command(
        after_help = "Example:\n  passcom roster --out roster.txt rumos=data/rumos giro=data/giro boreal=data/boreal"
    )]
    Roster(peer::RosterArgs),
    /// Start the three-airline demo network locally (rumos, giro, boreal) and print its URLs.
    Demo(peer::DemoArgs),
    /// Join the network as a plain gossip subscriber and print every event as a JSON line.
    Watch(peer::WatchArgs),
    /// Run deterministic partition simulations that hunt for a double sale.
    Simulate(simulate::SimulateArgs),
    /// Measure throughput and latency, each next to its reference, and print the report.
    Bench(bench::BenchArgs),
    /// Print the shell completion script for SHELL on stdout.
    #[command(
        after_help = "Example: passcom completions bash > ~/.local/share/bash-completion/completions/passcom"
    )]
    Completions {
        /// The shell to complete in.
        shell: clap_complete::Shell,
    },
    /// Client and admin commands against a running peer's HTTP API.
    #[command(flatten)]
    Client(client::ClientCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Peer(args) => peer::run_peer(args),
        Command::PeerId(args) => peer::run_peer_id(args),
        Command::Roster(args) => peer::run_roster(args),
        Command::Demo(args) => peer::run_demo(args),
        Command::Watch(args) => peer::run_watch(args),
        Command::Simulate(args) => simulate::run(args),
        Command::Bench(args) => bench::run(args),
        Command::Completions { shell } => {
            clap_complete::generate(
                shell,
                &mut Cli::command(),
                "passcom",
                &mut std::io::stdout(),
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Client(cmd) => client::run(cmd),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("passcom: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }
}
