//! The command line. `flags/cli.rs` declares every command and flag with its help text
//! through clap's builder API; this file turns clap's matches, once, into the plain
//! option values each command runs with (`BuildOpts`, `DistCmd`, ...).
//!
//! clap's builder, not its derive: the derive's proc macro (syn) would be most of the
//! parser's build cost, and the builder reads as plainly.

use std::ffi::OsString;

use camino::Utf8PathBuf;
use clap::error::ErrorKind;
use clap::ArgMatches;

use crate::target::{ImagePlatform, Target};
use crate::toolchain::Toolchains;

mod cli;
/// A usage mistake (exit code 2) or a request for help (exit code 0); `Display` is the
/// text to print, `exit` prints it where it belongs and exits with its code.
pub use clap::Error;

#[derive(Debug)]
pub struct Cli {
    pub command: Command,
}

impl Cli {
    /// The process's command line; on a mistake or `--help`, prints and exits (2 or 0).
    pub fn parse() -> Cli {
        Cli::try_parse_from(std::env::args_os()).unwrap_or_else(|e| e.exit())
    }

    /// `args` starts with the program's name; flags fall back to the process environment.
    pub fn try_parse_from<I, T>(args: I) -> Result<Cli, Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<OsString> + Clone,
    {
        Cli::parse_with_env(args, &|name| std::env::var(name).ok())
    }

    /// `env` stands for the process environment, so that tests can give their own.
    fn parse_with_env<I, T>(args: I, env: &dyn Fn(&str) -> Option<String>) -> Result<Cli, Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<OsString> + Clone,
    {
        let matches = cli::command().try_get_matches_from(args)?;
        let command = Command::from_matches(&matches, &Env(env))?;
        Ok(Cli { command })
    }
}

/// The fallbacks of flags declared with `cli::value_or_env`.
struct Env<'a>(&'a dyn Fn(&str) -> Option<String>);

impl Env<'_> {
    /// The value of `id` on the command line, else the variable `var`.
    fn or(&self, m: &ArgMatches, id: &str, var: &str) -> Option<String> {
        text(m, id).or_else(|| (self.0)(var))
    }
}

/// A mistake clap cannot see (it needs the environment, or spans flags), reported as clap
/// reports its own: with the usage of the command `path` names.
fn usage_error(path: &[&str], kind: ErrorKind, message: String) -> Error {
    let mut cmd = cli::command();
    // Gives every subcommand its full name (`cargo xtask vendor lock`) for the usage line.
    cmd.build();
    let mut sub = &mut cmd;
    for name in path {
        sub = sub
            .find_subcommand_mut(name)
            .expect("the path names commands of cli::command");
    }
    sub.error(kind, message)
}

fn text(m: &ArgMatches, id: &str) -> Option<String> {
    m.get_one::<String>(id).cloned()
}

fn path(m: &ArgMatches, id: &str) -> Option<Utf8PathBuf> {
    text(m, id).map(Utf8PathBuf::from)
}

/// Every value of a repeatable flag, in command-line order.
fn all<T: Clone + Send + Sync + 'static>(m: &ArgMatches, id: &str) -> Vec<T> {
    m.get_many::<T>(id).into_iter().flatten().cloned().collect()
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
    Release(ReleaseCmd),
    Screenshots(ScreenshotsCmd),
}

