//! The command line. Doc comments here are the help text.

use camino::Utf8PathBuf;
use clap::{Args, Parser, Subcommand};

use crate::backend::Toolchains;
use crate::target::{Platform, Target};

#[derive(Debug, Parser)]
#[command(
    name = "cargo xtask",
    bin_name = "cargo xtask",
    about = "Builds, stages and ships the Docker Desktop extension and its Rust host binaries",
    disable_help_subcommand = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Cross-compile the host binaries that metadata.json names, without staging them
    Build(BuildCmd),
    /// Build host binaries and UI, then stage each image variant's file system under
    /// target/dist/stage/linux-<arch>/
    Stage(StageCmd),
    /// Stage, build the linux/amd64 + linux/arm64 extension image with docker buildx,
    /// verify every variant, and load it locally (or publish it with --push)
    Dist(DistCmd),
    /// Verify an extension image in a registry: platforms, labels, metadata.json, and every
    /// host binary's format, CPU, mode and checksum
    Verify(VerifyCmd),
    /// Combine per-platform images (from `dist --platform P --push` on separate machines)
    /// into one index, verify it, and only then tag it IMAGE:TAG
    Merge(MergeCmd),
    /// Build the image locally (if anything changed) and install it in Docker Desktop
    Install(DesktopCmd),
    /// Build the image locally (if anything changed) and update it in Docker Desktop
    Update(DesktopCmd),
    /// Serve the UI with Vite and point Docker Desktop's extension at it (hot reload)
    Dev(DevCmd),
    /// Check every prerequisite of `dist`, with what was found and the command that fixes it
    Doctor(DoctorCmd),
    /// Install what needs no root: rustup targets, zig, cargo-zigbuild, the UI's npm packages
    Setup(SetupCmd),
    /// Measure the pipeline against a baseline and print wall times and ratios
    Bench(BenchCmd),
    /// Regenerate extension/Dockerfile from extension/labels.json
    Codegen(CodegenCmd),
    /// Third-party host binaries pinned in extension/vendor.toml: fill the pins, or fill
    /// the download cache ahead of time
    Vendor(VendorCmd),
}

#[derive(Debug, Args)]
pub struct BuildOpts {
    /// Image platform to build for; repeat or comma-separate [default: linux/amd64,linux/arm64]
    #[arg(long = "platform", value_name = "PLATFORM", value_delimiter = ',', value_parser = parse_platform)]
    pub platforms: Vec<Platform>,
    /// Cross-compilation backend: auto, zigbuild, cross or cargo; TRIPLE=BACKEND sets it for one
    /// triple; repeatable (`auto` picks per triple from what is installed)
    #[arg(long = "toolchain", value_name = "[TRIPLE=]BACKEND", default_value = "auto", value_parser = check_toolchain)]
    pub toolchains: Vec<String>,
    /// The extension's metadata.json; the icon is read from the same directory
    /// [default: extension/metadata.json]
    #[arg(long, value_name = "FILE")]
    pub metadata: Option<Utf8PathBuf>,
    /// Print the plan (every command with its environment, every staged path) and run nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Take vendored binaries (extension/vendor.toml) from the download cache only
    /// (also CARGO_NET_OFFLINE=true)
    #[arg(long)]
    pub offline: bool,
    /// Stream every child process's full output
    #[arg(long, short)]
    pub verbose: bool,
}

#[derive(Debug, Args)]
pub struct BuildCmd {
    #[command(flatten)]
    pub opts: BuildOpts,
    /// Build only this Rust target triple; repeatable [default: every triple the platforms need]
    #[arg(long = "target", value_name = "TRIPLE", value_parser = parse_target)]
    pub targets: Vec<&'static Target>,
}

#[derive(Debug, Args)]
pub struct StageCmd {
    #[command(flatten)]
    pub opts: BuildOpts,
}

