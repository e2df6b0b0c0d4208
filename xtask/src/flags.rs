//! The command line. Each command's `parse` lists its flags with their help text; the
//! parser (`flags/parser.rs`) reads them and prints the help.
//!
//! Parsed by hand, not with clap: clap's derive and serde's were the only proc macros
//! in the xtask, and they made up 10 s of its cold build, every contributor's first
//! minute (STYLE.md 11).

use std::ffi::OsString;

use camino::Utf8PathBuf;

use crate::target::{Platform, Target};
use crate::toolchain::Toolchains;

mod parser;
pub use parser::Error;
use parser::{Commands, Parser};

const ABOUT: &str =
    "Builds, stages and ships the Docker Desktop extension and its Rust host binaries";

#[rustfmt::skip]
const COMMANDS: Commands = &[
    ("build", "Cross-compile the host binaries that metadata.json names, without staging them"),
    ("stage", "Build host binaries and UI, then stage each image variant's file system under \
        target/dist/stage/linux-<arch>/"),
    ("dist", "Stage, build the linux/amd64 + linux/arm64 extension image with docker buildx, \
        verify every variant, and load it locally (or publish it with --push)"),
    ("verify", "Verify an extension image in a registry: platforms, labels, metadata.json, and \
        every host binary's format, CPU, mode and checksum"),
    ("merge", "Combine per-platform images (from `dist --platform P --push` on separate \
        machines) into one index, verify it, and only then tag it IMAGE:TAG"),
    ("install", "Build the image locally (if anything changed) and install it in Docker Desktop"),
    ("update", "Build the image locally (if anything changed) and update it in Docker Desktop"),
    ("dev", "Serve the UI with Vite and point Docker Desktop's extension at it (hot reload)"),
    ("doctor", "Check every prerequisite of `dist`, with what was found and the command that \
        fixes it"),
    ("setup", "Install what needs no root: rustup targets, zig, cargo-zigbuild, the UI's npm \
        packages"),
    ("bench", "Measure the pipeline against a baseline and print wall times and ratios"),
    ("codegen", "Regenerate extension/Dockerfile from extension/labels.json"),
    ("vendor", "Third-party host binaries pinned in extension/vendor.toml: fill the pins, or \
        fill the download cache ahead of time"),
];

#[rustfmt::skip]
const VENDOR_COMMANDS: Commands = &[
    ("lock", "Fill or refresh the sha256 pins from the checksum files upstream publishes (or by \
        downloading), keeping the file's comments and order; prints what changed"),
    ("fetch", "Download every pinned artifact the extension ships into the cache \
        (XTASK_VENDOR_CACHE), verifying each hash"),
];

#[rustfmt::skip]
const BENCH_COMMANDS: Commands = &[
    ("stage", "Cold `stage` of all six triples vs one cargo invocation per triple, then a \
        no-change re-run"),
    ("dist", "Cold `dist --push` vs per-triple cargo + per-platform buildx + merge, then a \
        no-change re-run and a re-run after a one-line change in host-bin"),
    ("first-run", "A contributor's first `cargo xtask build` (new target dir, empty zig cache) \
        vs the same build with zig's cache warm"),
    ("xtask-build", "The xtask's own cold build vs rust-analyzer's xtask: a checkout given with \
        --rust-analyzer, else xtask/bench/ra-xtask-deps (a crate with its dependencies)"),
];

#[derive(Debug)]
pub struct Cli {
    pub command: Command,
}

impl Cli {
    /// The process's command line; on a mistake or `--help`, prints and exits (2 or 0).
    pub fn parse() -> Cli {
        match Cli::try_parse_from(std::env::args_os()) {
            Ok(cli) => cli,
            Err(Error::Help(text)) => {
                print!("{text}");
                std::process::exit(0)
            }
            Err(e @ Error::Usage(_)) => {
                eprintln!("{e}");
                std::process::exit(2)
            }
        }
    }

