//! What the deploy tests share: reading `deploy/` (YAML through python3 +
//! PyYAML, the crate has no YAML parser), the configs as shipped, and the
//! topics the service needs and the scripts create.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

pub const FIX_PYYAML: &str = "python3 with PyYAML is needed to read deploy/ YAML. Fix: run \
     scripts/install-test-deps, or apt-get install python3-yaml (or pip install pyyaml)";

/// The environment variable the Kubernetes config reads the API token from.
pub const TOKEN_VAR: &str = "CCPULSE_API_TOKEN";

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn deploy() -> PathBuf {
    repo().join("deploy")
}

/// Every document of a YAML file, as JSON.
pub fn yaml_docs(path: &Path) -> Vec<Value> {
    const PY: &str = "import json, sys, yaml\n\
        with open(sys.argv[1]) as f:\n    docs = [d for d in yaml.safe_load_all(f) if d is not None]\n\
        json.dump(docs, sys.stdout)\n";
    let out = Command::new("python3")
        .args(["-c", PY])
        .arg(path)
        .output()
        .unwrap_or_else(|e| panic!("cannot run python3 ({e}). {FIX_PYYAML}"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    if stderr.contains("No module named") {
        panic!("{FIX_PYYAML}\n{stderr}");
    }
    assert!(
        out.status.success(),
        "{} is not valid YAML:\n{stderr}",
        path.display()
    );
    match serde_json::from_slice(&out.stdout).unwrap() {
        Value::Array(v) => v,
        _ => unreachable!(),
    }
}

pub fn yaml_doc(path: &Path) -> Value {
    let mut docs = yaml_docs(path);
    assert_eq!(
        docs.len(),
        1,
        "{}: expected one YAML document",
        path.display()
    );
    docs.remove(0)
}

/// The compose file.
pub fn compose() -> Value {
    yaml_doc(&deploy().join("docker-compose.yml"))
}

/// `deploy/ccpulse.docker.toml` as shipped.
pub fn docker_toml() -> String {
    std::fs::read_to_string(deploy().join("ccpulse.docker.toml")).expect("ccpulse.docker.toml")
}

/// Every Kubernetes manifest in `deploy/k8s`, by kind.
pub fn k8s() -> BTreeMap<String, Vec<Value>> {
    let dir = deploy().join("k8s");
    let mut by_kind: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("deploy/k8s")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    for f in files {
        for d in yaml_docs(&f) {
            let kind = d["kind"]
                .as_str()
                .unwrap_or_else(|| panic!("{}: no kind", f.display()))
                .to_string();
            by_kind.entry(kind).or_default().push(d);
        }
    }
    by_kind
}

/// The one manifest of `kind`.
pub fn one(by_kind: &BTreeMap<String, Vec<Value>>, kind: &str) -> Value {
    let v = by_kind
        .get(kind)
        .unwrap_or_else(|| panic!("no {kind} in deploy/k8s"));
    assert_eq!(v.len(), 1, "one {kind}");
    v[0].clone()
}

/// The `ccpulse.toml` embedded in `deploy/k8s/configmap.yaml`, as shipped.
pub fn configmap_toml() -> String {
    let cm = one(&k8s(), "ConfigMap");
    cm["data"]["ccpulse.toml"]
        .as_str()
        .expect("ConfigMap data ccpulse.toml")
        .to_string()
}

/// The StatefulSet's ccpulse container.
pub fn container() -> Value {
    one(&k8s(), "StatefulSet")["spec"]["template"]["spec"]["containers"][0].clone()
}

/// The topic roles the service knows (`[kafka.topics]` fields), as its own
/// config validation lists them.
pub fn topic_roles() -> Vec<String> {
    let e = ccpulse::config::Config::from_toml(
        "[kafka.topics]\nno_such_role = \"x\"\n",
        Path::new("t.toml"),
    )
    .expect_err("unknown role");
    let text = e.to_string();
    let expected = text
        .split_once("expected one of ")
        .unwrap_or_else(|| panic!("no field list in: {text}"))
        .1;
    expected
        .split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect()
}

/// The topic names a config names under `[kafka.topics]`, by role
/// (`events` may hold several).
pub fn topics_of(config: &str) -> BTreeMap<String, Vec<String>> {
    let table: toml::Table = config.parse().expect("TOML");
    let topics = table["kafka"]["topics"].as_table().expect("[kafka.topics]");
    topics
        .iter()
        .map(|(role, v)| {
            let names = match v {
                toml::Value::String(s) => vec![s.clone()],
                toml::Value::Array(a) => a
                    .iter()
                    .map(|x| x.as_str().expect("topic name").to_string())
                    .collect(),
                other => panic!("[kafka.topics] {role} = {other}"),
            };
            (role.clone(), names)
        })
        .collect()
}

/// A topic a creation script creates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Created {
    pub name: String,
    pub partitions: i32,
    pub config: Option<String>,
}

/// The `create <topic> <partitions> [config]` lines of a topic script.
pub fn created_topics(script: &str) -> Vec<Created> {
    script
        .lines()
        .filter_map(|l| l.trim().strip_prefix("create "))
        .map(|rest| {
            let parts: Vec<&str> = rest.split_whitespace().collect();
            Created {
                name: parts[0].to_string(),
                partitions: parts[1].parse().expect("partitions"),
                config: parts.get(2).map(|s| s.to_string()),
            }
        })
        .collect()
}

/// The compose kafka-init script as the shell gets it (compose turns `$$`
/// into `$`).
pub fn compose_topic_script() -> String {
    let c = compose();
    let cmd = &c["services"]["kafka-init"]["command"];
    cmd[0]
        .as_str()
        .expect("kafka-init command is one script")
        .replace("$$", "$")
}

/// The Kubernetes topics Job's script and its BOOTSTRAP value.
pub fn k8s_topic_script() -> (String, String) {
    let job = one(&k8s(), "Job");
    let c = &job["spec"]["template"]["spec"]["containers"][0];
    let bootstrap = c["env"]
        .as_array()
        .expect("env")
        .iter()
        .find(|e| e["name"] == "BOOTSTRAP")
        .and_then(|e| e["value"].as_str())
        .expect("BOOTSTRAP")
        .to_string();
    (
        c["args"][0].as_str().expect("script").to_string(),
        bootstrap,
    )
}

/// A config with `kafka.brokers` and (when given) `http.listen` replaced:
/// the only changes a test makes to a shipped config.
pub fn with_brokers_and_listen(config: &str, brokers: &str, listen: Option<&str>) -> String {
    let mut out = Vec::new();
    let (mut section, mut brokers_done, mut listen_done) = (String::new(), false, false);
    for line in config.lines() {
        let t = line.trim_start();
        if t.starts_with('[') {
            section = t.trim_matches(|c| c == '[' || c == ']').to_string();
        }
        if section == "kafka" && t.starts_with("brokers ") {
            out.push(format!("brokers = \"{brokers}\""));
            brokers_done = true;
        } else if section == "http" && t.starts_with("listen ") && listen.is_some() {
            out.push(format!("listen = \"{}\"", listen.unwrap_or_default()));
            listen_done = true;
        } else {
            out.push(line.to_string());
        }
    }
    assert!(brokers_done, "no kafka.brokers line to substitute");
    assert!(
        listen.is_none() || listen_done,
        "no http.listen line to substitute"
    );
    out.join("\n") + "\n"
}
