//! Any JSON object as the keyword arguments of a container: a spec or an `InvalidSpec`, never
//! a panic; a spec builds its create body and reads back from its record unchanged.
#![no_main]

use docker_deploy::{ContainerSpec, ErrorKind};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let Ok(Value::Object(keywords)) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let spec = match ContainerSpec::from_keywords("web", &keywords) {
        Ok(spec) => spec,
        Err(e) if e.is(ErrorKind::InvalidSpec) => {
            assert!(e.to_string().contains("nothing was changed"), "{e}");
            return;
        }
        Err(other) => panic!("not an InvalidSpec: {other:?}"),
    };
    let record = spec.canonical_json();
    let back = ContainerSpec::from_record("web", &record).expect("a record reads back");
    assert_eq!(back, spec, "{record}");
    assert_eq!(back.canonical_json(), record);
    // Every accepted declaration is a request the Engine's client can send.
    if let Err(e) = spec.to_create_body("sha256:0", &[], &[]) {
        panic!("{record}: accepted but no create request: {e}");
    }
    for index in 1..=3 {
        let _ = spec.for_replica("web", index, 3);
    }
});
