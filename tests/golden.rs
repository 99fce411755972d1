//! Golden scenarios: every `tests/data/golden/*.expect` names an event file
//! and lists figures worked out by hand; the replayed snapshot must match.

use std::path::{Path, PathBuf};

use ccpulse_core::engine::settings::EngineConfig;
use serde_json::Value;

fn select<'a>(v: &'a Value, seg: &str) -> Option<&'a Value> {
    match seg.split_once('[') {
        Some((field, rest)) => {
            let key = rest.strip_suffix(']')?;
            let arr = v.get(field)?.as_array()?;
            arr.iter().find(|e| match field {
                "queues" => {
                    let id = format!(
                        "{}/{}",
                        e["queue"].as_str().unwrap_or_default(),
                        e["channel"].as_str().unwrap_or_default()
                    );
                    id == key
                }
                "agents" => e["agent"].as_str() == Some(key),
                _ => false,
            })
        }
        None => v.get(seg),
    }
}

fn check(expect: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(expect).expect("read .expect file");
    let mut events = None;
    let mut checks = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(p) = line.strip_prefix("events:") {
            events = Some(PathBuf::from(p.trim()));
            continue;
        }
        let (path, want) = line
            .split_once(" = ")
            .unwrap_or_else(|| panic!("{}:{}: expected `path = value`", expect.display(), n + 1));
        checks.push((n + 1, path.to_string(), want.to_string()));
    }
    let events = events.unwrap_or_else(|| panic!("{}: no `events:` line", expect.display()));
    let (snap, _) = ccpulse::replay::replay(
        &EngineConfig::default(),
        &Default::default(),
        &[events],
        None,
        true,
    )
    .expect("replay");
    let snap = serde_json::to_value(&snap).expect("snapshot to JSON");
    let mut failures = Vec::new();
    for (line, path, want) in checks {
        let got = path.split('.').try_fold(&snap, select);
        let want: Value = serde_json::from_str(&want)
            .unwrap_or_else(|e| panic!("line {line}: bad value {want}: {e}"));
        let ok = match (got, &want) {
            (Some(Value::Number(g)), Value::Number(w)) => {
                (g.as_f64().unwrap_or(f64::NAN) - w.as_f64().unwrap_or(f64::NAN)).abs() < 1e-6
            }
            (Some(g), w) => g == w,
            (None, _) => false,
        };
        if !ok {
            failures.push(format!(
                "{}:{line}: {path}: want {want}, got {got:?}",
                expect.display()
            ));
        }
    }
    failures
}

#[test]
fn golden_scenarios_match_their_hand_worked_figures() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/golden");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("tests/data/golden exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "expect"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no golden scenarios found");
    std::env::set_current_dir(env!("CARGO_MANIFEST_DIR")).expect("cd to the crate root");
    let failures: Vec<String> = files.iter().flat_map(|f| check(f)).collect();
    assert!(
        failures.is_empty(),
        "golden mismatches:\n{}",
        failures.join("\n")
    );
}
