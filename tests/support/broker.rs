//! A real Apache Kafka broker for integration tests and benches: one node in
//! KRaft combined mode (broker and controller in one JVM, no ZooKeeper) on
//! loopback, run from the jars `scripts/install-kafka` puts in the tools
//! cache. It owns what that broker needs and nothing else: free ports, a
//! storage directory formatted with a SCRAM user, a throwaway CA and server
//! certificate made with `openssl`, the JVM process and its logs.
//!
//! Listeners: PLAINTEXT (also between broker and itself), SSL, SASL_SSL with
//! SCRAM-SHA-512, and the controller's own. Everything lives in
//! `target/test-artifacts/kafka-<pid>-<n>/`; it is deleted on drop unless the
//! thread is panicking, so a failed test leaves the broker's log behind.
//!
//! Self-contained (std and rdkafka only) so that a test can include just this
//! file with `#[path = "support/broker.rs"] mod broker;`.
#![allow(dead_code)]

use std::collections::BTreeSet;
use std::fs;
use std::future::Future;
use std::hash::{BuildHasher, Hasher};
use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;

/// The SCRAM-SHA-512 user created when the storage is formatted.
const SCRAM_USER: &str = "ccpulse";
const SCRAM_PASSWORD: &str = "ccpulse-test-secret";
/// Each broker formats its own storage, so a fixed cluster id is as good as
/// a random one and keeps runs alike.
const CLUSTER_ID: &str = "MkU3OEVBNTcwNTJENDM2Qk";
/// Start-up takes 3 to 15 s on 2 cores, depending on what else runs; a
/// minute means something is wrong.
const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// A graceful stop takes about 2 s.
const STOP_TIMEOUT: Duration = Duration::from_secs(30);
const TOOL_TIMEOUT: Duration = Duration::from_secs(60);
/// Small heap and the serial collector: the machine may have 2 cores and
/// several brokers (one per test) at once.
const BROKER_JVM: &[&str] = &["-Xms256m", "-Xmx512m", "-XX:+UseSerialGC"];
/// Only the quick (C1) compiler. The optimising one's threads compete with
/// start-up for the cores: on 2 busy cores a broker was ready in 5 s with
/// this and 11 s without.
const QUICK_JIT: &str = "-XX:TieredStopAtLevel=1";
/// Tools run for a second or two: the quick compiler is all they need.
const TOOL_JVM: &[&str] = &["-Xms64m", "-Xmx256m", "-XX:+UseSerialGC", QUICK_JIT];

/// The Kafka version, read from `tests/kafka/pom.xml` (the one place it is
/// written, also read by `scripts/install-kafka`).
pub fn kafka_version() -> &'static str {
    const POM: &str = include_str!("../kafka/pom.xml");
    POM.split_once("<kafka.version>")
        .and_then(|(_, rest)| rest.split_once("</kafka.version>"))
        .map(|(v, _)| v.trim())
        .expect("tests/kafka/pom.xml sets <kafka.version>")
}

/// Where the Kafka jars are (in `libs/`): `CCPULSE_KAFKA_HOME` (any Kafka
/// with its jars in `libs/`, an unpacked distribution too), else what
/// `scripts/install-kafka` installed: `$CCPULSE_TOOLS/kafka-<version>`,
/// `CCPULSE_TOOLS` defaulting to `~/.cache/ccpulse/tools`.
pub fn kafka_home() -> PathBuf {
    if let Some(home) = std::env::var_os("CCPULSE_KAFKA_HOME") {
        return PathBuf::from(home);
    }
    let tools = std::env::var_os("CCPULSE_TOOLS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_else(|| "/root".into()))
                .join(".cache/ccpulse/tools")
        });
    tools.join(format!("kafka-{}", kafka_version()))
}

/// What the broker's JVM is tuned for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tuning {
    /// Tests: ready soonest (quick compiler only), slower under load.
    QuickStart,
    /// Benches: the full JIT, a few seconds slower to start.
    Throughput,
}

/// One Kafka broker process with its storage, ports and certificates.
pub struct KafkaBroker {
    home: PathBuf,
    tuning: Tuning,
    dir: PathBuf,
    ca_pem: PathBuf,
    plaintext: u16,
    ssl: u16,
    sasl_ssl: u16,
    controller: u16,
    child: Option<Child>,
    startup: Duration,
}

