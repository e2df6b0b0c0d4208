//! The extension's UI. Until the React front end lands, `ui/` is a static page staged
//! as is.

use camino::Utf8PathBuf;

use crate::paths;

/// The directory whose contents are staged at metadata.json's `ui.*.root`.
pub fn output_dir() -> Utf8PathBuf {
    paths::ui_dir()
}
