//! The real command line, parsed from argument lists.

use clap::error::ErrorKind;

use super::*;

fn parse_env(args: &[&str], env: &[(&str, &str)]) -> Result<Command, Error> {
    let env = |name: &str| {
        env.iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.to_string())
    };
    let argv = std::iter::once("cargo xtask").chain(args.iter().copied());
    Cli::parse_with_env(argv, &env).map(|c| c.command)
}

fn parse(args: &[&str]) -> Result<Command, Error> {
    parse_env(args, &[])
}

fn err(args: &[&str]) -> String {
    match parse(args) {
        Err(e) if e.kind() != ErrorKind::DisplayHelp => {
            assert_eq!(e.exit_code(), 2, "{args:?}: a usage error exits 2");
            e.to_string()
        }
        other => panic!("{args:?}: expected a usage error, got {other:?}"),
    }
}

fn help(args: &[&str]) -> String {
    match parse(args) {
        Err(e) if e.kind() == ErrorKind::DisplayHelp => {
            assert_eq!(e.exit_code(), 0, "{args:?}: help exits 0");
            e.to_string()
        }
        other => panic!("{args:?}: expected help, got {other:?}"),
    }
}

fn stage(args: &[&str]) -> BuildOpts {
    let args: Vec<&str> = std::iter::once("stage")
        .chain(args.iter().copied())
        .collect();
    match parse(&args) {
        Ok(Command::Stage(s)) => s.opts,
        other => panic!("{args:?}: {other:?}"),
    }
}

#[test]
fn values_separate_joined_repeated_and_comma_separated() {
    let o = stage(&[
        "--platform",
        "linux/arm64",
        "--platform=linux/amd64,linux/arm64",
    ]);
    assert_eq!(
        o.platforms,
        [
            ImagePlatform::ALL[1],
            ImagePlatform::ALL[0],
            ImagePlatform::ALL[1]
        ]
    );
    let o = stage(&[
        "--toolchain=zigbuild",
        "-v",
        "--toolchain",
        "x86_64-pc-windows-gnu=cargo",
    ]);
    assert_eq!(o.toolchains, ["zigbuild", "x86_64-pc-windows-gnu=cargo"]);
    assert!(o.verbose && !o.dry_run && o.platforms.is_empty());
    let o = stage(&["--verbose", "--dry-run", "--metadata", "m.json"]);
    assert!(o.verbose && o.dry_run);
    assert_eq!(o.toolchains, ["auto"]);
    assert_eq!(o.metadata.as_deref(), Some("m.json".into()));
}

