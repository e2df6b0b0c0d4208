//! Publishing without ever exposing a broken tag: a release tag is refused if it exists
//! (unless forced), and is only ever pointed at a digest that has just been verified.

use anyhow::{bail, Result};
use camino::Utf8Path;

use crate::docker::{self, Remote};
use crate::progress::Reporter;
use crate::reference::ImageRef;
use crate::target::Platform;
use crate::verify::{self, Verified};

/// Fails when `release` already exists in its registry, unless `force`. Also proves the
/// registry is reachable and we may read it, before any work starts.
pub fn ensure_tag_free(
    rep: &Reporter,
    builder: Option<&str>,
    release: &ImageRef,
    force: bool,
) -> Result<()> {
    match docker::inspect_raw(builder, release)? {
        Remote::Found { digest, .. } if !force => bail!(
            "{release} already exists (index {digest}): a published tag is not replaced; choose a new tag, or pass --force to replace it"
        ),
        Remote::Found { .. } => rep.println(format!("{release} exists and will be replaced (--force)")),
        Remote::NotFound => {}
    }
    Ok(())
}

/// The candidate reference for `release`: `TAG-unverified`, a name that says what it is.
pub fn candidate(release: &ImageRef) -> ImageRef {
    let tag = release.tag.as_deref().unwrap_or("latest");
    release.with_tag(&format!("{tag}-unverified"))
}

/// Verifies `candidate` from the registry, points `release` at exactly the verified
/// digest, and verifies `release` once more as users will pull it.
pub fn promote(
    rep: &Reporter,
    builder: Option<&str>,
    candidate: &ImageRef,
    release: &ImageRef,
    staged: Option<&Utf8Path>,
    platforms: &[Platform],
) -> Result<Verified> {
    let checked = verify::verify_remote(rep, builder, candidate, staged, platforms)?;
    let verified = release.with_digest(&checked.index_digest);
    rep.run(
        "release tag",
        &docker::imagetools_create(builder, release, &[verified]),
        |_| None,
    )?;
    let again = verify::verify_remote(rep, builder, release, staged, platforms)?;
    if again.index_digest != checked.index_digest {
        bail!(
            "{release} resolves to {} after tagging, not the verified {}",
            again.index_digest,
            checked.index_digest
        );
    }
    Ok(again)
}
