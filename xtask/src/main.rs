use std::process::ExitCode;

use clap::Parser;
use xshell::Shell;
use xtask::flags::{Cli, Command};
use xtask::paths;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = Shell::new().map_err(anyhow::Error::from).and_then(|sh| {
        sh.change_dir(paths::root());
        match cli.command {
            Command::Build(cmd) => cmd.run(&sh),
            Command::Stage(cmd) => cmd.run(&sh),
            Command::Dist(cmd) => cmd.run(&sh),
            Command::Verify(cmd) => cmd.run(&sh),
            Command::Merge(cmd) => cmd.run(&sh),
            Command::Install(cmd) => cmd.run(&sh, false),
            Command::Update(cmd) => cmd.run(&sh, true),
            Command::Dev(cmd) => cmd.run(&sh),
            Command::Doctor(cmd) => cmd.run(&sh),
            Command::Setup(cmd) => cmd.run(&sh),
            Command::Bench(cmd) => cmd.run(&sh),
            Command::Codegen(cmd) => cmd.run(&sh),
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
