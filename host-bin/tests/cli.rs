//! Runs the real binary, because the UI depends on the process contract (streams, exit
//! codes, one JSON line) and not on the Rust functions behind it.

use std::net::{Ipv4Addr, TcpListener};
use std::process::{Command, Output};

use serde_json::{json, Value};

fn host_bin(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_host-bin"))
        .args(args)
        .output()
        .expect("run host-bin")
}

fn single_json_line(bytes: &[u8]) -> Value {
    let text = std::str::from_utf8(bytes).expect("UTF-8 output");
    let line = text
        .strip_suffix('\n')
        .unwrap_or_else(|| panic!("missing trailing newline: {text:?}"));
    assert!(!line.contains('\n'), "more than one line: {text:?}");
    serde_json::from_str(line).unwrap_or_else(|err| panic!("not JSON ({err}): {line:?}"))
}

fn assert_usage_error(args: &[&str], expected_message: &str) {
    let out = host_bin(args);
    assert_eq!(out.status.code(), Some(2), "exit code of {args:?}");
    assert!(out.stdout.is_empty(), "stdout of {args:?} should be empty");
    assert_eq!(
        single_json_line(&out.stderr),
        json!({ "error": expected_message }),
        "stderr of {args:?}"
    );
}

/// 0.0.0.0, like host-bin itself: see `ports::tests::listen_on_any_port`.
fn listen_on_any_port() -> TcpListener {
    TcpListener::bind((Ipv4Addr::UNSPECIFIED, 0)).expect("bind an ephemeral port")
}

#[test]
fn info_prints_host_facts() {
    let out = host_bin(&["info"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(out.stderr.is_empty());

    let info = single_json_line(&out.stdout);
    assert_eq!(info["os"], std::env::consts::OS);
    assert_eq!(info["family"], std::env::consts::FAMILY);
    assert_eq!(info["arch"], std::env::consts::ARCH);
    assert_eq!(info["version"], env!("CARGO_PKG_VERSION"));
    assert!(info["cpus"].as_u64().is_some_and(|n| n >= 1), "{info}");
    assert!(
        info["hostname"].as_str().is_some_and(|h| !h.is_empty()),
        "{info}"
    );
}

#[test]
fn port_check_reports_busy_and_free_ports() {
    let held = listen_on_any_port();
    let busy = held.local_addr().unwrap().port();
    let free = {
        let listener = listen_on_any_port();
        listener.local_addr().unwrap().port()
    };

    let out = host_bin(&["port-check", &free.to_string(), &busy.to_string()]);
    drop(held);

    assert_eq!(out.status.code(), Some(0));
    assert!(out.stderr.is_empty());
    let report = single_json_line(&out.stdout);
    let entries = report["ports"].as_array().expect("ports array");
    assert_eq!(entries.len(), 2, "{report}");
    assert_eq!(entries[0], json!({ "port": free, "free": true }));
    assert_eq!(entries[1]["port"], busy);
    assert_eq!(entries[1]["free"], false);
    assert!(
        entries[1]["reason"].as_str().is_some_and(|r| !r.is_empty()),
        "{report}"
    );
}

#[test]
fn port_check_deduplicates() {
    let out = host_bin(&["port-check", "65535", "65535"]);
    assert_eq!(out.status.code(), Some(0));
    let report = single_json_line(&out.stdout);
    assert_eq!(
        report["ports"].as_array().map(Vec::len),
        Some(1),
        "{report}"
    );
}

#[test]
fn bad_ports_are_usage_errors() {
    for bad in ["abc", "0", "70000", "-1"] {
        assert_usage_error(
            &["port-check", "8080", bad],
            &format!("invalid port '{bad}': expected an integer from 1 to 65535"),
        );
    }
}

#[test]
fn missing_arguments_are_usage_errors() {
    assert_usage_error(
        &[],
        "missing subcommand: expected 'info' or 'port-check' (see --help)",
    );
    assert_usage_error(
        &["port-check"],
        "missing argument: 'port-check' expects at least one TCP port, an integer from 1 to 65535",
    );
}

#[test]
fn unknown_subcommand_is_a_usage_error() {
    assert_usage_error(
        &["frobnicate"],
        "unknown subcommand 'frobnicate': expected 'info' or 'port-check' (see --help)",
    );
}

#[test]
fn help_prints_usage_and_succeeds() {
    for flag in ["--help", "-h"] {
        let out = host_bin(&[flag]);
        assert_eq!(out.status.code(), Some(0), "{flag}");
        assert!(out.stderr.is_empty());
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(text.starts_with("host-bin "), "{text}");
        assert!(text.contains("Usage:"), "{text}");
        assert!(text.contains("port-check PORT..."), "{text}");
    }
}

#[test]
fn version_prints_name_and_version() {
    for flag in ["--version", "-V"] {
        let out = host_bin(&[flag]);
        assert_eq!(out.status.code(), Some(0), "{flag}");
        assert_eq!(
            String::from_utf8(out.stdout).unwrap(),
            format!("host-bin {}\n", env!("CARGO_PKG_VERSION"))
        );
    }
}
