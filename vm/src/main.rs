//! The extension's VM service (Docker calls it the backend): Docker Desktop runs it from
//! the extension's own image inside its VM, with a directory mounted at
//! `/run/guest-services`, and the UI reaches it through `ddClient.extension.vm.service`.
//! It answers HTTP/1.1 on a Unix socket: `GET /health` and `GET /facts` (the VM's kernel,
//! OS, CPU, memory and uptime). See `vm-service --help`.
//!
//! Stack: tokio (current-thread runtime; `rt`, `net`, `signal`, `time`) + hyper 1 (`http1`,
//! `server`) + hyper-util's tokio adapter, chosen over axum after measuring both for this
//! service on the same machine (cold release build, scratch target directory, and the
//! static `x86_64-unknown-linux-musl` binary; numbers in README.md "The VM service"). Two
//! fixed routes need no router, and axum's extractors, tower layers and their crates
//! cost build time and size for nothing here. No `macros` feature either: a `poll_fn`
//! over the two signals replaces `select!` and keeps syn out of the tokio build.

// Off Linux this crate is a stub: the xtask builds the service in the same cargo
// invocation as the host binaries, and cargo builds every `--bin` for every `--target`
// of an invocation, so the macOS and Windows builds it cannot skip (never staged) cost
// one small link each, with none of the service's dependencies.
#![cfg_attr(not(target_os = "linux"), allow(dead_code, unused_imports))]

#[cfg(target_os = "linux")]
mod facts;
#[cfg(target_os = "linux")]
mod routes;
#[cfg(target_os = "linux")]
mod serve;
#[cfg(target_os = "linux")]
mod socket;
#[cfg(target_os = "linux")]
mod sys;

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

/// Where Docker Desktop's UI proxy looks for it: `/run/guest-services/` + the name in
/// `metadata.json` `vm.exposes.socket`.
const DEFAULT_SOCKET: &str = "/run/guest-services/host-facts.sock";

const HELP: &str = "\
vm-service: the Host Facts extension's service in Docker Desktop's VM

usage: vm-service [--socket PATH]

  --socket PATH  the Unix socket to serve HTTP/1.1 on
                 (default /run/guest-services/host-facts.sock)

GET /health -> {\"status\":\"ok\"}; GET /facts -> the VM's kernel, os, arch, machine,
cpus, memory_bytes, uptime_seconds and this service's version. Stops on SIGTERM/SIGINT.
";

#[cfg(not(target_os = "linux"))]
fn main() -> ExitCode {
    eprintln!("vm-service runs in Docker Desktop's Linux VM; this build is a stub");
    ExitCode::FAILURE
}

#[cfg(target_os = "linux")]
fn main() -> ExitCode {
    let socket = match parse_args(std::env::args_os().skip(1)) {
        Ok(Some(socket)) => socket,
        Ok(None) => return ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("vm-service: {e}\n\n{HELP}");
            return ExitCode::from(2);
        }
    };
    match serve::run(&socket) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("vm-service: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The socket path, or `None` when `--help`/`--version` was answered.
fn parse_args(mut args: impl Iterator<Item = OsString>) -> Result<Option<PathBuf>, String> {
    let mut socket = PathBuf::from(DEFAULT_SOCKET);
    while let Some(arg) = args.next() {
        match arg.to_str() {
            Some("--socket") => {
                let path = args.next().ok_or("--socket needs a PATH")?;
                if path.is_empty() {
                    return Err("--socket needs a PATH, got an empty one".into());
                }
                socket = PathBuf::from(path);
            }
            Some("--help" | "-h") => {
                print!("{HELP}");
                return Ok(None);
            }
            Some("--version" | "-V") => {
                println!("vm-service {}", env!("CARGO_PKG_VERSION"));
                return Ok(None);
            }
            _ => return Err(format!("unexpected argument {}", arg.to_string_lossy())),
        }
    }
    Ok(Some(socket))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Option<PathBuf>, String> {
        parse_args(args.iter().map(OsString::from))
    }

    #[test]
    fn socket_defaults_to_docker_desktops_path() {
        assert_eq!(parse(&[]).unwrap(), Some(PathBuf::from(DEFAULT_SOCKET)));
        assert_eq!(
            parse(&["--socket", "/tmp/x.sock"]).unwrap(),
            Some(PathBuf::from("/tmp/x.sock"))
        );
    }

    #[test]
    fn bad_arguments_are_named() {
        assert!(parse(&["--socket"])
            .unwrap_err()
            .contains("--socket needs a PATH"));
        assert!(parse(&["--port", "80"]).unwrap_err().contains("--port"));
    }
}