    /// `args` starts with the program's name; flags fall back to the process environment.
    pub fn try_parse_from<I, T>(args: I) -> Result<Cli, Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<OsString>,
    {
        Cli::parse_with_env(args, &|name| std::env::var(name).ok())
    }

    fn parse_with_env<I, T>(args: I, env: &dyn Fn(&str) -> Option<String>) -> Result<Cli, Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<OsString>,
    {
        let mut words = Vec::new();
        for a in args.into_iter().skip(1) {
            match a.into().into_string() {
                Ok(a) => words.push(a),
                Err(a) => {
                    return Err(Error::Usage(format!(
                        "error: argument `{}` is not UTF-8\n",
                        a.to_string_lossy()
                    )))
                }
            }
        }
        let mut p = Parser::new("cargo xtask", ABOUT, words, env);
        let command = Command::parse(&mut p)?;
        p.finish()?;
        Ok(Cli { command })
    }
}

#[derive(Debug)]
pub enum Command {
    Build(BuildCmd),
    Stage(StageCmd),
    Dist(DistCmd),
    Verify(VerifyCmd),
    Merge(MergeCmd),
    Install(DesktopCmd),
    Update(DesktopCmd),
    Dev(DevCmd),
    Doctor(DoctorCmd),
    Setup(SetupCmd),
    Bench(BenchCmd),
    Codegen(CodegenCmd),
    Vendor(VendorCmd),
}

impl Command {
    fn parse(p: &mut Parser) -> Result<Command, Error> {
        Ok(match p.subcommand(COMMANDS)? {
            "build" => Command::Build(BuildCmd::parse(p)?),
            "stage" => Command::Stage(StageCmd {
                opts: BuildOpts::parse(p)?,
            }),
            "dist" => Command::Dist(DistCmd::parse(p)?),
            "verify" => Command::Verify(VerifyCmd::parse(p)?),
            "merge" => Command::Merge(MergeCmd::parse(p)?),
            "install" => Command::Install(DesktopCmd::parse(p)?),
            "update" => Command::Update(DesktopCmd::parse(p)?),
            "dev" => Command::Dev(DevCmd::parse(p)?),
            "doctor" => Command::Doctor(DoctorCmd::parse(p)?),
            "setup" => Command::Setup(SetupCmd {}),
            "bench" => Command::Bench(BenchCmd {
                what: BenchWhat::parse(p)?,
            }),
            "codegen" => Command::Codegen(CodegenCmd {
                check: p.flag(
                    "--check",
                    "Change nothing; fail if a generated file is stale",
                )?,
            }),
            "vendor" => Command::Vendor(VendorCmd::parse(p)?),
            other => unreachable!("`{other}` is in COMMANDS but not parsed"),
        })
    }
}

const VERBOSE: (&str, &str) = ("-v, --verbose", "Stream every child process's full output");
const BUILDER: &str = "The buildx builder to use [default: the current one]";

/// The flags shared by `build`, `stage` and `dist`.
#[derive(Debug)]
pub struct BuildOpts {
    pub platforms: Vec<Platform>,
    pub toolchains: Vec<String>,
    pub metadata: Option<Utf8PathBuf>,
    pub dry_run: bool,
    pub offline: bool,
    pub verbose: bool,
}

impl BuildOpts {
    fn parse(p: &mut Parser) -> Result<BuildOpts, Error> {
        let platforms = p.values(
            "--platform <PLATFORM>",
            "Image platform to build for; repeat or comma-separate \
             [default: linux/amd64,linux/arm64]",
            |s| {
                s.split(',')
                    .map(parse_platform)
                    .collect::<Result<Vec<_>, _>>()
            },
        )?;
        let mut toolchains = p.values(
            "--toolchain <[TRIPLE=]NAME>",
            "Cross-compilation toolchain: auto, zigbuild, cross or cargo; TRIPLE=NAME sets it \
             for one triple; repeatable (`auto` picks per triple from what is installed) \
             [default: auto]",
            check_toolchain,
        )?;
        if toolchains.is_empty() {
            toolchains.push("auto".to_owned());
        }
        Ok(BuildOpts {
            platforms: platforms.concat(),
            toolchains,
            metadata: p.value(
                "--metadata <FILE>",
                "The extension's metadata.json; the icon is read from the same directory \
                 [default: extension/metadata.json]",
                path,
            )?,
            dry_run: p.flag(
                "--dry-run",
                "Print the plan (every command with its environment, every staged path) and \
                 run nothing",
            )?,
            offline: p.flag(
                "--offline",
                "Take vendored binaries (extension/vendor.toml) from the download cache only \
                 (also CARGO_NET_OFFLINE=true)",
            )?,
            verbose: p.flag(VERBOSE.0, VERBOSE.1)?,
        })
    }
}

