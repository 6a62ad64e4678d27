//! Opening a file that must lie inside a folder, checked on the opened file itself rather
//! than on its path: a path component swapped for a symlink between an earlier check and
//! the open cannot lead outside (on Linux the opened file's own path is read back from
//! `/proc/self/fd`; elsewhere the path is resolved again right after the open).

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

/// Where the opened `file` really is.
fn real_path(file: &File, path: &Path) -> io::Result<PathBuf> {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        if let Ok(real) = std::fs::read_link(format!("/proc/self/fd/{}", file.as_raw_fd())) {
            return Ok(real);
        }
    }
    let _ = file;
    path.canonicalize()
}

/// Opens `path` for reading, refusing it when the file opened is not under `root` (a
/// canonical folder).
pub fn open_inside(path: &Path, root: &Path) -> io::Result<File> {
    let file = File::open(path)?;
    let real = real_path(&file, path)?;
    if !real.starts_with(root) {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!(
                "{} leads to {}, outside {} (a symlink put there after the folder was read?)",
                path.display(),
                real.display(),
                root.display()
            ),
        ));
    }
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_out_of_the_folder_is_refused_on_the_opened_file() {
        let root = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let root_path = root.path().canonicalize().unwrap();
        std::fs::write(root.path().join("in.md"), "in").unwrap();
        std::fs::write(outside.path().join("secret.md"), "secret").unwrap();
        assert!(open_inside(&root.path().join("in.md"), &root_path).is_ok());
        std::os::unix::fs::symlink(outside.path().join("secret.md"), root.path().join("x.md"))
            .unwrap();
        let err = open_inside(&root.path().join("x.md"), &root_path).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::PermissionDenied);
        assert!(err.to_string().contains("outside"), "{err}");
    }
}
