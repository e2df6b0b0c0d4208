//! The xtask: plan, build, stage (and later image, verify, publish) the extension.
//! A library so integration tests can reuse the binary-format reader and the target table.

pub mod backend;
pub mod bench;
pub mod binfmt;
pub mod build;
pub mod codegen;
pub mod desktop;
pub mod dist;
pub mod docker;
pub mod doctor;
pub mod fingerprint;
pub mod flags;
pub mod labels;
pub mod merge;
pub mod metadata;
pub mod paths;
pub mod plan;
pub mod progress;
pub mod publish;
pub mod reference;
pub mod setup;
pub mod stage;
pub mod target;
pub mod ui;
pub mod vendor;
pub mod vendor_archive;
pub mod vendor_curl;
pub mod vendor_fetch;
pub mod vendor_lock;
pub mod vendor_platform;
pub mod vendor_toml;
pub mod verify;
pub mod workspace;
