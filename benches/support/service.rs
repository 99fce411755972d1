//! `ccpulse run --config F` as a child process, the way users run it: its
//! configuration file, its HTTP port, its log, its CPU time, and a
//! graceful stop (SIGTERM) at the end.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use super::http;
use super::proc;

/// What one run of the service is set up with (everything else is the
/// service's default).
pub struct Settings<'a> {
    pub brokers: &'a str,
    /// A fresh group per run: no committed offsets, so nothing to restore.
    pub group: &'a str,
    /// `None`: the default (`auto`, exactly-once on a broker with
    /// transactions).
    pub guarantee: Option<&'a str>,
    /// `kafka.format`: `json` or `protobuf`.
    pub format: &'a str,
    pub input: &'a str,
    pub agents: &'a str,
    /// Prefix of this run's own output topics (`.effects`, `.ticks`,
    /// `.dead-letter`), so runs never read each other's effects.
    pub outputs: &'a str,
    /// `(engine.allowed_lateness, export.tick_interval)`; `None`: defaults.
    pub timing: Option<(&'a str, &'a str)>,
    /// More `[[sla.policies]]` (TOML), beside the catch-all one below; a
    /// policy naming queues is more specific, so it wins for them.
    pub policies: &'a str,
    /// The binary has the customer stage (`topics.customers`, one more
    /// output topic); an earlier binary given `CCPULSE_BENCH_BEFORE` may
    /// not, and refuses settings it does not know.
    pub customer_stage: bool,
}

/// Whether `bin` knows `kafka.customer_stage` (asked with `check-config`
/// on a file setting it: a binary before the stage refuses the field).
pub fn has_customer_stage(bin: &Path, dir: &Path) -> bool {
    let probe = dir.join("customer-stage-probe.toml");
    if fs::write(&probe, "[kafka]\ncustomer_stage = true\n").is_err() {
        return false;
    }
    Command::new(bin)
        .arg("check-config")
        .arg(&probe)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

impl Settings<'_> {
    /// The output topics this run needs, with their partition counts.
    /// The run's own output topics; the `.checkpoints` one must be
    /// created compacted (the service checks).
    pub fn output_topics(&self, partitions: i32) -> Vec<(String, i32)> {
        let mut v = vec![
            (format!("{}.effects", self.outputs), partitions),
            (format!("{}.ticks", self.outputs), partitions),
            (format!("{}.dead-letter", self.outputs), 1),
            (format!("{}.checkpoints", self.outputs), partitions),
        ];
        if self.customer_stage {
            v.push((format!("{}.customers", self.outputs), partitions));
        }
        v
    }

    fn toml(&self, listen: &str) -> String {
        let mut t = String::new();
        if let Some((lateness, tick)) = self.timing {
            t += &format!("[engine]\nallowed_lateness = \"{lateness}\"\n");
            t += &format!("[export]\ntick_interval = \"{tick}\"\n");
        }
        t += &format!("[http]\nlisten = \"{listen}\"\n");
        t += &format!(
            "[kafka]\nbrokers = \"{}\"\ngroup_id = \"{}\"\nformat = \"{}\"\n",
            self.brokers, self.group, self.format
        );
        if let Some(g) = self.guarantee {
            t += &format!("processing_guarantee = \"{g}\"\n");
        }
        let o = self.outputs;
        let customers = if self.customer_stage {
            format!(", customers = \"{o}.customers\"")
        } else {
            String::new()
        };
        t += &format!(
            "topics = {{ events = [\"{}\"], agents = \"{}\", effects = \"{o}.effects\", \
             ticks = \"{o}.ticks\", dead_letter = \"{o}.dead-letter\", \
             checkpoints = \"{o}.checkpoints\"{customers} }}\n",
            self.input, self.agents
        );
        // SLA clocks on every interaction, so timers fire and effects are
        // produced (the expensive path: effects in the same transaction).
        t += "[[sla.policies]]\nname = \"all\"\nfirst_response = \"2m\"\n\
              next_reply = \"5m\"\nresolution = \"4h\"\n";
        t += self.policies;
        t
    }
}

