//! Any `command` string split like a shell: words or an error, never a panic; the words,
//! quoted again, split back to the same words.
#![no_main]

use docker_deploy::spec::split_shell_words;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let Ok(words) = split_shell_words(text) else {
        return;
    };
    let quoted: Vec<String> = words
        .iter()
        .map(|w| format!("'{}'", w.replace('\'', r"'\''")))
        .collect();
    let again = split_shell_words(&quoted.join(" ")).expect("quoted words split");
    assert_eq!(again, words, "{text:?}");
});
