//! The Unix socket's file: a stale one from a previous run is replaced, anything else at
//! the path is refused (never deleted), and on exit only our own socket is removed.

use std::fs;
use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};

/// A bound socket file, remembered by inode so `remove` never deletes a file that another
/// process has put at the same path since.
pub struct SocketFile {
    path: PathBuf,
    ino: u64,
}

pub fn bind(path: &Path) -> Result<(UnixListener, SocketFile), String> {
    remove_stale(path)?;
    let listener = UnixListener::bind(path).map_err(|e| bind_error(path, &e))?;
    let ino = fs::symlink_metadata(path).map(|m| m.ino()).unwrap_or(0);
    let file = SocketFile {
        path: path.to_owned(),
        ino,
    };
    Ok((listener, file))
}

impl SocketFile {
    pub fn remove(self) {
        let ours = fs::symlink_metadata(&self.path).is_ok_and(|m| m.ino() == self.ino);
        if ours {
            if let Err(e) = fs::remove_file(&self.path) {
                eprintln!("vm-service: cannot remove {}: {e}", self.path.display());
            }
        }
    }
}

/// Docker Desktop mounts the same directory again when the service restarts, so the last
/// run's socket may still be there: remove it, unless a live process still answers on it.
fn remove_stale(path: &Path) -> Result<(), String> {
    let meta = match fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(format!("cannot listen on {}: {e}", path.display())),
    };
    if !meta.file_type().is_socket() {
        return Err(format!(
            "cannot listen on {}: it exists and is not a socket ({}); refusing to replace it: \
             remove it yourself or pass another --socket",
            path.display(),
            kind(&meta.file_type()),
        ));
    }
    if UnixStream::connect(path).is_ok() {
        return Err(format!(
            "cannot listen on {}: another process is listening on it",
            path.display()
        ));
    }
    fs::remove_file(path)
        .map_err(|e| format!("cannot remove the stale socket {}: {e}", path.display()))?;
    println!("vm-service: removed the stale socket {}", path.display());
    Ok(())
}

fn bind_error(path: &Path, e: &io::Error) -> String {
    let hint = match e.kind() {
        io::ErrorKind::NotFound => {
            let dir = path.parent().unwrap_or(Path::new("."));
            format!(" (its directory {} does not exist)", dir.display())
        }
        io::ErrorKind::PermissionDenied => " (no permission to create a file there)".to_owned(),
        _ => String::new(),
    };
    format!("cannot listen on {}: {e}{hint}", path.display())
}

fn kind(t: &fs::FileType) -> &'static str {
    if t.is_dir() {
        "a directory"
    } else if t.is_symlink() {
        "a symbolic link"
    } else if t.is_file() {
        "a regular file"
    } else {
        "a special file"
    }
}
