//! Knowledge-base chunking of HTML, Markdown, code and text: any source, any chunk size
//! and overlap a spec allows; windows stay inside the text on character boundaries.
#![no_main]

use libfuzzer_sys::fuzz_target;
use strata::knowledge::chunk::{chunk, windows, DocKind};
use strata::knowledge::spec::{Chunking, Strategy};

fuzz_target!(|data: &[u8]| {
    if data.len() < 4 {
        return;
    }
    let Ok(source) = std::str::from_utf8(&data[4..]) else {
        return;
    };
    let kind = [
        DocKind::Html,
        DocKind::Markdown,
        DocKind::Code,
        DocKind::Text,
    ][data[0] as usize % 4];
    let size = 100 + usize::from(u16::from_le_bytes([data[1], data[2]])) % 2900;
    let overlap = (usize::from(data[3]) * 8).min((size - 1) / 2);
    let strategy = if data[0] & 4 == 0 {
        Strategy::Structure
    } else {
        Strategy::Fixed
    };
    let chunking = Chunking {
        strategy,
        size,
        overlap,
    };
    let _ = chunk(kind, source, &chunking);
    for range in windows(source, size, overlap) {
        assert!(range.start < range.end && range.end <= source.len());
        assert!(source.is_char_boundary(range.start) && source.is_char_boundary(range.end));
    }
});
