//! Declared values that may be secrets. `environment` values (passwords, tokens) are shown in
//! `changes` and comments only as keys, and hidden in a container's output quoted in a
//! failure; registry credentials appear nowhere at all (see `image::auth`).

use serde_json::{Map, Value};

/// `environment` values are often secrets, and `changes` go to Salt's job cache and returners:
/// the keys are shown, each value only as whether it changed.
pub(crate) fn masked_environment(old: &Value, new: &Value) -> (Value, Value) {
    let empty = Map::new();
    let (old_map, new_map) = (
        old.as_object().unwrap_or(&empty),
        new.as_object().unwrap_or(&empty),
    );
    let mask = |this: &Map<String, Value>, other: &Map<String, Value>| -> Value {
        if this.is_empty() {
            return Value::Null;
        }
        let masked = this
            .iter()
            .map(|(key, value)| {
                let changed = other.get(key).is_some_and(|o| o != value);
                let shown = if changed {
                    "<hidden, changed>"
                } else {
                    "<hidden>"
                };
                (key.clone(), Value::String(shown.into()))
            })
            .collect();
        Value::Object(masked)
    };
    (mask(old_map, new_map), mask(new_map, old_map))
}

/// `text` (a container's output, say) with every declared `environment` value replaced by
/// `<hidden>`; values shorter than 4 characters are too common to be told from other text.
pub(crate) fn hide_environment(
    text: &str,
    environment: &std::collections::BTreeMap<String, String>,
) -> String {
    let mut values: Vec<&str> = environment
        .values()
        .map(String::as_str)
        .filter(|v| v.chars().count() >= 4)
        .collect();
    // Longest first: a value that contains another is hidden whole.
    values.sort_by_key(|v| std::cmp::Reverse(v.len()));
    values.into_iter().fold(text.to_string(), |text, value| {
        text.replace(value, "<hidden>")
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn environment_values_are_hidden_in_output_and_changes() {
        let env = std::collections::BTreeMap::from([
            ("DB_PASSWORD".to_string(), "hunter2-secret".to_string()),
            ("TOKEN".to_string(), "hunter2".to_string()),
            ("DEBUG".to_string(), "1".to_string()),
        ]);
        let shown = hide_environment("connecting with hunter2-secret and hunter2, 1 try", &env);
        assert_eq!(shown, "connecting with <hidden> and <hidden>, 1 try");
        let (old, new) = masked_environment(
            &json!({"A": "same", "B": "old-secret"}),
            &json!({"A": "same", "B": "new-secret", "C": "added"}),
        );
        assert_eq!(old, json!({"A": "<hidden>", "B": "<hidden, changed>"}));
        assert_eq!(
            new,
            json!({"A": "<hidden>", "B": "<hidden, changed>", "C": "<hidden>"})
        );
        assert_eq!(
            masked_environment(&Value::Null, &json!({"A": "x"})).0,
            Value::Null
        );
    }
}
