//! Every command and flag of `cargo xtask`, with its help text, as clap's builder API
//! declares them (`flags.rs` turns the matches into option values).
//!
//! What every flag shares, so users get what other Rust CLIs do:
//! - a flag that takes a value takes one that starts with `-` (`--tag -rc1`, `--tag -h`),
//!   as well as `--tag=-rc1`; so `--tag --push` is the tag `--push`, not a missing value;
//! - a flag that is not repeatable is an error when given twice (clap's default); the
//!   repeatable ones (`--platform`, `--toolchain`, `--target`) accumulate in order;
//! - `--` ends the flags: what follows is positional.

use clap::{Arg, ArgAction, Command};

use super::{check_toolchain, parse_platform, parse_port, parse_target};
use crate::release_edit::Bump;

const ABOUT: &str =
    "Builds, stages and ships the Docker Desktop extension and its Rust host binaries";
const BUILDER: &str = "The buildx builder to use [default: the current one]";

/// The whole command line.
pub fn command() -> Command {
    Command::new("xtask")
        // The name users type; clap would otherwise take argv[0]'s file name, `xtask`.
        .bin_name("cargo xtask")
        .about(ABOUT)
        .subcommand_required(true)
        .arg_required_else_help(true)
        // `help` is not one of the xtask's commands; `-h`/`--help` work everywhere.
        .disable_help_subcommand(true)
        .subcommands([
            build(),
            sub("stage", STAGE).args(build_opts()),
            dist(),
            verify(),
            merge(),
            desktop("install", INSTALL),
            desktop("update", UPDATE),
            dev(),
            doctor(),
            sub("setup", SETUP),
            bench(),
            sub("codegen", CODEGEN).arg(flag(
                "check",
                "Change nothing; fail if a generated file is stale",
            )),
            release(),
            screenshots(),
            vendor(),
        ])
}

const STAGE: &str = "Build host binaries and UI, then stage each image variant's file system \
    under target/dist/stage/linux-<arch>/";
const INSTALL: &str =
    "Build the image locally (if anything changed) and install it in Docker Desktop";
const UPDATE: &str =
    "Build the image locally (if anything changed) and update it in Docker Desktop";
const SETUP: &str = "Install what needs no root: rustup targets, zig, cargo-zigbuild, the UI's \
    npm packages";
const CODEGEN: &str = "Regenerate extension/Dockerfile from extension/labels.json";

fn sub(name: &'static str, about: &'static str) -> Command {
    Command::new(name).about(about)
}

/// A switch, `--id`.
fn flag(id: &'static str, help: &'static str) -> Arg {
    Arg::new(id).long(id).action(ArgAction::SetTrue).help(help)
}

/// `-v, --verbose`.
fn verbose() -> Arg {
    flag("verbose", "Stream every child process's full output").short('v')
}

/// `--id <VALUE>`, at most once. A value may start with `-`: see the module's comment.
fn value(id: &'static str, value_name: &'static str, help: &'static str) -> Arg {
    Arg::new(id)
        .long(id)
        .value_name(value_name)
        .allow_hyphen_values(true)
        .action(ArgAction::Set)
        .help(help)
}

/// `value`, which `flags.rs` takes from the variable `env` when the command line has none.
/// The variable is read there, from an environment the tests can give.
fn value_or_env(
    id: &'static str,
    value_name: &'static str,
    env: &'static str,
    help: &'static str,
) -> Arg {
    value(id, value_name, help).help(format!("{help} [env: {env}=]"))
}

/// `value`, repeatable: every occurrence is kept, in order.
fn values(id: &'static str, value_name: &'static str, help: &'static str) -> Arg {
    value(id, value_name, help).action(ArgAction::Append)
}

fn build() -> Command {
    sub(
        "build",
        "Cross-compile the host binaries that metadata.json names, without staging them",
    )
    .args(build_opts())
    .arg(
        values(
            "target",
            "TRIPLE",
            "Build only this Rust target triple; repeatable \
             [default: every triple the platforms need]",
        )
        .value_parser(parse_target),
    )
}

/// The flags shared by `build`, `stage` and `dist`.
fn build_opts() -> [Arg; 6] {
    [
        values(
            "platform",
            "PLATFORM",
            "Image platform to build for; repeat or comma-separate \
             [default: linux/amd64,linux/arm64]",
        )
        .value_delimiter(',')
        .value_parser(parse_platform),
        values(
            "toolchain",
            "[TRIPLE=]NAME",
            "Cross-compilation toolchain: auto, zigbuild, cross or cargo; TRIPLE=NAME sets it \
             for one triple; repeatable (`auto` picks per triple from what is installed) \
             [default: auto]",
        )
        .value_parser(check_toolchain),
        value(
            "metadata",
            "FILE",
            "The extension's metadata.json; the icon is read from the same directory \
             [default: extension/metadata.json]",
        ),
        flag(
            "dry-run",
            "Print the plan (every command with its environment, every staged path) and run \
             nothing",
        ),
        flag(
            "offline",
            "Take vendored binaries (extension/vendor.toml) from the download cache only \
             (also CARGO_NET_OFFLINE=true)",
        ),
        verbose(),
    ]
}

