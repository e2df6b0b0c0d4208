//! `cargo xtask codegen`: files generated from the repository's single sources of truth.

use anyhow::{bail, Context, Result};

use crate::flags::CodegenCmd;
use crate::{labels, paths};

/// The Dockerfile these labels generate (`release` shows it before labels.json is written).
pub fn generate(labels: &labels::Labels) -> String {
    labels::dockerfile(labels)
}

/// The Dockerfile as labels.json says it should be, and whether the one on disk is it.
fn dockerfile() -> Result<(String, bool)> {
    let want = generate(&labels::load(&paths::labels_json())?);
    let have = std::fs::read_to_string(paths::dockerfile()).unwrap_or_default();
    let fresh = have == want;
    Ok((want, fresh))
}

/// Fails when extension/Dockerfile is not what labels.json generates (`dist` runs this
/// before building, `codegen --check` is the same check on its own).
pub fn check_fresh() -> Result<()> {
    if !dockerfile()?.1 {
        bail!(
            "{} is stale: it is generated from extension/labels.json; run `cargo xtask codegen`",
            paths::dockerfile()
        );
    }
    Ok(())
}

impl CodegenCmd {
    pub fn run(self) -> Result<()> {
        let path = paths::dockerfile();
        if self.check {
            return check_fresh();
        }
        let (want, fresh) = dockerfile()?;
        if fresh {
            eprintln!("{path} is up to date");
            return Ok(());
        }
        std::fs::write(&path, want).with_context(|| format!("cannot write {path}"))?;
        eprintln!("wrote {path}");
        Ok(())
    }
}
