//! A small reader of the Prometheus text format, for checking what
//! `/metrics` renders: series by normalized key (labels sorted), and each
//! family's declared type.
#![allow(dead_code)]

use std::collections::BTreeMap;

#[derive(Debug, Default, Clone)]
pub struct Scrape {
    /// Family name -> `counter` | `gauge` | `histogram` | ...
    pub types: BTreeMap<String, String>,
    /// `name{k="v",...}` (labels sorted by name) -> value.
    pub series: BTreeMap<String, f64>,
}

/// One parsed sample line.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

impl Scrape {
    pub fn parse(text: &str) -> Scrape {
        let mut s = Scrape::default();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let mut it = rest.split(' ');
                let (Some(name), Some(kind)) = (it.next(), it.next()) else {
                    panic!("bad TYPE line {line:?}");
                };
                let old = s.types.insert(name.to_string(), kind.to_string());
                assert!(old.is_none(), "family {name} declared twice");
                continue;
            }
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let sample = parse_sample(line);
            let key = key(&sample.name, &sample.labels);
            let old = s.series.insert(key.clone(), sample.value);
            assert!(old.is_none(), "series {key} appears twice");
        }
        s
    }

    /// The family a series belongs to (`_bucket`/`_sum`/`_count` of
    /// histograms map to the histogram).
    pub fn family_of(&self, series_key: &str) -> Option<(&str, &str)> {
        let name = series_key.split('{').next().unwrap_or(series_key);
        if let Some((n, k)) = self.types.get_key_value(name) {
            return Some((n.as_str(), k.as_str()));
        }
        for suffix in ["_bucket", "_sum", "_count"] {
            if let Some(base) = name.strip_suffix(suffix) {
                if let Some((n, k)) = self.types.get_key_value(base) {
                    return Some((n.as_str(), k.as_str()));
                }
            }
        }
        None
    }

    /// Series of one name, with their labels.
    pub fn samples(&self, name: &str) -> Vec<Sample> {
        self.series
            .iter()
            .filter(|(k, _)| k.split('{').next() == Some(name))
            .map(|(k, v)| {
                let mut s = parse_sample(&format!("{k} {v}"));
                s.value = *v;
                s
            })
            .collect()
    }

    /// The value of `name{labels}`, 0 when absent.
    pub fn get(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let labels = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        self.series.get(&key(name, &labels)).copied().unwrap_or(0.0)
    }

    /// Sum of every series of `name`.
    pub fn total(&self, name: &str) -> f64 {
        self.samples(name).iter().map(|s| s.value).sum()
    }
}

pub fn key(name: &str, labels: &BTreeMap<String, String>) -> String {
    let parts: Vec<String> = labels
        .iter()
        .map(|(k, v)| format!("{k}={}", quote(v)))
        .collect();
    format!("{name}{{{}}}", parts.join(","))
}

fn quote(v: &str) -> String {
    let mut s = String::from('"');
    for c in v.chars() {
        match c {
            '\\' => s.push_str("\\\\"),
            '"' => s.push_str("\\\""),
            '\n' => s.push_str("\\n"),
            c => s.push(c),
        }
    }
    s.push('"');
    s
}

pub fn parse_sample(line: &str) -> Sample {
    let (series, value) = line
        .rsplit_once(' ')
        .unwrap_or_else(|| panic!("no value in {line:?}"));
    let value = match value {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        v => v
            .parse::<f64>()
            .unwrap_or_else(|e| panic!("bad value in {line:?}: {e}")),
    };
    let (name, mut rest) = match series.find('{') {
        Some(i) => (&series[..i], &series[i + 1..]),
        None => (series, ""),
    };
    let mut labels = BTreeMap::new();
    while !rest.is_empty() && rest != "}" {
        let eq = rest
            .find("=\"")
            .unwrap_or_else(|| panic!("bad labels in {line:?}"));
        let k = rest[..eq].trim_start_matches(',').to_string();
        let mut v = String::new();
        let mut chars = rest[eq + 2..].char_indices();
        let mut end = None;
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some((_, 'n')) => v.push('\n'),
                    Some((_, c)) => v.push(c),
                    None => panic!("dangling escape in {line:?}"),
                },
                '"' => {
                    end = Some(eq + 2 + i + 1);
                    break;
                }
                c => v.push(c),
            }
        }
        let end = end.unwrap_or_else(|| panic!("unterminated label in {line:?}"));
        labels.insert(k, v);
        rest = &rest[end..];
    }
    Sample {
        name: name.to_string(),
        labels,
        value,
    }
}

#[test]
fn parses_labels_with_escapes() {
    let s = parse_sample(r#"m{a="x\"y",b="1\\2"} 3.5"#);
    assert_eq!(s.name, "m");
    assert_eq!(s.labels["a"], "x\"y");
    assert_eq!(s.labels["b"], "1\\2");
    assert_eq!(s.value, 3.5);
    assert_eq!(parse_sample("m 1").labels.len(), 0);
}
