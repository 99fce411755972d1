//! Checks of `deploy/`: the Prometheus rules and configs (with promtool), the
//! Grafana dashboards against the metric catalogue, and the docker-compose
//! and Kubernetes files against each other and the service. Static: what
//! runs (the configs, the topic scripts, the command lines) runs in
//! `tests/deploy_configs.rs`.
//!
//! External tools, installed by `scripts/install-test-deps`:
//! - `promtool` (Debian/Ubuntu package `prometheus`);
//! - `python3` with PyYAML (package `python3-yaml`), used only to turn YAML
//!   into JSON: the crate has no YAML parser and does not need one.
//!
//! A missing tool fails the test with the fix; nothing is skipped.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

mod deploy;
#[path = "support/scratch.rs"]
mod scratch;

use ccpulse::telemetry::catalog::{Kind, ALL};
use deploy::{deploy, repo, yaml_doc};
use serde_json::Value;

const FIX_PROMTOOL: &str =
    "promtool (Prometheus) is not on PATH. Fix: run scripts/install-test-deps, \
     or apt-get install prometheus";

fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

fn promtool() -> PathBuf {
    on_path("promtool").unwrap_or_else(|| panic!("{FIX_PROMTOOL}"))
}

/// Runs a command; returns success and stdout + stderr.
fn run(cmd: &mut Command) -> (bool, String) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

fn files_in(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(suffix))
        .collect();
    v.sort();
    assert!(!v.is_empty(), "no *{suffix} in {}", dir.display());
    v
}

fn rules_dir() -> PathBuf {
    deploy().join("prometheus/rules")
}

/// `(kind, name)` of every rule in the rules files, by a line scan (no YAML
/// parser needed): kind is "record" or "alert".
fn rule_names() -> Vec<(String, String)> {
    let mut v = Vec::new();
    for f in files_in(&rules_dir(), ".yml") {
        for line in fs::read_to_string(&f).unwrap().lines() {
            let t = line.trim_start().trim_start_matches("- ");
            for kind in ["record", "alert"] {
                if let Some(rest) = t.strip_prefix(&format!("{kind}:")) {
                    v.push((kind.to_string(), rest.trim().to_string()));
                }
            }
        }
    }
    assert!(v.len() > 10, "rule scan found only {v:?}");
    v
}

fn recorded_names() -> BTreeSet<String> {
    rule_names()
        .into_iter()
        .filter(|(k, _)| k == "record")
        .map(|(_, n)| n)
        .collect()
}

/// Names a query may use: catalogue families (histograms as their
/// `_bucket`/`_sum`/`_count` series), recording rules, and `up`.
fn known_series() -> BTreeSet<String> {
    let mut s: BTreeSet<String> = recorded_names();
    for f in ALL {
        match f.kind {
            Kind::Histogram => {
                for suffix in ["_bucket", "_sum", "_count"] {
                    s.insert(format!("{}{suffix}", f.name));
                }
            }
            Kind::Counter | Kind::Gauge => {
                s.insert(f.name.to_string());
            }
        }
    }
    s.insert("up".to_string());
    s
}

/// Metric names a PromQL expression selects. A small tokenizer: strings,
/// label matchers `{...}`, ranges `[...]`, grouping label lists (`by (...)`
/// and the like), numbers, Grafana `$variables`, keywords and function
/// calls are skipped; every other identifier is a metric name.
fn metric_names(expr: &str) -> Vec<String> {
    const KEYWORDS: &[&str] = &[
        "and",
        "or",
        "unless",
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
        "offset",
        "bool",
        "inf",
        "nan",
        "Inf",
        "NaN",
        // Aggregation operators: `sum by (x) (...)` has no `(` right after the name.
        "sum",
        "min",
        "max",
        "avg",
        "group",
        "stddev",
        "stdvar",
        "count",
        "count_values",
        "bottomk",
        "topk",
        "quantile",
        "limitk",
        "limit_ratio",
    ];
    const LABEL_LISTS: &[&str] = &[
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
    ];
    let c: Vec<char> = expr.chars().collect();
    let mut names = Vec::new();
    let mut i = 0;
    let skip_to = |i: usize, open: char, close: char| -> usize {
        let mut depth = 0;
        let mut j = i;
        let mut quote: Option<char> = None;
        while j < c.len() {
            let ch = c[j];
            if let Some(q) = quote {
                if ch == '\\' {
                    j += 1;
                } else if ch == q {
                    quote = None;
                }
            } else if ch == '"' || ch == '\'' || ch == '`' {
                quote = Some(ch);
            } else if ch == open {
                depth += 1;
            } else if ch == close {
                depth -= 1;
                if depth == 0 {
                    return j + 1;
                }
            }
            j += 1;
        }
        panic!("unbalanced {open}{close} in {expr}");
    };
    while i < c.len() {
        let ch = c[i];
        if ch == '"' || ch == '\'' || ch == '`' {
            i += 1;
            while i < c.len() && c[i] != ch {
                if c[i] == '\\' {
                    i += 1;
                }
                i += 1;
            }
            i += 1;
        } else if ch == '{' {
            i = skip_to(i, '{', '}');
        } else if ch == '[' {
            i = skip_to(i, '[', ']');
        } else if ch == '$' {
            i += 1;
            if i < c.len() && c[i] == '{' {
                i = skip_to(i, '{', '}');
            } else {
                while i < c.len() && (c[i].is_alphanumeric() || c[i] == '_') {
                    i += 1;
                }
            }
        } else if ch.is_ascii_digit()
            || (ch == '.' && c.get(i + 1).is_some_and(|d| d.is_ascii_digit()))
        {
            while i < c.len() && (c[i].is_alphanumeric() || c[i] == '.' || c[i] == '_') {
                i += 1;
            }
        } else if ch.is_alphabetic() || ch == '_' || ch == ':' {
            let start = i;
            while i < c.len() && (c[i].is_alphanumeric() || c[i] == '_' || c[i] == ':') {
                i += 1;
            }
            let word: String = c[start..i].iter().collect();
            let mut j = i;
            while j < c.len() && c[j].is_whitespace() {
                j += 1;
            }
            let call = j < c.len() && c[j] == '(';
            if LABEL_LISTS.contains(&word.as_str()) {
                if call {
                    i = skip_to(j, '(', ')');
                }
            } else if !call && !KEYWORDS.contains(&word.as_str()) {
                names.push(word);
            }
        } else {
            i += 1;
        }
    }
    names
}

