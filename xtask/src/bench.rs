//! `cargo xtask bench`: wall-time figures and ratios against a baseline run in the same
//! invocation.

use anyhow::Result;
use xshell::Shell;

use crate::flags::BenchCmd;

impl BenchCmd {
    pub fn run(self, _sh: &Shell) -> Result<()> {
        anyhow::bail!("not yet")
    }
}