impl Command {
    fn from_matches(m: &ArgMatches, env: &Env) -> Result<Command, Error> {
        let Some((name, m)) = m.subcommand() else {
            unreachable!("cli::command requires a subcommand")
        };
        Ok(match name {
            "build" => Command::Build(BuildCmd {
                opts: BuildOpts::from_matches(m),
                targets: all(m, "target"),
            }),
            "stage" => Command::Stage(StageCmd {
                opts: BuildOpts::from_matches(m),
            }),
            "dist" => Command::Dist(DistCmd::from_matches(m, env)?),
            "verify" => Command::Verify(VerifyCmd {
                image: text(m, "image").unwrap_or_default(),
                metadata: path(m, "metadata"),
                builder: env.or(m, "builder", "BUILDX_BUILDER"),
                verbose: m.get_flag("verbose"),
                rebuild: m.get_flag("rebuild"),
            }),
            "merge" => Command::Merge(MergeCmd {
                image: text(m, "image").unwrap_or_default(),
                sources: all(m, "sources"),
                force: m.get_flag("force"),
                json: m.get_flag("json"),
                builder: env.or(m, "builder", "BUILDX_BUILDER"),
                verbose: m.get_flag("verbose"),
            }),
            "install" => Command::Install(DesktopCmd::from_matches(m, env)),
            "update" => Command::Update(DesktopCmd::from_matches(m, env)),
            "dev" => Command::Dev(DevCmd {
                image: env.or(m, "image", "XTASK_IMAGE"),
                tag: text(m, "tag"),
                port: m.get_one::<u16>("port").copied().unwrap_or(5173),
            }),
            "doctor" => Command::Doctor(DoctorCmd {
                image: env.or(m, "image", "XTASK_IMAGE"),
                builder: env.or(m, "builder", "BUILDX_BUILDER"),
                json: m.get_flag("json"),
                push: m.get_flag("push"),
            }),
            "setup" => Command::Setup(SetupCmd {}),
            "bench" => Command::Bench(BenchCmd {
                what: BenchWhat::from_matches(m),
            }),
            "codegen" => Command::Codegen(CodegenCmd {
                check: m.get_flag("check"),
            }),
            "vendor" => Command::Vendor(VendorCmd::from_matches(m)?),
            "release" => Command::Release(ReleaseCmd::from_matches(m, env)?),
            "screenshots" => Command::Screenshots(ScreenshotsCmd {
                out: path(m, "out"),
                verbose: m.get_flag("verbose"),
            }),
            other => unreachable!("`{other}` is in cli::command but not read"),
        })
    }
}

/// The flags shared by `build`, `stage` and `dist`.
#[derive(Debug)]
pub struct BuildOpts {
    pub platforms: Vec<ImagePlatform>,
    pub toolchains: Vec<String>,
    pub metadata: Option<Utf8PathBuf>,
    pub dry_run: bool,
    pub offline: bool,
    pub verbose: bool,
}

impl BuildOpts {
    fn from_matches(m: &ArgMatches) -> BuildOpts {
        let mut toolchains = all(m, "toolchain");
        if toolchains.is_empty() {
            toolchains.push("auto".to_owned());
        }
        BuildOpts {
            platforms: all(m, "platform"),
            toolchains,
            metadata: path(m, "metadata"),
            dry_run: m.get_flag("dry-run"),
            offline: m.get_flag("offline"),
            verbose: m.get_flag("verbose"),
        }
    }
}

#[derive(Debug)]
pub struct BuildCmd {
    pub opts: BuildOpts,
    pub targets: Vec<&'static Target>,
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
    fn from_matches(m: &ArgMatches, env: &Env) -> Result<DistCmd, Error> {
        let cmd = DistCmd {
            opts: BuildOpts::from_matches(m),
            push: m.get_flag("push"),
            image: env.or(m, "image", "XTASK_IMAGE"),
            tag: text(m, "tag"),
            force: m.get_flag("force"),
            json: m.get_flag("json"),
            builder: env.or(m, "builder", "BUILDX_BUILDER"),
            no_provenance: m.get_flag("no-provenance"),
            sbom: m.get_flag("sbom"),
            sbom_generator: env.or(m, "sbom-generator", "XTASK_SBOM_GENERATOR"),
        };
        // Not clap's `requires`: the generator may come from the environment.
        if cmd.sbom_generator.is_some() && !cmd.sbom {
            return Err(usage_error(
                &["dist"],
                ErrorKind::MissingRequiredArgument,
                "`--sbom-generator <IMAGE>` (or XTASK_SBOM_GENERATOR) needs `--sbom`".to_owned(),
            ));
        }
        Ok(cmd)
    }
}

