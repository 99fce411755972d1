//! Paths into a JSON record: `a.b.c`, array items by index (`a[0].b`) or
//! all of them (`a[*].b`), and strings that hold JSON (Twilio's
//! `TaskAttributes`) walked through as if they were objects.
//!
//! Keys are split at `.` and `[`; any other character (`-`, spaces,
//! `:`) is part of the key, so `detail-type` is a key.
//!
//! A leaf: it imports nothing from its siblings.

use std::fmt;

use serde_json::Value;

/// One step of a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Key(String),
    Index(usize),
    /// Every item of an array.
    All,
}

/// A parsed path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Path {
    text: String,
    steps: Vec<Step>,
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl Path {
    /// Parses `text`; the error says what is wrong with it.
    pub fn parse(text: &str) -> Result<Path, String> {
        if text.trim().is_empty() {
            return Err("the path is empty".into());
        }
        let mut steps = Vec::new();
        for (n, segment) in text.split('.').enumerate() {
            let (key, mut rest) = match segment.find('[') {
                Some(i) => (&segment[..i], &segment[i..]),
                None => (segment, ""),
            };
            if key.is_empty() && (n != 0 || rest.is_empty()) {
                return Err(format!(
                    "empty key in {text:?} (two dots, or a dot at an end)"
                ));
            }
            if !key.is_empty() {
                steps.push(Step::Key(key.to_owned()));
            }
            while !rest.is_empty() {
                let Some(close) = rest.find(']') else {
                    return Err(format!("unclosed '[' in {text:?}"));
                };
                let inner = &rest[1..close];
                steps.push(match inner {
                    "*" => Step::All,
                    _ => Step::Index(inner.parse().map_err(|_| {
                        format!(
                            "{inner:?} in {text:?} is not an array index (write [0], [1]… or [*])"
                        )
                    })?),
                });
                rest = &rest[close + 1..];
                if !rest.is_empty() && !rest.starts_with('[') {
                    return Err(format!(
                        "unexpected {rest:?} after ']' in {text:?} (write a '.' before a key)"
                    ));
                }
            }
        }
        Ok(Path {
            text: text.to_owned(),
            steps,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether the path can find more than one value (`[*]`).
    pub fn has_wildcard(&self) -> bool {
        self.steps.contains(&Step::All)
    }

    /// Every non-null value at this path in `root`. Strings at one of the
    /// `json_strings` paths are parsed as JSON when the path goes through
    /// them; the error names the one that does not parse.
    pub fn resolve(&self, root: &Value, json_strings: &[Path]) -> Result<Vec<Value>, String> {
        let mut out = Vec::new();
        self.walk(root, 0, json_strings, &mut out)?;
        Ok(out)
    }

    fn walk(
        &self,
        v: &Value,
        i: usize,
        json_strings: &[Path],
        out: &mut Vec<Value>,
    ) -> Result<(), String> {
        let decoded: Value;
        let v = match v {
            Value::String(s)
                if i > 0
                    && i < self.steps.len()
                    && json_strings.iter().any(|j| j.steps == self.steps[..i]) =>
            {
                decoded = serde_json::from_str(s).map_err(|e| {
                    format!(
                        "{} holds a string that is not valid JSON ({e})",
                        Path::text_of(&self.steps[..i])
                    )
                })?;
                &decoded
            }
            _ => v,
        };
        let Some(step) = self.steps.get(i) else {
            if !v.is_null() {
                out.push(v.clone());
            }
            return Ok(());
        };
        match (step, v) {
            (Step::Key(k), Value::Object(m)) => match m.get(k) {
                Some(c) => self.walk(c, i + 1, json_strings, out),
                None => Ok(()),
            },
            (Step::Index(n), Value::Array(a)) => match a.get(*n) {
                Some(c) => self.walk(c, i + 1, json_strings, out),
                None => Ok(()),
            },
            (Step::All, Value::Array(a)) => {
                for c in a {
                    self.walk(c, i + 1, json_strings, out)?;
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    fn text_of(steps: &[Step]) -> String {
        let mut s = String::new();
        for step in steps {
            match step {
                Step::Key(k) => {
                    if !s.is_empty() {
                        s.push('.');
                    }
                    s.push_str(k);
                }
                Step::Index(n) => s.push_str(&format!("[{n}]")),
                Step::All => s.push_str("[*]"),
            }
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn p(s: &str) -> Path {
        Path::parse(s).expect(s)
    }

    #[test]
    fn keys_indices_and_wildcards_parse() {
        assert_eq!(
            p("a.b-c[0][*].d").steps,
            vec![
                Step::Key("a".into()),
                Step::Key("b-c".into()),
                Step::Index(0),
                Step::All,
                Step::Key("d".into())
            ]
        );
        assert_eq!(
            p("[1].x").steps,
            vec![Step::Index(1), Step::Key("x".into())]
        );
        assert!(p("a[*].b").has_wildcard());
        assert!(!p("a[2].b").has_wildcard());
    }

    #[test]
    fn malformed_paths_say_what_is_wrong() {
        for (bad, says) in [
            ("", "empty"),
            ("a..b", "empty key"),
            ("a.", "empty key"),
            ("a[0", "unclosed"),
            ("a[x]", "not an array index"),
            ("a[-1]", "not an array index"),
            ("a[0]b", "after ']'"),
        ] {
            let e = Path::parse(bad).expect_err(bad);
            assert!(e.contains(says), "{bad:?}: {e}");
        }
    }

    #[test]
    fn resolve_finds_values_skips_nulls_and_missing() {
        let r = json!({
            "a": {"b": [ {"n": "x"}, {"n": null}, {"n": "z"} ]},
            "s": "text",
            "nul": null
        });
        assert_eq!(p("a.b[0].n").resolve(&r, &[]), Ok(vec![json!("x")]));
        assert_eq!(
            p("a.b[*].n").resolve(&r, &[]),
            Ok(vec![json!("x"), json!("z")])
        );
        assert_eq!(p("a.b[9].n").resolve(&r, &[]), Ok(vec![]));
        assert_eq!(p("a.missing").resolve(&r, &[]), Ok(vec![]));
        assert_eq!(p("nul").resolve(&r, &[]), Ok(vec![]));
        // Through a scalar: nothing (not an error).
        assert_eq!(p("s.deeper").resolve(&r, &[]), Ok(vec![]));
        assert_eq!(p("a").resolve(&r, &[]).unwrap().len(), 1);
    }

    #[test]
    fn json_strings_are_walked_through_when_listed() {
        let r = json!({"Attrs": "{\"from\": \"+15550100\", \"skills\": [\"billing\", \"sales\"]}"});
        let js = [p("Attrs")];
        assert_eq!(
            p("Attrs.from").resolve(&r, &js),
            Ok(vec![json!("+15550100")])
        );
        assert_eq!(
            p("Attrs.skills[*]").resolve(&r, &js),
            Ok(vec![json!("billing"), json!("sales")])
        );
        // Not listed: a string has no keys.
        assert_eq!(p("Attrs.from").resolve(&r, &[]), Ok(vec![]));
        // The string itself is still a string.
        assert_eq!(p("Attrs").resolve(&r, &js), Ok(vec![r["Attrs"].clone()]));
        let bad = json!({"Attrs": "{not json"});
        let e = p("Attrs.from").resolve(&bad, &js).expect_err("bad JSON");
        assert!(
            e.starts_with("Attrs holds a string that is not valid JSON"),
            "{e}"
        );
    }
}
