//! Host binary of the extension; the CLI contract lives in `app`, see `host-bin --help`.

mod app;
mod args;
mod info;
mod json;
mod ports;

use std::io;
use std::process::ExitCode;

fn main() -> ExitCode {
    let code = app::run(
        std::env::args_os().skip(1),
        &mut io::stdout().lock(),
        &mut io::stderr().lock(),
    );
    ExitCode::from(code)
}