#[derive(Debug)]
pub struct VerifyCmd {
    pub image: String,
    pub metadata: Option<Utf8PathBuf>,
    pub builder: Option<String>,
    pub verbose: bool,
    /// Also build the image from this checkout and compare each platform's digest.
    pub rebuild: bool,
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

#[derive(Debug)]
pub struct DoctorCmd {
    pub image: Option<String>,
    pub builder: Option<String>,
    pub json: bool,
    pub push: bool,
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

impl DesktopCmd {
    fn from_matches(m: &ArgMatches, env: &Env) -> DesktopCmd {
        DesktopCmd {
            image: env.or(m, "image", "XTASK_IMAGE"),
            tag: text(m, "tag"),
            verbose: m.get_flag("verbose"),
        }
    }
}

#[derive(Debug)]
pub struct DevCmd {
    pub image: Option<String>,
    pub tag: Option<String>,
    pub port: u16,
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
    fn from_matches(vendor: &ArgMatches) -> Result<VendorCmd, Error> {
        let Some((name, m)) = vendor.subcommand() else {
            unreachable!("cli::vendor requires a subcommand")
        };
        let metadata = match (path(vendor, "metadata"), path(m, "metadata")) {
            (Some(_), Some(_)) => {
                return Err(usage_error(
                    &["vendor", name],
                    ErrorKind::ArgumentConflict,
                    "the argument '--metadata <FILE>' cannot be used multiple times".to_owned(),
                ))
            }
            (before, after) => before.or(after),
        };
        let what = match name {
            "lock" => {
                let (name, version) = (text(m, "name"), text(m, "version"));
                // Not clap's `requires`, whose message would list `[NAME]` without the why.
                if version.is_some() && name.is_none() {
                    return Err(usage_error(
                        &["vendor", "lock"],
                        ErrorKind::MissingRequiredArgument,
                        "`--version <VERSION>` needs NAME, the binary to move".to_owned(),
                    ));
                }
                VendorWhat::Lock { name, version }
            }
            "fetch" => VendorWhat::Fetch {
                offline: m.get_flag("offline"),
            },
            other => unreachable!("`{other}` is in cli::vendor but not read"),
        };
        Ok(VendorCmd { what, metadata })
    }
}

#[derive(Debug)]
pub struct ReleaseCmd {
    pub bump: crate::release_edit::Bump,
    pub push: bool,
    pub local: bool,
    pub dry_run: bool,
    pub branch: Option<String>,
    pub remote: String,
    pub image: Option<String>,
    pub verbose: bool,
}

impl ReleaseCmd {
    fn from_matches(m: &ArgMatches, env: &Env) -> Result<ReleaseCmd, Error> {
        let (push, local) = (m.get_flag("push"), m.get_flag("local"));
        // Not a clap group: its message would list the flags without saying what each does.
        if push == local {
            return Err(usage_error(
                &["release"],
                ErrorKind::MissingRequiredArgument,
                "give exactly one of `--push` (CI publishes) and `--local` (publish from here)"
                    .to_owned(),
            ));
        }
        Ok(ReleaseCmd {
            bump: m
                .get_one::<crate::release_edit::Bump>("bump")
                .cloned()
                .expect("cli::release requires the bump"),
            push,
            local,
            dry_run: m.get_flag("dry-run"),
            branch: text(m, "branch"),
            remote: text(m, "remote").unwrap_or_else(|| "origin".to_owned()),
            image: env.or(m, "image", "XTASK_IMAGE"),
            verbose: m.get_flag("verbose"),
        })
    }
}

#[derive(Debug)]
pub struct ScreenshotsCmd {
    pub out: Option<Utf8PathBuf>,
    pub verbose: bool,
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
    fn from_matches(m: &ArgMatches) -> BenchWhat {
        match m.subcommand() {
            Some(("stage", _)) => BenchWhat::Stage,
            Some(("dist", m)) => BenchWhat::Dist {
                image: text(m, "image").unwrap_or_default(),
            },
            Some(("first-run", _)) => BenchWhat::FirstRun,
            Some(("xtask-build", m)) => BenchWhat::XtaskBuild {
                rust_analyzer: path(m, "rust-analyzer"),
            },
            other => unreachable!("{other:?} is not in cli::bench"),
        }
    }
}

// The value parsers of cli.rs: an error is shown after the flag and the value.

fn parse_platform(s: &str) -> Result<ImagePlatform, String> {
    ImagePlatform::parse(s).map_err(|e| e.to_string())
}

fn parse_target(s: &str) -> Result<&'static Target, String> {
    Target::find(s).map_err(|e| e.to_string())
}

fn check_toolchain(s: &str) -> Result<String, String> {
    Toolchains::parse(&[s.to_owned()])
        .map(|_| s.to_owned())
        .map_err(|e| e.to_string())
}

fn parse_port(s: &str) -> Result<u16, String> {
    // Not clap's own u16 parser, which would say "invalid digit found in string".
    s.parse()
        .map_err(|_| "expected a port number, 0 to 65535".to_owned())
}

#[cfg(test)]
mod tests;
