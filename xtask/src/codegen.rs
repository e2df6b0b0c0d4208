//! `cargo xtask codegen`: files generated from the repository's single sources of truth.

use anyhow::{bail, Context, Result};
use xshell::Shell;

use crate::flags::CodegenCmd;
use crate::{labels, paths};

impl CodegenCmd {
    pub fn run(self, _sh: &Shell) -> Result<()> {
        let path = paths::dockerfile();
        let want = labels::dockerfile(&labels::load(&paths::labels_json())?);
        let have = std::fs::read_to_string(&path).unwrap_or_default();
        if have == want {
            eprintln!("{path} is up to date");
            return Ok(());
        }
        if self.check {
            bail!("{path} is stale: it is generated from extension/labels.json; run `cargo xtask codegen`");
        }
        std::fs::write(&path, want).with_context(|| format!("cannot write {path}"))?;
        eprintln!("wrote {path}");
        Ok(())
    }
}
