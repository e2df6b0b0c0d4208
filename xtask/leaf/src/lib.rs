//! The xtask's leaf layer: modules that import nothing from the rest of the xtask, in a
//! crate of their own so cargo compiles them while the xtask's other dependencies build
//! (and the compiler, not a test, keeps them from reaching up). The `xtask` crate
//! re-exports each module, so they are `crate::cmd`, `xtask::binfmt`, ... there.
//!
//! [`cmd`] (the command value and the one runner), [`digest`] (walks, SHA-256, modes,
//! `SHA256SUMS`), [`paths`], [`pins`] (pinned tool versions), [`target`] (the target
//! matrix) with [`binfmt`] (executable headers) and [`loadable`] (will a binary load on
//! its OS: signatures, imported libraries, minimum OS, universal binaries), both reading
//! headers through [`bytes`] (bounds-checked fields), [`reference`] (image references),
//! [`json`] (reading JSON, errors naming where), [`progress`] (live output of running
//! commands), [`toml`] (TOML through `toml_edit`: values with their lines, and one
//! string set keeping every other byte).

pub mod binfmt;
pub mod bytes;
pub mod cmd;
pub mod digest;
pub mod json;
pub mod loadable;
pub mod paths;
pub mod pins;
pub mod progress;
pub mod reference;
pub mod target;
pub mod toml;
