//! A real Prometheus (Debian's `prometheus`) scrapes a running ccpulse demo
//! with the shipped recording rules loaded; every Grafana panel query is
//! then evaluated through Prometheus' HTTP API and must return data, and a
//! few panels must agree with the snapshot.

mod support;

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;
use support::kafka::{free_port, http_get, temp_dir, wait_until};

struct Killed(Child);
impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Every `expr` of every panel (nested rows included), with its title.
fn panel_queries() -> Vec<(String, String, String)> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut out = Vec::new();
    for entry in std::fs::read_dir(root.join("deploy/grafana/dashboards")).expect("dashboards") {
        let path = entry.expect("entry").path();
        let d: Value =
            serde_json::from_str(&std::fs::read_to_string(&path).expect("read")).expect("json");
        fn walk(ps: &Value, file: &str, out: &mut Vec<(String, String, String)>) {
            for p in ps.as_array().into_iter().flatten() {
                for t in p["targets"].as_array().into_iter().flatten() {
                    if let Some(e) = t["expr"].as_str() {
                        out.push((
                            file.to_string(),
                            p["title"].as_str().unwrap_or("").to_string(),
                            e.to_string(),
                        ));
                    }
                }
                walk(&p["panels"], file, out);
            }
        }
        let file = path
            .file_name()
            .map(|f| f.to_string_lossy().to_string())
            .unwrap_or_default();
        walk(&d["panels"], &file, &mut out);
    }
    out
}

/// Grafana's variables as Grafana would expand "All" (the demo has no
/// `cluster` label: "All" matches it, as on any Prometheus without one).
fn expand(expr: &str) -> String {
    expr.replace("$__rate_interval", "1m")
        .replace("$cluster", ".*")
        .replace("$tenant", ".*")
        .replace("${queue:regex}", ".*")
        .replace("${channel:regex}", ".*")
        .replace("$queue", ".*")
        .replace("$channel", ".*")
        .replace("$instance", ".*")
}

fn query(prom: u16, q: &str) -> Option<Value> {
    let enc: String = q
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect();
    let (status, body) = http_get(&format!("http://127.0.0.1:{prom}/api/v1/query?query={enc}"))?;
    (status == 200).then(|| serde_json::from_str(&body).ok())?
}

#[test]
fn every_grafana_panel_query_returns_data_from_a_real_prometheus() {
    let dir = temp_dir("prometheus");
    let (app, prom) = (free_port(), free_port());
    let demo = Killed(
        Command::new(env!("CARGO_BIN_EXE_ccpulse"))
            .args([
                "demo",
                "--speed",
                "240",
                "--duration",
                "230s",
                "--http",
                &format!("127.0.0.1:{app}"),
            ])
            .env("CCPULSE_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the demo"),
    );
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/prometheus/rules");
    let rules: Vec<String> = std::fs::read_dir(&root)
        .expect("rules dir")
        .map(|e| format!("  - {}", e.expect("entry").path().display()))
        .collect();
    let cfg = dir.join("prometheus.yml");
    std::fs::write(
        &cfg,
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files:\n{}\nscrape_configs:\n  - job_name: ccpulse\n    static_configs:\n      - targets: ['127.0.0.1:{app}']\n",
            rules.join("\n")
        ),
    )
    .expect("write prometheus.yml");
    let _prometheus = Killed(
        Command::new("prometheus")
            .arg(format!("--config.file={}", cfg.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{prom}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("prometheus not runnable ({e}): run scripts/install-test-deps")
            }),
    );
    // Traffic for a while: rates need samples, and the 1 h recording-rule
    // groups evaluate once a minute: wait for two of their evaluations, so
    // slow-arriving data (survey answers after resolutions) is in.
    let up = wait_until(Duration::from_secs(60), || {
        query(prom, "sum(ccpulse_offered_total)").is_some_and(|v| {
            v["data"]["result"]
                .as_array()
                .is_some_and(|r| !r.is_empty())
        })
    });
    assert!(up, "Prometheus never scraped ccpulse");
    std::thread::sleep(Duration::from_secs(130));
    let mut empty = Vec::new();
    let queries = panel_queries();
    assert!(
        queries.len() > 20,
        "found only {} panel queries",
        queries.len()
    );
    for (file, title, expr) in &queries {
        let q = expand(expr);
        match query(prom, &q) {
            Some(v)
                if v["status"] == "success"
                    && v["data"]["result"]
                        .as_array()
                        .is_some_and(|r| !r.is_empty()) => {}
            Some(v) if v["status"] == "success" => {
                empty.push(format!("{file} / {title}: no data: {q}"))
            }
            other => empty.push(format!("{file} / {title}: query failed ({other:?}): {q}")),
        }
    }
    // Values agree with the snapshot. The demo keeps running, so bracket
    // Prometheus' value (last scraped at most a second or two before the
    // query) between a snapshot taken well before and one taken after.
    let total = |field: &str| -> u64 {
        let (_, body) =
            http_get(&format!("http://127.0.0.1:{app}/api/v1/snapshot")).expect("snapshot");
        let v: Value = serde_json::from_str(&body).expect("snapshot json");
        v["queues"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|q| q["total"]["counts"][field].as_u64().unwrap_or(0))
            .sum()
    };
    for (field, promql) in [
        ("offered", "sum(ccpulse_offered_total)"),
        ("answered", "sum(ccpulse_answered_total)"),
        ("resolved", "sum(ccpulse_resolved_total)"),
    ] {
        let before = total(field);
        std::thread::sleep(Duration::from_secs(5));
        let got = query(prom, promql)
            .and_then(|v| {
                v["data"]["result"][0]["value"][1]
                    .as_str()?
                    .parse::<f64>()
                    .ok()
            })
            .expect("a value");
        let after = total(field);
        assert!(
            before as f64 <= got && got <= after as f64,
            "{promql} = {got}, outside the snapshot's {field} between {before} and {after}"
        );
    }
    drop(demo);
    assert!(
        empty.is_empty(),
        "{} of {} panel queries returned nothing:\n{}",
        empty.len(),
        queries.len(),
        empty.join("\n")
    );
}