#[derive(Debug, Args)]
pub struct DistCmd {
    #[command(flatten)]
    pub opts: BuildOpts,
    /// Publish IMAGE:TAG as one multi-platform index (verified before the tag points at it);
    /// with a single --platform, publish IMAGE:TAG-ARCH for `cargo xtask merge`
    #[arg(long)]
    pub push: bool,
    /// Image repository [default: [workspace.metadata.extension] image in Cargo.toml]
    #[arg(long, value_name = "REPOSITORY", env = "XTASK_IMAGE")]
    pub image: Option<String>,
    /// Image tag, a semantic version [default: the workspace version]
    #[arg(long, value_name = "TAG")]
    pub tag: Option<String>,
    /// Replace a tag that already exists in the registry
    #[arg(long)]
    pub force: bool,
    /// Print the result (digests, tag, staged checksums) as JSON on stdout
    #[arg(long)]
    pub json: bool,
    /// The buildx builder to use [default: the current one]
    #[arg(long, value_name = "NAME", env = "BUILDX_BUILDER")]
    pub builder: Option<String>,
    /// Attach no SLSA provenance (by default a builder that can attach attestations
    /// attaches provenance with mode=max)
    #[arg(long)]
    pub no_provenance: bool,
    /// Attach an SBOM made by BuildKit's scanner (needs a builder that can attach
    /// attestations)
    #[arg(long)]
    pub sbom: bool,
    /// The SBOM scanner image [default: docker/buildkit-syft-scanner, BuildKit's own]
    #[arg(
        long,
        value_name = "IMAGE",
        env = "XTASK_SBOM_GENERATOR",
        requires = "sbom"
    )]
    pub sbom_generator: Option<String>,
}

#[derive(Debug, Args)]
pub struct VerifyCmd {
    /// The image: REPOSITORY:TAG or REPOSITORY@sha256:DIGEST
    #[arg(value_name = "IMAGE")]
    pub image: String,
    /// The extension's metadata.json whose vendor.toml fallbacks (an amd64 build shipped
    /// to arm64 Windows) verify expects [default: extension/metadata.json]
    #[arg(long, value_name = "FILE")]
    pub metadata: Option<Utf8PathBuf>,
    /// The buildx builder to use [default: the current one]
    #[arg(long, value_name = "NAME", env = "BUILDX_BUILDER")]
    pub builder: Option<String>,
    /// Stream every child process's full output
    #[arg(long, short)]
    pub verbose: bool,
}

#[derive(Debug, Args)]
pub struct MergeCmd {
    /// The release to create: REPOSITORY:TAG (TAG a semantic version)
    #[arg(value_name = "IMAGE")]
    pub image: String,
    /// One image per platform, by tag or digest (e.g. REPOSITORY:TAG-amd64 REPOSITORY:TAG-arm64)
    #[arg(value_name = "SOURCE", required = true)]
    pub sources: Vec<String>,
    /// Replace IMAGE:TAG if it already exists
    #[arg(long)]
    pub force: bool,
    /// Print the result (index and per-platform digests) as JSON on stdout
    #[arg(long)]
    pub json: bool,
    /// The buildx builder to use [default: the current one]
    #[arg(long, value_name = "NAME", env = "BUILDX_BUILDER")]
    pub builder: Option<String>,
    /// Stream every child process's full output
    #[arg(long, short)]
    pub verbose: bool,
}

#[derive(Debug, Args)]
pub struct DoctorCmd {
    /// The image whose registry must answer [default: from Cargo.toml, tagged with the version]
    #[arg(long, value_name = "IMAGE", env = "XTASK_IMAGE")]
    pub image: Option<String>,
    /// The buildx builder to check [default: the current one]
    #[arg(long, value_name = "NAME", env = "BUILDX_BUILDER")]
    pub builder: Option<String>,
    /// Print the checks as JSON on stdout
    #[arg(long)]
    pub json: bool,
    /// Check for `dist --push` (and `verify`, `merge`): the image's registry must answer
    /// and let us in; without it an unreachable registry is only a warning, as it is for
    /// a local `dist`
    #[arg(long)]
    pub push: bool,
}

#[derive(Debug, Args)]
pub struct SetupCmd {}

