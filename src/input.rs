//! Reading what a caller gave (Python values as JSON): the checks every option and setting
//! shares, and how a value may appear in an error. A value is never quoted whole in a message:
//! it may be a secret (an `environment` value, a password), so messages name its type, or show
//! it only when it is a short plain word or a number.

use std::ops::RangeInclusive;
use std::time::Duration;

use serde_json::Value;

use crate::error::{Error, Result};

/// Builds the `InvalidSpec` errors about one thing a caller declared (`container "web"`), each
/// naming the keyword and what was wrong with its value.
pub(crate) struct Invalid<'a> {
    pub context: &'a str,
}

impl Invalid<'_> {
    pub(crate) fn err(&self, keyword: &str, why: impl std::fmt::Display) -> Error {
        Error::invalid(self.context, format!("{keyword}: {why}"))
    }

    /// A number of seconds within `range` (a whole or fractional number, or its text).
    pub(crate) fn seconds(
        &self,
        keyword: &str,
        value: &Value,
        range: &RangeInclusive<f64>,
    ) -> Result<Duration> {
        let number = match value {
            Value::Number(n) => n.as_f64(),
            Value::String(s) => s.trim().parse::<f64>().ok(),
            _ => None,
        };
        number
            .filter(|s| s.is_finite() && range.contains(s))
            .map(Duration::from_secs_f64)
            .ok_or_else(|| {
                self.err(
                    keyword,
                    format!(
                        "expected a number of seconds from {} to {}, got {}",
                        range.start(),
                        range.end(),
                        describe(value)
                    ),
                )
            })
    }

    /// A whole number within `range`; `what` says what it counts in the message.
    pub(crate) fn whole(
        &self,
        keyword: &str,
        what: &str,
        value: &Value,
        range: &RangeInclusive<i64>,
    ) -> Result<i64> {
        whole_number(value)
            .filter(|n| range.contains(n))
            .ok_or_else(|| {
                self.err(
                    keyword,
                    format!(
                        "expected {what} from {} to {}, got {}",
                        range.start(),
                        range.end(),
                        describe(value)
                    ),
                )
            })
    }

    pub(crate) fn flag(&self, keyword: &str, value: &Value) -> Result<bool> {
        value.as_bool().ok_or_else(|| {
            self.err(
                keyword,
                format!("expected True or False, got {}", describe(value)),
            )
        })
    }

    pub(crate) fn text<'v>(&self, keyword: &str, value: &'v Value) -> Result<&'v str> {
        value.as_str().ok_or_else(|| {
            self.err(
                keyword,
                format!("expected a string, got {}", describe(value)),
            )
        })
    }
}

/// A whole number, given as one (`3`, `3.0`) or as its text (`"3"`); `None` for anything else.
pub(crate) fn whole_number(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => n.as_i64().or_else(|| {
            n.as_f64()
                .filter(|f| f.fract() == 0.0 && f.abs() < 1e15)
                .map(|f| f as i64)
        }),
        Value::String(s) => s.trim().parse::<i64>().ok(),
        _ => None,
    }
}

/// A value as an error message may show it: numbers and short words as they are, anything
/// else by its type (a misplaced secret must not end up in a message).
pub(crate) fn describe(value: &Value) -> String {
    match value {
        Value::Null => "None".into(),
        Value::Bool(b) => if *b { "True" } else { "False" }.into(),
        Value::Number(n) => n.to_string(),
        Value::String(s)
            if s.len() <= 32
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.:".contains(c)) =>
        {
            format!("{s:?}")
        }
        Value::String(_) => "a string".into(),
        Value::Array(_) => "a list".into(),
        Value::Object(_) => "a dict".into(),
    }
}

/// [`describe`] for a word the caller gave (a strategy, a pull policy).
pub(crate) fn describe_word(word: &str) -> String {
    describe(&Value::String(word.to_string()))
}

/// The type of a value for a message, never the value itself (it may be a secret).
pub(crate) fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a dict",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn values_are_shown_only_when_harmless() {
        assert_eq!(describe(&json!(3)), "3");
        assert_eq!(describe(&json!("create-first")), "\"create-first\"");
        assert_eq!(describe(&json!("hunter2 with spaces")), "a string");
        assert_eq!(describe(&json!("x".repeat(33))), "a string");
        assert_eq!(describe(&json!({"password": "x"})), "a dict");
        assert_eq!(type_name(&json!([1])), "a list");
    }

    #[test]
    fn whole_numbers_come_as_numbers_or_text() {
        assert_eq!(whole_number(&json!(3)), Some(3));
        assert_eq!(whole_number(&json!(3.0)), Some(3));
        assert_eq!(whole_number(&json!(" 7 ")), Some(7));
        assert_eq!(whole_number(&json!(1.5)), None);
        assert_eq!(whole_number(&json!(1e300)), None);
        assert_eq!(whole_number(&json!(true)), None);
    }
}
