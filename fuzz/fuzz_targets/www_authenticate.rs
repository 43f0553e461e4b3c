//! Any `WWW-Authenticate` header a registry may send: parsed, never a panic or a hang.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|header: &str| {
    let (scheme, params) = docker_deploy::image::registry::parse_challenge(header);
    assert!(scheme.len() <= header.len());
    for (key, value) in &params {
        assert!(key.len() + value.len() <= header.len(), "{header:?}");
    }
});