impl KafkaBroker {
    /// Formats fresh storage, starts the broker (tuned for a quick start)
    /// and returns once it answers a metadata request on PLAINTEXT.
    pub fn start() -> KafkaBroker {
        Self::start_with(Tuning::QuickStart)
    }

    /// [`Self::start`] with the JVM tuned as asked.
    pub fn start_with(tuning: Tuning) -> KafkaBroker {
        let home = kafka_home();
        let installed = if std::env::var_os("CCPULSE_KAFKA_HOME").is_some() {
            home.join("libs").is_dir()
        } else {
            // Written last by scripts/install-kafka: no half-copied jars.
            home.join("installed").is_file()
        };
        assert!(
            installed,
            "Apache Kafka {} not found in {}: run scripts/install-kafka (it fetches the jars from Maven Central with mvn, once)",
            kafka_version(),
            home.display()
        );
        let [plaintext, ssl, sasl_ssl, controller] = free_ports();
        let dir = artifact_dir();
        let mut broker = KafkaBroker {
            home,
            tuning,
            ca_pem: dir.join("tls/ca.pem"),
            dir,
            plaintext,
            ssl,
            sasl_ssl,
            controller,
            child: None,
            startup: Duration::ZERO,
        };
        // From here on a panic drops `broker`, which keeps its files.
        let began = Instant::now();
        broker.make_certificates();
        for attempt in 1.. {
            broker.write_config();
            broker.format_storage();
            let Err(status) = broker.launch() else {
                break;
            };
            // Rare (the ports are outside the range other processes get
            // theirs from), so a few fresh tries are plenty.
            if !broker.port_was_taken() || attempt == 3 {
                panic!(
                    "Kafka exited while starting ({status})\n{}",
                    broker.log_tail()
                );
            }
            eprintln!("Kafka: a port was taken before the broker bound it; trying others");
            broker.set_aside_failed_attempt(attempt);
            [
                broker.plaintext,
                broker.ssl,
                broker.sasl_ssl,
                broker.controller,
            ] = free_ports();
        }
        broker.startup = began.elapsed();
        broker
    }

    /// `127.0.0.1:port` of the PLAINTEXT listener.
    pub fn plaintext(&self) -> String {
        format!("127.0.0.1:{}", self.plaintext)
    }

    /// `127.0.0.1:port` of the SSL listener (server certificate for
    /// `127.0.0.1` and `localhost`, signed by [`Self::ca_pem`]).
    pub fn ssl(&self) -> String {
        format!("127.0.0.1:{}", self.ssl)
    }

    /// `127.0.0.1:port` of the SASL_SSL listener: SCRAM-SHA-512 with
    /// [`Self::scram_user`], TLS as on [`Self::ssl`].
    pub fn sasl_ssl(&self) -> String {
        format!("127.0.0.1:{}", self.sasl_ssl)
    }

    /// The CA certificate (PEM) a client trusts to reach the TLS listeners.
    pub fn ca_pem(&self) -> &Path {
        &self.ca_pem
    }

    /// The SCRAM-SHA-512 user and password the SASL_SSL listener accepts.
    pub fn scram_user(&self) -> (&str, &str) {
        (SCRAM_USER, SCRAM_PASSWORD)
    }

    /// The broker's directory: configuration, `data/`, `tls/`, logs.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Kafka's own log (log4j2).
    pub fn log_path(&self) -> PathBuf {
        self.dir.join("server.log")
    }

