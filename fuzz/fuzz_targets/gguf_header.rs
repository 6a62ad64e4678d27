//! GGUF files: the header and metadata reader must refuse any bytes with an error (never a
//! panic, never an allocation sized by a length field it has not checked).
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::io::Write;

fuzz_target!(|data: &[u8]| {
    let mut file = tempfile::NamedTempFile::new().expect("temp file");
    file.write_all(b"GGUF").expect("write");
    file.write_all(data).expect("write");
    let _ = strata::runtime::providers::gguf::inspect(file.path());
});
