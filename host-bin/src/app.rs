//! Dispatch and output, with the streams injected so the whole CLI contract is unit-testable.

use std::ffi::OsString;
use std::io::Write;

use crate::json::Json;

use crate::args::{self, Command};
use crate::info::HostInfo;
use crate::ports;

pub const EXIT_OK: u8 = 0;
pub const EXIT_FAILURE: u8 = 1;
pub const EXIT_USAGE: u8 = 2;

const VERSION: &str = env!("CARGO_PKG_VERSION");

pub fn usage() -> String {
    format!(
        "\
host-bin {VERSION}
Host-side helper of the Docker Desktop extension: reports what Docker Desktop's VM
cannot see about the user's machine.

Usage:
  host-bin info                Print host facts as one JSON object:
                               {{\"os\",\"family\",\"arch\",\"hostname\",\"cpus\",\"version\"}}
  host-bin port-check PORT...  Report whether each TCP port (1-65535) can be bound on
                               0.0.0.0: {{\"ports\":[{{\"port\",\"free\"[,\"reason\"]}}]}}
                               Duplicate ports are checked once, in first-seen order.
  host-bin -h, --help          Print this help
  host-bin -V, --version       Print the version

Results are one line of JSON on stdout. Errors are one line {{\"error\":\"...\"}} on
stderr, with exit code 2 for usage errors and 1 for runtime failures.
"
    )
}

/// Runs the CLI for `args` (without the program name) and returns the process exit code.
pub fn run<I>(args: I, stdout: &mut dyn Write, stderr: &mut dyn Write) -> u8
where
    I: IntoIterator<Item = OsString>,
{
    let command = match args::parse(args) {
        Ok(command) => command,
        Err(err) => {
            report_error(stderr, &err.to_string());
            return EXIT_USAGE;
        }
    };

    let output = match command {
        Command::Help => usage(),
        Command::Version => format!("host-bin {VERSION}\n"),
        Command::Info => json_line(&HostInfo::current().to_json()),
        Command::PortCheck(port_list) => {
            json_line(&ports::report_json(&ports::check_ports(&port_list)))
        }
    };

    // A closed pipe must not panic (as `println!` would); tell the caller it lost the output.
    match stdout
        .write_all(output.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Ok(()) => EXIT_OK,
        Err(err) => {
            report_error(stderr, &format!("cannot write to stdout: {err}"));
            EXIT_FAILURE
        }
    }
}

fn json_line(value: &Json) -> String {
    format!("{value}\n")
}

fn report_error(stderr: &mut dyn Write, message: &str) {
    // Nowhere left to report a failing stderr; the exit code still tells the story.
    let error = Json::Obj(vec![("error", Json::str(message))]);
    let _ = stderr.write_all(json_line(&error).as_bytes());
    let _ = stderr.flush();
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};
    use std::io;

    struct Outcome {
        code: u8,
        stdout: String,
        stderr: String,
    }

    fn run_strs(args: &[&str]) -> Outcome {
        let mut stdout = Vec::new();
        let mut stderr = Vec::new();
        let code = run(args.iter().map(OsString::from), &mut stdout, &mut stderr);
        Outcome {
            code,
            stdout: String::from_utf8(stdout).unwrap(),
            stderr: String::from_utf8(stderr).unwrap(),
        }
    }

    fn single_json_line(text: &str) -> Value {
        let line = text
            .strip_suffix('\n')
            .unwrap_or_else(|| panic!("missing trailing newline: {text:?}"));
        assert!(!line.contains('\n'), "more than one line: {text:?}");
        serde_json::from_str(line).unwrap()
    }

    #[test]
    fn info_is_one_json_line() {
        let out = run_strs(&["info"]);
        assert_eq!(out.code, EXIT_OK);
        assert_eq!(out.stderr, "");
        let info = single_json_line(&out.stdout);
        assert_eq!(info["version"], VERSION);
        assert!(info["cpus"].is_u64());
    }

    #[test]
    fn port_check_is_one_json_line() {
        let out = run_strs(&["port-check", "65535"]);
        assert_eq!(out.code, EXIT_OK);
        let report = single_json_line(&out.stdout);
        assert_eq!(report["ports"][0]["port"], 65535);
        assert!(report["ports"][0]["free"].is_boolean());
    }

    #[test]
    fn usage_error_is_json_on_stderr_with_code_2() {
        let out = run_strs(&["port-check", "abc"]);
        assert_eq!(out.code, EXIT_USAGE);
        assert_eq!(out.stdout, "");
        assert_eq!(
            single_json_line(&out.stderr),
            json!({ "error": "invalid port 'abc': expected an integer from 1 to 65535" })
        );
    }

    #[test]
    fn help_and_version_go_to_stdout() {
        let help = run_strs(&["--help"]);
        assert_eq!((help.code, help.stderr.as_str()), (EXIT_OK, ""));
        assert_eq!(help.stdout, usage());
        assert!(help.stdout.contains("port-check PORT..."));

        let version = run_strs(&["-V"]);
        assert_eq!(version.code, EXIT_OK);
        assert_eq!(version.stdout, format!("host-bin {VERSION}\n"));
    }

    struct BrokenPipe;

    impl Write for BrokenPipe {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(io::Error::from(io::ErrorKind::BrokenPipe))
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn unwritable_stdout_is_a_runtime_failure() {
        let mut stderr = Vec::new();
        let code = run([OsString::from("info")], &mut BrokenPipe, &mut stderr);
        assert_eq!(code, EXIT_FAILURE);
        let error = single_json_line(std::str::from_utf8(&stderr).unwrap());
        let message = error["error"].as_str().unwrap();
        assert!(message.starts_with("cannot write to stdout: "), "{message}");
    }
}