    /// How long [`Self::start`] took (certificates and formatting included),
    /// or the last [`Self::restart`].
    /// The broker's process id (its JVM), while it runs: the pipeline
    /// bench reads its CPU time.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    pub fn startup_time(&self) -> Duration {
        self.startup
    }

    /// Graceful shutdown (SIGTERM, as an operator or orchestrator would):
    /// the broker closes its logs and tells the controller it is leaving.
    /// Waits for the process to exit; kills it and panics if it takes more
    /// than 30 s.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        signal(&child, SIGTERM);
        let deadline = Instant::now() + STOP_TIMEOUT;
        loop {
            match child.try_wait() {
                Ok(Some(_)) => return,
                Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(50)),
                _ => {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!(
                        "Kafka did not stop within {STOP_TIMEOUT:?} of SIGTERM (killed)\n{}",
                        self.log_tail()
                    );
                }
            }
        }
    }

    /// Starts the broker again on the same storage and ports (stopping it
    /// gracefully first if it runs), and waits until it answers.
    pub fn restart(&mut self) {
        self.stop();
        let began = Instant::now();
        if let Err(status) = self.launch() {
            let why = if self.port_was_taken() {
                ": another process took one of its ports while it was down"
            } else {
                ""
            };
            panic!(
                "Kafka exited while restarting ({status}){why}\n{}",
                self.log_tail()
            );
        }
        self.startup = began.elapsed();
    }

    /// SIGKILL, as a crash would: no clean shutdown, the next start
    /// recovers the logs.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Creates a topic (replication factor 1) through the admin API on
    /// PLAINTEXT and waits until every partition has a leader, so a client
    /// can use it at once. Automatic topic creation is off on this broker.
    pub fn create_topic(&self, name: &str, partitions: i32, config: &[(&str, &str)]) {
        let admin = admin_client(&self.plaintext());
        let topic = config.iter().fold(
            NewTopic::new(name, partitions, TopicReplication::Fixed(1)),
            |t, (k, v)| t.set(k, v),
        );
        let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
        let results = block_on(admin.create_topics([&topic], &opts))
            .unwrap_or_else(|e| panic!("create topic {name} on {}: {e}", self.plaintext()));
        for result in results {
            if let Err((topic, code)) = result {
                panic!("create topic {topic} on {}: {code}", self.plaintext());
            }
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let led = admin
                .inner()
                .fetch_metadata(Some(name), Duration::from_secs(5))
                .ok()
                .and_then(|md| {
                    md.topics().first().map(|t| {
                        t.error().is_none()
                            && t.partitions().len() == partitions as usize
                            && t.partitions().iter().all(|p| p.leader() >= 0)
                    })
                })
                .unwrap_or(false);
            if led {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "topic {name} created but its partitions have no leader after 30 s\n{}",
                self.log_tail()
            );
            thread::sleep(Duration::from_millis(100));
        }
    }

    /// Runs a Kafka command-line tool by its main class (for instance
    /// `org.apache.kafka.tools.BrokerApiVersionsCommand`) on the broker's
    /// classpath and returns its exit status and output. Panics if it runs
    /// longer than a minute.
    pub fn run_tool(&self, main_class: &str, args: &[&str]) -> Output {
        let mut child = self
            .java(TOOL_JVM, "tools-log4j2.properties")
            .arg(main_class)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("run java {main_class} (Java 17+ on PATH or JAVA_HOME): {e}")
            });
        // Read both pipes while it runs, or a chatty tool blocks on a full pipe.
        let stdout = drain(child.stdout.take());
        let stderr = drain(child.stderr.take());
        let deadline = Instant::now() + TOOL_TIMEOUT;
        let status = loop {
            match child.try_wait().expect("wait for a Kafka tool") {
                Some(status) => break status,
                None if Instant::now() < deadline => thread::sleep(Duration::from_millis(50)),
                None => {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!("{main_class} {args:?} did not finish within {TOOL_TIMEOUT:?}");
                }
            }
        };
        Output {
            status,
            stdout: stdout.join().expect("tool stdout reader"),
            stderr: stderr.join().expect("tool stderr reader"),
        }
    }

    /// The last lines of the broker's stdout/stderr and log, for panic
    /// messages.
    pub fn log_tail(&self) -> String {
        let mut tail = format!("broker files in {}", self.dir.display());
        for name in ["stdout.log", "server.log"] {
            let Ok(text) = fs::read_to_string(self.dir.join(name)) else {
                continue;
            };
            let lines: Vec<&str> = text.lines().collect();
            let from = lines.len().saturating_sub(40);
            tail.push_str(&format!(
                "\n--- {name}, last {} lines:\n{}",
                lines.len() - from,
                lines[from..].join("\n")
            ));
        }
        tail
    }

    /// A CA and a server certificate for 127.0.0.1 and localhost (EC P-256:
    /// instant to generate). The server's key and certificate go into one
    /// PEM file, which Kafka reads as a keystore of type PEM.
    fn make_certificates(&self) {
        let tls = self.dir.join("tls");
        fs::create_dir_all(&tls).unwrap_or_else(|e| panic!("create {}: {e}", tls.display()));
        let new_key = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ];
        let mut ca = vec!["req", "-x509"];
        ca.extend(new_key);
        ca.extend([
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "3650",
            "-subj",
            "/CN=ccpulse test CA",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ]);
        openssl(&tls, &ca);
        let mut csr = vec!["req"];
        csr.extend(new_key);
        csr.extend([
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=localhost",
        ]);
        openssl(&tls, &csr);
        // Clients check the host name, by default in librdkafka and Java.
        write(
            &tls.join("server.ext"),
            "subjectAltName = IP:127.0.0.1, DNS:localhost\n\
             basicConstraints = critical, CA:FALSE\n\
             keyUsage = critical, digitalSignature\n\
             extendedKeyUsage = serverAuth\n",
        );
        openssl(
            &tls,
            &[
                "x509",
                "-req",
                "-in",
                "server.csr",
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-days",
                "3650",
                "-extfile",
                "server.ext",
                "-out",
                "server.crt",
            ],
        );
        let read = |name: &str| {
            fs::read_to_string(tls.join(name))
                .unwrap_or_else(|e| panic!("read {}: {e}", tls.join(name).display()))
        };
        write(
            &tls.join("server.pem"),
            &(read("server.key") + &read("server.crt")),
        );
    }

    fn write_config(&self) {
        let dir = self.dir.display();
        let (p, s, q, c) = (self.plaintext, self.ssl, self.sasl_ssl, self.controller);
        write(
            &self.dir.join("server.properties"),
            &format!(
                "# Written by tests/support/broker.rs: one node, broker and controller.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:{c}
controller.listener.names=CONTROLLER
listeners=PLAINTEXT://127.0.0.1:{p},SSL://127.0.0.1:{s},SASL_SSL://127.0.0.1:{q},CONTROLLER://127.0.0.1:{c}
advertised.listeners=PLAINTEXT://127.0.0.1:{p},SSL://127.0.0.1:{s},SASL_SSL://127.0.0.1:{q}
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_SSL:SASL_SSL,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
log.dirs={dir}/data

# TLS from PEM files (no JKS/PKCS12 keystore to build): key + certificate.
ssl.keystore.type=PEM
ssl.keystore.location={dir}/tls/server.pem
# SCRAM credentials live in the metadata log, added when formatting.
sasl.enabled.mechanisms=SCRAM-SHA-512
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;

# A single replica of everything; internal topics are made on first use,
# with one partition (fifty take seconds to create on 2 cores).
num.partitions=1
default.replication.factor=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
# Tests create their topics, so a missing one shows as missing.
auto.create.topics.enable=false
# No waiting for more members before the first rebalance; short session
# timeouts allowed so tests can detect a dead consumer quickly.
group.initial.rebalance.delay.ms=0
group.min.session.timeout.ms=1000
# The log cleaner's buffer defaults to 128 MB of a 512 MB heap.
log.cleaner.dedupe.buffer.size=16777216
# No time retention by default: test and bench events carry fixed event
# times (record timestamps) weeks in the past, and the retention check
# (every 5 minutes) would delete a topic under a run that lasts longer.
# A test that wants retention sets it on its topic.
log.retention.ms=-1
"
            ),
        );
        // Kafka 4 logs with log4j2 (it no longer reads log4j 1 properties).
        // No shutdown hook: otherwise log4j closes before Kafka's shutdown
        // and those lines go to stdout.
        for (config, file) in [
            ("log4j2.properties", "server.log"),
            ("tools-log4j2.properties", "tools.log"),
        ] {
            write(
                &self.dir.join(config),
                &format!(
                    "shutdownHook = disable
appender.file.type = File
appender.file.name = file
appender.file.fileName = {dir}/{file}
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = file
"
                ),
            );
        }
    }

    /// `kafka-storage format`, adding the SCRAM user to the bootstrap
    /// metadata (KRaft keeps credentials in the metadata log).
    fn format_storage(&self) {
        let config = self.dir.join("server.properties");
        let scram = format!("SCRAM-SHA-512=[name={SCRAM_USER},password={SCRAM_PASSWORD}]");
        let out = self.run_tool(
            "kafka.tools.StorageTool",
            &[
                "format",
                "--cluster-id",
                CLUSTER_ID,
                "--config",
                &config.display().to_string(),
                "--add-scram",
                &scram,
            ],
        );
        assert!(
            out.status.success(),
            "kafka-storage format failed ({}):\n{}{}\n(see also {}/tools.log)",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            self.dir.display()
        );
    }

    /// Spawns the broker JVM and waits until it answers on PLAINTEXT; the
    /// exit status if it exits first.
    fn launch(&mut self) -> Result<(), String> {
        let stdout_path = self.dir.join("stdout.log");
        let stdout = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&stdout_path)
            .unwrap_or_else(|e| panic!("open {}: {e}", stdout_path.display()));
        let stderr = stdout
            .try_clone()
            .unwrap_or_else(|e| panic!("open {}: {e}", stdout_path.display()));
        let mut java = self.java(BROKER_JVM, "log4j2.properties");
        if self.tuning == Tuning::QuickStart {
            java.arg(QUICK_JIT);
        }
        // Last, so they win: e.g. "-Xmx1g".
        if let Ok(extra) = std::env::var("CCPULSE_KAFKA_JVM_OPTS") {
            java.args(extra.split_whitespace());
        }
        let child = java
            .arg("kafka.Kafka")
            .arg(self.dir.join("server.properties"))
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .unwrap_or_else(|e| {
                panic!("start Kafka with java (Java 17+ on PATH or JAVA_HOME): {e}")
            });
        self.child = Some(child);
        self.wait_ready()
    }

    fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + READY_TIMEOUT;
        let mut admin: Option<AdminClient<DefaultClientContext>> = None;
        loop {
            let exited = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().expect("wait for Kafka").map(|s| s.to_string()));
            if let Some(status) = exited {
                self.child = None;
                return Err(status);
            }
            assert!(
                Instant::now() < deadline,
                "Kafka did not answer on {} within {READY_TIMEOUT:?}\n{}",
                self.plaintext(),
                self.log_tail()
            );
            // A client made before anything listens would only log refusals.
            let listening = TcpStream::connect_timeout(
                &([127, 0, 0, 1], self.plaintext).into(),
                Duration::from_millis(200),
            )
            .is_ok();
            if listening {
                let client = admin.get_or_insert_with(|| admin_client(&self.plaintext()));
                let up = client
                    .inner()
                    .fetch_metadata(None, Duration::from_secs(2))
                    .map(|md| md.brokers().iter().any(|b| b.id() == 1))
                    .unwrap_or(false);
                if up {
                    return Ok(());
                }
            }
            thread::sleep(Duration::from_millis(100));
        }
    }

    /// Whether the broker's last run failed to bind a listener's port.
    fn port_was_taken(&self) -> bool {
        fs::read_to_string(self.dir.join("server.log"))
            .is_ok_and(|log| log.contains("Address already in use"))
    }

    /// Before trying again: fresh storage, and the failed run's logs moved
    /// aside (kept for a look if the test fails later).
    fn set_aside_failed_attempt(&self, attempt: u32) {
        for log in ["server.log", "stdout.log"] {
            let _ = fs::rename(
                self.dir.join(log),
                self.dir.join(format!("{log}.failed-{attempt}")),
            );
        }
        let data = self.dir.join("data");
        fs::remove_dir_all(&data)
            .and_then(|()| fs::create_dir(&data))
            .unwrap_or_else(|e| panic!("empty {}: {e}", data.display()));
    }

    /// `java` with the Kafka classpath, a log4j2 configuration from the
    /// broker's directory, and the class-data archive if there is one.
    fn java(&self, jvm: &[&str], log4j2: &str) -> Command {
        let bin = std::env::var_os("JAVA_HOME")
            .map(|h| PathBuf::from(h).join("bin/java"))
            .filter(|java| java.is_file())
            .unwrap_or_else(|| PathBuf::from("java"));
        let mut cmd = Command::new(bin);
        cmd.args(jvm).arg("-Djava.awt.headless=true").arg(format!(
            "-Dlog4j2.configurationFile={}",
            self.dir.join(log4j2).display()
        ));
        // Made by scripts/install-kafka: the classes loaded at start-up,
        // pre-parsed (about 2 s less per start). The classpath must be
        // written exactly as when it was made; a stale archive is ignored.
        let archive = self.home.join("kafka.jsa");
        if archive.is_file() {
            cmd.arg(format!("-XX:SharedArchiveFile={}", archive.display()));
        }
        cmd.arg("-cp")
            .arg(format!("{}/*", self.home.join("libs").display()));
        cmd
    }
}

