//! HTTP(S) downloads through the system's `curl` (on macOS, on Windows 10+ as curl.exe,
//! on every Linux dev machine): it honours HTTPS_PROXY/NO_PROXY and uses the system's root
//! certificates, and costs no build time, where an HTTP crate with TLS costs many seconds
//! of every cold build of the xtask.
//!
//! Redirects are followed here, hop by hop, so the rule "HTTPS only, plain HTTP only to
//! loopback hosts (tests, local mirrors)" holds for every hop. curl's exit codes become
//! one sentence each. A leaf: depends on nothing else in the crate.

use crate::cmd::{Cmd, Output};
use std::ffi::OsString;
use std::fs::{self, File};
use std::sync::OnceLock;

use anyhow::{bail, Result};
use camino::Utf8Path;

/// How patient one transfer is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Patience {
    /// curl's `--retry`: 5xx (500/502/503/504, 408, 429) and timeouts, with exponential backoff.
    pub retries: u32,
    pub connect_timeout_secs: u32,
    /// A transfer slower than 1 byte/s for this long counts as a timeout (and is retried).
    pub stall_secs: u32,
}

/// The host of an `http://` or `https://` URL (brackets kept for IPv6), else `None`.
pub fn host(url: &str) -> Option<&str> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))?;
    let authority = rest.split(['/', '?', '#']).next()?;
    let hostport = authority.rsplit('@').next()?;
    let host = if hostport.starts_with('[') {
        &hostport[..=hostport.find(']')?]
    } else {
        hostport.split(':').next()?
    };
    (!host.is_empty()).then_some(host)
}

pub fn is_loopback(host: &str) -> bool {
    let h = host.to_ascii_lowercase();
    h == "localhost"
        || h == "[::1]"
        || h.strip_prefix("127.").is_some_and(|r| {
            r.split('.').count() == 3 && r.split('.').all(|o| o.parse::<u8>().is_ok())
        })
}

/// HTTPS everywhere; plain HTTP only to this machine (tests, a local mirror).
fn check_url(url: &str) -> Result<bool> {
    let Some(h) = host(url) else {
        bail!("`{url}` is not an https:// URL");
    };
    let loopback = is_loopback(h);
    if url.starts_with("http://") && !loopback {
        bail!("`{url}` is not HTTPS; plain HTTP is allowed only for loopback hosts (127.0.0.0/8, ::1, localhost)");
    }
    Ok(loopback)
}

const MAX_REDIRECTS: usize = 10;

/// Downloads `url` to `to`, following redirects while each hop passes [`check_url`].
/// Returns the size. Every failure is one sentence about the URL.
pub fn download(url: &str, to: &Utf8Path, limit: u64, opts: &Patience) -> Result<u64> {
    let mut url = url.to_owned();
    for _ in 0..=MAX_REDIRECTS {
        let loopback = check_url(&url)?;
        let out = run_curl(curl_args(&url, to, opts, limit, loopback))?;
        let report = &out.stdout;
        let mut w = report.trim().splitn(3, ' ');
        let code: u16 = w.next().and_then(|c| c.parse().ok()).unwrap_or(0);
        let size: u64 = w.next().and_then(|c| c.parse().ok()).unwrap_or(0);
        let redirect = w.next().unwrap_or("").trim().to_owned();
        let exit = out.status.code().unwrap_or(-1);
        if exit != 0 {
            bail!(
                "{}",
                curl_failure(exit, code, limit, opts, out.stderr.trim())
            );
        }
        match code {
            200..=299 => {
                // curl creates no file for an empty body.
                if !to.exists() {
                    File::create(to)?;
                }
                let actual = fs::metadata(to)?.len();
                if actual != size {
                    bail!("download truncated: curl reported {size} bytes, {actual} arrived");
                }
                if actual > limit {
                    bail!("download exceeds the limit of {limit} bytes (XTASK_VENDOR_MAX_BYTES raises it)");
                }
                return Ok(actual);
            }
            300..=399 if !redirect.is_empty() => {
                if let Err(e) = check_url(&redirect) {
                    bail!("redirected to {redirect}, refused: {e:#}");
                }
                url = redirect;
            }
            _ => bail!("unexpected HTTP status {code}"),
        }
    }
    bail!("more than {MAX_REDIRECTS} redirects")
}

