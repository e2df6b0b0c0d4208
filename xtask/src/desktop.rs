//! The local loop with Docker Desktop: `install`, `update` and `dev` wrap the
//! `docker extension` CLI plugin, which ships only with Docker Desktop. Where it is
//! missing they say so and exit non-zero before doing anything else.

use anyhow::{bail, Context, Result};

use crate::build::BuildOptions;
use crate::cmd::Cmd;
use crate::dist::{self, DistOptions};
use crate::flags::{DesktopCmd, DevCmd};
use crate::progress::Reporter;
use crate::reference::ImageRef;
use crate::{paths, ui, workspace};

/// The `docker extension` plugin answers.
pub fn require_extension_cli() -> Result<()> {
    if !Cmd::new("docker", ["extension", "version"]).succeeds() {
        bail!(
            "the `docker extension` CLI plugin is not available (`docker extension version` failed): it ships only with \
             Docker Desktop, so install Docker Desktop (https://docs.docker.com/desktop/) and run this on that machine; \
             `cargo xtask dist` still builds and verifies the image here"
        );
    }
    Ok(())
}

fn docker_extension(args: &[&str], reference: &ImageRef) -> Cmd {
    Cmd::new("docker", ["extension"])
        .args_from(args.iter().copied())
        .arg(reference.to_string())
}

impl DesktopCmd {
    /// `install` (`update` when `update`): a local `dist` (a no-op when nothing changed),
    /// then `docker extension install|update -f IMAGE:TAG`.
    pub fn run(self, update: bool) -> Result<()> {
        require_extension_cli()?;
        let reference = workspace::load()?.release(self.image.as_deref(), self.tag.as_deref())?;
        dist::run(&DistOptions {
            build: BuildOptions {
                verbose: self.verbose,
                ..BuildOptions::default()
            },
            image: self.image,
            tag: self.tag,
            ..DistOptions::default()
        })?;
        let verb = if update { "update" } else { "install" };
        docker_extension(&[verb, "-f"], &reference).run_attached()
    }
}

impl DevCmd {
    /// Serves the UI with Vite and points Docker Desktop at it until interrupted, then
    /// resets the extension to its built UI.
    pub fn run(self) -> Result<()> {
        require_extension_cli()?;
        let reference = workspace::load()?.release(self.image.as_deref(), self.tag.as_deref())?;
        let rep = Reporter::new(false);
        ui::install(&rep)?;
        // Ctrl-C reaches the whole process group: Vite stops, and this process must live on
        // to run `docker extension dev reset`, so it only notes the interrupt.
        on_interrupt(|| eprintln!("stopping the dev server; resetting the extension"))
            .context("cannot install the Ctrl-C handler")?;
        let url = format!("http://localhost:{}", self.port);
        let port = self.port.to_string();
        let vite = Cmd::new(
            &ui::npm_program(),
            [
                "--prefix",
                paths::ui_dir().as_str(),
                "run",
                "dev",
                "--",
                "--port",
                &port,
                "--strictPort",
            ],
        )
        .start()
        .context("cannot start the Vite dev server (`npm run dev`)")?;
        let pointed = docker_extension(&["dev", "ui-source"], &reference)
            .arg(&url)
            .run_attached();
        if pointed.is_ok() {
            eprintln!("Docker Desktop shows {reference} from {url}; Ctrl-C stops the dev server and resets the extension");
            eprintln!("{}", service_note(&reference));
            let _ = vite.wait();
        }
        let _ = vite.kill();
        let reset = docker_extension(&["dev", "reset"], &reference).run_attached();
        pointed.context("`docker extension dev ui-source` failed")?;
        reset.context("`docker extension dev reset` failed")?;
        Ok(())
    }
}

/// `docker extension dev ui-source` swaps only the UI: the VM service keeps running from the
/// installed image (Docker's "Test and debug" guide: backend changes need a rebuild and
/// `docker extension update`). Said at start, so nobody edits `vm/` and wonders.
fn service_note(reference: &ImageRef) -> String {
    format!(
        "the VM service is not hot-reloaded: Docker Desktop keeps running the one in the installed image \
         {reference}; after changing vm/, run `cargo xtask update` in another terminal to rebuild the image and \
         restart the service (`cargo run -p vm-service -- --socket /tmp/host-facts.sock` runs it here, for \
         `curl --unix-socket /tmp/host-facts.sock http://localhost/facts`)"
    )
}

/// Runs `note` on each Ctrl-C instead of dying of it.
#[cfg(unix)]
fn on_interrupt(note: impl Fn() + Send + 'static) -> std::io::Result<()> {
    let mut signals = signal_hook::iterator::Signals::new([signal_hook::consts::SIGINT])?;
    std::thread::spawn(move || signals.forever().for_each(|_| note()));
    Ok(())
}

#[cfg(windows)]
fn on_interrupt(note: impl Fn() + Send + 'static) -> Result<(), ctrlc::Error> {
    ctrlc::set_handler(note)
}
