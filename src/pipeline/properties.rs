//! `[kafka.properties]` checked against the librdkafka this binary is built
//! with: each property is set on a fresh librdkafka configuration (no
//! client, no I/O), which rejects unknown names and values it cannot parse,
//! and is read back: librdkafka reads an integer up to its first non-digit
//! (`"session.timeout.ms" = "45s"` would be 45 ms), which is reported too.
//! So `check-config` and the start report them instead of the first
//! client creation or a broker refusing the session.
//!
//! Problems never show a value: properties carry passwords and keys, and
//! librdkafka quotes the value in its messages, so the value is cut out of
//! them.

use std::collections::BTreeMap;

use rdkafka::config::ClientConfig;
use rdkafka::error::KafkaError;
use rdkafka::types::RDKafkaConfRes;

/// Checked elsewhere, with ccpulse's own messages (`check_security` in
/// `settings`).
const CHECKED_ELSEWHERE: &[&str] = &["security.protocol", "sasl.mechanisms", "sasl.mechanism"];

/// Report every property librdkafka does not know or cannot take, as
/// `bad("properties.<name>", problem, fix)`. `skip` are names reported
/// otherwise (ccpulse's reserved ones).
pub fn check_properties(
    props: &BTreeMap<String, String>,
    skip: &[&str],
    bad: &mut impl FnMut(&str, String, &str),
) {
    for (name, value) in props {
        if skip.contains(&name.as_str()) || CHECKED_ELSEWHERE.contains(&name.as_str()) {
            continue;
        }
        let field = format!("properties.{name}");
        let e = match ClientConfig::new().set(name, value).create_native_config() {
            Ok(native) => {
                // An integer read from a value that is not one.
                if let Ok(read) = native.get(name) {
                    let v = value.trim();
                    if read != v && read.parse::<i64>().is_ok() && v.parse::<f64>().is_err() {
                        bad(
                            &field,
                            format!("librdkafka reads this value as {read}: it takes the digits before the first non-digit"),
                            "write a plain number; durations in librdkafka properties are milliseconds (e.g. \"45000\" for 45 s)",
                        );
                    }
                }
                continue;
            }
            Err(e) => e,
        };
        match e {
            KafkaError::ClientConfig(RDKafkaConfRes::RD_KAFKA_CONF_UNKNOWN, ..) => bad(
                &field,
                format!("{name:?} is not a librdkafka property"),
                "check the name against librdkafka's CONFIGURATION.md (https://github.com/confluentinc/librdkafka/blob/master/CONFIGURATION.md), or remove it",
            ),
            KafkaError::ClientConfig(_, description, ..) => bad(
                &field,
                format!("librdkafka refuses the value: {}", redact(&description, value)),
                "use a value of the type librdkafka documents for it (CONFIGURATION.md); durations there are numbers of milliseconds",
            ),
            // A name or value with a NUL byte cannot reach librdkafka.
            _ => bad(
                &field,
                "contains a NUL byte".into(),
                "remove the NUL byte from the name and the value",
            ),
        }
    }
}

/// `message` with `value` cut out (librdkafka quotes the value it refused).
fn redact(message: &str, value: &str) -> String {
    if value.is_empty() {
        return message.to_string();
    }
    message.replace(value, "<value>")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(props: &[(&str, &str)]) -> Vec<(String, String)> {
        let props: BTreeMap<String, String> = props
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let mut out = Vec::new();
        check_properties(&props, &["group.id"], &mut |f, p, fix| {
            assert!(!fix.is_empty());
            out.push((f.to_string(), p))
        });
        out
    }

    #[test]
    fn known_properties_with_good_values_pass() {
        assert!(problems(&[
            ("session.timeout.ms", "45000"),
            ("sasl.username", "ccpulse"),
            ("sasl.password", "s3cret"),
            ("ssl.ca.location", "/etc/ssl/ca.pem"),
            ("linger.ms", "20"),
            ("compression.type", "zstd"),
            ("auto.offset.reset", "earliest"),
        ])
        .is_empty());
    }

    #[test]
    fn unknown_names_and_bad_values_are_reported_without_the_value() {
        let p = problems(&[
            ("session.timeout", "45000"),
            ("session.timeout.ms", "45s"),
            ("socket.timeout.ms", "secret-looking"),
            ("group.id", "skipped"),
            ("security.protocol", "checked elsewhere"),
        ]);
        assert_eq!(p.len(), 3, "{p:?}");
        assert_eq!(p[0].0, "properties.session.timeout");
        assert!(p[0].1.contains("not a librdkafka property"), "{p:?}");
        assert_eq!(p[1].0, "properties.session.timeout.ms");
        assert!(p[1].1.contains("reads this value as 45:"), "{p:?}");
        assert_eq!(p[2].0, "properties.socket.timeout.ms");
        assert!(p[2].1.contains("refuses the value"), "{p:?}");
        assert!(!p[2].1.contains("secret-looking"), "{p:?}");
    }

    #[test]
    fn redaction_cuts_the_value_out() {
        assert_eq!(
            redact("Invalid value \"pw\" for property \"x\"", "pw"),
            "Invalid value \"<value>\" for property \"x\""
        );
        assert_eq!(redact("nothing", ""), "nothing");
    }
}
