//! What `deploy/` ships, run: the configs pass `ccpulse check-config`
//! unchanged; the topic scripts of the compose file and of the Kubernetes
//! Job run as written against a real Apache Kafka; the service then runs
//! with each shipped config (only the broker address and the HTTP port
//! swapped) until `/readyz` is ready, the Kubernetes one through the
//! container's own command line; every `ccpulse` command line in the
//! compose file and the Dockerfile parses; the Dockerfile's build context is
//! a complete workspace; and secrets read from files reach a SASL_SSL
//! listener without ever appearing in a log or an error.
//!
//! No Docker engine or cluster is needed: the broker is
//! `tests/support/broker.rs` (`scripts/install-kafka`), Kafka's own
//! `TopicCommand` stands in for the image's `kafka-topics.sh`.

mod deploy;
mod support;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ccpulse_core::event::Channel;
use serde_json::Value;
use support::broker::{kafka_home, KafkaBroker};
use support::kafka::{free_port, produce, temp_dir, wait_until, INTERACTIONS};
use support::Scenario;

const TOKEN: &str = "k8s-secret-token-0123456789abcdef";

fn ccpulse() -> Command {
    Command::new(env!("CARGO_BIN_EXE_ccpulse"))
}

fn output_of(cmd: &mut Command) -> (bool, String, String) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// GET with headers on localhost: (status, head, body).
fn get(url: &str, headers: &[(&str, &str)]) -> Option<(u16, String, String)> {
    let rest = url.strip_prefix("http://")?;
    let (host, path) = rest
        .split_once('/')
        .map(|(h, p)| (h, format!("/{p}")))
        .unwrap_or((rest, "/".into()));
    let mut s = std::net::TcpStream::connect(host).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    let mut req = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).ok()?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).ok()?;
    let text = String::from_utf8_lossy(&buf).to_string();
    let (head, body) = text.split_once("\r\n\r\n")?;
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    Some((status, head.to_string(), body.to_string()))
}

/// A process of this test, killed if the test fails.
struct Proc {
    child: Child,
    log: PathBuf,
    what: String,
}

