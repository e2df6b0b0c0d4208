use std::process::ExitCode;

use xtask::flags::{Cli, Command};
use xtask::paths;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = paths::check_checkout(&[env!("CARGO_MANIFEST_DIR"), xtask_vendor::MANIFEST_DIR])
        .and_then(|()| match cli.command {
            Command::Build(cmd) => cmd.run(),
            Command::Stage(cmd) => cmd.run(),
            Command::Dist(cmd) => cmd.run(),
            Command::Verify(cmd) => cmd.run(),
            Command::Merge(cmd) => cmd.run(),
            Command::Install(cmd) => cmd.run(false),
            Command::Update(cmd) => cmd.run(true),
            Command::Dev(cmd) => cmd.run(),
            Command::Doctor(cmd) => cmd.run(),
            Command::Setup(cmd) => cmd.run(),
            Command::Bench(cmd) => cmd.run(),
            Command::Codegen(cmd) => cmd.run(),
            Command::Vendor(cmd) => cmd.run(),
            Command::Release(cmd) => cmd.run(),
            Command::Screenshots(cmd) => cmd.run(),
        });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