/// curl's argv for one hop (no `--location`: [`download`] follows redirects itself).
fn curl_args(url: &str, to: &Utf8Path, o: &Patience, limit: u64, loopback: bool) -> Vec<OsString> {
    let mut a: Vec<String> = vec![
        // Ignore ~/.curlrc: an `insecure` or `location` there would undo the rules here.
        "-q".into(),
        "--silent".into(),
        "--show-error".into(),
        "--fail".into(),
        "--proto".into(),
        if loopback { "=http,https" } else { "=https" }.into(),
        "--max-filesize".into(),
        limit.to_string(),
        "--retry".into(),
        o.retries.to_string(),
        "--retry-max-time".into(),
        "300".into(),
        "--connect-timeout".into(),
        o.connect_timeout_secs.to_string(),
        "--speed-limit".into(),
        "1".into(),
        "--speed-time".into(),
        o.stall_secs.to_string(),
        "--output".into(),
        to.to_string(),
        "--write-out".into(),
        "%{http_code} %{size_download} %{redirect_url}".into(),
    ];
    if loopback {
        // A local mirror never goes through the corporate proxy.
        a.extend(["--noproxy".into(), "*".into()]);
    }
    a.extend(["--".into(), url.into()]);
    a.into_iter().map(OsString::from).collect()
}

/// The one place the vendor modules start a process (through the crate's one runner).
fn run_curl(args: Vec<OsString>) -> Result<Output> {
    let args = args.into_iter().map(|a| a.to_string_lossy().into_owned());
    Cmd::new("curl", args).output()
}

fn curl_failure(exit: i32, code: u16, limit: u64, o: &Patience, stderr: &str) -> String {
    let tries = o.retries + 1;
    match exit {
        22 if code == 404 => "HTTP 404 (not found): check the version and the URL template".into(),
        22 if code >= 500 => format!("HTTP {code} (server error), {tries} attempt(s) with backoff"),
        22 => format!("HTTP {code}"),
        63 => format!("download exceeds the limit of {limit} bytes (XTASK_VENDOR_MAX_BYTES raises it)"),
        18 => "download truncated: the server closed the connection before the announced size (curl exit 18)".into(),
        28 => format!("timed out, {tries} attempt(s) with backoff ({stderr})"),
        6 => format!("cannot resolve the host ({stderr}); behind a proxy, set HTTPS_PROXY"),
        7 => format!("cannot connect ({stderr})"),
        35 | 51 | 53 | 54 | 58 | 59 | 60 | 66 | 77 | 80 | 82 | 83 | 90 | 91 => {
            format!("TLS failed (curl exit {exit}: {stderr}); the system's root certificates are used")
        }
        1 => format!("protocol refused (curl exit 1: {stderr})"),
        _ => format!("curl exit {exit}: {stderr}"),
    }
}

/// Fails once per process, with an install hint, when `curl` cannot run.
pub fn ensure_curl() -> Result<()> {
    static VERSION: OnceLock<Result<String, String>> = OnceLock::new();
    let v = VERSION.get_or_init(|| {
        match run_curl(vec!["--version".into()]) {
            Ok(o) if o.status.success() => Ok(o
                .stdout
                .lines()
                .next()
                .unwrap_or("")
                .to_owned()),
            _ => Err("`curl` is needed to download vendored binaries but does not run; install it \
                      (apt-get install curl, dnf install curl; it ships with macOS and Windows 10+)"
                .to_owned()),
        }
    });
    v.as_ref().map(|_| ()).map_err(|e| anyhow::anyhow!("{e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_and_loopback() {
        assert_eq!(host("https://dl.k8s.io/release"), Some("dl.k8s.io"));
        assert_eq!(host("http://127.0.0.1:8080/x"), Some("127.0.0.1"));
        assert_eq!(host("http://u:p@[::1]:80/x"), Some("[::1]"));
        assert_eq!(host("ftp://x/y"), None);
        assert!(is_loopback("127.9.8.7") && is_loopback("LOCALHOST") && is_loopback("[::1]"));
        assert!(!is_loopback("127.0.0.1.evil.com") && !is_loopback("10.0.0.1"));
        assert!(check_url("http://127.0.0.1:1/x").unwrap());
        assert!(!check_url("https://get.helm.sh/x").unwrap());
        let e = check_url("http://get.helm.sh/x").unwrap_err().to_string();
        assert!(
            e.contains("not HTTPS; plain HTTP is allowed only for loopback hosts"),
            "{e}"
        );
    }

    #[test]
    fn https_only_except_loopback_in_curl_args() {
        let o = Patience {
            retries: 3,
            connect_timeout_secs: 30,
            stall_secs: 60,
        };
        let args = |l| {
            curl_args("u", Utf8Path::new("t"), &o, 9, l)
                .into_iter()
                .map(|a| a.into_string().unwrap())
                .collect::<Vec<_>>()
                .join(" ")
        };
        assert!(args(false).contains("--proto =https --max-filesize 9"));
        assert!(!args(false).contains("--noproxy") && !args(false).contains("--location"));
        assert!(args(true).contains("--proto =http,https") && args(true).contains("--noproxy *"));
    }
}