#[derive(Debug, Args)]
pub struct DesktopCmd {
    /// Image repository [default: [workspace.metadata.extension] image in Cargo.toml]
    #[arg(long, value_name = "REPOSITORY", env = "XTASK_IMAGE")]
    pub image: Option<String>,
    /// Image tag [default: the workspace version]
    #[arg(long, value_name = "TAG")]
    pub tag: Option<String>,
    /// Stream every child process's full output
    #[arg(long, short)]
    pub verbose: bool,
}

#[derive(Debug, Args)]
pub struct DevCmd {
    /// Image repository of the installed extension [default: from Cargo.toml]
    #[arg(long, value_name = "REPOSITORY", env = "XTASK_IMAGE")]
    pub image: Option<String>,
    /// Tag of the installed extension [default: the workspace version]
    #[arg(long, value_name = "TAG")]
    pub tag: Option<String>,
    /// Port of the Vite dev server
    #[arg(long, default_value_t = 5173)]
    pub port: u16,
}

#[derive(Debug, Args)]
pub struct VendorCmd {
    #[command(subcommand)]
    pub what: VendorWhat,
    /// The extension's metadata.json; vendor.toml is read beside it
    /// [default: extension/metadata.json]
    #[arg(long, value_name = "FILE", global = true)]
    pub metadata: Option<Utf8PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum VendorWhat {
    /// Fill or refresh the sha256 pins from the checksum files upstream publishes (or by
    /// downloading), keeping the file's comments and order; prints what changed
    Lock {
        /// Only this binary's table
        #[arg(value_name = "NAME")]
        name: Option<String>,
        /// Move NAME to this version first (needs NAME)
        #[arg(long, value_name = "VERSION", requires = "name")]
        version: Option<String>,
    },
    /// Download every pinned artifact the extension ships into the cache
    /// (XTASK_VENDOR_CACHE), verifying each hash
    Fetch {
        /// Use only the cache: fail on anything missing from it
        #[arg(long)]
        offline: bool,
    },
}

#[derive(Debug, Args)]
pub struct CodegenCmd {
    /// Change nothing; fail if a generated file is stale
    #[arg(long)]
    pub check: bool,
}

#[derive(Debug, Args)]
pub struct BenchCmd {
    #[command(subcommand)]
    pub what: BenchWhat,
}

#[derive(Debug, Subcommand)]
pub enum BenchWhat {
    /// Cold `stage` of all six triples vs one cargo invocation per triple, then a no-change re-run
    Stage,
    /// Cold `dist --push` vs per-triple cargo + per-platform buildx + merge, then a
    /// no-change re-run and a re-run after a one-line change in host-bin
    Dist {
        /// The repository to publish bench tags to (e.g. 127.0.0.1:5000/bench)
        #[arg(long, value_name = "REPOSITORY")]
        image: String,
    },
    /// A contributor's first `cargo xtask build` (new target dir, empty zig cache) vs the
    /// same build with zig's cache warm
    FirstRun,
    /// The xtask's own cold build vs rust-analyzer's xtask: a checkout given with
    /// --rust-analyzer, else xtask/bench/ra-xtask-deps (a crate with its dependencies)
    XtaskBuild {
        /// A rust-analyzer checkout whose xtask to build as the baseline
        #[arg(long, value_name = "DIR")]
        rust_analyzer: Option<Utf8PathBuf>,
    },
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
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn bad_flags_name_the_flag_and_the_choices() {
        let e = Cli::try_parse_from(["x", "stage", "--platform", "linux/s390x"])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("--platform") && e.contains("linux/amd64, linux/arm64"),
            "{e}"
        );
        let e = Cli::try_parse_from(["x", "stage", "--toolchain", "msvc"])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("--toolchain") && e.contains("unknown toolchain `msvc`"),
            "{e}"
        );
        let cli = Cli::try_parse_from([
            "x",
            "stage",
            "--platform",
            "linux/arm64,linux/amd64,linux/arm64",
        ])
        .unwrap();
        let Command::Stage(s) = cli.command else {
            panic!()
        };
        assert_eq!(
            crate::build::BuildOptions::from(&s.opts).platforms,
            Platform::ALL.to_vec()
        );
    }
}
