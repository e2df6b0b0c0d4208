//! The VM's own view of itself, as `GET /facts` serves it. Gathered on every request:
//! uptime moves, and each fact is one system call.

use serde_json::{json, Value};

use crate::sys;

pub fn gather() -> Result<Value, String> {
    let uname = sys::uname().map_err(|e| format!("uname: {e}"))?;
    let info = sys::sysinfo().map_err(|e| format!("sysinfo: {e}"))?;
    let cpus = sys::online_cpus().map_err(|e| format!("sysconf(_SC_NPROCESSORS_ONLN): {e}"))?;
    Ok(json!({
        "kernel": uname.release,
        "os": os_name(&uname.sysname, pretty_name().as_deref()),
        "arch": docker_arch(&uname.machine),
        "machine": uname.machine,
        "cpus": cpus,
        "memory_bytes": info.memory_bytes,
        "uptime_seconds": info.uptime_seconds,
        "version": env!("CARGO_PKG_VERSION"),
    }))
}

/// `PRETTY_NAME` of the distribution around the service, when it has an os-release file.
/// This project's image is `FROM scratch` (none), but a service in `FROM alpine` or run
/// locally by `cargo xtask dev` has one, and then it is worth showing.
fn pretty_name() -> Option<String> {
    // Where os-release(5) says to look, in its order.
    let release = os_release::OsRelease::new_from("/etc/os-release")
        .or_else(|_| os_release::OsRelease::new_from("/usr/lib/os-release"))
        .ok()?;
    let name = release.pretty_name.trim();
    (!name.is_empty()).then(|| name.to_owned())
}

fn os_name(sysname: &str, pretty: Option<&str>) -> String {
    match pretty {
        Some(p) => format!("{sysname} ({p})"),
        None => sysname.to_owned(),
    }
}

/// Docker's platform word for the CPU `uname -m` names (the `arch` of `linux/<arch>`), so
/// the UI can compare it with the host's and the pipeline with the image variant's. From
/// the running kernel, not the compile target: under qemu-user or Rosetta the kernel says
/// what the binary is running as.
pub fn docker_arch(machine: &str) -> &str {
    match machine {
        "x86_64" | "amd64" => "amd64",
        "aarch64" | "arm64" | "aarch64_be" => "arm64",
        "i386" | "i486" | "i586" | "i686" => "386",
        m if m.starts_with("armv") => "arm",
        "ppc64le" => "ppc64le",
        "s390x" => "s390x",
        "riscv64" => "riscv64",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arch_words_are_dockers() {
        assert_eq!(docker_arch("x86_64"), "amd64");
        assert_eq!(docker_arch("aarch64"), "arm64");
        assert_eq!(docker_arch("armv7l"), "arm");
        assert_eq!(docker_arch("mips64"), "mips64");
    }

    #[test]
    fn os_is_sysname_with_the_distribution_when_known() {
        assert_eq!(os_name("Linux", None), "Linux");
        assert_eq!(
            os_name("Linux", Some("Alpine Linux v3.20")),
            "Linux (Alpine Linux v3.20)"
        );
    }

    #[test]
    fn facts_have_every_field_of_the_contract() {
        let facts = gather().unwrap();
        for key in [
            "kernel",
            "os",
            "arch",
            "machine",
            "cpus",
            "memory_bytes",
            "uptime_seconds",
            "version",
        ] {
            assert!(facts.get(key).is_some(), "{key} missing from {facts}");
        }
        assert!(facts["cpus"].as_u64().unwrap() >= 1);
    }
}
