//! `cargo xtask setup`: performs the fixes `doctor` suggests that need no root. Each step
//! checks first, so a second run changes nothing.

use anyhow::Result;
use xshell::{cmd, Shell};

use crate::doctor::{self, Context, Item, Status, ZIGBUILD_VERSION, ZIG_VERSION};
use crate::flags::SetupCmd;
use crate::progress::Reporter;
use crate::{ui, workspace};

impl SetupCmd {
    pub fn run(self, sh: &Shell) -> Result<()> {
        let rep = Reporter::new(false);
        let ctx = Context::default();
        let mut changed = 0;

        let installed = workspace::installed_targets(sh)?;
        let missing = installed.missing();
        if missing.is_empty() {
            rep.println("ok: every rust target is installed");
        } else if installed.rustup {
            cmd!(sh, "rustup target add {missing...}").run()?;
            changed += 1;
        } else {
            anyhow::bail!(
                "missing rust targets {} and no rustup to add them: install rustup",
                missing.join(", ")
            );
        }

        for (item, package, version) in [
            (Item::Zig, "ziglang", ZIG_VERSION),
            (Item::CargoZigbuild, "cargo-zigbuild", ZIGBUILD_VERSION),
        ] {
            let c = doctor::check(sh, item, &ctx);
            if c.status == Status::Pass {
                rep.println(format!("ok: {} ({})", c.name, c.found));
            } else {
                let spec = format!("{package}=={version}");
                cmd!(sh, "python3 -m pip install --quiet {spec}").run()?;
                changed += 1;
            }
        }

        // The UI's packages: `ui::build` already runs `npm ci` only when the lock changed.
        if ui::install(&rep)? {
            changed += 1;
        }

        rep.println(if changed == 0 {
            "setup: nothing to do"
        } else {
            "setup: done; run `cargo xtask doctor` to check"
        });
        Ok(())
    }
}
