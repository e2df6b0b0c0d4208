//! The end-to-end tests, one binary (the xtask links once): one module per area, shared
//! fixtures in `support`. They drive the real xtask binary against the real tools.

mod attest;
mod auth;
mod bad_input;
mod checkout;
mod desktop;
mod dist;
mod loadable;
mod onboarding;
mod portability;
mod rebuild;
mod release;
mod repro;
mod stage;
mod support;
mod toolchains;
mod ui;
mod vendor;
mod verify;
mod vm;
mod workflows;