impl Drop for KafkaBroker {
    /// Kills the broker: its files are about to go, so a graceful stop would
    /// only cost seconds. Keeps the files if the test is failing.
    fn drop(&mut self) {
        self.kill();
        if thread::panicking() {
            eprintln!("Kafka broker files kept in {}", self.dir.display());
        } else {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

/// `target/test-artifacts/kafka-<pid>-<n>/`, empty, with `data/` in it.
fn artifact_dir() -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("target/test-artifacts")
        .join(format!("kafka-{}-{n}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(dir.join("data"))
        .unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
    dir
}

/// Distinct free loopback ports below the kernel's ephemeral range. A port
/// from a bind to port 0 comes from that range, where any process's next
/// bind to port 0 or outgoing connection can take it in the seconds before
/// Kafka binds it (seen: another test's HTTP server took one). Below it,
/// only a process asking for that very number would.
fn free_ports<const N: usize>() -> [u16; N] {
    /// Handed out already in this process: two brokers starting at once
    /// would otherwise both find the same port free.
    static GIVEN: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());
    let mut given = GIVEN.lock().unwrap_or_else(|e| e.into_inner());
    let (low, high) = non_ephemeral_ports();
    let mut random = Xorshift::seeded();
    let mut tries = 0;
    std::array::from_fn(|_| loop {
        tries += 1;
        assert!(tries < 10_000, "no free loopback port in {low}..{high}");
        let port = low + (random.next_u64() % u64::from(high - low)) as u16;
        if !given.contains(&port) && TcpListener::bind(("127.0.0.1", port)).is_ok() {
            given.insert(port);
            break port;
        }
    })
}

/// A port range other processes do not get ports from by chance: below the
/// ephemeral range (`ip_local_port_range`, usually 32768-60999), or above
/// it if it starts low.
fn non_ephemeral_ports() -> (u16, u16) {
    let (first, last) = fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|text| {
            let mut bounds = text.split_whitespace().map(|n| n.parse::<u16>().ok());
            Some((bounds.next()??, bounds.next()??))
        })
        .unwrap_or((32768, 60999));
    if first >= 12_000 {
        (10_000, first)
    } else if last <= 63_000 {
        (last + 1, u16::MAX)
    } else {
        (10_000, u16::MAX)
    }
}

/// Enough randomness to spread ports, from std alone.
struct Xorshift(u64);

impl Xorshift {
    fn seeded() -> Xorshift {
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u32(std::process::id());
        hasher.write_u128(
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |t| t.as_nanos()),
        );
        Xorshift(hasher.finish() | 1)
    }

    fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// Reads a child's pipe to the end on its own thread.
fn drain<R: Read + Send + 'static>(pipe: Option<R>) -> thread::JoinHandle<Vec<u8>> {
    thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(mut pipe) = pipe {
            let _ = pipe.read_to_end(&mut buf);
        }
        buf
    })
}

