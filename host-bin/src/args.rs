//! Command-line parsing into [`Command`], kept free of I/O so every error case is unit-testable.

use std::ffi::OsString;
use std::fmt;

/// What the user asked for; the ports are already validated and deduplicated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Help,
    Version,
    Info,
    PortCheck(Vec<u16>),
}

/// A mistake in the command line: reported as JSON on stderr with exit code 2.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageError(pub String);

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

const SUBCOMMANDS: &str = "'info' or 'port-check'";
const PORT_RANGE: &str = "an integer from 1 to 65535";

/// Parses the arguments that follow the program name.
pub fn parse<I>(args: I) -> Result<Command, UsageError>
where
    I: IntoIterator<Item = OsString>,
{
    // `std::env::args` would panic on non-UTF-8 input; reject it as a usage error instead.
    let args = args
        .into_iter()
        .map(|arg| {
            arg.into_string().map_err(|bad| {
                UsageError(format!(
                    "argument '{}' is not valid UTF-8",
                    bad.to_string_lossy()
                ))
            })
        })
        .collect::<Result<Vec<String>, UsageError>>()?;

    // Help wins wherever it appears, so `host-bin port-check --help` helps instead of
    // complaining that `--help` is not a port.
    if args.iter().any(|a| a == "-h" || a == "--help") {
        return Ok(Command::Help);
    }

    let Some((first, rest)) = args.split_first() else {
        return Err(UsageError(format!(
            "missing subcommand: expected {SUBCOMMANDS} (see --help)"
        )));
    };

    match first.as_str() {
        "-V" | "--version" => {
            no_extra_arguments(first, rest)?;
            Ok(Command::Version)
        }
        "info" => {
            no_extra_arguments(first, rest)?;
            Ok(Command::Info)
        }
        "port-check" => parse_ports(rest).map(Command::PortCheck),
        other if other.starts_with('-') => Err(UsageError(format!(
            "unknown option '{other}': expected {SUBCOMMANDS}, --help or --version"
        ))),
        other => Err(UsageError(format!(
            "unknown subcommand '{other}': expected {SUBCOMMANDS} (see --help)"
        ))),
    }
}

fn no_extra_arguments(command: &str, rest: &[String]) -> Result<(), UsageError> {
    match rest.first() {
        None => Ok(()),
        Some(extra) => Err(UsageError(format!(
            "unexpected argument '{extra}': '{command}' takes no arguments"
        ))),
    }
}

/// Duplicates are dropped (first occurrence keeps its place): checking a port twice
/// would only repeat the same answer, and the UI can index results by port.
fn parse_ports(raw: &[String]) -> Result<Vec<u16>, UsageError> {
    if raw.is_empty() {
        return Err(UsageError(format!(
            "missing argument: 'port-check' expects at least one TCP port, {PORT_RANGE}"
        )));
    }
    let mut ports: Vec<u16> = Vec::with_capacity(raw.len());
    for arg in raw {
        let port = parse_port(arg)?;
        if !ports.contains(&port) {
            ports.push(port);
        }
    }
    Ok(ports)
}

fn parse_port(arg: &str) -> Result<u16, UsageError> {
    // Digits only: `str::parse` would also accept a leading '+', which is not a port number.
    let valid = !arg.is_empty() && arg.bytes().all(|b| b.is_ascii_digit());
    valid
        .then(|| arg.parse::<u16>().ok())
        .flatten()
        .filter(|&port| port != 0)
        .ok_or_else(|| UsageError(format!("invalid port '{arg}': expected {PORT_RANGE}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_strs(args: &[&str]) -> Result<Command, UsageError> {
        parse(args.iter().map(OsString::from))
    }

    fn error_of(args: &[&str]) -> String {
        match parse_strs(args) {
            Err(UsageError(message)) => message,
            Ok(command) => panic!("{args:?} parsed as {command:?}, expected an error"),
        }
    }

    #[test]
    fn subcommands() {
        assert_eq!(parse_strs(&["info"]), Ok(Command::Info));
        assert_eq!(
            parse_strs(&["port-check", "8080", "22"]),
            Ok(Command::PortCheck(vec![8080, 22]))
        );
    }

    #[test]
    fn help_and_version_flags() {
        for flag in ["-h", "--help"] {
            assert_eq!(parse_strs(&[flag]), Ok(Command::Help));
            assert_eq!(parse_strs(&["port-check", flag]), Ok(Command::Help));
            assert_eq!(parse_strs(&["info", "junk", flag]), Ok(Command::Help));
        }
        for flag in ["-V", "--version"] {
            assert_eq!(parse_strs(&[flag]), Ok(Command::Version));
        }
    }

    #[test]
    fn port_bounds_are_inclusive() {
        assert_eq!(
            parse_strs(&["port-check", "1", "65535"]),
            Ok(Command::PortCheck(vec![1, 65535]))
        );
    }

    #[test]
    fn leading_zeros_are_accepted() {
        assert_eq!(
            parse_strs(&["port-check", "0080"]),
            Ok(Command::PortCheck(vec![80]))
        );
    }

    #[test]
    fn duplicate_ports_are_dropped_keeping_first_order() {
        assert_eq!(
            parse_strs(&["port-check", "80", "443", "80", "22", "443"]),
            Ok(Command::PortCheck(vec![80, 443, 22]))
        );
    }

    #[test]
    fn missing_subcommand() {
        let message = error_of(&[]);
        assert!(message.starts_with("missing subcommand"), "{message}");
        assert!(message.contains("port-check"), "{message}");
    }

    #[test]
    fn unknown_subcommand_is_named() {
        assert_eq!(
            error_of(&["frobnicate"]),
            "unknown subcommand 'frobnicate': expected 'info' or 'port-check' (see --help)"
        );
    }

    #[test]
    fn unknown_option_is_named() {
        assert_eq!(
            error_of(&["--verbose"]),
            "unknown option '--verbose': expected 'info' or 'port-check', --help or --version"
        );
    }

    #[test]
    fn extra_arguments_are_rejected() {
        assert_eq!(
            error_of(&["info", "now"]),
            "unexpected argument 'now': 'info' takes no arguments"
        );
        assert_eq!(
            error_of(&["--version", "2"]),
            "unexpected argument '2': '--version' takes no arguments"
        );
    }

    #[test]
    fn port_check_needs_a_port() {
        assert_eq!(
            error_of(&["port-check"]),
            "missing argument: 'port-check' expects at least one TCP port, \
             an integer from 1 to 65535"
        );
    }

    #[test]
    fn bad_ports_are_named() {
        let bad = [
            "abc",
            "0",
            "00",
            "70000",
            "65536",
            "-1",
            "+80",
            "8080.0",
            " 80",
            "",
            "1e3",
            "99999999999999999999999",
        ];
        for arg in bad {
            assert_eq!(
                error_of(&["port-check", "80", arg]),
                format!("invalid port '{arg}': expected an integer from 1 to 65535"),
                "argument {arg:?}"
            );
        }
    }

    #[cfg(unix)]
    #[test]
    fn non_utf8_argument_is_a_usage_error_not_a_panic() {
        use std::os::unix::ffi::OsStringExt;
        let bad = OsString::from_vec(vec![b'8', 0xff]);
        let result = parse([OsString::from("port-check"), bad]);
        assert_eq!(
            result,
            Err(UsageError(
                "argument '8\u{fffd}' is not valid UTF-8".to_string()
            ))
        );
    }
}
