//! Evaluation and batch datasets (JSONL): parsed line by line, duplicate ids found.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let dataset = strata::eval::dataset::Dataset::parse(text);
    let _ = dataset.duplicate_id();
});
