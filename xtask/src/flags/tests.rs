//! The real command line, parsed from argument lists.

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
        Err(Error::Usage(e)) => e,
        other => panic!("{args:?}: expected a usage error, got {other:?}"),
    }
}

fn help(args: &[&str]) -> String {
    match parse(args) {
        Err(Error::Help(h)) => h,
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
        [Platform::ALL[1], Platform::ALL[0], Platform::ALL[1]]
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
        e.contains("invalid value `http` for `--port <PORT>`: expected a port"),
        "{e}"
    );
    for (args, needle) in [
        (
            &["dist", "--platfrom", "linux/arm64"][..],
            "unexpected argument `--platfrom` (did you mean `--platform`?)",
        ),
        (&["dist", "--bogus"], "unexpected argument `--bogus`\n"),
        (
            &["stagee"],
            "unrecognized command `stagee`: expected one of build, stage",
        ),
        (&["--verbose", "stage"], "unexpected argument `--verbose`"),
        (
            &["stage", "--metadata"],
            "`--metadata <FILE>` needs a value",
        ),
        (&["dist", "--tag", "--push"], "`--tag <TAG>` needs a value"),
        (
            &["dist", "--push=yes"],
            "`--push` takes no value, found `yes`",
        ),
        (
            &["dist", "-v", "--verbose"],
            "`--verbose` is given more than once",
        ),
        (
            &["dist", "--tag", "1", "--tag=2"],
            "`--tag <TAG>` is given more than once",
        ),
        (&["verify"], "`<IMAGE>` is missing"),
        (&["verify", "a", "b"], "unexpected argument `b`"),
        (&["merge", "reg/app:1"], "`<SOURCE>...` is missing"),
        (
            &["vendor", "lock", "--version", "1"],
            "`--version <VERSION>` needs NAME",
        ),
        (
            &["vendor", "--version", "1", "lock", "kubectl"],
            "unexpected argument `--version`",
        ),
        (&["bench", "dist"], "`--image <REPOSITORY>` is required"),
        (&["dist", "--sbom-generator", "x"], "needs `--sbom`"),
    ] {
        let e = err(args);
        assert!(
            e.starts_with("error: ") && e.contains(needle),
            "{args:?}: expected `{needle}` in {e}"
        );
    }
    assert!(err(&["dist", "--push=yes"]).contains("try `cargo xtask dist --help`"));
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
    // An environment value is held to the flag's rules, as clap did.
    let gen = [("XTASK_SBOM_GENERATOR", "scanner")];
    assert!(
        matches!(parse_env(&["dist"], &gen), Err(Error::Usage(e)) if e.contains("XTASK_SBOM_GENERATOR"))
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
fn help_for_every_command_and_usage_without_one() {
    let top = help(&["--help"]);
    assert!(
        top.starts_with(ABOUT) && top.contains("Usage: cargo xtask <COMMAND>"),
        "{top}"
    );
    for (name, about) in COMMANDS {
        assert!(
            top.contains(&format!("  {name:7}  {about}\n")),
            "{name}:\n{top}"
        );
        let h = help(&[name, "-h"]);
        assert!(
            h.starts_with(about) && h.contains(&format!("Usage: cargo xtask {name}")),
            "{h}"
        );
    }
    assert_eq!(err(&[]), top, "no command: the help, as an error");
    let dist = help(&["dist", "--platform", "nope", "--help"]);
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