#[test]
fn bad_flags_name_the_flag_and_the_choices() {
    let e = err(&["stage", "--platform", "linux/s390x"]);
    assert!(
        e.contains("--platform") && e.contains("linux/amd64, linux/arm64"),
        "{e}"
    );
    let e = err(&["stage", "--toolchain", "msvc"]);
    assert!(
        e.contains("--toolchain") && e.contains("unknown toolchain `msvc`"),
        "{e}"
    );
    let e = err(&["dev", "--port", "http"]);
    assert!(
        e.contains("invalid value 'http' for '--port <PORT>': expected a port"),
        "{e}"
    );
    let missing = "the following required arguments were not provided:\n  ";
    for (args, needle) in [
        (
            &["dist", "--platfrom", "linux/arm64"][..],
            "unexpected argument '--platfrom' found\n\n  \
             tip: a similar argument exists: '--platform'",
        ),
        (
            &["dist", "--bogus"],
            "unexpected argument '--bogus' found\n",
        ),
        (
            &["stagee"],
            "unrecognized subcommand 'stagee'\n\n  tip: a similar subcommand exists: 'stage'",
        ),
        (
            &["--verbose", "stage"],
            "unexpected argument '--verbose' found",
        ),
        (
            &["stage", "--metadata"],
            "a value is required for '--metadata <FILE>' but none was supplied",
        ),
        (
            &["dist", "--push", "--tag"],
            "a value is required for '--tag <TAG>'",
        ),
        (
            &["dist", "--push=yes"],
            "unexpected value 'yes' for '--push' found; no more were expected",
        ),
        // Not repeatable: twice is an error, whichever spelling.
        (
            &["dist", "-v", "--verbose"],
            "the argument '--verbose' cannot be used multiple times",
        ),
        (
            &["dist", "--tag", "1", "--tag=2"],
            "the argument '--tag <TAG>' cannot be used multiple times",
        ),
        (&["verify"], &format!("{missing}<IMAGE>")),
        (&["verify", "a", "b"], "unexpected argument 'b' found"),
        (&["merge", "reg/app:1"], &format!("{missing}<SOURCE>...")),
        (
            &["vendor", "lock", "--version", "1"],
            "`--version <VERSION>` needs NAME",
        ),
        (
            &["vendor", "--version", "1", "lock", "kubectl"],
            "unexpected argument '--version' found",
        ),
        (
            &["bench", "dist"],
            &format!("{missing}--image <REPOSITORY>"),
        ),
        (&["dist", "--sbom-generator", "x"], "needs `--sbom`"),
    ] {
        let e = err(args);
        assert!(
            e.starts_with("error: ") && e.contains(needle),
            "{args:?}: expected `{needle}` in {e}"
        );
    }
    let e = err(&["dist", "--push=yes"]);
    assert!(
        e.contains("Usage: cargo xtask dist") && e.contains("try '--help'"),
        "{e}"
    );
    let e = err(&["vendor", "lock", "--version=1"]);
    assert!(e.contains("Usage: cargo xtask vendor lock"), "{e}");
}

#[test]
fn env_fills_what_the_command_line_leaves_out() {
    let env = [("XTASK_IMAGE", "reg.io/env"), ("BUILDX_BUILDER", "b")];
    let Ok(Command::Dist(d)) = parse_env(&["dist"], &env) else {
        panic!()
    };
    assert_eq!(
        (d.image.as_deref(), d.builder.as_deref()),
        (Some("reg.io/env"), Some("b"))
    );
    let Ok(Command::Doctor(d)) = parse_env(&["doctor", "--image=reg.io/flag"], &env) else {
        panic!()
    };
    assert_eq!(
        (d.image.as_deref(), d.builder.as_deref()),
        (Some("reg.io/flag"), Some("b"))
    );
    let Ok(Command::Dist(d)) = parse(&["dist"]) else {
        panic!()
    };
    assert_eq!((d.image, d.builder, d.sbom_generator), (None, None, None));
    // An environment value is held to the same rules as the flag.
    let gen = [("XTASK_SBOM_GENERATOR", "scanner")];
    assert!(
        matches!(parse_env(&["dist"], &gen), Err(e) if e.to_string().contains("XTASK_SBOM_GENERATOR"))
    );
    let Ok(Command::Dist(d)) = parse_env(&["dist", "--sbom"], &gen) else {
        panic!()
    };
    assert_eq!(d.sbom_generator.as_deref(), Some("scanner"));
}

#[test]
fn positionals_subcommands_and_defaults() {
    let Ok(Command::Merge(m)) = parse(&[
        "merge",
        "--json",
        "r:1",
        "r:1-amd64",
        "--force",
        "r:1-arm64",
    ]) else {
        panic!()
    };
    assert_eq!(
        (m.image.as_str(), m.sources.len(), m.json, m.force),
        ("r:1", 2, true, true)
    );
    for args in [
        &[
            "vendor",
            "--metadata",
            "e/m.json",
            "lock",
            "kubectl",
            "--version",
            "1.31.0",
        ][..],
        &[
            "vendor",
            "lock",
            "--metadata=e/m.json",
            "--version=1.31.0",
            "kubectl",
        ],
    ] {
        let Ok(Command::Vendor(v)) = parse(args) else {
            panic!("{args:?}")
        };
        assert_eq!(v.metadata.as_deref(), Some("e/m.json".into()));
        assert!(
            matches!(&v.what, VendorWhat::Lock { name: Some(n), version: Some(ver) } if n == "kubectl" && ver == "1.31.0"),
            "{v:?}"
        );
    }
    assert!(matches!(
        parse(&["dev"]),
        Ok(Command::Dev(DevCmd { port: 5173, .. }))
    ));
    assert!(matches!(
        parse(&["bench", "xtask-build", "--rust-analyzer", "ra"]),
        Ok(Command::Bench(BenchCmd {
            what: BenchWhat::XtaskBuild {
                rust_analyzer: Some(_)
            }
        }))
    ));
    assert!(matches!(
        parse(&["codegen", "--check"]),
        Ok(Command::Codegen(CodegenCmd { check: true }))
    ));
}

