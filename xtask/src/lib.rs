//! The xtask: builds, stages, verifies and publishes the Docker Desktop extension and its
//! host binaries. A library so the integration tests reuse its pieces.
//!
//! Read it by layer; each depends only on the layers above it, and no module imports
//! one that imports it back (`tests::no_import_cycles`, over all three crates).
//!
//! - **Leaf** (the `xtask-leaf` crate in `xtask/leaf/`, re-exported here, so cargo builds
//!   it beside the other dependencies and it cannot import the layers below): [`cmd`]
//!   (the command value and the one runner), [`digest`] (walks, SHA-256, modes,
//!   `SHA256SUMS`), [`paths`], [`pins`] (pinned tool versions), [`target`] (the target
//!   matrix) over [`binfmt`] (executable headers, read with the `object` crate: format,
//!   CPU, interpreter and libraries, and whether a binary will load on its OS: code
//!   signature and page hashes, imported libraries, minimum OS, universal binaries),
//!   [`reference`] (image references), [`shell`] (quoting printed commands for sh or
//!   PowerShell), [`json`] (reading JSON, errors naming where), [`progress`] (live
//!   output of running commands), [`toml`] (TOML through `toml_edit`: values with their
//!   lines, and one string set keeping every other byte).
//! - **Facts**: [`workspace`] (Cargo metadata, toolchain, release reference),
//!   [`metadata`] (metadata.json), [`labels`], [`toolchain`] (cross-compilation toolchains: zigbuild, cross, cargo),
//!   [`linker`] (what links each triple under its toolchain, per host),
//!   [`docker`] (buildx commands, builders, registries).
//! - **Pipeline steps**: [`plan`] (host builds and staged paths as data), [`build`],
//!   [`fingerprint`], [`ui`], [`stage`], [`smoke`] (run what this machine can),
//!   [`image`] (the image steps as data),
//!   [`verify`] (with [`rebuild`]: `verify --rebuild`), [`publish`].
//! - **Commands**: [`flags`] (the command line, turned into option values at each
//!   command's edge), [`dist`], [`merge`], [`desktop`], [`doctor`], [`setup`],
//!   [`codegen`], [`bench`], [`release`] (with [`release_edit`], [`release_git`] and
//!   [`changelog`]), [`screenshots`], [`vendoring`] (`vendor.toml` in the pipeline, and
//!   `cargo xtask vendor`); `main.rs` only dispatches.
//! - **Third-party binaries**, their own crate over the leaf one (`xtask/vendor`,
//!   re-exported here as [`vendor`]): [`vendor::manifest`] over [`vendor::platform`],
//!   [`vendor::schema`], [`vendor::archive`], [`vendor::curl`], then [`vendor::fetch`] (the
//!   cache) and [`vendor::lock`].

pub use xtask_leaf::{
    binfmt, cmd, digest, json, paths, pins, progress, reference, shell, target, toml,
};
pub use xtask_vendor as vendor;

pub mod bench;
pub mod build;
pub mod changelog;
pub mod codegen;
pub mod compose;
pub mod desktop;
pub mod dist;
pub mod docker;
pub mod doctor;
pub mod fingerprint;
pub mod flags;
pub mod image;
pub mod labels;
pub mod linker;
pub mod merge;
pub mod metadata;
pub mod plan;
pub mod probe;
pub mod publish;
pub mod rebuild;
pub mod release;
pub mod release_edit;
pub mod release_git;
pub mod reproducible;
pub mod screenshots;
pub mod setup;
pub mod smoke;
pub mod stage;
pub mod toolchain;
pub mod ui;
pub mod vendoring;
pub mod verify;
pub mod vm;
pub mod workspace;

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    /// Module -> the modules it names as `crate::NAME` (test modules aside: they may look
    /// anywhere), read from the sources of the three crates: the leaf and vendor crates' modules
    /// are this crate's too (re-exported), so one graph holds them all.
    fn imports() -> BTreeMap<String, BTreeSet<String>> {
        let root = crate::paths::root();
        let files = ["xtask/src", "xtask/leaf/src", "xtask/vendor/src"]
            .iter()
            .flat_map(|src| crate::digest::walk_files(&root.join(src)).unwrap());
        let mut texts = BTreeMap::new();
        for file in files {
            let name = file.file_stem().unwrap().to_owned();
            if file.extension() == Some("rs") && name != "lib" && name != "main" {
                let text = std::fs::read_to_string(&file).unwrap();
                let text = match text.find("#[cfg(test)]\nmod tests") {
                    Some(i) => text[..i].to_owned(),
                    None => text,
                };
                texts.insert(name, text);
            }
        }
        let names: BTreeSet<String> = texts.keys().cloned().collect();
        let word = |s: &str| -> String {
            s.chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect()
        };
        texts
            .iter()
            .map(|(m, text)| {
                let mut uses = BTreeSet::new();
                for part in text.split("crate::").skip(1) {
                    // `crate::name` and `use crate::{a, b::c}`.
                    let heads: Vec<String> = match part.strip_prefix('{') {
                        Some(group) => group[..group.find('}').unwrap_or(0)]
                            .split(',')
                            .map(|s| word(s.trim()))
                            .collect(),
                        None => vec![word(part)],
                    };
                    uses.extend(heads.into_iter().filter(|h| names.contains(h) && h != m));
                }
                (m.clone(), uses)
            })
            .collect()
    }

    #[test]
    fn no_import_cycles() {
        let graph = imports();
        assert!(graph.len() > 20, "found too few modules: {graph:?}");
        // Depth-first search; a module met again while on the path closes a cycle.
        fn visit(
            m: &str,
            graph: &BTreeMap<String, BTreeSet<String>>,
            path: &mut Vec<String>,
            done: &mut BTreeSet<String>,
        ) -> Option<Vec<String>> {
            if let Some(i) = path.iter().position(|p| p == m) {
                let mut cycle = path[i..].to_vec();
                cycle.push(m.to_owned());
                return Some(cycle);
            }
            if !done.insert(m.to_owned()) {
                return None;
            }
            path.push(m.to_owned());
            for next in &graph[m] {
                if let Some(c) = visit(next, graph, path, done) {
                    return Some(c);
                }
            }
            path.pop();
            None
        }
        let mut done = BTreeSet::new();
        for m in graph.keys() {
            if let Some(cycle) = visit(m, &graph, &mut Vec::new(), &mut done) {
                panic!("import cycle: {}", cycle.join(" -> "));
            }
        }
    }
}
