//! Whether a buildx builder's image digests reproduce: the BuildKit version that applies
//! `SOURCE_DATE_EPOCH` to the image config, judged from what `docker buildx inspect` and
//! `docker info` report (see `docker::Builder::detect`).

/// `v0.13.2`, `0.8+unknown`, `26.1.5+dfsg1` -> (major, minor)
pub fn major_minor(version: &str) -> Option<(u64, u64)> {
    let mut parts = version
        .trim()
        .trim_start_matches('v')
        .split(['.', '+', '-']);
    Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
}

/// BuildKit applies `SOURCE_DATE_EPOCH` to the image config's `created` and history
/// times from this version on (moby/buildkit v0.11.0 release notes).
pub const MIN_REPRODUCIBLE_BUILDKIT: (u64, u64) = (0, 11);
/// The first Docker Engine whose built-in BuildKit is 0.11: for the `docker` driver,
/// whose BuildKit version distributions' builds often report as `v0.0.0+unknown`.
pub const MIN_REPRODUCIBLE_ENGINE: (u64, u64) = (23, 0);

/// Whether a builder's image digests follow from the staged tree and `SOURCE_DATE_EPOCH`
/// alone, and the version that was judged from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reproducibility {
    pub reproducible: bool,
    /// `BuildKit v0.13.2`, `Docker Engine 26.1.5 (...)`: named in every message.
    pub found: String,
}

impl Reproducibility {
    /// From `docker buildx inspect`'s BuildKit version and, for the `docker` driver, the
    /// engine's version (`docker info`), whose built-in BuildKit the builder is.
    pub fn judge(driver: &str, buildkit: Option<&str>, engine: Option<&str>) -> Reproducibility {
        let reported = buildkit.unwrap_or("no version");
        // `v0.0.0+unknown` (Debian's dockerd) says nothing about what the BuildKit can do.
        let known = buildkit.and_then(major_minor).filter(|v| *v != (0, 0));
        let engine_note = match (driver, engine) {
            ("docker", Some(e)) => format!(" (Docker Engine {e})"),
            _ => String::new(),
        };
        match (
            known,
            engine.filter(|_| driver == "docker").and_then(major_minor),
        ) {
            (Some(v), _) => Reproducibility {
                reproducible: v >= MIN_REPRODUCIBLE_BUILDKIT,
                found: format!("BuildKit {reported}{engine_note}"),
            },
            (None, Some(e)) => Reproducibility {
                reproducible: e >= MIN_REPRODUCIBLE_ENGINE,
                found: format!(
                    "Docker Engine {} (its built-in BuildKit reports {reported})",
                    engine.unwrap_or_default()
                ),
            },
            (None, None) => Reproducibility {
                reproducible: false,
                found: format!("BuildKit {reported}"),
            },
        }
    }

    /// What a run says, once, where the digests will not reproduce.
    pub fn why_not(&self, builder: &str, driver: &str) -> Option<String> {
        let (bk, engine) = (MIN_REPRODUCIBLE_BUILDKIT, MIN_REPRODUCIBLE_ENGINE);
        (!self.reproducible).then(|| {
            format!(
                "not reproducible: builder `{}` (driver {}) has {}; image digests that another \
                 build of this commit can reproduce need BuildKit {}.{}+ (Docker Engine {}+ for \
                 the docker driver), which applies SOURCE_DATE_EPOCH to the image config and history",
                builder, driver, self.found, bk.0, bk.1, engine.0
            )
        })
    }
}
