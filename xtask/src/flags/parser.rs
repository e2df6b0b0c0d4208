//! The machinery under `flags.rs`: a parser that each command's `parse` function drives.
//!
//! Each call (`flag`, `value`, `required`, ...) takes its flag or argument out of the
//! command line and records its help line, so a flag is spelled, read and documented in
//! one place. With `-h`/`--help` anywhere, nothing fails: every call returns a default
//! and `finish` (or `subcommand`, when no command follows) returns the help text.
//!
//! A command's flags may come anywhere after its name, before or after a subcommand's
//! (`vendor --metadata F lock` = `vendor lock --metadata F`). Positional arguments are
//! what no flag claimed, so a command reads them after all of its flags.

use std::fmt;

/// Why there is no command to run: `--help` (print to stdout, exit 0) or a mistake (print
/// to stderr, exit 2, as clap did).
#[derive(Debug)]
pub enum Error {
    Help(String),
    Usage(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Help(text) | Error::Usage(text) => f.write_str(text.trim_end()),
        }
    }
}

impl std::error::Error for Error {}

/// A command's name and its one-line description, as listed under `Commands:`.
pub type Commands = &'static [(&'static str, &'static str)];

pub struct Parser<'e> {
    /// The arguments nothing has claimed yet, in order.
    args: Vec<String>,
    env: &'e dyn Fn(&str) -> Option<String>,
    help: bool,
    /// The command being parsed (`cargo xtask vendor lock`) and what it does.
    path: String,
    about: &'static str,
    /// Help lines: (`-v, --verbose`, text) and (`<IMAGE>`, text).
    options: Vec<(String, String)>,
    arguments: Vec<(String, String)>,
}

