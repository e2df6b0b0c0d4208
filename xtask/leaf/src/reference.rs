//! Image references: `REPOSITORY[:TAG][@DIGEST]`, as Docker spells them.

use std::fmt;

use anyhow::{bail, Result};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRef {
    /// `registry[:port]/path/name`, as given.
    pub repo: String,
    pub tag: Option<String>,
    pub digest: Option<String>,
}

impl ImageRef {
    pub fn parse(s: &str) -> Result<ImageRef> {
        let (rest, digest) = match s.split_once('@') {
            Some((r, d)) => {
                let hex = d.strip_prefix("sha256:").unwrap_or_default();
                if !crate::digest::is_sha256(hex) {
                    bail!("image reference `{s}`: expected a digest like sha256:<64 lowercase hex digits> after `@`, found `{d}`");
                }
                (r, Some(d.to_owned()))
            }
            None => (s, None),
        };
        // A colon after the last slash starts the tag; one before it is a registry port.
        let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (repo, tag) = match rest[last_slash..].find(':') {
            Some(i) => (&rest[..last_slash + i], Some(&rest[last_slash + i + 1..])),
            None => (rest, None),
        };
        if repo.is_empty()
            || repo.starts_with('/')
            || repo.ends_with('/')
            || repo.contains("//")
            || !repo
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-/:".contains(&b))
            || repo[repo.find('/').map_or(0, |i| i + 1)..]
                .bytes()
                .any(|b| b.is_ascii_uppercase())
        {
            bail!("image reference `{s}`: `{repo}` is not a repository name (lowercase letters, digits, `._-`, `/`, and an optional `host:port/` prefix)");
        }
        if let Some(t) = tag {
            check_tag(t).map_err(|e| anyhow::anyhow!("image reference `{s}`: {e}"))?;
        }
        Ok(ImageRef {
            repo: repo.to_owned(),
            tag: tag.map(str::to_owned),
            digest,
        })
    }

    pub fn with_tag(&self, tag: &str) -> ImageRef {
        ImageRef {
            repo: self.repo.clone(),
            tag: Some(tag.to_owned()),
            digest: None,
        }
    }

    pub fn with_digest(&self, digest: &str) -> ImageRef {
        ImageRef {
            repo: self.repo.clone(),
            tag: None,
            digest: Some(digest.to_owned()),
        }
    }

    /// `host[:port]` if the first path component names a registry.
    pub fn registry(&self) -> &str {
        match self.repo.split_once('/') {
            Some((first, _)) if first.contains(['.', ':']) || first == "localhost" => first,
            _ => "docker.io",
        }
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.repo)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

/// Docker's tag grammar.
pub fn check_tag(t: &str) -> Result<()> {
    let ok = !t.is_empty()
        && t.len() <= 128
        && !t.starts_with(['.', '-'])
        && t.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
    if !ok {
        bail!(
            "`{t}` is not a valid tag (up to 128 of `A-Za-z0-9_.-`, not starting with `.` or `-`)"
        );
    }
    Ok(())
}

/// Extension releases are tagged with a semantic version (Docker Desktop's Marketplace
/// requires it to order updates).
pub fn check_release_tag(t: &str) -> Result<()> {
    check_tag(t)?;
    if semver::Version::parse(t).is_err() {
        let hint = t
            .strip_prefix('v')
            .filter(|v| semver::Version::parse(v).is_ok())
            .map(|v| format!(" (drop the `v`: `{v}`)"));
        bail!(
            "tag `{t}` is not a semantic version like 1.2.3{}",
            hint.unwrap_or_default()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn parses_tags_ports_and_digests() {
        let r = ImageRef::parse("127.0.0.1:5000/ns/app:1.2.3").unwrap();
        assert_eq!(
            (r.repo.as_str(), r.tag.as_deref(), r.registry()),
            ("127.0.0.1:5000/ns/app", Some("1.2.3"), "127.0.0.1:5000")
        );
        let r = ImageRef::parse(&format!("localhost:5000/app@{D}")).unwrap();
        assert_eq!(
            (r.tag.as_deref(), r.digest.as_deref(), r.registry()),
            (None, Some(D), "localhost:5000")
        );
        let r = ImageRef::parse("docker/app").unwrap();
        assert_eq!((r.registry(), r.tag.as_deref()), ("docker.io", None));
        let r = ImageRef::parse(&format!("reg.io/app:1.0.0@{D}")).unwrap();
        assert_eq!(r.to_string(), format!("reg.io/app:1.0.0@{D}"));
        assert_eq!(r.with_tag("2.0.0").to_string(), "reg.io/app:2.0.0");
    }

    #[test]
    fn rejects_bad_references() {
        for (bad, needle) in [
            ("", "is not a repository name"),
            ("app@sha256:abc", "expected a digest"),
            ("Reg.io/App:1", "is not a repository name"),
            ("app:-x", "not a valid tag"),
            ("a//b", "is not a repository name"),
        ] {
            let e = ImageRef::parse(bad).unwrap_err().to_string();
            assert!(e.contains(needle), "{bad}: {e}");
        }
    }

    #[test]
    fn release_tags_are_semver() {
        check_release_tag("0.1.0").unwrap();
        check_release_tag("1.2.3-rc.1").unwrap();
        let e = check_release_tag("v1.2.3").unwrap_err().to_string();
        assert!(e.contains("drop the `v`: `1.2.3`"), "{e}");
        assert!(check_release_tag("latest").is_err());
    }
}
