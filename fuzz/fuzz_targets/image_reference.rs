//! Any text as an image reference: parsed or refused, never a panic; what parses prints back
//! to a reference that parses to the same thing.
#![no_main]

use docker_deploy::ImageRef;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let Ok(image) = ImageRef::parse(text) else {
        return;
    };
    let printed = image.to_string();
    let again = ImageRef::parse(&printed).expect("a printed reference parses");
    assert_eq!(again, image, "{text:?} -> {printed:?}");
    let _ = (image.local_name(), image.pull_tag(), image.repository());
});