/// Grafana variables replaced so the expression is plain PromQL: interval
/// variables by a duration, others (used inside label regexes) by `.*`.
fn substitute_grafana_variables(expr: &str) -> String {
    let c: Vec<char> = expr.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < c.len() {
        if c[i] != '$' {
            out.push(c[i]);
            i += 1;
            continue;
        }
        let (name, next) = if c.get(i + 1) == Some(&'{') {
            let end = c[i..].iter().position(|&x| x == '}').expect("unclosed ${") + i;
            let inner: String = c[i + 2..end].iter().collect();
            (inner.split(':').next().unwrap().to_string(), end + 1)
        } else {
            let mut j = i + 1;
            while j < c.len() && (c[j].is_alphanumeric() || c[j] == '_') {
                j += 1;
            }
            (c[i + 1..j].iter().collect::<String>(), j)
        };
        out.push_str(match name.as_str() {
            "__rate_interval" | "__interval" | "__range" => "5m",
            "__range_s" | "__interval_ms" => "300",
            _ => ".*",
        });
        i = next;
    }
    out
}

/// Every panel (rows included) of a dashboard.
fn panels(dash: &Value) -> Vec<&Value> {
    fn walk<'a>(ps: &'a Value, out: &mut Vec<&'a Value>) {
        for p in ps.as_array().into_iter().flatten() {
            out.push(p);
            walk(&p["panels"], out);
        }
    }
    let mut v = Vec::new();
    walk(&dash["panels"], &mut v);
    v
}

fn dashboards() -> Vec<(PathBuf, Value)> {
    files_in(&deploy().join("grafana/dashboards"), ".json")
        .into_iter()
        .map(|p| {
            let v: Value = serde_json::from_str(&fs::read_to_string(&p).unwrap())
                .unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            (p, v)
        })
        .collect()
}

/// `(where, PromQL)` of every panel target and every query variable
/// (`label_values(selector, label)` contributes its selector).
fn dashboard_queries() -> Vec<(String, String)> {
    let mut q = Vec::new();
    for (path, d) in dashboards() {
        let file = path.file_name().unwrap().to_string_lossy().to_string();
        for p in panels(&d) {
            for t in p["targets"].as_array().into_iter().flatten() {
                let expr = t["expr"].as_str().unwrap_or_else(|| {
                    panic!("{file}: panel {:?} has a target without expr", p["title"])
                });
                q.push((format!("{file}: panel {}", p["title"]), expr.to_string()));
            }
        }
        for v in d["templating"]["list"].as_array().into_iter().flatten() {
            if v["type"] != "query" {
                continue;
            }
            let def = v["definition"].as_str().unwrap_or_default();
            let inner = def
                .strip_prefix("label_values(")
                .and_then(|s| s.strip_suffix(')'))
                .unwrap_or_else(|| panic!("{file}: variable {}: use label_values(...)", v["name"]));
            if let Some((selector, _label)) = inner.rsplit_once(',') {
                q.push((
                    format!("{file}: variable {}", v["name"]),
                    selector.trim().to_string(),
                ));
            }
        }
    }
    q
}

/// Runs promtool on a rules file; panics with its output on failure.
fn promtool_ok(args: &[&str], file: &Path) -> String {
    let (ok, out) = run(Command::new(promtool()).args(args).arg(file));
    assert!(
        ok,
        "promtool {} {} failed:\n{out}",
        args.join(" "),
        file.display()
    );
    out
}

// ---------------------------------------------------------------- rules

#[test]
fn promtool_check_rules_accepts_every_rules_file() {
    for f in files_in(&rules_dir(), ".yml") {
        promtool_ok(&["check", "rules"], &f);
    }
}

#[test]
fn promtool_test_rules_passes_every_test_file() {
    let tests = files_in(&deploy().join("prometheus/tests"), ".test.yml");
    for f in &tests {
        let out = promtool_ok(&["test", "rules"], f);
        assert!(out.contains("SUCCESS"), "{}:\n{out}", f.display());
    }
}

#[test]
fn every_recording_rule_and_alert_has_a_rule_test() {
    let tests: String = files_in(&deploy().join("prometheus/tests"), ".test.yml")
        .iter()
        .map(|f| fs::read_to_string(f).unwrap())
        .collect();
    let mut untested = Vec::new();
    for (kind, name) in rule_names() {
        let used = match kind.as_str() {
            // A recording rule is tested where an expr queries it.
            "record" => {
                tests.contains(&format!("{name}{{")) || tests.contains(&format!("({name})"))
            }
            _ => tests.contains(&format!("alertname: {name}\n")),
        };
        if !used {
            untested.push(format!("{kind} {name}"));
        }
    }
    assert!(untested.is_empty(), "no promtool test for: {untested:#?}");
}

