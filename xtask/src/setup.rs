//! `cargo xtask setup`: performs the fixes `doctor` suggests that need no root. Each step
//! checks first, so a second run changes nothing.

use anyhow::Result;

use crate::cmd::Cmd;
use crate::doctor::{self, Context, Item, Status};
use crate::flags::SetupCmd;
use crate::progress::Reporter;
use crate::{pins, ui, workspace};

/// `pip install PACKAGE==VERSION`. Where pip refuses (PEP 668's externally managed
/// Python: Homebrew, Debian 12+), cargo-zigbuild comes from crates.io instead, and zig's
/// error says where to get it.
fn pip_install(item: Item, package: &str, version: &str) -> Result<()> {
    let spec = format!("{package}=={version}");
    let out = Cmd::new("python3", ["-m", "pip", "install", "--quiet", &spec]).output()?;
    if out.status.success() {
        return Ok(());
    }
    let err = out.stderr;
    match item {
        Item::CargoZigbuild => {
            eprintln!("pip could not install {spec}; installing it with cargo instead");
            Cmd::new(
                "cargo",
                ["install", "cargo-zigbuild", "--locked", "--version", version],
            )
            .run_attached()?;
            Ok(())
        }
        _ if err.contains("externally-managed-environment") => anyhow::bail!(
            "pip refuses to install {spec} into this Python (PEP 668): install zig {version} with your package manager \
             (`brew install zig`, or a venv: `python3 -m venv ~/.venvs/zig && ~/.venvs/zig/bin/pip install {spec}` with that \
             venv's bin on PATH)"
        ),
        _ => anyhow::bail!("`python3 -m pip install {spec}` failed:\n{err}"),
    }
}

impl SetupCmd {
    pub fn run(self) -> Result<()> {
        let rep = Reporter::new(false);
        let ctx = Context::default();
        let mut changed = 0;

        let installed = workspace::installed_targets()?;
        let missing = installed.missing();
        if missing.is_empty() {
            rep.println("ok: every rust target is installed");
        } else if installed.rustup {
            Cmd::new("rustup", ["target", "add"])
                .args_from(missing.iter().copied())
                .run_attached()?;
            changed += 1;
        } else {
            anyhow::bail!(
                "missing rust targets {} and no rustup to add them: install rustup",
                missing.join(", ")
            );
        }

        for (item, package, version) in [
            (Item::Zig, "ziglang", pins::zig()),
            (
                Item::CargoZigbuild,
                "cargo-zigbuild",
                pins::cargo_zigbuild(),
            ),
        ] {
            let c = doctor::check(item, &ctx);
            if c.status == Status::Pass {
                rep.println(format!("ok: {} ({})", c.name, c.found));
            } else {
                pip_install(item, package, version)?;
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
