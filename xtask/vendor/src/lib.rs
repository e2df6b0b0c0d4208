//! Third-party host binaries (`extension/vendor.toml`): the manifest, its platforms, the
//! archives, the downloads and the cache. A crate of its own over the leaf crate, so
//! cargo compiles it (and the archive crates under it: tar, flate2, zip, lzma-rust2)
//! while the rest of the xtask waits for nothing it does not use; the `xtask` crate
//! re-exports it as `vendor` (`crate::vendor::fetch`, `xtask::vendor::Manifest`, ...).
//!
//! Archives ([`archive`]): `.tar.gz`/`.tgz`, `.tar.xz`/`.txz`, `.tar`, `.zip`
//! (stored or deflate, ZIP64 included), and one compressed binary, `.gz` or `.xz`. Any
//! other file type in a URL (`.zst`, `.tbz2`, `.7z`, ...) is an error listing these;
//! "raw" is only a file name that is a binary's (no extension, `.exe`, or the table's name).
//!
//! [`manifest`] (the manifest, its items re-exported at the crate root) over [`platform`]
//! (OS-ARCH pairs), [`schema`] (vendor.toml's tables and keys), [`archive`], [`curl`],
//! then [`fetch`] (the cache) and [`lock`].

// The leaf modules these name as `crate::cmd`, ..., as in the `xtask` crate.
use xtask_leaf::{cmd, digest, paths, target, toml};

/// Where this crate was built from: `cargo xtask` checks it is the checkout it runs for
/// (`paths::check_checkout`).
pub const MANIFEST_DIR: &str = env!("CARGO_MANIFEST_DIR");

pub mod archive;
pub mod curl;
pub mod fetch;
pub mod lock;
pub mod manifest;
pub mod platform;
pub mod schema;

// What the rest of the xtask names as `vendor::Manifest`, `vendor::HostPlatform`, ...
pub use manifest::{Artifact, Manifest, Smoke, Upstream};
pub use platform::{Arch, HostPlatform, Os};
