//! Third-party host binaries (`extension/vendor.toml`): the manifest, its platforms, the
//! archives, the downloads and the cache. A crate of its own over the leaf crate, so
//! cargo compiles it (and the archive crates under it: tar, flate2, zip, lzma-rust2)
//! while the rest of the xtask waits for nothing it does not use; the `xtask` crate
//! re-exports each module (`crate::vendor_fetch`, `xtask::vendor`, ...).
//!
//! Archives ([`vendor_archive`]): `.tar.gz`/`.tgz`, `.tar.xz`/`.txz`, `.tar`, `.zip`
//! (stored or deflate, ZIP64 included), and one compressed binary, `.gz` or `.xz`. Any
//! other file type in a URL (`.zst`, `.tbz2`, `.7z`, ...) is an error listing these;
//! "raw" is only a file name that is a binary's (no extension, `.exe`, or the table's name).
//!
//! [`vendor`] (the manifest) over [`vendor_platform`], [`vendor_toml`],
//! [`vendor_archive`], [`vendor_curl`], then [`vendor_fetch`] (the cache) and
//! [`vendor_lock`].

// The leaf modules these name as `crate::cmd`, ..., as in the `xtask` crate.
use xtask_leaf::{cmd, digest, paths, target, toml};

/// Where this crate was built from: `cargo xtask` checks it is the checkout it runs for
/// (`paths::check_checkout`).
pub const MANIFEST_DIR: &str = env!("CARGO_MANIFEST_DIR");

pub mod vendor;
pub mod vendor_archive;
pub mod vendor_curl;
pub mod vendor_fetch;
pub mod vendor_lock;
pub mod vendor_platform;
pub mod vendor_toml;
