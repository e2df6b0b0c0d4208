//! The xtask's leaf layer: modules that import nothing from the rest of the xtask, in a
//! crate of their own so cargo compiles them while the xtask's other dependencies build
//! (and the compiler, not a test, keeps them from reaching up). The `xtask` crate
//! re-exports each module, so they are `crate::cmd`, `xtask::binfmt`, ... there.
//!
//! [`cmd`] (the command value and the one runner), [`digest`] (walks, SHA-256, modes,
//! `SHA256SUMS`), [`paths`], [`pins`] (pinned tool versions), [`target`] (the target
//! matrix) over [`binfmt`] (executable headers, read with the `object` crate: format,
//! CPU, interpreter and libraries, and whether a binary will load on its OS: code
//! signature and page hashes, imported libraries, minimum OS, universal binaries),
//! [`reference`] (image references), [`shell`] (quoting printed commands for sh or
//! PowerShell), [`json`] (reading JSON, errors naming where), [`progress`] (live output
//! of running commands), [`toml`] (TOML through `toml_edit`: values with their lines, and one
//! string set keeping every other byte).

pub mod binfmt;
pub mod cmd;
pub mod digest;
pub mod json;
pub mod paths;
pub mod pins;
pub mod progress;
pub mod reference;
pub mod shell;
pub mod target;
pub mod toml;
