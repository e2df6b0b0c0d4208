//! `cargo xtask screenshots`: the Marketplace's pictures of the real UI. The UI and host
//! binary are staged for this machine's platform, served as the browser test serves them
//! (`ui/e2e/server.mjs`: the `ddClient` double runs the staged binary), and photographed in
//! headless Chromium, light and dark, at 2400x1600 (the size Docker's labels page asks for).

use anyhow::{Context, Result};
use camino::Utf8PathBuf;

use crate::build::{self, BuildOptions};
use crate::cmd::Cmd;
use crate::progress::Reporter;
use crate::target::{Arch, ImagePlatform};
use crate::{paths, stage};

/// Where Chromium is looked for unless `XTASK_CHROMIUM` names it (Debian's package).
pub const CHROMIUM: &str = "/usr/bin/chromium";

/// The pictures, each named as `extension/labels.json`'s screenshot URLs name it.
pub const SHOTS: [&str; 2] = ["dashboard.png", "dashboard-dark.png"];

#[derive(Debug, Clone)]
pub struct ScreenshotOptions {
    /// The directory the PNGs are written to (`docs/`).
    pub out: Utf8PathBuf,
    pub verbose: bool,
}

/// The docs directory the labels point at.
pub fn docs_dir() -> Utf8PathBuf {
    paths::root().join("docs")
}

pub fn run(opts: &ScreenshotOptions) -> Result<()> {
    let arch = Arch::host().context(
        "screenshots run the staged Linux host binary, which exists for amd64 and arm64 only",
    )?;
    let platform = ImagePlatform(arch);
    let chromium = std::env::var("XTASK_CHROMIUM").unwrap_or_else(|_| CHROMIUM.to_owned());
    if !Utf8PathBuf::from(&chromium).is_file() {
        anyhow::bail!(
            "no Chromium at {chromium}: `apt-get install chromium` (or set XTASK_CHROMIUM to \
             a Chromium or Chrome binary)"
        );
    }
    let rep = Reporter::new(opts.verbose);
    let build = BuildOptions {
        platforms: vec![platform],
        verbose: opts.verbose,
        ..Default::default()
    };
    let prepared = build::prepare(&rep, &build)?;
    {
        let _lock = paths::lock_dist()?;
        stage::run(&rep, &prepared)?;
    }
    let staged = paths::stage_dir().join(platform.stage_name());
    std::fs::create_dir_all(&opts.out).with_context(|| format!("cannot create {}", opts.out))?;
    let script = paths::ui_dir().join("e2e/screenshots.mjs");
    let out = Cmd::new(
        "node",
        [script.as_str(), staged.as_str(), opts.out.as_str()],
    )
    .env("UI_E2E_CHROMIUM", &chromium)
    .read()?;
    for line in out.lines() {
        eprintln!("{line}");
    }
    for shot in SHOTS {
        let file = opts.out.join(shot);
        anyhow::ensure!(file.is_file(), "the screenshot script wrote no {file}");
    }
    Ok(())
}

impl crate::flags::ScreenshotsCmd {
    pub fn run(self) -> Result<()> {
        run(&ScreenshotOptions {
            out: self.out.unwrap_or_else(docs_dir),
            verbose: self.verbose,
        })
    }
}
