//! Any text as the record label on a container (labels may hold anything, and an image may
//! carry ours): read or refused, never a panic; what reads back is stable.
#![no_main]

use docker_deploy::ContainerSpec;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|record: &str| {
    let Ok(spec) = ContainerSpec::from_record("web", record) else {
        return;
    };
    let canonical = spec.canonical_json();
    let again = ContainerSpec::from_record("web", &canonical).expect("canonical reads back");
    assert_eq!(again, spec);
    assert_eq!(again.canonical_json(), canonical);
});
