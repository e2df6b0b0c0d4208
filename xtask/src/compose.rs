//! The compose file `metadata.json`'s `vm.composefile` names: Docker Desktop runs its
//! services in its VM. Read with yaml-rust2 (a maintained YAML 1.2 parser, no serde
//! derive; built without its encoding_rs feature, which only matters for non-UTF-8
//! input), and only as far as the checks need: each service's image, entrypoint and
//! command.

use anyhow::{bail, Result};
use camino::Utf8Path;
use yaml_rust2::{Yaml, YamlLoader};

/// One service of the compose file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Service {
    pub name: String,
    /// `image:` as written: `${DESKTOP_PLUGIN_IMAGE}` is the extension's own image.
    pub image: Option<String>,
    /// `entrypoint:` and `command:`, each as the argument list Docker runs; `None` when
    /// the service keeps the image's own.
    pub entrypoint: Option<Vec<String>>,
    pub command: Option<Vec<String>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Compose {
    pub services: Vec<Service>,
}

/// Parses `text` (the contents of `file`); errors name the file and the field.
pub fn parse(file: &Utf8Path, text: &str) -> Result<Compose> {
    let docs = YamlLoader::load_from_str(text)
        .map_err(|e| anyhow::anyhow!("{file}: not valid YAML: {e}"))?;
    let Some(doc) = docs.first() else {
        bail!("{file}: expected a compose file with `services`, found an empty document");
    };
    let services = match &doc["services"] {
        Yaml::Hash(h) if !h.is_empty() => h,
        Yaml::BadValue | Yaml::Null | Yaml::Hash(_) => {
            bail!("{file}: `services`: expected at least one service, found none")
        }
        other => bail!(
            "{file}: `services`: expected a mapping of service name -> service, found {}",
            kind(other)
        ),
    };
    let mut out = Vec::new();
    for (name, service) in services {
        let name = scalar(name).unwrap_or_else(|| format!("{name:?}"));
        let at = format!("services.{name}");
        if !matches!(service, Yaml::Hash(_) | Yaml::Null) {
            bail!(
                "{file}: `{at}`: expected a mapping, found {}",
                kind(service)
            );
        }
        let image = match &service["image"] {
            Yaml::BadValue | Yaml::Null => None,
            v => Some(scalar(v).ok_or_else(|| {
                anyhow::anyhow!("{file}: `{at}.image`: expected a string, found {}", kind(v))
            })?),
        };
        out.push(Service {
            image,
            entrypoint: argv(file, &format!("{at}.entrypoint"), &service["entrypoint"])?,
            command: argv(file, &format!("{at}.command"), &service["command"])?,
            name,
        });
    }
    Ok(Compose { services: out })
}

/// `entrypoint:`/`command:`: a list (exec form) or a string, which Compose splits into
/// words itself (it never runs a shell for it).
fn argv(file: &Utf8Path, at: &str, v: &Yaml) -> Result<Option<Vec<String>>> {
    match v {
        Yaml::BadValue | Yaml::Null => Ok(None),
        Yaml::Array(items) => items
            .iter()
            .map(|i| {
                scalar(i).ok_or_else(|| {
                    anyhow::anyhow!("{file}: `{at}`: expected strings, found {}", kind(i))
                })
            })
            .collect::<Result<Vec<_>>>()
            .map(Some),
        Yaml::String(s) => Ok(Some(s.split_whitespace().map(str::to_owned).collect())),
        other => bail!(
            "{file}: `{at}`: expected a string or a list of strings, found {}",
            kind(other)
        ),
    }
}

fn scalar(v: &Yaml) -> Option<String> {
    match v {
        Yaml::String(s) | Yaml::Real(s) => Some(s.clone()),
        Yaml::Integer(i) => Some(i.to_string()),
        Yaml::Boolean(b) => Some(b.to_string()),
        _ => None,
    }
}

fn kind(v: &Yaml) -> &'static str {
    match v {
        Yaml::Real(_) | Yaml::Integer(_) => "a number",
        Yaml::String(_) => "a string",
        Yaml::Boolean(_) => "a boolean",
        Yaml::Array(_) => "a list",
        Yaml::Hash(_) => "a mapping",
        Yaml::Alias(_) => "an alias",
        Yaml::Null | Yaml::BadValue => "nothing",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Compose> {
        super::parse(Utf8Path::new("ext/docker-compose.yaml"), text)
    }

    #[test]
    fn services_with_images_and_commands() {
        let c = parse(
            "services:\n  vm-service:\n    image: ${DESKTOP_PLUGIN_IMAGE}\n    volumes:\n      - /var/run/docker.sock:/var/run/docker.sock\n  db:\n    image: postgres:16\n    command: [\"postgres\", \"-c\", \"fsync=off\"]\n    entrypoint: /docker-entrypoint.sh  --x\n",
        )
        .unwrap();
        assert_eq!(c.services.len(), 2);
        assert_eq!(
            c.services[0],
            Service {
                name: "vm-service".into(),
                image: Some("${DESKTOP_PLUGIN_IMAGE}".into()),
                entrypoint: None,
                command: None,
            }
        );
        assert_eq!(
            c.services[1].command.as_deref(),
            Some(&["postgres".to_owned(), "-c".into(), "fsync=off".into()][..])
        );
        assert_eq!(
            c.services[1].entrypoint.as_deref(),
            Some(&["/docker-entrypoint.sh".to_owned(), "--x".into()][..])
        );
    }

    #[test]
    fn bad_files_name_file_and_field() {
        let e = format!("{:#}", parse("services: [a\n  b: c").unwrap_err());
        assert!(
            e.starts_with("ext/docker-compose.yaml: not valid YAML:") && e.contains("line"),
            "{e}"
        );
        for text in ["version: '3'\n", "services: {}\n", "services:\n", ""] {
            let e = format!("{:#}", parse(text).unwrap_err());
            assert!(
                e.starts_with("ext/docker-compose.yaml: ") && e.contains("services"),
                "{text:?}: {e}"
            );
        }
        let e = format!("{:#}", parse("services: [a, b]\n").unwrap_err());
        assert!(e.contains("`services`: expected a mapping"), "{e}");
        let e = format!(
            "{:#}",
            parse("services:\n  s:\n    image: [1]\n").unwrap_err()
        );
        assert!(
            e.contains("`services.s.image`: expected a string, found a list"),
            "{e}"
        );
        let e = format!(
            "{:#}",
            parse("services:\n  s:\n    command: {a: 1}\n").unwrap_err()
        );
        assert!(e.contains("`services.s.command`"), "{e}");
    }
}