impl<'e> Parser<'e> {
    pub fn new(
        path: &str,
        about: &'static str,
        mut args: Vec<String>,
        env: &'e dyn Fn(&str) -> Option<String>,
    ) -> Parser<'e> {
        let help = args.iter().any(|a| a == "-h" || a == "--help");
        args.retain(|a| a != "-h" && a != "--help");
        Parser {
            args,
            env,
            help,
            path: path.to_owned(),
            about,
            options: Vec::new(),
            arguments: Vec::new(),
        }
    }

    /// A mistake on this command's line (nothing in help mode).
    pub fn check(&self, ok: bool, message: impl FnOnce() -> String) -> Result<(), Error> {
        match ok || self.help {
            true => Ok(()),
            false => Err(self.error(&message())),
        }
    }

    fn error(&self, message: &str) -> Error {
        Error::Usage(format!(
            "error: {message}\n\nFor more information, try `{} --help`.\n",
            self.path
        ))
    }

    /// A switch: `spec` is `--push` or `-v, --verbose`.
    pub fn flag(&mut self, spec: &'static str, help: &str) -> Result<bool, Error> {
        self.options.push((spec.to_owned(), help.to_owned()));
        let (short, long) = match spec.split_once(", ") {
            Some((short, long)) => (Some(short), long),
            None => (None, spec),
        };
        let with_value = format!("{long}=");
        let (found, rest): (Vec<String>, Vec<String>) = std::mem::take(&mut self.args)
            .into_iter()
            .partition(|a| a == long || Some(a.as_str()) == short || a.starts_with(&with_value));
        self.args = rest;
        if let Some(v) = found.iter().find_map(|a| a.strip_prefix(&with_value)) {
            self.check(false, || format!("`{long}` takes no value, found `{v}`"))?;
        }
        self.check(found.len() <= 1, || {
            format!("`{long}` is given more than once")
        })?;
        Ok(!found.is_empty())
    }

    /// Every `--long VALUE` and `--long=VALUE` (`spec` is `--long <VALUE>`), each checked by
    /// `parse`, whose error is shown after the flag and the value.
    pub fn values<T>(
        &mut self,
        spec: &'static str,
        help: &str,
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> Result<Vec<T>, Error> {
        self.options.push((spec.to_owned(), help.to_owned()));
        self.take(spec)?
            .iter()
            .map(|v| self.parse_value(spec, v, None, &parse))
            .collect::<Result<Vec<_>, _>>()
            .map(|v| v.into_iter().flatten().collect())
    }

    /// A flag with a value, given at most once.
    pub fn value<T>(
        &mut self,
        spec: &'static str,
        help: &str,
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> Result<Option<T>, Error> {
        self.options.push((spec.to_owned(), help.to_owned()));
        self.one(spec, None, parse)
    }

    /// A flag with a value, given at most once, else taken from the variable `env`.
    pub fn value_or_env<T>(
        &mut self,
        spec: &'static str,
        env: &'static str,
        help: &str,
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> Result<Option<T>, Error> {
        self.options
            .push((spec.to_owned(), format!("{help} [env: {env}=]")));
        self.one(spec, Some(env), parse)
    }

    fn one<T>(
        &mut self,
        spec: &'static str,
        env: Option<&'static str>,
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> Result<Option<T>, Error> {
        let given = self.take(spec)?;
        self.check(given.len() <= 1, || {
            format!("`{spec}` is given more than once")
        })?;
        match (given.first(), env.and_then(self.env)) {
            (Some(v), _) => self.parse_value(spec, v, None, &parse),
            (None, Some(v)) => self.parse_value(spec, &v, env, &parse),
            (None, None) => Ok(None),
        }
    }

    fn parse_value<T>(
        &self,
        spec: &str,
        value: &str,
        env: Option<&str>,
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> Result<Option<T>, Error> {
        match parse(value) {
            Ok(v) => Ok(Some(v)),
            Err(_) if self.help => Ok(None),
            Err(e) => {
                let from = env.map(|e| format!(" (from {e})")).unwrap_or_default();
                Err(self.error(&format!("invalid value `{value}` for `{spec}`{from}: {e}")))
            }
        }
    }

    /// Takes out every value of the flag `spec` (`--long <VALUE>`).
    fn take(&mut self, spec: &str) -> Result<Vec<String>, Error> {
        let long = spec.split(' ').next().unwrap_or(spec);
        let with_value = format!("{long}=");
        let (mut values, mut rest, mut missing) = (Vec::new(), Vec::new(), false);
        let mut args = std::mem::take(&mut self.args).into_iter().peekable();
        while let Some(a) = args.next() {
            if let Some(v) = a.strip_prefix(&with_value) {
                values.push(v.to_owned());
            } else if a != long {
                rest.push(a);
            } else if let Some(v) = args.next_if(|v| !v.starts_with('-')) {
                values.push(v);
            } else {
                missing = true;
            }
        }
        self.args = rest;
        self.check(!missing, || format!("`{spec}` needs a value"))?;
        Ok(values)
    }

    /// The next argument no flag claimed (`<IMAGE>`); an error if there is none.
    pub fn required(&mut self, spec: &'static str, help: &str) -> Result<String, Error> {
        let arg = self.optional(spec, help)?;
        self.check(arg.is_some(), || format!("`{spec}` is missing"))?;
        Ok(arg.unwrap_or_default())
    }

    /// The next argument no flag claimed (`[NAME]`), if any.
    pub fn optional(&mut self, spec: &'static str, help: &str) -> Result<Option<String>, Error> {
        self.arguments.push((spec.to_owned(), help.to_owned()));
        self.positional()
    }

    /// All the remaining arguments, at least one (`<SOURCE>...`).
    pub fn all(&mut self, spec: &'static str, help: &str) -> Result<Vec<String>, Error> {
        self.arguments.push((spec.to_owned(), help.to_owned()));
        let mut all = Vec::new();
        while let Some(a) = self.positional()? {
            all.push(a);
        }
        self.check(!all.is_empty(), || format!("`{spec}` is missing"))?;
        Ok(all)
    }

    fn positional(&mut self) -> Result<Option<String>, Error> {
        match self.args.first() {
            None => Ok(None),
            Some(a) if a.starts_with('-') => self.unexpected().map(|()| None),
            Some(_) => Ok(Some(self.args.remove(0))),
        }
    }

    /// The subcommand, which must come first among the unclaimed arguments; its name from
    /// `commands`. Without one, the help (an error unless `--help` asked for it).
    pub fn subcommand(&mut self, commands: Commands) -> Result<&'static str, Error> {
        let Some(first) = self.args.first() else {
            let help = self.render(commands);
            return Err(match self.help {
                true => Error::Help(help),
                false => Error::Usage(help),
            });
        };
        if first.starts_with('-') {
            self.unexpected()?;
        }
        let Some(&(name, about)) = commands.iter().find(|(n, _)| n == first) else {
            let names: Vec<&str> = commands.iter().map(|(n, _)| *n).collect();
            return Err(self.error(&format!(
                "unrecognized command `{first}`: expected one of {}",
                names.join(", ")
            )));
        };
        self.args.remove(0);
        self.path = format!("{} {name}", self.path);
        self.about = about;
        Ok(name)
    }

    /// Every argument was claimed; or, with `--help`, the help of the last command.
    pub fn finish(self) -> Result<(), Error> {
        if self.help {
            return Err(Error::Help(self.render(&[])));
        }
        match self.args.is_empty() {
            true => Ok(()),
            false => self.unexpected(),
        }
    }

    /// The first unclaimed argument as an error, with the command's flag it may be a typo of.
    fn unexpected(&self) -> Result<(), Error> {
        let Some(arg) = self.args.first().filter(|_| !self.help) else {
            return Ok(());
        };
        let given = arg.split('=').next().unwrap_or(arg);
        let similar = self
            .options
            .iter()
            .filter_map(|(spec, _)| spec.split([' ', ',']).find(|w| w.starts_with("--")))
            .find(|long| given.starts_with('-') && edit_distance(given, long) <= 2);
        let tip = similar
            .map(|s| format!(" (did you mean `{s}`?)"))
            .unwrap_or_default();
        Err(self.error(&format!("unexpected argument `{arg}`{tip}")))
    }

    /// clap's layout: what the command does, its usage, then one aligned line per
    /// command, argument and flag. A parent command's flags are listed too: they are
    /// accepted after the subcommand's name.
    fn render(&self, commands: Commands) -> String {
        let mut usage = self.path.clone();
        if !self.options.is_empty() {
            usage.push_str(" [OPTIONS]");
        }
        for (spec, _) in &self.arguments {
            usage = format!("{usage} {spec}");
        }
        if !commands.is_empty() {
            usage.push_str(" <COMMAND>");
        }
        let mut out = format!("{}\n\nUsage: {usage}\n", self.about);
        let commands: Vec<(String, String)> = commands
            .iter()
            .map(|(n, a)| (n.to_string(), a.to_string()))
            .collect();
        let mut options: Vec<(String, String)> = self
            .options
            .iter()
            .map(|(spec, help)| match spec.starts_with("--") {
                true => (format!("    {spec}"), help.clone()),
                false => (spec.clone(), help.clone()),
            })
            .collect();
        options.push(("-h, --help".into(), "Print help".into()));
        for (title, lines) in [
            ("Commands", &commands),
            ("Arguments", &self.arguments),
            ("Options", &options),
        ] {
            if lines.is_empty() {
                continue;
            }
            let width = lines.iter().map(|(l, _)| l.len()).max().unwrap_or(0);
            out.push_str(&format!("\n{title}:\n"));
            for (left, help) in lines {
                out.push_str(&format!("  {left:width$}  {help}\n"));
            }
        }
        out
    }
}

/// Levenshtein distance: single-character insertions, deletions and substitutions.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substituted = diagonal + usize::from(ca != *cb);
            diagonal = row[j + 1];
            row[j + 1] = substituted.min(row[j] + 1).min(diagonal + 1);
        }
    }
    row[b.len()]
}