/// `--image` (or `XTASK_IMAGE`) of `dist` and `install`/`update`: the image repository.
fn image() -> Arg {
    value_or_env(
        "image",
        "REPOSITORY",
        "XTASK_IMAGE",
        "Image repository [default: [workspace.metadata.extension] image in Cargo.toml]",
    )
}

fn builder() -> Arg {
    value_or_env("builder", "NAME", "BUILDX_BUILDER", BUILDER)
}

fn dist() -> Command {
    sub(
        "dist",
        "Stage, build the linux/amd64 + linux/arm64 extension image with docker buildx, verify \
         every variant, and load it locally (or publish it with --push)",
    )
    .args(build_opts())
    .args([
        flag(
            "push",
            "Publish IMAGE:TAG as one multi-platform index (verified before the tag points at \
             it); with a single --platform, publish IMAGE:TAG-ARCH for `cargo xtask merge`",
        ),
        image(),
        value(
            "tag",
            "TAG",
            "Image tag, a semantic version [default: the workspace version]",
        ),
        flag("force", "Replace a tag that already exists in the registry"),
        flag(
            "json",
            "Print the result (digests, tag, staged checksums) as JSON on stdout",
        ),
        builder(),
        flag(
            "no-provenance",
            "Attach no SLSA provenance (by default a builder that can attach attestations \
             attaches provenance with mode=max)",
        ),
        flag(
            "sbom",
            "Attach an SBOM made by BuildKit's scanner (needs a builder that can attach \
             attestations)",
        ),
        value_or_env(
            "sbom-generator",
            "IMAGE",
            "XTASK_SBOM_GENERATOR",
            "The SBOM scanner image [default: docker/buildkit-syft-scanner, BuildKit's own]",
        ),
    ])
}

fn verify() -> Command {
    sub(
        "verify",
        "Verify an extension image in a registry: platforms, labels, metadata.json, and every \
         host binary's format, CPU, mode and checksum",
    )
    .args([
        Arg::new("image")
            .value_name("IMAGE")
            .required(true)
            .help("The image: REPOSITORY:TAG or REPOSITORY@sha256:DIGEST"),
        value(
            "metadata",
            "FILE",
            "The extension's metadata.json whose vendor.toml fallbacks (an amd64 build shipped \
             to arm64 Windows) verify expects [default: extension/metadata.json]",
        ),
        flag(
            "rebuild",
            "Also build the image from this checkout, with no cache, in a scratch target \
             directory, and compare each platform's manifest digest with the published one; \
             on a mismatch, list the files and config fields that differ. Pushes nothing",
        ),
        builder(),
        verbose(),
    ])
}

fn merge() -> Command {
    sub(
        "merge",
        "Combine per-platform images (from `dist --platform P --push` on separate machines) \
         into one index, verify it, and only then tag it IMAGE:TAG",
    )
    .args([
        Arg::new("image")
            .value_name("IMAGE")
            .required(true)
            .help("The release to create: REPOSITORY:TAG (TAG a semantic version)"),
        Arg::new("sources")
            .value_name("SOURCE")
            .required(true)
            .num_args(1..)
            .action(ArgAction::Append)
            .help(
                "One image per platform, by tag or digest \
                 (e.g. REPOSITORY:TAG-amd64 REPOSITORY:TAG-arm64)",
            ),
        flag("force", "Replace IMAGE:TAG if it already exists"),
        flag(
            "json",
            "Print the result (index and per-platform digests) as JSON on stdout",
        ),
        builder(),
        verbose(),
    ])
}

/// `install` and `update`.
fn desktop(name: &'static str, about: &'static str) -> Command {
    sub(name, about).args([
        image(),
        value("tag", "TAG", "Image tag [default: the workspace version]"),
        verbose(),
    ])
}

fn dev() -> Command {
    sub(
        "dev",
        "Serve the UI with Vite and point Docker Desktop's extension at it (hot reload)",
    )
    .args([
        value_or_env(
            "image",
            "REPOSITORY",
            "XTASK_IMAGE",
            "Image repository of the installed extension [default: from Cargo.toml]",
        ),
        value(
            "tag",
            "TAG",
            "Tag of the installed extension [default: the workspace version]",
        ),
        value("port", "PORT", "Port of the Vite dev server")
            .default_value("5173")
            .value_parser(parse_port),
    ])
}