/// A running `ccpulse run`.
pub struct Service {
    child: Option<Child>,
    pid: u32,
    /// `127.0.0.1:port` of its HTTP server.
    pub http: String,
    log: PathBuf,
}

impl Service {
    /// Writes `dir/<name>.toml` and starts the binary with it; its log goes
    /// to `dir/<name>.log`.
    pub fn start(bin: &Path, dir: &Path, name: &str, settings: &Settings) -> Service {
        let http = format!("127.0.0.1:{}", free_port());
        let config = dir.join(format!("{name}.toml"));
        fs::write(&config, settings.toml(&http))
            .unwrap_or_else(|e| panic!("write {}: {e}", config.display()));
        let log = dir.join(format!("{name}.log"));
        let out =
            fs::File::create(&log).unwrap_or_else(|e| panic!("create {}: {e}", log.display()));
        let err = out.try_clone().expect("clone the log file handle");
        let child = Command::new(bin)
            .arg("run")
            .arg("--config")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", bin.display()));
        Service {
            pid: child.id(),
            child: Some(child),
            http,
            log,
        }
    }

    /// CPU seconds the process has used so far (all its threads).
    pub fn cpu_seconds(&self) -> Option<f64> {
        proc::cpu_seconds(self.pid)
    }

    /// Panics with the log's tail if the process has exited.
    pub fn check_alive(&mut self) {
        let exited = self
            .child
            .as_mut()
            .and_then(|c| c.try_wait().ok().flatten());
        if let Some(status) = exited {
            self.child = None;
            panic!("ccpulse exited early ({status})\n{}", self.log_tail());
        }
    }

    /// `GET path` on its HTTP server.
    pub fn get(&self, path: &str) -> Result<(u16, String), String> {
        http::get(&self.http, path, Duration::from_secs(5))
    }

    /// The sum of a Prometheus counter over the series whose labels include
    /// all of `labels`; `None` if the scrape failed.
    pub fn counter(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let (status, text) = self.get("/metrics").ok()?;
        (status == 200).then(|| counter_sum(&text, name, labels))
    }

    /// Waits until `/readyz` answers 200 (partitions assigned, lag known),
    /// at most `limit`; whether it did.
    pub fn wait_ready(&mut self, limit: Duration) -> bool {
        let t0 = Instant::now();
        while t0.elapsed() < limit {
            self.check_alive();
            if matches!(self.get("/readyz"), Ok((200, _))) {
                return true;
            }
            thread::sleep(Duration::from_millis(100));
        }
        false
    }

    /// SIGTERM (drain, commit, exit), as an orchestrator stops it; killed
    /// after 60 s. The exit status.
    pub fn stop(mut self) -> Option<ExitStatus> {
        let mut child = self.child.take()?;
        proc::signal(self.pid, proc::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            match child.try_wait() {
                Ok(Some(status)) => return Some(status),
                Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(50)),
                _ => {
                    eprintln!("ccpulse did not stop within 60 s of SIGTERM: killed");
                    let _ = child.kill();
                    return child.wait().ok();
                }
            }
        }
    }

    /// The last lines of its log.
    pub fn log_tail(&self) -> String {
        let text = fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        format!(
            "--- {}, last lines:\n{}",
            self.log.display(),
            lines[lines.len().saturating_sub(30)..].join("\n")
        )
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Sum of a counter's samples in Prometheus text whose labels include all
/// of `labels`.
pub fn counter_sum(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let rest = l.strip_prefix(name)?;
            let (series, value) = rest.rsplit_once(' ')?;
            if !(series.is_empty() || series.starts_with('{')) {
                return None; // another metric sharing the prefix
            }
            labels
                .iter()
                .all(|(k, v)| series.contains(&format!("{k}=\"{v}\"")))
                .then(|| value.trim().parse::<f64>().ok())
                .flatten()
        })
        .sum()
}

/// A loopback port nothing listens on now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}