fn admin_client(bootstrap: &str) -> AdminClient<DefaultClientContext> {
    ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .unwrap_or_else(|e| panic!("Kafka admin client for {bootstrap}: {e}"))
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| {
            panic!("run openssl (scripts/install-kafka checks it is installed): {e}")
        });
    assert!(
        out.status.success(),
        "openssl {} failed ({}): {}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

fn write(path: &Path, text: &str) {
    fs::write(path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

/// Polls a future on this thread: no async runtime needed, and usable from
/// inside one (a tokio runtime cannot be started within another).
fn block_on<F: Future>(future: F) -> F::Output {
    struct Unpark(thread::Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Arc::new(Unpark(thread::current())).into();
    let mut cx = Context::from_waker(&waker);
    let mut future = std::pin::pin!(future);
    loop {
        if let Poll::Ready(out) = future.as_mut().poll(&mut cx) {
            return out;
        }
        thread::park();
    }
}

const SIGTERM: i32 = 15;

extern "C" {
    #[link_name = "kill"]
    fn libc_kill(pid: i32, sig: i32) -> i32;
}

fn signal(child: &Child, sig: i32) {
    // SAFETY: kill(2) on our own child's pid; it has not been reaped yet
    // (we hold its Child and have not waited), so the pid is still ours.
    unsafe {
        libc_kill(child.id() as i32, sig);
    }
}