impl Proc {
    fn spawn(mut cmd: Command, log: PathBuf, what: &str) -> Proc {
        let f = std::fs::File::create(&log).expect("log file");
        let child = cmd
            .stdout(Stdio::null())
            .stderr(f)
            .spawn()
            .unwrap_or_else(|e| panic!("start {what}: {e}"));
        Proc {
            child,
            log,
            what: what.to_string(),
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Wait until `/readyz` answers 200.
    fn wait_ready(&mut self, base: &str, within: Duration) {
        let started = Instant::now();
        let mut last = String::new();
        while started.elapsed() < within {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "{} exited ({status}) before it was ready:\n{}",
                    self.what,
                    self.log()
                );
            }
            if let Some((status, _, body)) = get(&format!("{base}/readyz"), &[]) {
                if status == 200 {
                    eprintln!("{} ready after {:?}", self.what, started.elapsed());
                    return;
                }
                last = body;
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        panic!(
            "{} not ready within {within:?}; last /readyz: {last}\n{}",
            self.what,
            self.log()
        );
    }

    /// SIGTERM; the exit code, within `within`.
    fn stop(mut self, within: Duration) -> Option<i32> {
        // SAFETY: a signal to our own child.
        unsafe {
            kill(self.child.id() as i32, 15);
        }
        let started = Instant::now();
        while started.elapsed() < within {
            if let Ok(Some(s)) = self.child.try_wait() {
                return s.code();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }

    fn exit_within(&mut self, within: Duration) -> Option<i32> {
        let started = Instant::now();
        while started.elapsed() < within {
            if let Ok(Some(s)) = self.child.try_wait() {
                return s.code();
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        None
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

extern "C" {
    fn kill(pid: i32, sig: i32) -> i32;
}

// ----------------------------------------------------------- check-config

#[test]
fn check_config_passes_on_every_shipped_config_unchanged() {
    let docker = deploy::deploy().join("ccpulse.docker.toml");
    let (ok, out, err) = output_of(ccpulse().arg("check-config").arg(&docker));
    assert!(ok, "check-config {}:\n{out}{err}", docker.display());
    assert!(out.contains(": ok"), "{out}");

    let dir = temp_dir("deploy-check");
    let cm = dir.join("ccpulse.toml");
    std::fs::write(&cm, deploy::configmap_toml()).unwrap();
    let (ok, out, err) = output_of(
        ccpulse()
            .arg("check-config")
            .arg(&cm)
            .env(deploy::TOKEN_VAR, TOKEN),
    );
    assert!(ok, "check-config of the ConfigMap's TOML:\n{out}{err}");
    // Without the Secret's variable it names what is missing, never a value.
    let (ok, _, err) = output_of(
        ccpulse()
            .args(["--log-format", "json", "check-config"])
            .arg(&cm)
            .env_remove(deploy::TOKEN_VAR),
    );
    assert!(!ok);
    let line: Value = serde_json::from_str(err.trim().lines().last().unwrap())
        .unwrap_or_else(|e| panic!("the fatal error is not a JSON line ({e}): {err}"));
    assert_eq!(line["level"], "ERROR", "{line}");
    let p = &line["fields"]["problems"][0];
    assert_eq!(p["field"], "http.api_token", "{line}");
    assert!(
        p["problem"]
            .as_str()
            .unwrap()
            .contains("CCPULSE_API_TOKEN is not set"),
        "{line}"
    );
    assert!(
        p["line"].as_u64().is_some() && p["column"].as_u64().is_some(),
        "{line}"
    );
}

// ------------------------------------------------------- command lines

#[test]
fn every_ccpulse_command_line_in_deploy_parses() {
    let mut lines: Vec<(String, Vec<String>)> = Vec::new();
    let compose = deploy::compose();
    for (name, s) in compose["services"].as_object().unwrap() {
        if s["image"] != "ccpulse:dev" {
            continue;
        }
        let cmd: Vec<String> = s["command"]
            .as_array()
            .unwrap_or_else(|| panic!("{name}: command"))
            .iter()
            .map(|a| a.as_str().unwrap().to_string())
            .collect();
        lines.push((format!("docker-compose.yml {name}"), cmd));
    }
    let dockerfile = std::fs::read_to_string(deploy::deploy().join("Dockerfile")).unwrap();
    let json_line = |prefix: &str| -> Vec<String> {
        let l = dockerfile
            .lines()
            .find_map(|l| l.strip_prefix(prefix))
            .unwrap_or_else(|| panic!("Dockerfile: no {prefix}"));
        serde_json::from_str(l.trim()).unwrap()
    };
    assert_eq!(json_line("ENTRYPOINT "), ["ccpulse"]);
    lines.push(("Dockerfile CMD".into(), json_line("CMD ")));
    // The StatefulSet's: `... && exec ccpulse <args>`.
    let c = deploy::container();
    let script = c["args"][0].as_str().unwrap();
    let exec = script
        .split("exec ccpulse ")
        .nth(1)
        .expect("the container execs ccpulse");
    lines.push((
        "statefulset.yaml".into(),
        exec.split_whitespace().map(str::to_string).collect(),
    ));
    assert!(lines.len() >= 5, "{lines:?}");
    for (at, args) in &lines {
        // clap parses and checks every argument before it honours --help.
        let (ok, out, err) = output_of(ccpulse().args(args).arg("--help"));
        assert!(
            ok && out.contains("Usage: ccpulse"),
            "{at}: ccpulse {args:?} does not parse:\n{out}{err}"
        );
    }
    // And what they name exists: compose's and the Dockerfile's config is
    // the mounted ccpulse.docker.toml (deploy_rules.rs checks the mounts).
    let sim = &lines
        .iter()
        .find(|(at, _)| at.ends_with("simulator"))
        .expect("simulator")
        .1;
    assert_eq!(sim.first().map(String::as_str), Some("simulate"));
}

#[test]
fn the_dockerfile_build_context_is_a_complete_workspace() {
    let root = deploy::repo();
    let dockerfile = std::fs::read_to_string(deploy::deploy().join("Dockerfile")).unwrap();
    let ignore = std::fs::read_to_string(deploy::deploy().join("Dockerfile.dockerignore")).unwrap();
    let ignored: Vec<String> = ignore
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_string)
        .collect();
    let is_ignored = |rel: &Path| -> bool {
        let s = rel.to_string_lossy();
        ignored.iter().any(|pat| {
            if let Some(tail) = pat.strip_prefix("**/") {
                rel.components().any(|c| c.as_os_str() == tail)
                    || tail.strip_prefix('*').is_some_and(|ext| s.ends_with(ext))
            } else if let Some(ext) = pat.strip_prefix('*') {
                s.ends_with(ext)
            } else {
                s == pat.as_str() || s.starts_with(&format!("{pat}/"))
            }
        })
    };
    let stage = temp_dir("docker-context");
    let mut copied = 0;
    // The build stage's COPY lines (not --from=...).
    for line in dockerfile.lines().map(str::trim) {
        let Some(rest) = line.strip_prefix("COPY ") else {
            continue;
        };
        if rest.starts_with("--from") {
            continue;
        }
        let parts: Vec<&str> = rest.split_whitespace().collect();
        let (dest, srcs) = parts.split_last().unwrap();
        for src in srcs {
            let from = root.join(src);
            assert!(
                from.exists(),
                "Dockerfile: COPY {src}: no such path in the repository"
            );
            assert!(
                !is_ignored(Path::new(src)),
                "Dockerfile: COPY {src} is excluded by the .dockerignore"
            );
            let to = if dest.ends_with('/') || *dest == "./" {
                stage.join(dest).join(Path::new(src).file_name().unwrap())
            } else {
                stage.join(dest)
            };
            copy_tree(&root, &from, &to, &is_ignored);
            copied += 1;
        }
    }
    assert!(copied >= 4, "COPY lines found: {copied}");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    // The lock file resolves the whole build of the binary (--locked, as in
    // the Dockerfile) from what is in the context.
    let (ok, tree, err) = output_of(Command::new(&cargo).current_dir(&stage).args([
        "tree",
        "--locked",
        "--offline",
        "-p",
        "ccpulse",
        "-e",
        "normal,build",
        "--prefix",
        "none",
    ]));
    assert!(
        ok && tree.contains("ccpulse-core"),
        "cargo cannot resolve the Dockerfile's build context (--locked):\n{err}"
    );
    // Every target the manifests declare is there (cargo refuses a
    // manifest whose targets are missing).
    let (ok, out, err) = output_of(Command::new(&cargo).current_dir(&stage).args([
        "metadata",
        "--format-version",
        "1",
        "--no-deps",
        "--offline",
    ]));
    assert!(
        ok,
        "cargo cannot read the Dockerfile's build context as a workspace:\n{err}"
    );
    let meta: Value = serde_json::from_str(&out).unwrap();
    let bins: Vec<&str> = meta["packages"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["targets"].as_array().unwrap())
        .filter(|t| t["kind"][0] == "bin")
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert!(bins.contains(&"ccpulse"), "{bins:?}");
    // The core's build script compiles the protos: they are in the context.
    assert!(stage.join("core/build.rs").is_file() && stage.join("proto").is_dir());
    let _ = std::fs::remove_dir_all(&stage);
}

fn copy_tree(root: &Path, from: &Path, to: &Path, ignored: &dyn Fn(&Path) -> bool) {
    let rel = from.strip_prefix(root).unwrap();
    if ignored(rel) {
        return;
    }
    if from.is_dir() {
        std::fs::create_dir_all(to).unwrap();
        for e in std::fs::read_dir(from).unwrap() {
            let p = e.unwrap().path();
            copy_tree(root, &p, &to.join(p.file_name().unwrap()), ignored);
        }
    } else {
        if let Some(parent) = to.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::copy(from, to).unwrap();
    }
}

// ------------------------------------------------------ on a real Kafka

/// `kafka-topics.sh` for the scripts: Kafka's TopicCommand on the test
/// broker's jars.
fn kafka_topics_shim(broker: &KafkaBroker, dir: &Path) -> PathBuf {
    let home = kafka_home();
    let java = std::env::var_os("JAVA_HOME")
        .map(|h| PathBuf::from(h).join("bin/java"))
        .filter(|j| j.is_file())
        .unwrap_or_else(|| PathBuf::from("java"));
    let log4j = broker.dir().join("tools-log4j2.properties");
    let archive = home.join("kafka.jsa");
    let mut jvm = String::from(
        "-Xms64m -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Djava.awt.headless=true",
    );
    if log4j.is_file() {
        jvm.push_str(&format!(" -Dlog4j2.configurationFile={}", log4j.display()));
    }
    if archive.is_file() {
        jvm.push_str(&format!(" -XX:SharedArchiveFile={}", archive.display()));
    }
    let shim = dir.join("kafka-topics.sh");
    std::fs::write(
        &shim,
        format!(
            "#!/bin/sh\nexec {} {jvm} -cp '{}/*' org.apache.kafka.tools.TopicCommand \"$@\"\n",
            java.display(),
            home.join("libs").display()
        ),
    )
    .unwrap();
    Command::new("chmod").arg("+x").arg(&shim).status().unwrap();
    shim
}

/// Run a shipped topic script under `sh -ec`, as its container does.
fn run_topic_script(script: &str, shim: &Path, env: &[(&str, &str)], what: &str) -> String {
    let script = script.replace(
        "/opt/kafka/bin/kafka-topics.sh",
        &shim.display().to_string(),
    );
    let started = Instant::now();
    let (ok, out, err) = output_of(
        Command::new("/bin/sh")
            .args(["-ec", &script])
            .envs(env.iter().copied()),
    );
    assert!(ok, "{what} failed:\n{out}\n{err}");
    eprintln!("{what} ran in {:?}", started.elapsed());
    out
}

/// Every topic the scripts create exists, as created.
fn assert_topics(broker: &KafkaBroker, listed: &str, what: &str) {
    for t in deploy::created_topics(&deploy::compose_topic_script()) {
        assert!(
            listed.lines().any(|l| l.trim() == t.name),
            "{what}: {} not listed after the script:\n{listed}",
            t.name
        );
    }
    let _ = broker;
}

/// The compose stack's ccpulse, and the Kubernetes pod's, each as shipped
/// on one real broker (one test: one broker on a small machine).
#[test]
fn the_shipped_configs_run_on_a_real_kafka_until_ready() {
    let broker = KafkaBroker::start();
    let brokers = broker.plaintext();
    let dir = temp_dir("deploy-run");
    let shim = kafka_topics_shim(&broker, &dir);

    // ---- compose: kafka-init, then ccpulse run with ccpulse.docker.toml.
    let script = deploy::compose_topic_script().replace("kafka:9092", &brokers);
    let listed = run_topic_script(&script, &shim, &[], "compose kafka-init");
    assert_topics(&broker, &listed, "compose kafka-init");

    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let config = deploy::with_brokers_and_listen(
        &deploy::docker_toml(),
        &brokers,
        Some(&format!("127.0.0.1:{port}")),
    );
    let cfg_path = dir.join("ccpulse.docker.toml");
    std::fs::write(&cfg_path, &config).unwrap();
    let mut cmd = ccpulse();
    cmd.args(["run", "--config"])
        .arg(&cfg_path)
        .env("CCPULSE_LOG", "info,librdkafka=warn");
    let mut svc = Proc::spawn(cmd, dir.join("compose.log"), "ccpulse (compose config)");
    svc.wait_ready(&base, Duration::from_secs(120));
    // Events flow through it.
    let mut s = Scenario::new();
    s.queued(0.0, "deploy-1", "billing", Channel::Voice);
    produce(&brokers, INTERACTIONS, &s.events);
    let seen = wait_until(Duration::from_secs(60), || {
        get(&format!("{base}/api/v1/snapshot"), &[])
            .is_some_and(|(st, _, body)| st == 200 && body.contains("\"queue\":\"billing\""))
    });
    assert!(seen, "the event never reached the snapshot:\n{}", svc.log());
    let code = svc.stop(Duration::from_secs(40));
    assert_eq!(code, Some(0), "compose config: no clean exit on SIGTERM");

    // ---- Kubernetes: the topics Job (the topics exist: --if-not-exists),
    // then the StatefulSet's container command line with the ConfigMap.
    let (script, _bootstrap) = deploy::k8s_topic_script();
    let listed = run_topic_script(&script, &shim, &[("BOOTSTRAP", &brokers)], "k8s topics Job");
    assert_topics(&broker, &listed, "k8s topics Job");

    let etc = dir.join("etc-ccpulse");
    let run = dir.join("run-ccpulse");
    std::fs::create_dir_all(&etc).unwrap();
    std::fs::create_dir_all(&run).unwrap();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    std::fs::write(
        etc.join("ccpulse.toml"),
        deploy::with_brokers_and_listen(
            &deploy::configmap_toml(),
            &brokers,
            Some(&format!("127.0.0.1:{port}")),
        ),
    )
    .unwrap();
    let c = deploy::container();
    let command: Vec<String> = c["command"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_string())
        .collect();
    assert_eq!(command, ["/bin/sh", "-ec"]);
    // The volumes, mounted here.
    let args = c["args"][0]
        .as_str()
        .unwrap()
        .replace("/etc/ccpulse/", &format!("{}/", etc.display()))
        .replace("/run/ccpulse/", &format!("{}/", run.display()));
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_ccpulse")).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut cmd = Command::new(&command[0]);
    cmd.arg(&command[1])
        .arg(&args)
        .env("PATH", path)
        .env("POD_NAME", "ccpulse-0")
        .env(deploy::TOKEN_VAR, TOKEN)
        .env("CCPULSE_LOG", "info");
    let mut pod = Proc::spawn(cmd, dir.join("pod.log"), "ccpulse (k8s pod)");
    pod.wait_ready(&base, Duration::from_secs(120));
    let rendered = std::fs::read_to_string(run.join("ccpulse.toml")).unwrap();
    assert!(
        rendered.contains("group_instance_id = \"ccpulse-0\""),
        "{rendered}"
    );
    // The API needs the token; the probes and /metrics do not.
    let snapshot = format!("{base}/api/v1/snapshot");
    assert_eq!(get(&snapshot, &[]).map(|r| r.0), Some(401));
    assert_eq!(
        get(&snapshot, &[("Authorization", &format!("bearer {TOKEN}"))]).map(|r| r.0),
        Some(200),
        "the token from the Secret's variable, any scheme case"
    );
    assert_eq!(get(&format!("{base}/metrics"), &[]).map(|r| r.0), Some(200));
    let code = pod.stop(Duration::from_secs(40));
    assert_eq!(
        code,
        Some(0),
        "k8s config: no clean exit on SIGTERM within the grace period"
    );
    // --log-format json: every log line is JSON; the token is nowhere.
    let log = std::fs::read_to_string(dir.join("pod.log")).unwrap();
    let lines: Vec<&str> = log.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(lines.len() > 3, "{log}");
    for l in &lines {
        assert!(
            serde_json::from_str::<Value>(l).is_ok(),
            "not a JSON log line: {l}"
        );
    }
    assert!(!log.contains(TOKEN), "the API token is in the log");

    // ---- Secrets from files over SASL_SSL (SCRAM): the password reaches
    // the broker, and never a log.
    let (user, password) = broker.scram_user();
    let secrets = dir.join("secrets");
    std::fs::create_dir_all(&secrets).unwrap();
    std::fs::write(secrets.join("kafka-password"), format!("{password}\n")).unwrap();
    let sasl = |port: u16, retry: &str| {
        format!(
            r#"
[http]
listen = "127.0.0.1:{port}"

[kafka]
brokers = "{brokers}"
group_id = "ccpulse-sasl"
retry_budget = "{retry}"

[kafka.properties]
"security.protocol" = "SASL_SSL"
"sasl.mechanisms" = "SCRAM-SHA-512"
"sasl.username" = "{user}"
"sasl.password" = "${{file:secrets/kafka-password}}"
"ssl.ca.location" = "{ca}"
"#,
            brokers = broker.sasl_ssl(),
            ca = broker.ca_pem().display()
        )
    };
    let port = free_port();
    std::fs::write(dir.join("sasl.toml"), sasl(port, "2m")).unwrap();
    let mut cmd = ccpulse();
    cmd.args(["run", "--config"])
        .arg(dir.join("sasl.toml"))
        .env("CCPULSE_LOG", "debug,librdkafka=debug");
    let mut svc = Proc::spawn(cmd, dir.join("sasl.log"), "ccpulse (SASL_SSL)");
    svc.wait_ready(
        &format!("http://127.0.0.1:{port}"),
        Duration::from_secs(120),
    );
    let log = svc.log();
    assert_eq!(svc.stop(Duration::from_secs(40)), Some(0));
    assert!(!log.contains(password), "the Kafka password is in the log");

    // A wrong password: the start fails after the retry budget, and neither
    // the log nor the error shows it.
    let wrong = "not-the-password-4711";
    std::fs::write(secrets.join("kafka-password"), wrong).unwrap();
    let port = free_port();
    std::fs::write(dir.join("sasl.toml"), sasl(port, "5s")).unwrap();
    let mut cmd = ccpulse();
    cmd.args(["run", "--config"])
        .arg(dir.join("sasl.toml"))
        .env("CCPULSE_LOG", "debug,librdkafka=debug");
    let mut svc = Proc::spawn(cmd, dir.join("sasl-wrong.log"), "ccpulse (wrong password)");
    let code = svc.exit_within(Duration::from_secs(90));
    let log = svc.log();
    assert!(
        matches!(code, Some(c) if c != 0),
        "a wrong password must end the process: {code:?}\n{log}"
    );
    assert!(
        !log.contains(wrong),
        "the wrong password is in the log:\n{log}"
    );
    assert!(
        log.contains("SASL"),
        "the failure should point at the SASL settings:\n{log}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