#[derive(Debug)]
pub struct BuildCmd {
    pub opts: BuildOpts,
    pub targets: Vec<&'static Target>,
}

impl BuildCmd {
    fn parse(p: &mut Parser) -> Result<BuildCmd, Error> {
        Ok(BuildCmd {
            opts: BuildOpts::parse(p)?,
            targets: p.values(
                "--target <TRIPLE>",
                "Build only this Rust target triple; repeatable \
                 [default: every triple the platforms need]",
                parse_target,
            )?,
        })
    }
}

#[derive(Debug)]
pub struct StageCmd {
    pub opts: BuildOpts,
}

#[derive(Debug)]
pub struct DistCmd {
    pub opts: BuildOpts,
    pub push: bool,
    pub image: Option<String>,
    pub tag: Option<String>,
    pub force: bool,
    pub json: bool,
    pub builder: Option<String>,
    pub no_provenance: bool,
    pub sbom: bool,
    pub sbom_generator: Option<String>,
}

impl DistCmd {
    fn parse(p: &mut Parser) -> Result<DistCmd, Error> {
        let cmd = DistCmd {
            opts: BuildOpts::parse(p)?,
            push: p.flag(
                "--push",
                "Publish IMAGE:TAG as one multi-platform index (verified before the tag points \
                 at it); with a single --platform, publish IMAGE:TAG-ARCH for `cargo xtask merge`",
            )?,
            image: image_flag(p)?,
            tag: p.value(
                "--tag <TAG>",
                "Image tag, a semantic version [default: the workspace version]",
                text,
            )?,
            force: p.flag(
                "--force",
                "Replace a tag that already exists in the registry",
            )?,
            json: p.flag(
                "--json",
                "Print the result (digests, tag, staged checksums) as JSON on stdout",
            )?,
            builder: p.value_or_env("--builder <NAME>", "BUILDX_BUILDER", BUILDER, text)?,
            no_provenance: p.flag(
                "--no-provenance",
                "Attach no SLSA provenance (by default a builder that can attach attestations \
                 attaches provenance with mode=max)",
            )?,
            sbom: p.flag(
                "--sbom",
                "Attach an SBOM made by BuildKit's scanner (needs a builder that can attach \
                 attestations)",
            )?,
            sbom_generator: p.value_or_env(
                "--sbom-generator <IMAGE>",
                "XTASK_SBOM_GENERATOR",
                "The SBOM scanner image \
                 [default: docker/buildkit-syft-scanner, BuildKit's own]",
                text,
            )?,
        };
        p.check(cmd.sbom || cmd.sbom_generator.is_none(), || {
            "`--sbom-generator <IMAGE>` (or XTASK_SBOM_GENERATOR) needs `--sbom`".to_owned()
        })?;
        Ok(cmd)
    }
}

#[derive(Debug)]
pub struct VerifyCmd {
    pub image: String,
    pub metadata: Option<Utf8PathBuf>,
    pub builder: Option<String>,
    pub verbose: bool,
}