#[test]
fn release_needs_a_bump_and_one_way_to_publish() {
    let Ok(Command::Release(r)) = parse(&["release", "1.2.3", "--push", "--dry-run"]) else {
        panic!("release did not parse")
    };
    assert_eq!(
        r.bump,
        crate::release_edit::Bump::To("1.2.3".parse().unwrap())
    );
    assert!(r.push && !r.local && r.dry_run && r.remote == "origin");
    for (args, needle) in [
        (&["release", "patch"][..], "exactly one of `--push`"),
        (
            &["release", "patch", "--push", "--local"],
            "exactly one of `--push`",
        ),
        (&["release", "--push"], "<patch|minor|major|X.Y.Z>"),
        (
            &["release", "v1", "--push"],
            "expected patch, minor, major or a version",
        ),
    ] {
        let e = err(args);
        assert!(e.contains(needle), "{args:?}: {e}");
    }
}

#[test]
fn help_for_every_command_and_usage_without_one() {
    let top = help(&["--help"]);
    assert!(
        top.starts_with("Builds, stages and ships the Docker Desktop extension")
            && top.contains("Usage: cargo xtask <COMMAND>"),
        "{top}"
    );
    let cli = cli::command();
    let commands: Vec<(&str, String)> = cli
        .get_subcommands()
        .map(|c| (c.get_name(), c.get_about().unwrap().to_string()))
        .collect();
    assert_eq!(commands.len(), 15, "{commands:?}");
    let width = commands.iter().map(|(n, _)| n.len()).max().unwrap();
    for (name, about) in &commands {
        assert!(
            top.contains(&format!("  {name:width$}  {about}\n")),
            "{name}:\n{top}"
        );
        let h = help(&[name, "-h"]);
        assert!(
            h.starts_with(about.as_str()) && h.contains(&format!("Usage: cargo xtask {name}")),
            "{h}"
        );
    }
    assert_eq!(err(&[]), top, "no command: the help, as an error");
    let dist = help(&["dist", "--platform", "linux/arm64", "--help"]);
    for line in [
        "Usage: cargo xtask dist [OPTIONS]\n",
        "\n      --platform <PLATFORM>        Image platform to build for",
        "\n  -v, --verbose                    Stream every",
        "[env: XTASK_SBOM_GENERATOR=]\n",
        "\n  -h, --help                       Print help\n",
    ] {
        assert!(dist.contains(line), "`{line}` not in:\n{dist}");
    }
    let merge = help(&["merge", "--help"]);
    assert!(
        merge.contains("Usage: cargo xtask merge [OPTIONS] <IMAGE> <SOURCE>...\n"),
        "{merge}"
    );
    assert!(
        merge.contains("Arguments:\n  <IMAGE>      The release"),
        "{merge}"
    );
    let vendor = help(&["vendor", "--help"]);
    assert!(
        vendor.contains("Usage: cargo xtask vendor [OPTIONS] <COMMAND>")
            && vendor.contains("\n  fetch  Download"),
        "{vendor}"
    );
    let lock = help(&["vendor", "lock", "--help"]);
    assert!(
        lock.contains("Usage: cargo xtask vendor lock [OPTIONS] [NAME]")
            && lock.contains("--metadata <FILE>")
            && lock.contains("--version <VERSION>"),
        "{lock}"
    );
    assert!(help(&["bench", "dist", "-h"]).contains("--image <REPOSITORY>"));
}