#[test]
fn rules_only_use_catalogue_metrics_and_recorded_series() {
    let known = known_series();
    for f in files_in(&rules_dir(), ".yml") {
        let doc = yaml_doc(&f);
        for g in doc["groups"].as_array().unwrap() {
            for r in g["rules"].as_array().unwrap() {
                let expr = r["expr"].as_str().unwrap();
                for n in metric_names(expr) {
                    assert!(
                        known.contains(&n),
                        "{}: rule {} uses {n:?}, which is neither in src/telemetry/catalog.rs nor a recording rule",
                        f.display(),
                        r.get("record").or(r.get("alert")).unwrap()
                    );
                }
                if let Some(alert) = r.get("alert") {
                    let labels = &r["labels"];
                    assert!(
                        ["critical", "warning", "info"]
                            .contains(&labels["severity"].as_str().unwrap_or("")),
                        "alert {alert} needs a severity label"
                    );
                    for a in ["summary", "description", "runbook"] {
                        let text = r["annotations"][a].as_str().unwrap_or("");
                        assert!(!text.is_empty(), "alert {alert} needs a {a} annotation");
                    }
                    assert!(
                        !r["annotations"]["runbook"]
                            .as_str()
                            .unwrap()
                            .starts_with("http"),
                        "alert {alert}: runbook is a one-line what-to-do, not a URL"
                    );
                    let url = r["annotations"]["runbook_url"].as_str().unwrap_or("");
                    let anchor = url.strip_prefix(RUNBOOK_BASE).unwrap_or_else(|| {
                        panic!("alert {alert}: runbook_url {url:?} must start with {RUNBOOK_BASE}")
                    });
                    assert!(
                        readme_anchors().contains(anchor),
                        "alert {alert}: runbook_url points at #{anchor}, which is no heading of deploy/README.md"
                    );
                    assert_eq!(
                        anchor,
                        alert.as_str().unwrap().to_lowercase(),
                        "alert {alert}: its runbook section is named after it"
                    );
                }
            }
        }
    }
}

/// Where `runbook_url` annotations point: deploy/README.md's sections.
const RUNBOOK_BASE: &str = "https://github.com/example/ccpulse/blob/main/deploy/README.md#";

/// GitHub's anchors of deploy/README.md's headings (lower case, spaces to
/// dashes, punctuation dropped).
fn readme_anchors() -> BTreeSet<String> {
    let text = fs::read_to_string(deploy().join("README.md")).unwrap();
    text.lines()
        .filter(|l| l.starts_with('#'))
        .map(|l| {
            l.trim_start_matches('#')
                .trim()
                .to_lowercase()
                .chars()
                .filter_map(|c| match c {
                    ' ' => Some('-'),
                    c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
                    _ => None,
                })
                .collect()
        })
        .collect()
}

/// `(where, problem)` for every aggregation or vector match in `expr` that
/// would drop the `cluster` label: `by (...)`/`on (...)` lists without it,
/// and aggregations with no `by` at all.
fn cluster_dropped(expr: &str) -> Vec<String> {
    const AGGREGATIONS: &[&str] = &[
        "sum", "min", "max", "avg", "count", "group", "stddev", "stdvar", "topk", "bottomk",
        "quantile",
    ];
    let b = expr.as_bytes();
    let word = |c: u8| c.is_ascii_alphanumeric() || c == b'_' || c == b':';
    let mut bad = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if !word(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && word(b[i]) {
            i += 1;
        }
        let w = &expr[start..i];
        let after = expr[i..].trim_start();
        if !after.starts_with('(') {
            continue;
        }
        if w == "by" || w == "on" {
            let list = &after[1..after.find(')').unwrap()];
            if !list.split(',').any(|l| l.trim() == "cluster") {
                bad.push(format!("{w} ({list}) without cluster"));
            }
        } else if AGGREGATIONS.contains(&w) {
            // `sum by (...) (...)` has `by` first; `sum(` has none.
            bad.push(format!("{w}(...) aggregates the cluster away"));
        }
    }
    bad
}

