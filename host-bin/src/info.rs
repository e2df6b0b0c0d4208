//! `host-bin info`: facts about the host that Docker Desktop's VM reports about itself instead.

use crate::json::Json;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostInfo {
    pub os: &'static str,
    pub family: &'static str,
    pub arch: &'static str,
    pub hostname: String,
    pub cpus: usize,
    pub version: &'static str,
}

impl HostInfo {
    pub fn current() -> Self {
        HostInfo {
            os: std::env::consts::OS,
            family: std::env::consts::FAMILY,
            arch: std::env::consts::ARCH,
            hostname: hostname(),
            // The count only informs the UI; a guess of 1 is more useful than failing `info`.
            cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
            version: env!("CARGO_PKG_VERSION"),
        }
    }

    pub fn to_json(&self) -> Json {
        Json::Obj(vec![
            ("arch", Json::str(self.arch)),
            ("cpus", Json::Num(self.cpus as u64)),
            ("family", Json::str(self.family)),
            ("hostname", Json::str(self.hostname.clone())),
            ("os", Json::str(self.os)),
            ("version", Json::str(self.version)),
        ])
    }
}

/// Never fails: the UI would rather show "unknown" than lose the rest of `info`.
pub fn hostname() -> String {
    let name = raw_hostname().unwrap_or_default();
    let name = name.trim();
    if name.is_empty() {
        "unknown".to_string()
    } else {
        name.to_string()
    }
}

#[cfg(unix)]
#[allow(unsafe_code)] // the one FFI call: see SAFETY below
fn raw_hostname() -> Option<String> {
    use std::ffi::{c_char, c_int};

    // Declared by hand because std already links libc, and the libc crate is not a dependency.
    extern "C" {
        fn gethostname(name: *mut c_char, len: usize) -> c_int;
    }

    // 256 covers HOST_NAME_MAX on Linux (64) and MAXHOSTNAMELEN on macOS/BSD (256). The extra
    // zero byte, never handed to gethostname, guarantees a terminator because POSIX leaves
    // truncated names unterminated.
    let mut buf = [0u8; 257];
    // SAFETY: the pointer and length describe a writable buffer we own, and the length
    // excludes the final byte so it stays zero.
    let rc = unsafe { gethostname(buf.as_mut_ptr().cast::<c_char>(), buf.len() - 1) };
    if rc != 0 {
        return None;
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    Some(String::from_utf8_lossy(&buf[..end]).into_owned())
}

#[cfg(windows)]
fn raw_hostname() -> Option<String> {
    // COMPUTERNAME avoids a Win32 API binding; it holds the NetBIOS name, which is what users
    // see in Windows settings.
    std::env::var_os("COMPUTERNAME").map(|name| name.to_string_lossy().into_owned())
}

#[cfg(not(any(unix, windows)))]
fn raw_hostname() -> Option<String> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parsed(j: &Json) -> serde_json::Value {
        serde_json::from_str(&j.to_string()).unwrap()
    }

    #[test]
    fn json_has_the_fields_the_ui_reads() {
        let info = HostInfo {
            os: "macos",
            family: "unix",
            arch: "aarch64",
            hostname: "dev-laptop".to_string(),
            cpus: 10,
            version: "1.2.3",
        };
        assert_eq!(
            parsed(&info.to_json()),
            json!({
                "os": "macos",
                "family": "unix",
                "arch": "aarch64",
                "hostname": "dev-laptop",
                "cpus": 10,
                "version": "1.2.3",
            })
        );
    }

    #[test]
    fn current_reports_this_build_and_machine() {
        let info = HostInfo::current();
        assert_eq!(info.os, std::env::consts::OS);
        assert_eq!(info.arch, std::env::consts::ARCH);
        assert_eq!(info.version, env!("CARGO_PKG_VERSION"));
        assert!(info.cpus >= 1);
        assert!(!info.hostname.is_empty());
        assert_eq!(info.hostname, info.hostname.trim());
        assert!(parsed(&info.to_json())["cpus"].is_u64());
    }

    #[cfg(unix)]
    #[test]
    fn hostname_matches_the_kernel_view() {
        // /proc is Linux-only; elsewhere the non-empty check above has to do.
        if let Ok(expected) = std::fs::read_to_string("/proc/sys/kernel/hostname") {
            let expected = expected.trim();
            if !expected.is_empty() {
                assert_eq!(hostname(), expected);
            }
        }
    }
}