impl VerifyCmd {
    fn parse(p: &mut Parser) -> Result<VerifyCmd, Error> {
        let metadata = p.value(
            "--metadata <FILE>",
            "The extension's metadata.json whose vendor.toml fallbacks (an amd64 build shipped \
             to arm64 Windows) verify expects [default: extension/metadata.json]",
            path,
        )?;
        let builder = p.value_or_env("--builder <NAME>", "BUILDX_BUILDER", BUILDER, text)?;
        let verbose = p.flag(VERBOSE.0, VERBOSE.1)?;
        Ok(VerifyCmd {
            image: p.required(
                "<IMAGE>",
                "The image: REPOSITORY:TAG or REPOSITORY@sha256:DIGEST",
            )?,
            metadata,
            builder,
            verbose,
        })
    }
}

#[derive(Debug)]
pub struct MergeCmd {
    pub image: String,
    pub sources: Vec<String>,
    pub force: bool,
    pub json: bool,
    pub builder: Option<String>,
    pub verbose: bool,
}

impl MergeCmd {
    fn parse(p: &mut Parser) -> Result<MergeCmd, Error> {
        let force = p.flag("--force", "Replace IMAGE:TAG if it already exists")?;
        let json = p.flag(
            "--json",
            "Print the result (index and per-platform digests) as JSON on stdout",
        )?;
        let builder = p.value_or_env("--builder <NAME>", "BUILDX_BUILDER", BUILDER, text)?;
        let verbose = p.flag(VERBOSE.0, VERBOSE.1)?;
        Ok(MergeCmd {
            image: p.required(
                "<IMAGE>",
                "The release to create: REPOSITORY:TAG (TAG a semantic version)",
            )?,
            sources: p.all(
                "<SOURCE>...",
                "One image per platform, by tag or digest \
                 (e.g. REPOSITORY:TAG-amd64 REPOSITORY:TAG-arm64)",
            )?,
            force,
            json,
            builder,
            verbose,
        })
    }
}

#[derive(Debug)]
pub struct DoctorCmd {
    pub image: Option<String>,
    pub builder: Option<String>,
    pub json: bool,
    pub push: bool,
}

impl DoctorCmd {
    fn parse(p: &mut Parser) -> Result<DoctorCmd, Error> {
        Ok(DoctorCmd {
            image: p.value_or_env(
                "--image <IMAGE>",
                "XTASK_IMAGE",
                "The image whose registry must answer \
                 [default: from Cargo.toml, tagged with the version]",
                text,
            )?,
            builder: p.value_or_env(
                "--builder <NAME>",
                "BUILDX_BUILDER",
                "The buildx builder to check [default: the current one]",
                text,
            )?,
            json: p.flag("--json", "Print the checks as JSON on stdout")?,
            push: p.flag(
                "--push",
                "Check for `dist --push` (and `verify`, `merge`): the image's registry must \
                 answer and let us in; without it an unreachable registry is only a warning, as \
                 it is for a local `dist`",
            )?,
        })
    }
}

#[derive(Debug)]
pub struct SetupCmd {}

/// `install` and `update`.
#[derive(Debug)]
pub struct DesktopCmd {
    pub image: Option<String>,
    pub tag: Option<String>,
    pub verbose: bool,
}

/// `--image` (or `XTASK_IMAGE`) of `dist` and `install`/`update`: the image repository.
fn image_flag(p: &mut Parser) -> Result<Option<String>, Error> {
    p.value_or_env(
        "--image <REPOSITORY>",
        "XTASK_IMAGE",
        "Image repository [default: [workspace.metadata.extension] image in Cargo.toml]",
        text,
    )
}

impl DesktopCmd {
    fn parse(p: &mut Parser) -> Result<DesktopCmd, Error> {
        Ok(DesktopCmd {
            image: image_flag(p)?,
            tag: p.value(
                "--tag <TAG>",
                "Image tag [default: the workspace version]",
                text,
            )?,
            verbose: p.flag(VERBOSE.0, VERBOSE.1)?,
        })
    }
}

#[derive(Debug)]
pub struct DevCmd {
    pub image: Option<String>,
    pub tag: Option<String>,
    pub port: u16,
}

