//! The model file mapped read-only into memory: the weights are used in place (pages are
//! read from the file as they are first touched and shared with the page cache), never
//! copied. Mapping is `unsafe` in memmap2 because another process could change the file
//! under the map; this is the engine's one use of it, here beside the kernels.

use std::path::Path;

/// A read-only map of a whole file.
pub struct Mapped {
    map: memmap2::Mmap,
}

impl Mapped {
    pub fn open(path: &Path) -> std::io::Result<Mapped> {
        let file = std::fs::File::open(path)?;
        // SAFETY: the map is read-only and private to this process; the model files live
        // in Strata's model cache, written once by a pull (to a temporary name, renamed
        // into place) and never modified while in use. A file truncated by someone else
        // under the map would fault on access, as it would for llama.cpp.
        let map = unsafe { memmap2::Mmap::map(&file)? };
        Ok(Mapped { map })
    }

    pub fn bytes(&self) -> &[u8] {
        &self.map
    }
}
