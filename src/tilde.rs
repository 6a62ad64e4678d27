//! `~` in paths the user writes (flags, forms, config values, agent files): `~` and `~/…`
//! are the home folder; anything else, `~user` included, is left as written. The one
//! place this is done, so a path Tab completes is the path that is then opened.

use std::path::{Path, PathBuf};

/// `path` with a leading `~` (alone or before `/`) replaced by the home folder.
pub fn expand_home(path: impl AsRef<Path>) -> PathBuf {
    let path = path.as_ref();
    let home = || directories::BaseDirs::new().map(|b| b.home_dir().to_path_buf());
    if path == Path::new("~") {
        return home().unwrap_or_else(|| path.to_path_buf());
    }
    match path.strip_prefix("~") {
        Ok(rest) => home().map_or_else(|| path.to_path_buf(), |h| h.join(rest)),
        Err(_) => path.to_path_buf(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_leading_tilde_is_home() {
        let home = directories::BaseDirs::new()
            .unwrap()
            .home_dir()
            .to_path_buf();
        assert_eq!(expand_home("~"), home);
        assert_eq!(expand_home("~/notes/a.md"), home.join("notes/a.md"));
        assert_eq!(expand_home("~bob/x"), PathBuf::from("~bob/x"));
        assert_eq!(expand_home("/a/~/b"), PathBuf::from("/a/~/b"));
        assert_eq!(expand_home("rel"), PathBuf::from("rel"));
    }
}
