//! The record a container carries is the drift check: if a version of this tool wrote a
//! different record for the same declaration, every container it manages would be replaced by
//! the upgrade. `golden/records.json` holds declarations and the records the first version with
//! each keyword wrote for them (generated once, never regenerated): every later version must
//! write them byte for byte, and read them back as the same spec.

use docker_deploy::ContainerSpec;
use serde_json::Value;

#[test]
fn every_declaration_records_what_it_always_recorded() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden/records.json");
    let cases: Vec<Value> = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert!(cases.len() > 20, "the golden records are there");
    for case in cases {
        let keywords = case["keywords"].as_object().unwrap();
        let record = case["record"].as_str().unwrap();
        let spec = ContainerSpec::from_keywords("web", keywords)
            .unwrap_or_else(|e| panic!("{keywords:?}: {e}"));
        assert_eq!(spec.canonical_json(), record, "the record of {keywords:?}");
        let back = ContainerSpec::from_record("web", record).unwrap();
        assert_eq!(back.canonical_json(), record, "read back: {record}");
    }
}