#[test]
fn the_command_tree_is_well_formed() {
    // clap's own checks (unique ids and flags, positional order, ...) of every command:
    // a debug build runs them only for the commands it is given.
    cli::command().debug_assert();
}

#[test]
fn double_dash_ends_the_flags() {
    let Ok(Command::Verify(v)) = parse(&["verify", "--verbose", "--", "--image"]) else {
        panic!()
    };
    assert_eq!((v.image.as_str(), v.verbose), ("--image", true));
    let Ok(Command::Verify(v)) = parse(&["verify", "r:1", "--rebuild"]) else {
        panic!()
    };
    assert!(v.rebuild);
    let Ok(Command::Merge(m)) = parse(&["merge", "--json", "r:1", "--", "-a", "--force"]) else {
        panic!()
    };
    assert_eq!(
        (m.sources, m.force, m.json),
        (vec!["-a".to_owned(), "--force".to_owned()], false, true)
    );
    let Ok(Command::Vendor(v)) = parse(&["vendor", "lock", "--", "--version"]) else {
        panic!()
    };
    assert!(
        matches!(&v.what, VendorWhat::Lock { name: Some(n), version: None } if n == "--version"),
        "{v:?}"
    );
    // After `--`, a help flag is an argument too.
    assert!(err(&["verify", "--", "-h", "extra"]).contains("unexpected argument 'extra'"));
}

#[test]
fn dash_h_is_a_value_where_a_flag_takes_one() {
    for args in [&["dist", "--tag", "-h"][..], &["dist", "--tag=-h"]] {
        let Ok(Command::Dist(d)) = parse(args) else {
            panic!("{args:?}")
        };
        assert_eq!(d.tag.as_deref(), Some("-h"), "{args:?}");
    }
    let Ok(Command::Doctor(d)) = parse(&["doctor", "--image", "--help", "--json"]) else {
        panic!()
    };
    assert_eq!((d.image.as_deref(), d.json), (Some("--help"), true));
    // As a flag, anywhere after the command, it is a request for help.
    assert!(help(&["dist", "--tag", "1.0.0", "-h"]).contains("Usage: cargo xtask dist"));
    assert!(help(&["vendor", "lock", "--help"]).contains("Usage: cargo xtask vendor lock"));
}

#[test]
fn values_may_start_with_a_dash() {
    let Ok(Command::Dist(d)) = parse(&[
        "dist",
        "--tag",
        "-rc.1",
        "--builder=-b",
        "--metadata",
        "-m.json",
        "--image",
        "--push",
    ]) else {
        panic!()
    };
    assert_eq!(
        (d.tag.as_deref(), d.builder.as_deref(), d.image.as_deref()),
        (Some("-rc.1"), Some("-b"), Some("--push"))
    );
    // `--image --push` is the image `--push`, as in other clap CLIs: not the flag.
    assert!(!d.push);
    assert_eq!(d.opts.metadata.as_deref(), Some("-m.json".into()));
    let Ok(Command::Bench(b)) = parse(&["bench", "dist", "--image", "-r"]) else {
        panic!()
    };
    assert!(matches!(b.what, BenchWhat::Dist { image } if image == "-r"));
    // The value is still checked, and the error names it.
    let e = err(&["stage", "--platform", "-linux/arm64"]);
    assert!(
        e.contains("invalid value '-linux/arm64' for '--platform"),
        "{e}"
    );
}