impl DevCmd {
    fn parse(p: &mut Parser) -> Result<DevCmd, Error> {
        Ok(DevCmd {
            image: p.value_or_env(
                "--image <REPOSITORY>",
                "XTASK_IMAGE",
                "Image repository of the installed extension [default: from Cargo.toml]",
                text,
            )?,
            tag: p.value(
                "--tag <TAG>",
                "Tag of the installed extension [default: the workspace version]",
                text,
            )?,
            port: p
                .value(
                    "--port <PORT>",
                    "Port of the Vite dev server [default: 5173]",
                    |s| {
                        s.parse()
                            .map_err(|_| "expected a port number, 0 to 65535".to_owned())
                    },
                )?
                .unwrap_or(5173),
        })
    }
}

#[derive(Debug)]
pub struct VendorCmd {
    pub what: VendorWhat,
    pub metadata: Option<Utf8PathBuf>,
}

#[derive(Debug)]
pub enum VendorWhat {
    Lock {
        name: Option<String>,
        version: Option<String>,
    },
    Fetch {
        offline: bool,
    },
}

impl VendorCmd {
    fn parse(p: &mut Parser) -> Result<VendorCmd, Error> {
        // Before the subcommand's flags: it may come after them, and is listed in their help.
        let metadata = p.value(
            "--metadata <FILE>",
            "The extension's metadata.json; vendor.toml is read beside it \
             [default: extension/metadata.json]",
            path,
        )?;
        let what = match p.subcommand(VENDOR_COMMANDS)? {
            "lock" => {
                let version = p.value(
                    "--version <VERSION>",
                    "Move NAME to this version first (needs NAME)",
                    text,
                )?;
                let name = p.optional("[NAME]", "Only this binary's table")?;
                p.check(version.is_none() || name.is_some(), || {
                    "`--version <VERSION>` needs NAME, the binary to move".to_owned()
                })?;
                VendorWhat::Lock { name, version }
            }
            "fetch" => VendorWhat::Fetch {
                offline: p.flag(
                    "--offline",
                    "Use only the cache: fail on anything missing from it",
                )?,
            },
            other => unreachable!("`{other}` is in the table but not parsed"),
        };
        Ok(VendorCmd { what, metadata })
    }
}

#[derive(Debug)]
pub struct CodegenCmd {
    pub check: bool,
}

#[derive(Debug)]
pub struct BenchCmd {
    pub what: BenchWhat,
}

#[derive(Debug)]
pub enum BenchWhat {
    Stage,
    Dist { image: String },
    FirstRun,
    XtaskBuild { rust_analyzer: Option<Utf8PathBuf> },
}

impl BenchWhat {
    fn parse(p: &mut Parser) -> Result<BenchWhat, Error> {
        Ok(match p.subcommand(BENCH_COMMANDS)? {
            "stage" => BenchWhat::Stage,
            "dist" => {
                let image = p.value(
                    "--image <REPOSITORY>",
                    "The repository to publish bench tags to (e.g. 127.0.0.1:5000/bench)",
                    text,
                )?;
                p.check(image.is_some(), || {
                    "`--image <REPOSITORY>` is required".to_owned()
                })?;
                BenchWhat::Dist {
                    image: image.unwrap_or_default(),
                }
            }
            "first-run" => BenchWhat::FirstRun,
            "xtask-build" => BenchWhat::XtaskBuild {
                rust_analyzer: p.value(
                    "--rust-analyzer <DIR>",
                    "A rust-analyzer checkout whose xtask to build as the baseline",
                    path,
                )?,
            },
            other => unreachable!("`{other}` is in the table but not parsed"),
        })
    }
}

fn text(s: &str) -> Result<String, String> {
    Ok(s.to_owned())
}

fn path(s: &str) -> Result<Utf8PathBuf, String> {
    Ok(s.into())
}

fn parse_platform(s: &str) -> Result<Platform, String> {
    Platform::parse(s).map_err(|e| e.to_string())
}

fn parse_target(s: &str) -> Result<&'static Target, String> {
    Target::find(s).map_err(|e| e.to_string())
}

fn check_toolchain(s: &str) -> Result<String, String> {
    Toolchains::parse(&[s.to_owned()])
        .map(|_| s.to_owned())
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests;