fn doctor() -> Command {
    sub(
        "doctor",
        "Check every prerequisite of `dist`, with what was found and the command that fixes it",
    )
    .args([
        value_or_env(
            "image",
            "IMAGE",
            "XTASK_IMAGE",
            "The image whose registry must answer \
             [default: from Cargo.toml, tagged with the version]",
        ),
        value_or_env(
            "builder",
            "NAME",
            "BUILDX_BUILDER",
            "The buildx builder to check [default: the current one]",
        ),
        flag("json", "Print the checks as JSON on stdout"),
        flag(
            "push",
            "Check for `dist --push` (and `verify`, `merge`): the image's registry must answer \
             and let us in; without it an unreachable registry is only a warning, as it is for \
             a local `dist`",
        ),
    ])
}

fn bench() -> Command {
    sub(
        "bench",
        "Measure the pipeline against a baseline and print wall times and ratios",
    )
    .subcommand_required(true)
    .subcommands([
        sub(
            "stage",
            "Cold `stage` of all six triples vs one cargo invocation per triple, then a \
             no-change re-run",
        ),
        sub(
            "dist",
            "Cold `dist --push` vs per-triple cargo + per-platform buildx + merge, then a \
             no-change re-run and a re-run after a one-line change in host-bin",
        )
        .arg(
            value(
                "image",
                "REPOSITORY",
                "The repository to publish bench tags to (e.g. 127.0.0.1:5000/bench)",
            )
            .required(true),
        ),
        sub(
            "first-run",
            "A contributor's first `cargo xtask build` (new target dir, empty zig cache) vs the \
             same build with zig's cache warm",
        ),
        sub(
            "xtask-build",
            "The xtask's own cold build vs rust-analyzer's xtask: a checkout given with \
             --rust-analyzer, else xtask/bench/ra-xtask-deps (a crate with its dependencies)",
        )
        .arg(value(
            "rust-analyzer",
            "DIR",
            "A rust-analyzer checkout whose xtask to build as the baseline",
        )),
    ])
}

fn release() -> Command {
    sub(
        "release",
        "Release a new version: bump it, move CHANGELOG.md's Unreleased entries under it, render \
         them into the changelog label, commit and tag; then push (CI publishes) or publish from \
         here",
    )
    .args([
        Arg::new("bump")
            .value_name("patch|minor|major|X.Y.Z")
            .required(true)
            .value_parser(|s: &str| Bump::parse(s))
            .help("The new version, or which part of the current one to raise"),
        flag(
            "push",
            "Push the release commit and tag (one atomic push); CI's release workflow builds, \
             verifies and publishes",
        ),
        flag(
            "local",
            "Publish from this machine: `dist --push` from the tagged commit",
        ),
        flag(
            "dry-run",
            "Print every file change as a diff and every command; touch nothing",
        ),
        value(
            "branch",
            "BRANCH",
            "The branch releases are made from [default: the remote's default branch]",
        ),
        value("remote", "REMOTE", "The git remote [default: origin]"),
        image(),
        verbose(),
    ])
}

fn screenshots() -> Command {
    sub(
        "screenshots",
        "Photograph the real UI (staged, with the real host binary and VM service) in headless \
         Chromium, light and dark, at 2400x1600, into docs/",
    )
    .args([
        value(
            "out",
            "DIR",
            "Where to write the PNGs [default: docs/, where labels.json points]",
        ),
        verbose(),
    ])
}

fn vendor() -> Command {
    sub(
        "vendor",
        "Third-party host binaries pinned in extension/vendor.toml: fill the pins, or fill the \
         download cache ahead of time",
    )
    .subcommand_required(true)
    // Before or after the subcommand's name (`vendor --metadata F lock` = `vendor lock
    // --metadata F`). Not clap's `global`, under which the last one given would win
    // where every other flag given twice is an error.
    .arg(vendor_metadata())
    .subcommands([
        sub(
            "lock",
            "Fill or refresh the sha256 pins from the checksum files upstream publishes (or by \
             downloading), keeping the file's comments and order; prints what changed",
        )
        .args([
            vendor_metadata(),
            Arg::new("name")
                .value_name("NAME")
                .help("Only this binary's table"),
            value(
                "version",
                "VERSION",
                "Move NAME to this version first (needs NAME)",
            ),
        ]),
        sub(
            "fetch",
            "Download every pinned artifact the extension ships into the cache \
             (XTASK_VENDOR_CACHE), verifying each hash",
        )
        .args([
            vendor_metadata(),
            flag(
                "offline",
                "Use only the cache: fail on anything missing from it",
            ),
        ]),
    ])
}

fn vendor_metadata() -> Arg {
    value(
        "metadata",
        "FILE",
        "The extension's metadata.json; vendor.toml is read beside it \
         [default: extension/metadata.json]",
    )
}
