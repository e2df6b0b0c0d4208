//! Links every dependency, so the build compiles what rust-analyzer's xtask compiles.
use anyhow as _;
use either as _;
use flate2 as _;
use itertools as _;
use proc_macro2 as _;
use quote as _;
use time as _;
use ungrammar as _;
use write_json as _;
use xflags as _;
use xshell as _;
use zip as _;

fn main() {}
