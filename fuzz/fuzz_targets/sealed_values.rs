//! Values read from an encrypted data dir: any bytes (a torn or tampered value, one moved
//! from elsewhere) open to an error, never a panic; a value sealed here opens only at its
//! own place.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::collections::BTreeMap;
use strata::store::crypt::{open_value, random_key, DataKeys, MAGIC};

fuzz_target!(|data: &[u8]| {
    let keys = DataKeys::new(1, &BTreeMap::from([(1, random_key())]));
    let _ = open_value(Some(&keys), "tree", b"key", data);
    let mut forged = MAGIC.to_vec();
    forged.extend_from_slice(data);
    assert!(open_value(Some(&keys), "tree", b"key", &forged).is_err());
    let sealed = keys.seal("tree", data, data);
    assert_eq!(
        open_value(Some(&keys), "tree", data, &sealed).as_deref(),
        Ok(data)
    );
    assert!(open_value(Some(&keys), "other", data, &sealed).is_err());
    let _ = serde_json::from_slice::<strata::store::keyring::Keyring>(data);
});