#[test]
fn recording_rules_and_alerts_keep_the_cluster_label() {
    let mut dropped = Vec::new();
    for f in files_in(&rules_dir(), ".yml") {
        let doc = yaml_doc(&f);
        for g in doc["groups"].as_array().unwrap() {
            for r in g["rules"].as_array().unwrap() {
                let name = r.get("record").or(r.get("alert")).unwrap();
                for problem in cluster_dropped(r["expr"].as_str().unwrap()) {
                    dropped.push(format!("{name}: {problem}"));
                }
            }
        }
    }
    assert!(
        dropped.is_empty(),
        "rules that merge deployments: {dropped:#?}"
    );
    assert_eq!(
        cluster_dropped("sum by (queue) (x) / on (queue) y + max(z) + sum by (cluster) (w)"),
        [
            "by (queue) without cluster",
            "on (queue) without cluster",
            "max(...) aggregates the cluster away"
        ]
    );
    // The scrape configs set it.
    let prom = yaml_doc(&deploy().join("prometheus/prometheus.yml"));
    let job = prom["scrape_configs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["job_name"] == "ccpulse")
        .unwrap()
        .clone();
    for sc in job["static_configs"].as_array().unwrap() {
        assert!(sc["labels"]["cluster"].is_string(), "prometheus.yml: {sc}");
    }
    let k8s = yaml_doc(&deploy().join("prometheus/prometheus-k8s.yml"));
    assert!(
        k8s["scrape_configs"][0]["relabel_configs"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["target_label"] == "cluster"),
        "prometheus-k8s.yml sets no cluster label"
    );
    let sm = yaml_doc(&deploy().join("k8s/servicemonitor.yaml"));
    assert!(
        sm["spec"]["endpoints"][0]["relabelings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["targetLabel"] == "cluster"),
        "servicemonitor.yaml sets no cluster label"
    );
}

// --------------------------------------------------------------- config

#[test]
fn promtool_check_config_accepts_the_prometheus_configs() {
    let dir = deploy().join("prometheus");
    let out = promtool_ok(&["check", "config"], &dir.join("prometheus.yml"));
    assert!(out.contains("2 rule files found"), "{out}");

    // The Kubernetes variant. Debian's promtool is built without Kubernetes
    // service discovery; then check everything else: the same file with the
    // discovery block swapped for a static target.
    let k8s = dir.join("prometheus-k8s.yml");
    let (ok, out) = run(Command::new(promtool()).args(["check", "config"]).arg(&k8s));
    if ok {
        return;
    }
    assert!(
        out.contains("field kubernetes_sd_configs not found"),
        "promtool check config {} failed:\n{out}",
        k8s.display()
    );
    eprintln!(
        "note: this promtool has no Kubernetes discovery; checking {} with a static target instead",
        k8s.display()
    );
    let mut doc = yaml_doc(&k8s);
    for r in doc["rule_files"].as_array_mut().unwrap() {
        *r = Value::String(dir.join(r.as_str().unwrap()).to_string_lossy().into());
    }
    let mut swapped = 0;
    for sc in doc["scrape_configs"].as_array_mut().unwrap() {
        let m = sc.as_object_mut().unwrap();
        if m.remove("kubernetes_sd_configs").is_some() {
            m.insert(
                "static_configs".into(),
                serde_json::json!([{ "targets": ["k8s-discovery-placeholder:9900"] }]),
            );
            swapped += 1;
        }
    }
    assert!(swapped > 0);
    let dir = scratch::Scratch::new("deploy-k8s-config");
    let tmp = dir.join("prometheus-k8s.yml");
    // JSON is YAML.
    fs::write(&tmp, serde_json::to_string_pretty(&doc).unwrap()).unwrap();
    promtool_ok(&["check", "config"], &tmp);
}

// ----------------------------------------------------------- dashboards

#[test]
fn dashboards_only_query_catalogue_metrics_and_recording_rules() {
    let known = known_series();
    let queries = dashboard_queries();
    assert!(queries.len() > 20, "{queries:?}");
    let mut unknown = Vec::new();
    for (at, expr) in &queries {
        let names = metric_names(expr);
        assert!(!names.is_empty(), "{at}: no metric in {expr:?}");
        for n in names {
            if !known.contains(&n) {
                unknown.push(format!("{at}: {n} in {expr:?}"));
            }
        }
    }
    assert!(unknown.is_empty(), "unknown series: {unknown:#?}");
}

#[test]
fn dashboard_queries_are_valid_promql() {
    // promtool parses every expression of a rules file: put each query in one.
    let mut yaml = String::from("groups:\n  - name: dashboard-queries\n    rules:\n");
    let queries = dashboard_queries();
    for (i, (at, expr)) in queries.iter().enumerate() {
        yaml.push_str(&format!(
            "      # {}\n      - record: dashboard_query_{i}\n        expr: {}\n",
            at.replace('\n', " "),
            serde_json::to_string(&substitute_grafana_variables(expr)).unwrap()
        ));
    }
    let dir = scratch::Scratch::new("deploy-dashboard-queries");
    let f = dir.join("queries.yml");
    fs::write(&f, yaml).unwrap();
    let out = promtool_ok(&["check", "rules"], &f);
    assert!(
        out.contains(&format!("{} rules found", queries.len())),
        "{out}"
    );
}

#[test]
fn dashboards_are_well_formed_for_provisioning() {
    let ds = yaml_doc(&deploy().join("grafana/provisioning/datasources/prometheus.yml"));
    let uid = ds["datasources"][0]["uid"].as_str().unwrap().to_string();
    let mut uids = BTreeSet::new();
    for (path, d) in dashboards() {
        let file = path.display();
        assert!(
            uids.insert(d["uid"].as_str().unwrap().to_string()),
            "{file}: duplicate uid"
        );
        // A datasource variable, defaulting to the provisioned Prometheus,
        // so the dashboard works on any Grafana (pick another Prometheus).
        let vars = d["templating"]["list"].as_array().unwrap();
        let dsvar = vars
            .iter()
            .find(|v| v["type"] == "datasource")
            .unwrap_or_else(|| panic!("{file}: no datasource variable"));
        assert_eq!(dsvar["query"], "prometheus", "{file}");
        assert_eq!(
            dsvar["current"]["value"],
            uid.as_str(),
            "{file}: default datasource"
        );
        let wanted = serde_json::json!({ "type": "prometheus", "uid": format!("${{{}}}", dsvar["name"].as_str().unwrap()) });
        for v in vars.iter().filter(|v| v["type"] == "query") {
            assert_eq!(v["datasource"], wanted, "{file}: variable {}", v["name"]);
        }
        let mut ids = BTreeSet::new();
        for p in panels(&d) {
            assert!(
                ids.insert(p["id"].as_i64().unwrap()),
                "{file}: duplicate panel id {}",
                p["id"]
            );
            for t in p["targets"].as_array().into_iter().flatten() {
                assert_eq!(
                    t["datasource"], wanted,
                    "{file}: panel {} must use the datasource variable",
                    p["title"]
                );
                assert_eq!(p["datasource"], wanted, "{file}: panel {}", p["title"]);
            }
        }
    }
    let vars = |name: &str| -> Vec<String> {
        let d = dashboards()
            .into_iter()
            .find(|(p, _)| p.ends_with(name))
            .unwrap_or_else(|| panic!("{name}"))
            .1;
        d["templating"]["list"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["name"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        vars("wallboard.json"),
        ["datasource", "cluster", "tenant", "queue", "channel"]
    );
    assert_eq!(
        vars("operations.json"),
        ["datasource", "cluster", "instance"]
    );
    let wall = dashboards()
        .into_iter()
        .find(|(p, _)| p.ends_with("wallboard.json"))
        .unwrap()
        .1;
    assert!(panels(&wall).iter().any(|p| p["type"] == "heatmap"));
}

/// Every selector of a PromQL expression: `(metric, matchers)`.
fn selectors(expr: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for name in metric_names(expr) {
        // The matcher block right after the name, if any (first occurrence
        // not followed by more name characters).
        let mut from = 0;
        while let Some(i) = expr[from..].find(name.as_str()) {
            let at = from + i;
            let end = at + name.len();
            let before_ok = at == 0
                || !expr[..at]
                    .chars()
                    .next_back()
                    .is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':');
            let after = &expr[end..];
            let after_ok = !after
                .chars()
                .next()
                .is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':');
            if before_ok && after_ok {
                let matchers = after
                    .strip_prefix('{')
                    .and_then(|a| a.split_once('}'))
                    .map_or(String::new(), |(m, _)| m.to_string());
                out.push((name.clone(), matchers));
            }
            from = end;
        }
    }
    out
}

#[test]
fn every_dashboard_query_selects_one_cluster() {
    let mut unfiltered = Vec::new();
    for (at, expr) in dashboard_queries() {
        if at.ends_with("variable \"cluster\"") {
            continue;
        }
        for (name, matchers) in selectors(&expr) {
            if !matchers.contains("cluster=~\"$cluster\"") {
                unfiltered.push(format!("{at}: {name}{{{matchers}}}"));
            }
        }
    }
    assert!(
        unfiltered.is_empty(),
        "selectors without cluster=~\"$cluster\" (two deployments would add up): {unfiltered:#?}"
    );
    let ops = dashboards()
        .into_iter()
        .find(|(p, _)| p.ends_with("operations.json"))
        .unwrap()
        .1;
    let instance = ops["templating"]["list"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "instance")
        .unwrap()
        .clone();
    assert!(
        instance["definition"]
            .as_str()
            .unwrap()
            .contains("cluster=~\"$cluster\""),
        "the instance choice follows the cluster: {instance}"
    );
}

/// Two tenants may both have a `billing` queue: every wallboard selector
/// follows the tenant choice, and no aggregation keeps `queue` while
/// dropping `tenant` (which would add the two billing queues up).
#[test]
fn every_wallboard_query_follows_the_tenant_choice_and_keeps_tenants_apart() {
    let mut wrong = Vec::new();
    for (at, expr) in dashboard_queries() {
        if !at.starts_with("wallboard.json")
            || at.ends_with("variable \"cluster\"")
            || at.ends_with("variable \"tenant\"")
        {
            continue;
        }
        for (name, matchers) in selectors(&expr) {
            if !matchers.contains("tenant=~\"$tenant\"") {
                wrong.push(format!("{at}: {name}{{{matchers}}} ignores $tenant"));
            }
        }
        let mut rest = expr.as_str();
        while let Some(i) = rest.find(" by (") {
            let (labels, after) = rest[i + 5..]
                .split_once(')')
                .unwrap_or((&rest[i + 5..], ""));
            let labels: Vec<&str> = labels.split(',').map(str::trim).collect();
            if labels.contains(&"queue") && !labels.contains(&"tenant") {
                wrong.push(format!("{at}: by ({}) merges tenants", labels.join(", ")));
            }
            rest = after;
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}

// ------------------------------------------------- compose and kubernetes

/// A shipped config, validated by the service's own loader as it ships
/// (secrets from `env`): every section, nothing removed.
fn validates_as_shipped(
    text: &str,
    what: &str,
    env: &[(&'static str, &'static str)],
) -> ccpulse::config::Config {
    struct Env<'a>(&'a [(&'static str, &'static str)]);
    impl ccpulse::config::Env for Env<'_> {
        fn var(&self, name: &str) -> Option<String> {
            self.0
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        }
        fn read_file(&self, _: &Path) -> std::io::Result<String> {
            Err(std::io::ErrorKind::NotFound.into())
        }
    }
    ccpulse::config::Config::from_toml_in(text, Path::new(what), &Env(env))
        .unwrap_or_else(|e| panic!("{e}"))
}

/// `kafka.shutdown_timeout` of a config, in seconds.
fn shutdown_timeout_secs(text: &str) -> u64 {
    let table: toml::Table = text.parse().unwrap();
    let s = table["kafka"]["shutdown_timeout"]
        .as_str()
        .expect("[kafka] shutdown_timeout");
    humantime::parse_duration(s).unwrap().as_secs()
}

/// A topic script creates every topic `config` names, for every role the
/// service knows, with partition counts that work (outputs that follow the
/// input partitions have as many) and the checkpoints compacted.
fn script_creates_what_the_config_needs(script: &str, config: &str, what: &str) {
    let created = deploy::created_topics(script);
    let topics = deploy::topics_of(config);
    for role in deploy::topic_roles() {
        assert!(
            topics.contains_key(&role),
            "{what}: [kafka.topics] does not name the {role} topic (write every role, so the topic script can be checked against it)"
        );
    }
    let find = |name: &str| {
        created.iter().find(|c| c.name == name).unwrap_or_else(|| {
            panic!("{what}: the topic script does not create {name} (created: {created:?})")
        })
    };
    let mut input = 0;
    for name in &topics["events"] {
        let p = find(name).partitions;
        assert!(
            input == 0 || input == p,
            "{what}: input topics differ in partitions"
        );
        input = p;
    }
    for (role, names) in &topics {
        for name in names {
            let c = find(name);
            if ["effects", "ticks", "checkpoints"].contains(&role.as_str()) {
                assert!(
                    c.partitions >= input,
                    "{what}: {name} ({role}) needs at least the input's {input} partitions"
                );
            }
            let compacted = c.config.as_deref() == Some("cleanup.policy=compact");
            assert_eq!(
                compacted,
                role == "checkpoints",
                "{what}: {name} ({role}): only the checkpoints topic is compacted"
            );
        }
    }
}

#[test]
fn compose_stack_is_complete_and_consistent() {
    let dir = deploy();
    let compose = deploy::compose();
    let services = compose["services"].as_object().unwrap();
    for s in ["kafka", "kafka-init", "simulator", "prometheus", "grafana"] {
        assert!(
            services.contains_key(s),
            "docker-compose.yml: no service {s}"
        );
    }
    assert!(services["kafka"]["image"]
        .as_str()
        .unwrap()
        .starts_with("apache/kafka:"));
    // Compose interpolates ${...}; shell variables must be written $${...}.
    let raw = fs::read_to_string(dir.join("docker-compose.yml")).unwrap();
    for (n, line) in raw.lines().enumerate() {
        let l = line.replace("$${", "");
        assert!(
            !l.contains("${"),
            "docker-compose.yml:{}: unescaped ${{ (write $${{)",
            n + 1
        );
    }
    // This is a demo stack with an open API: nothing published beyond the
    // host's loopback.
    for (name, s) in services {
        for port in s["ports"].as_array().into_iter().flatten() {
            assert!(
                port.as_str().is_some_and(|p| p.starts_with("127.0.0.1:")),
                "{name}: port {port} is published on every interface (write 127.0.0.1:host:container)"
            );
        }
    }

    let text = deploy::docker_toml();
    script_creates_what_the_config_needs(
        &deploy::compose_topic_script(),
        &text,
        "docker-compose.yml kafka-init",
    );

    let mut instances = Vec::new();
    for (name, s) in services {
        if let Some(b) = s.get("build") {
            assert_eq!(b["context"], "..", "{name}");
            assert!(
                repo().join(b["dockerfile"].as_str().unwrap()).is_file(),
                "{name}: Dockerfile"
            );
        }
        let cmd: Vec<&str> = s["command"]
            .as_array()
            .map_or(vec![], |c| c.iter().filter_map(Value::as_str).collect());
        if cmd.first() == Some(&"run") {
            instances.push(name.clone());
            let i = cmd.iter().position(|&a| a == "--config").expect("--config");
            let config = cmd[i + 1];
            let mounted = s["volumes"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(Value::as_str)
                .find(|v| v.split(':').nth(1) == Some(config))
                .unwrap_or_else(|| panic!("{name}: {config} is not mounted"));
            assert_eq!(
                mounted.split(':').next(),
                Some("./ccpulse.docker.toml"),
                "{name}"
            );
            let grace = humantime::parse_duration(
                s["stop_grace_period"].as_str().expect("stop_grace_period"),
            )
            .unwrap();
            assert!(
                grace.as_secs() > shutdown_timeout_secs(&text),
                "{name}: stop_grace_period <= kafka.shutdown_timeout"
            );
        }
        if cmd.first() == Some(&"simulate") {
            assert!(
                cmd.contains(&"--brokers")
                    && cmd.contains(&"--rate")
                    && cmd.contains(&"--spike-at"),
                "{name}: {cmd:?}"
            );
        }
        // Bind mounts point at files in deploy/.
        for v in s["volumes"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
        {
            let src = v.split(':').next().unwrap();
            if src.starts_with('.') {
                assert!(
                    dir.join(src).exists(),
                    "{name}: mount source {src} does not exist"
                );
            }
        }
    }
    assert!(
        instances.len() >= 2,
        "want two ccpulse instances to show merging, got {instances:?}"
    );

    // Prometheus scrapes exactly the ccpulse instances, on their HTTP port.
    let prom = yaml_doc(&dir.join("prometheus/prometheus.yml"));
    let job = prom["scrape_configs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["job_name"] == "ccpulse")
        .expect("job ccpulse");
    let targets: BTreeSet<String> = job["static_configs"][0]["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap().to_string())
        .collect();
    let want: BTreeSet<String> = instances.iter().map(|i| format!("{i}:9900")).collect();
    assert_eq!(targets, want);
    let mounts = services["prometheus"]["volumes"].to_string();
    assert!(mounts.contains("./prometheus:/etc/prometheus"), "{mounts}");
    let mounts = services["grafana"]["volumes"].to_string();
    assert!(
        mounts.contains("./grafana/provisioning:/etc/grafana/provisioning"),
        "{mounts}"
    );

    // The whole config, as shipped, through the service's own validation.
    let cfg = validates_as_shipped(&text, "deploy/ccpulse.docker.toml", &[]);
    assert_eq!(
        cfg.http.listen.to_string(),
        "0.0.0.0:9900",
        "containers listen on all interfaces"
    );
    assert_eq!(cfg.kafka.brokers, "kafka:9092");
}

#[test]
fn kubernetes_manifests_are_consistent() {
    let dir = deploy().join("k8s");
    let by_kind = deploy::k8s();
    for (kind, docs) in &by_kind {
        for d in docs {
            assert!(d["apiVersion"].is_string(), "{kind}: no apiVersion");
            if kind != "Kustomization" {
                assert!(
                    d["metadata"]["name"].is_string(),
                    "{kind}: no metadata.name"
                );
            }
        }
    }
    let one = |k: &str| deploy::one(&by_kind, k);
    let sts = one("StatefulSet");
    let pod = &sts["spec"]["template"];
    let pod_labels = pod["metadata"]["labels"].as_object().unwrap();
    let matches = |sel: &Value, labels: &serde_json::Map<String, Value>| {
        sel.as_object()
            .unwrap()
            .iter()
            .all(|(k, v)| labels.get(k) == Some(v))
    };
    assert!(matches(&sts["spec"]["selector"]["matchLabels"], pod_labels));
    assert!(sts["spec"]["replicas"].as_u64().unwrap() >= 2);

    let c = &pod["spec"]["containers"][0];
    assert_eq!(c["ports"][0]["containerPort"], 9900);
    let port_name = c["ports"][0]["name"].as_str().unwrap();
    for (probe, path) in [("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")] {
        assert_eq!(c[probe]["httpGet"]["path"], path, "{probe}");
        assert_eq!(c[probe]["httpGet"]["port"], port_name, "{probe}");
    }
    for r in ["requests", "limits"] {
        assert!(
            c["resources"][r]["memory"].is_string(),
            "resources.{r}.memory"
        );
    }
    // Static membership: the pod name reaches the config.
    let env = c["env"].as_array().unwrap();
    assert!(env
        .iter()
        .any(|e| e["name"] == "POD_NAME"
            && e["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"));
    let toml_text = deploy::configmap_toml();
    assert!(toml_text.contains("group_instance_id = \"@POD_NAME@\""));
    assert!(
        c["args"].to_string().contains("@POD_NAME@"),
        "the container must render @POD_NAME@"
    );

    // Secrets: the token comes from the Secret through the environment, as
    // the config reads it; the Secret is generated from a file that is
    // never committed.
    assert!(
        toml_text.contains(&format!("api_token = \"${{{}}}\"", deploy::TOKEN_VAR)),
        "configmap.yaml: http.api_token must read ${{{}}}",
        deploy::TOKEN_VAR
    );
    let token_env = env
        .iter()
        .find(|e| e["name"] == deploy::TOKEN_VAR)
        .unwrap_or_else(|| panic!("the container has no {} variable", deploy::TOKEN_VAR));
    let secret_ref = &token_env["valueFrom"]["secretKeyRef"];
    let k = one("Kustomization");
    let generated = k["secretGenerator"]
        .as_array()
        .expect("kustomization.yaml generates the Secret")
        .iter()
        .find(|g| g["name"] == secret_ref["name"])
        .unwrap_or_else(|| panic!("no secretGenerator named {}", secret_ref["name"]));
    let file = generated["files"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .find_map(|f| f.strip_prefix(&format!("{}=", secret_ref["key"].as_str().unwrap())))
        .unwrap_or_else(|| panic!("the Secret has no key {}", secret_ref["key"]));
    let ignore = fs::read_to_string(dir.join("secrets/.gitignore")).expect("secrets/.gitignore");
    assert!(
        file.starts_with("secrets/") && ignore.lines().any(|l| l.trim() == "*"),
        "{file} must sit in secrets/, whose .gitignore keeps it out of git"
    );
    assert!(dir.join("secrets/README.md").is_file());
    // The whole config, as shipped, with the token the pod has.
    let cfg = validates_as_shipped(
        &toml_text,
        "deploy/k8s/configmap.yaml",
        &[(deploy::TOKEN_VAR, "a-token-from-the-secret")],
    );
    assert_eq!(
        cfg.http.api_token.as_deref(),
        Some("a-token-from-the-secret")
    );
    assert_eq!(cfg.http.listen.to_string(), "0.0.0.0:9900");

    // No Kubernetes API token in the pods.
    assert_eq!(pod["spec"]["automountServiceAccountToken"], false);
    let sa = one("ServiceAccount");
    assert_eq!(pod["spec"]["serviceAccountName"], sa["metadata"]["name"]);
    assert_eq!(sa["automountServiceAccountToken"], false);

    // The NetworkPolicy covers the pods: in only on the HTTP port, out only
    // to DNS and to the brokers' port.
    let np = one("NetworkPolicy");
    assert!(matches(
        &np["spec"]["podSelector"]["matchLabels"],
        pod_labels
    ));
    let types: BTreeSet<&str> = np["spec"]["policyTypes"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(types, BTreeSet::from(["Ingress", "Egress"]));
    let ports = |rules: &Value| -> BTreeSet<u64> {
        rules
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|r| r["ports"].as_array().unwrap().iter())
            .map(|p| p["port"].as_u64().unwrap())
            .collect()
    };
    assert_eq!(ports(&np["spec"]["ingress"]), BTreeSet::from([9900]));
    let broker_port: u64 = cfg
        .kafka
        .brokers
        .rsplit_once(':')
        .and_then(|(_, p)| p.parse().ok())
        .expect("broker port");
    let egress = ports(&np["spec"]["egress"]);
    assert!(
        egress.contains(&53) && egress.contains(&broker_port),
        "{egress:?}"
    );

    // The topics Job: same brokers as the config, creates what it needs,
    // and its pod is none of the Services' or the PDB's.
    let (script, bootstrap) = deploy::k8s_topic_script();
    assert_eq!(
        bootstrap, cfg.kafka.brokers,
        "topics-job.yaml BOOTSTRAP = configmap.yaml brokers"
    );
    script_creates_what_the_config_needs(&script, &toml_text, "deploy/k8s/topics-job.yaml");
    let job = one("Job");
    let job_labels = job["spec"]["template"]["metadata"]["labels"]
        .as_object()
        .unwrap();
    assert!(
        matches(&np["spec"]["podSelector"]["matchLabels"], job_labels),
        "the Job is under the NetworkPolicy"
    );
    assert_eq!(
        job["spec"]["template"]["spec"]["automountServiceAccountToken"],
        false
    );

    // Graceful shutdown fits: preStop sleep + shutdown_timeout < grace period.
    let pre_stop: u64 = c["lifecycle"]["preStop"]["exec"]["command"][1]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let grace = pod["spec"]["terminationGracePeriodSeconds"]
        .as_u64()
        .unwrap();
    assert!(
        pre_stop + shutdown_timeout_secs(&toml_text) < grace,
        "grace {grace}s too short"
    );
    let ann = pod["metadata"]["annotations"].as_object().unwrap();
    assert_eq!(ann["prometheus.io/scrape"], "true");
    assert_eq!(ann["prometheus.io/port"], "9900");

    // Services select the pods (not the Job's); the ServiceMonitor selects
    // exactly one of them (else the pods are scraped twice) and names its port.
    let services = &by_kind["Service"];
    for s in services {
        assert!(
            matches(&s["spec"]["selector"], pod_labels),
            "service {}",
            s["metadata"]["name"]
        );
        assert!(
            !matches(&s["spec"]["selector"], job_labels),
            "service {} selects the Job",
            s["metadata"]["name"]
        );
    }
    assert!(
        services.iter().any(|s| s["spec"]["clusterIP"] == "None"
            && s["metadata"]["name"] == sts["spec"]["serviceName"]),
        "headless service for the StatefulSet"
    );
    let sm = one("ServiceMonitor");
    let picked: Vec<&Value> = services
        .iter()
        .filter(|s| {
            matches(
                &sm["spec"]["selector"]["matchLabels"],
                s["metadata"]["labels"].as_object().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        picked.len(),
        1,
        "ServiceMonitor must select exactly one Service"
    );
    let sm_port = sm["spec"]["endpoints"][0]["port"].as_str().unwrap();
    assert!(picked[0]["spec"]["ports"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p["name"] == sm_port));
    assert_eq!(
        picked[0]["metadata"]["labels"][sm["spec"]["jobLabel"].as_str().unwrap()],
        "ccpulse",
        "job label"
    );

    let pdb = one("PodDisruptionBudget");
    assert!(matches(&pdb["spec"]["selector"]["matchLabels"], pod_labels));
    assert!(!matches(
        &pdb["spec"]["selector"]["matchLabels"],
        job_labels
    ));

    // The kustomization lists every manifest except the ServiceMonitor.
    let listed: BTreeSet<&str> = k["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    for f in files_in(&dir, ".yaml") {
        let name = f.file_name().unwrap().to_str().unwrap();
        if !["kustomization.yaml", "servicemonitor.yaml"].contains(&name) {
            assert!(
                listed.contains(name),
                "kustomization.yaml does not list {name}"
            );
        }
    }
}

#[test]
fn the_metric_name_scanner_finds_what_it_should() {
    assert_eq!(
        metric_names(
            r#"sum by (queue, le) (rate(ccpulse_x_bucket{queue=~"$queue", le!="1"}[$__rate_interval])) / on (queue) group_left (channel) (up > 0) * 1e6 offset 5m"#
        ),
        ["ccpulse_x_bucket", "up"]
    );
    assert_eq!(
        metric_names("histogram_quantile(0.9, a:b:c) and bool x"),
        ["a:b:c", "x"]
    );
    assert_eq!(
        substitute_grafana_variables(
            r#"rate(x{q=~"$queue", c=~"${channel:regex}"}[$__rate_interval])"#
        ),
        r#"rate(x{q=~".*", c=~".*"}[5m])"#
    );
}

#[test]
fn the_dashboard_provider_loads_the_shipped_dashboards_from_where_compose_mounts_them() {
    let p = yaml_doc(&deploy().join("grafana/provisioning/dashboards/ccpulse.yml"));
    assert_eq!(p["apiVersion"], 1);
    let providers = p["providers"].as_array().expect("providers");
    assert_eq!(providers.len(), 1, "one provider: {providers:?}");
    let provider = &providers[0];
    assert_eq!(provider["type"], "file");
    let path = provider["options"]["path"].as_str().expect("options.path");

    // Compose mounts the provisioning folder where Grafana reads it, and
    // the shipped dashboards at the provider's path.
    let compose = yaml_doc(&deploy().join("docker-compose.yml"));
    let grafana = &compose["services"]["grafana"];
    let volumes: Vec<&str> = grafana["volumes"]
        .as_array()
        .expect("grafana volumes")
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    assert!(
        volumes.contains(&"./grafana/provisioning:/etc/grafana/provisioning:ro"),
        "{volumes:?}"
    );
    let dashboards = format!("./grafana/dashboards:{path}:ro");
    assert!(volumes.contains(&dashboards.as_str()), "{volumes:?}");

    // The home dashboard is one of the files the provider loads.
    let home = grafana["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
        .as_str()
        .expect("home dashboard");
    let name = home
        .strip_prefix(&format!("{path}/"))
        .unwrap_or_else(|| panic!("{home} is not under {path}"));
    assert!(
        deploy().join("grafana/dashboards").join(name).is_file(),
        "{name} is not a shipped dashboard"
    );
}
