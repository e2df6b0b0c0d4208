//! The local loop with Docker Desktop: `install`, `update` and `dev` wrap the
//! `docker extension` CLI plugin, which ships only with Docker Desktop. Where it is
//! missing they say so and exit non-zero before doing anything else.

use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};
use xshell::{cmd, Shell};

use crate::flags::{BuildOpts, DesktopCmd, DevCmd, DistCmd};
use crate::progress::Reporter;
use crate::{paths, ui, workspace};

/// The `docker extension` plugin answers.
pub fn require_extension_cli(sh: &Shell) -> Result<()> {
    if cmd!(sh, "docker extension version")
        .quiet()
        .ignore_stdout()
        .ignore_stderr()
        .run()
        .is_err()
    {
        bail!(
            "the `docker extension` CLI plugin is not available (`docker extension version` failed): it ships only with \
             Docker Desktop, so install Docker Desktop (https://docs.docker.com/desktop/) and run this on that machine; \
             `cargo xtask dist` still builds and verifies the image here"
        );
    }
    Ok(())
}

fn release_ref(sh: &Shell, image: Option<String>, tag: Option<String>) -> Result<String> {
    let ws = workspace::load(sh)?;
    let image = image.or(ws.image).context(
        "no image name: pass --image or set [workspace.metadata.extension] image in Cargo.toml",
    )?;
    Ok(format!("{image}:{}", tag.unwrap_or(ws.version)))
}

impl DesktopCmd {
    /// `install` (`update` when `update`): a local `dist` (a no-op when nothing changed),
    /// then `docker extension install|update -f IMAGE:TAG`.
    pub fn run(self, sh: &Shell, update: bool) -> Result<()> {
        require_extension_cli(sh)?;
        let reference = release_ref(sh, self.image.clone(), self.tag.clone())?;
        DistCmd {
            opts: BuildOpts {
                platforms: Vec::new(),
                toolchains: vec!["auto".into()],
                metadata: None,
                dry_run: false,
                verbose: self.verbose,
            },
            push: false,
            image: self.image,
            tag: self.tag,
            force: false,
            json: false,
            builder: None,
        }
        .run(sh)?;
        let verb = if update { "update" } else { "install" };
        cmd!(sh, "docker extension {verb} -f {reference}").run()?;
        Ok(())
    }
}

impl DevCmd {
    /// Serves the UI with Vite and points Docker Desktop at it until interrupted, then
    /// resets the extension to its built UI.
    pub fn run(self, sh: &Shell) -> Result<()> {
        require_extension_cli(sh)?;
        let reference = release_ref(sh, self.image, self.tag)?;
        let rep = Reporter::new(false);
        ui::install(&rep)?;
        // Ctrl-C reaches the whole process group: Vite stops, and this process must live on
        // to run `docker extension dev reset`, so it only notes the interrupt.
        ctrlc::set_handler(|| eprintln!("stopping the dev server; resetting the extension"))
            .context("cannot install the Ctrl-C handler")?;
        let url = format!("http://localhost:{}", self.port);
        let port = self.port.to_string();
        let mut vite = Command::new(ui::npm_program())
            .args([
                "--prefix",
                paths::ui_dir().as_str(),
                "run",
                "dev",
                "--",
                "--port",
                &port,
                "--strictPort",
            ])
            .stdin(Stdio::null())
            .spawn()
            .context("cannot start the Vite dev server (`npm run dev`)")?;
        let pointed = cmd!(sh, "docker extension dev ui-source {reference} {url}").run();
        if pointed.is_ok() {
            eprintln!("Docker Desktop shows {reference} from {url}; Ctrl-C stops the dev server and resets the extension");
            let _ = vite.wait();
        }
        let _ = vite.kill();
        let reset = cmd!(sh, "docker extension dev reset {reference}").run();
        pointed.context("`docker extension dev ui-source` failed")?;
        reset.context("`docker extension dev reset` failed")?;
        Ok(())
    }
}
