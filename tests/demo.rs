//! `ccpulse demo` runs for a minute: traffic flows, SLA reassignments
//! happen, `/metrics` passes `promtool check metrics`, and it exits cleanly
//! with no error in its log.

mod support;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::kafka::{free_port, http_get, wait_until};

#[test]
fn the_demo_runs_a_minute_with_reassignments_and_clean_metrics() {
    let dir = support::kafka::temp_dir("demo");
    let port = free_port();
    let log_path = dir.join("demo.log");
    let log = std::fs::File::create(&log_path).expect("log file");
    let mut child = Command::new(env!("CARGO_BIN_EXE_ccpulse"))
        .args([
            "demo",
            "--duration",
            "60s",
            "--speed",
            "120",
            "--http",
            &format!("127.0.0.1:{port}"),
        ])
        .env("CCPULSE_LOG", "info,librdkafka=warn")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start the demo");
    let base = format!("http://127.0.0.1:{port}");
    let started = Instant::now();
    // Reassignments: some simulated operators accept a chat and never reply.
    let mut reassigned = 0;
    let seen = wait_until(Duration::from_secs(55), || {
        let Some((200, body)) = http_get(&format!("{base}/api/v1/snapshot")) else {
            return false;
        };
        let Ok(s) = serde_json::from_str::<serde_json::Value>(&body) else {
            return false;
        };
        reassigned = s["queues"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|q| {
                let c = &q["total"]["counts"];
                c["sla_reassigned"].as_u64().unwrap_or(0)
                    + c["sla_requeued"].as_u64().unwrap_or(0)
                    + c["sla_escalated"].as_u64().unwrap_or(0)
            })
            .sum();
        reassigned > 0
    });
    let log_text = || std::fs::read_to_string(&log_path).unwrap_or_default();
    assert!(
        seen,
        "no reassignment within {:?}:\n{}",
        started.elapsed(),
        log_text()
    );
    // /metrics is valid Prometheus exposition.
    let (status, metrics) = http_get(&format!("{base}/metrics")).expect("metrics");
    assert_eq!(status, 200);
    assert!(
        metrics.contains("ccpulse_sla_reassignments_total"),
        "no reassignment series"
    );
    let file = dir.join("metrics.prom");
    std::fs::write(&file, &metrics).expect("write metrics");
    let check = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::fs::File::open(&file).expect("metrics file"))
        .output()
        .unwrap_or_else(|e| panic!("promtool not runnable ({e}): run scripts/install-test-deps"));
    assert!(
        check.status.success(),
        "promtool check metrics failed:\n{}{}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );
    // It stops by itself after its duration, cleanly.
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Ok(Some(s)) = child.try_wait() {
            break Some(s);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            break None;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let log = log_text();
    assert_eq!(
        status.and_then(|s| s.code()),
        Some(0),
        "the demo did not exit cleanly:\n{log}"
    );
    let errors: Vec<&str> = log.lines().filter(|l| l.contains(" ERROR ")).collect();
    assert!(
        errors.is_empty(),
        "errors in the demo log:\n{}",
        errors.join("\n")
    );
}
