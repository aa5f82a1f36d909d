//! `passcom simulate` (owned by the simulation work).

use std::process::ExitCode;

/// Arguments of `passcom simulate`.
#[derive(clap::Args)]
pub struct SimulateArgs {}

/// Runs simulations.
pub fn run(_args: SimulateArgs) -> Result<ExitCode, String> {
    Err("not built yet".into())
}
