//! Any JSON object as the options of a redeploy: options within their ranges or an
//! `InvalidSpec`, never a panic.
#![no_main]

use docker_deploy::options::{self, Call};
use docker_deploy::{ErrorKind, Options};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let Ok(Value::Object(keywords)) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let (given, _settings) = options::split(keywords);
    match Options::parse("container \"web\"", Call::Redeploy, &given) {
        Ok(parsed) => {
            assert!(options::MIN_UPTIME_S.contains(&parsed.min_uptime.as_secs_f64()));
            assert!(options::HEALTH_TIMEOUT_S.contains(&parsed.health_timeout.as_secs_f64()));
            assert!(parsed.replicas.is_none_or(|n| (1..=100).contains(&n)));
        }
        Err(e) if e.is(ErrorKind::InvalidSpec) => {
            assert!(e.to_string().contains("nothing was changed"))
        }
        Err(other) => panic!("not an InvalidSpec: {other:?}"),
    }
});