#[test]
fn repeatable_flags_accumulate_in_order() {
    let Ok(Command::Build(b)) = parse(&[
        "build",
        "--target",
        "aarch64-apple-darwin",
        "--platform=linux/arm64",
        "--toolchain",
        "cross",
        "--target=x86_64-pc-windows-gnu",
        "--platform",
        "linux/amd64",
        "--toolchain=x86_64-pc-windows-gnu=cargo",
    ]) else {
        panic!()
    };
    let triples: Vec<&str> = b.targets.iter().map(|t| t.triple).collect();
    assert_eq!(triples, ["aarch64-apple-darwin", "x86_64-pc-windows-gnu"]);
    assert_eq!(
        b.opts.platforms,
        [ImagePlatform::ALL[1], ImagePlatform::ALL[0]]
    );
    assert_eq!(b.opts.toolchains, ["cross", "x86_64-pc-windows-gnu=cargo"]);
    // Every other flag is given at most once: twice is an error (tested above).
    for args in [
        &["stage", "--metadata", "a", "--metadata", "b"][..],
        &["stage", "--dry-run", "--dry-run"],
        &["doctor", "--image=a", "--image=b"],
        &["vendor", "--metadata", "a", "lock", "--metadata", "b"],
    ] {
        assert!(
            err(args).contains("cannot be used multiple times"),
            "{args:?}"
        );
    }
}

#[test]
fn the_order_of_flags_does_not_matter() {
    // Each group is a flag with its value; every order of the groups is the same command.
    let groups: [&[&str]; 7] = [
        &["--push"],
        &["--tag", "1.2.3"],
        &["--platform", "linux/arm64"],
        &["--image=reg.io/app"],
        &["-v"],
        &["--toolchain", "zigbuild"],
        &["--builder", "b"],
    ];
    let dist = |order: &[usize]| {
        let mut args = vec!["dist"];
        for &i in order {
            args.extend_from_slice(groups[i]);
        }
        format!("{:?}", parse(&args).unwrap())
    };
    let first = dist(&[0, 1, 2, 3, 4, 5, 6]);
    for order in [
        [6, 5, 4, 3, 2, 1, 0],
        [3, 0, 6, 1, 5, 2, 4],
        [4, 2, 0, 5, 1, 6, 3],
    ] {
        assert_eq!(dist(&order), first, "{order:?}");
    }
    // Positionals keep their order among themselves, flags may sit between them.
    let a = format!(
        "{:?}",
        parse(&["merge", "--force", "r:1", "s:1", "s:2", "--json"])
    );
    let b = format!(
        "{:?}",
        parse(&["merge", "r:1", "--json", "s:1", "--force", "s:2"])
    );
    assert_eq!(a, b);
}

#[test]
fn every_variable_the_help_names_is_read() {
    // Walks the command tree: an `[env: VAR=]` in a flag's help must reach the command.
    let cli = cli::command();
    let mut seen = Vec::new();
    for cmd in cli.get_subcommands() {
        for arg in cmd.get_arguments() {
            let help = arg.get_help().map(|h| h.to_string()).unwrap_or_default();
            let Some(var) = help
                .split_once("[env: ")
                .and_then(|(_, rest)| rest.split_once("=]"))
                .map(|(var, _)| var.to_owned())
            else {
                continue;
            };
            let mut args = vec![cmd.get_name()];
            // What the command needs besides the variable.
            args.extend(
                cmd.get_positionals()
                    .filter(|p| p.is_required_set())
                    .map(|_| "x"),
            );
            if var == "XTASK_SBOM_GENERATOR" {
                args.push("--sbom");
            }
            if cmd.get_name() == "release" {
                args = vec!["release", "patch", "--push"];
            }
            let parsed = parse_env(&args, &[(&var, "from-env")]);
            assert!(
                format!("{parsed:?}").contains("\"from-env\""),
                "{args:?} with {var}: {parsed:?}"
            );
            seen.push(var);
        }
    }
    seen.sort();
    seen.dedup();
    assert_eq!(
        seen,
        ["BUILDX_BUILDER", "XTASK_IMAGE", "XTASK_SBOM_GENERATOR"]
    );
}
