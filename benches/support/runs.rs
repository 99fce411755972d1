//! One throughput run of each reader over the same, already filled input
//! topic: ccpulse (the binary), a bare rdkafka consumer, `kcat`, and the
//! Kafka Streams peer. Each returns a [`Measure`]: records, seconds from
//! the first record to the end, and the reader's CPU seconds over the same
//! span, and the broker's CPU seconds over it where the bench can align
//! them (the broker shares the cores: what a reader makes it do counts).

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use std::sync::{Arc, OnceLock};

use ccpulse::pipeline::fetchq::FetchQueue;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, Rebalance};
use rdkafka::message::Message;
use rdkafka::ClientContext;
use rdkafka::{Offset, TopicPartitionList};

use super::proc;
use super::service::{has_customer_stage, Service, Settings};

/// One run of one reader.
#[derive(Clone, Debug)]
pub struct Measure {
    /// Records within the timed span.
    pub records: u64,
    pub seconds: f64,
    /// CPU seconds of the reader's process over the same span.
    pub cpu_seconds: f64,
    /// CPU seconds of the broker over the same span (`None` where the span
    /// is the reader's own, as for Kafka Streams).
    pub broker_cpu_seconds: Option<f64>,
    /// What else the run showed (effects produced, …).
    pub note: String,
}

impl Measure {
    pub fn events_per_s(&self) -> f64 {
        self.records as f64 / self.seconds
    }
    pub fn cpu_per_million(&self) -> f64 {
        self.cpu_seconds * 1e6 / self.records as f64
    }
    pub fn broker_cpu_per_million(&self) -> Option<f64> {
        self.broker_cpu_seconds
            .map(|c| c * 1e6 / self.records as f64)
    }
}

/// The input topic and how to read it.
pub struct Input<'a> {
    pub brokers: &'a str,
    pub topic: &'a str,
    pub partitions: i32,
    /// Records in the topic (it is written without transactions, so also
    /// the sum of the partitions' end offsets).
    pub records: u64,
    /// `json` or `protobuf`.
    pub format: &'a str,
    /// The agent topic ccpulse reads whole (the replicated directory).
    pub agents: &'a str,
    /// The broker's process, for its CPU time.
    pub broker_pid: Option<u32>,
}

impl Input<'_> {
    /// The broker's CPU seconds so far.
    fn broker_cpu(&self) -> Option<f64> {
        self.broker_pid.and_then(proc::cpu_seconds)
    }
}

/// `b - a` when both are known.
fn spent(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    Some(b? - a?)
}

/// How long a run may take before the bench gives up on it.
const RUN_LIMIT: Duration = Duration::from_secs(900);
/// The Kafka Streams peer's own limit (it exits 3 when it is reached).
const STREAMS_LIMIT: Duration = Duration::from_secs(300);

/// ccpulse from the first record to the commit that covers the last.
///
/// The clock starts when `/metrics` first shows records consumed (it is
/// scraped every 20 ms until then, and not at all while the run is timed,
/// so the scrapes cost the service nothing measured; `/healthz` is probed
/// every 100 ms meanwhile, as a liveness probe would, and its slowest
/// answer is reported); the records already
/// counted then are left out of the figure. It stops when the group's
/// committed offsets, polled every 25 ms from the broker, reach the end of
/// every partition: every record consumed, folded, its effects produced
/// and its offset committed (in the transaction, for exactly-once). CPU is
/// the process's utime + stime over that span, all threads.
pub fn ccpulse(
    bin: &Path,
    dir: &Path,
    create_topic: &dyn Fn(&str, i32),
    input: &Input,
    guarantee: &str,
    run: &str,
) -> Result<Measure, String> {
    let settings = Settings {
        brokers: input.brokers,
        group: run,
        guarantee: Some(guarantee),
        format: input.format,
        input: input.topic,
        agents: input.agents,
        outputs: run,
        timing: None,
        policies: "",
        // An earlier binary without it runs as it was.
        customer_stage: has_customer_stage(bin, dir),
    };
    for (t, p) in settings.output_topics(input.partitions) {
        create_topic(&t, p);
    }
    let watch = Committed::new(input, run);
    let mut svc = Service::start(bin, dir, run, &settings);
    let consumed = |s: &Service| {
        s.counter("ccpulse_events_consumed_total", &[("topic", input.topic)])
            .unwrap_or(0.0) as u64
    };
    let t0 = Instant::now();
    let (start, before, (cpu0, broker0)) = loop {
        svc.check_alive();
        let n = consumed(&svc);
        if n > 0 {
            break (Instant::now(), n, (svc.cpu_seconds(), input.broker_cpu()));
        }
        if t0.elapsed() > Duration::from_secs(120) {
            return Err(format!(
                "no record consumed within 120 s\n{}",
                svc.log_tail()
            ));
        }
        thread::sleep(Duration::from_millis(20));
    };
    // A liveness probe's view of the run: `/healthz` every
    // `PROBE_EVERY`, its slowest answer (a probe is a few hundred bytes;
    // it costs the service nothing measurable).
    let mut probe = Probe::default();
    let (end, cpu1, broker1) = loop {
        if watch.total() >= input.records as i64 {
            break (Instant::now(), svc.cpu_seconds(), input.broker_cpu());
        }
        if start.elapsed() > RUN_LIMIT {
            return Err(format!(
                "offsets not all committed within {RUN_LIMIT:?}\n{}",
                svc.log_tail()
            ));
        }
        svc.check_alive();
        probe.maybe(&svc);
        thread::sleep(Duration::from_millis(25));
    };
    let total = consumed(&svc);
    let effects = svc
        .counter("ccpulse_effects_emitted_total", &[])
        .unwrap_or(f64::NAN);
    let dead = svc
        .counter("ccpulse_dead_letters_total", &[])
        .unwrap_or(f64::NAN);
    let tail = svc.log_tail();
    match svc.stop() {
        Some(s) if s.success() => {}
        s => eprintln!("ccpulse {run} exited with {s:?} after SIGTERM\n{tail}"),
    }
    let (Some(cpu0), Some(cpu1)) = (cpu0, cpu1) else {
        return Err("could not read the process's CPU time from /proc".into());
    };
    if total != input.records {
        eprintln!(
            "ccpulse {run}: consumed {total} records, the topic holds {}",
            input.records
        );
    }
    Ok(Measure {
        records: input.records - before,
        seconds: end.duration_since(start).as_secs_f64(),
        cpu_seconds: cpu1 - cpu0,
        broker_cpu_seconds: spent(broker0, broker1),
        note: format!(
            "{effects} effects produced, {dead} dead letters; {}",
            probe.summary()
        ),
    })
}

/// How often the timed span probes `/healthz`.
const PROBE_EVERY: Duration = Duration::from_millis(100);

/// `/healthz` answers during a run: count and slowest.
#[derive(Default)]
struct Probe {
    last: Option<Instant>,
    answered: u32,
    failed: u32,
    slowest: Duration,
}

impl Probe {
    fn maybe(&mut self, svc: &Service) {
        if self.last.is_some_and(|t| t.elapsed() < PROBE_EVERY) {
            return;
        }
        let t = Instant::now();
        match svc.get("/healthz") {
            Ok((200, _)) => self.answered += 1,
            _ => self.failed += 1,
        }
        self.slowest = self.slowest.max(t.elapsed());
        self.last = Some(Instant::now());
    }

    fn summary(&self) -> String {
        format!(
            "/healthz: {} answered, {} failed, slowest {:.0} ms",
            self.answered,
            self.failed,
            self.slowest.as_secs_f64() * 1000.0
        )
    }
}

/// A group's committed offsets on the input topic, read from the broker
/// (OffsetFetch) by a client that does not join the group.
struct Committed {
    consumer: BaseConsumer,
    partitions: TopicPartitionList,
}

impl Committed {
    fn new(input: &Input, group: &str) -> Committed {
        let consumer = ClientConfig::new()
            .set("bootstrap.servers", input.brokers)
            .set("group.id", group)
            .set("enable.auto.commit", "false")
            .create()
            .expect("offset watcher client");
        let mut partitions = TopicPartitionList::new();
        for p in 0..input.partitions {
            partitions.add_partition(input.topic, p);
        }
        Committed {
            consumer,
            partitions,
        }
    }

    /// Sum of the committed offsets (0 for a partition with none; -1 if
    /// the broker did not answer).
    fn total(&self) -> i64 {
        match self
            .consumer
            .committed_offsets(self.partitions.clone(), Duration::from_secs(5))
        {
            Ok(tpl) => tpl
                .elements()
                .iter()
                .map(|e| match e.offset() {
                    Offset::Offset(o) => o,
                    _ => 0,
                })
                .sum(),
            Err(_) => -1,
        }
    }
}

/// The ceiling: an rdkafka `BaseConsumer` in a tight poll loop that only
/// touches each payload, with ccpulse's fetch settings (librdkafka's
/// defaults but `fetch.queue.backoff.ms`, `read_committed`, a group
/// subscription). From the first record
/// to the last; CPU is this bench process's over that span (nothing else
/// runs in it meanwhile).
pub fn bare(input: &Input, run: &str) -> Result<Measure, String> {
    let c: BaseConsumer = bare_config(input, run)
        .create()
        .map_err(|e| format!("bare consumer: {e}"))?;
    c.subscribe(&[input.topic])
        .map_err(|e| format!("subscribe: {e}"))?;
    let mut tally = Tally::default();
    while tally.got < input.records {
        tally.check_limit(input)?;
        match c.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => tally.record(m.payload(), input),
            Some(Err(e)) => eprintln!("bare consumer: {e}"),
            None => {}
        }
    }
    tally.measure(input)
}

/// The same ceiling on ccpulse's read path: the same consumer, but the
/// assigned partitions' records read in batches from the queue they are
/// forwarded to (`ccpulse::pipeline::fetchq`, as ccpulse's poll thread
/// reads them), its own queue polled without waiting after each read for
/// rebalances. A baseline that read one record per `poll` while ccpulse
/// reads batches would flatter ccpulse.
pub fn bare_batched(input: &Input, run: &str) -> Result<Measure, String> {
    let c: BaseConsumer<Forwarding> = bare_config(input, run)
        .create_with_context(Forwarding::default())
        .map_err(|e| format!("bare consumer: {e}"))?;
    let queue = Arc::new(FetchQueue::new(&c));
    let _ = c.context().queue.set(queue.clone());
    c.subscribe(&[input.topic])
        .map_err(|e| format!("subscribe: {e}"))?;
    let mut tally = Tally::default();
    while tally.got < input.records {
        tally.check_limit(input)?;
        queue.read(Duration::from_millis(100), false, |r| match r {
            Ok(m) => tally.record(Some(m.value), input),
            Err(e) => eprintln!("bare consumer: {e}"),
        });
        match c.poll(Duration::ZERO) {
            Some(Ok(m)) => tally.record(m.payload(), input),
            Some(Err(e)) => eprintln!("bare consumer: {e}"),
            None => {}
        }
    }
    queue.close();
    tally.measure(input)
}

/// Both bare readers' settings.
fn bare_config(input: &Input, run: &str) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", input.brokers)
        .set("group.id", run)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("isolation.level", "read_committed")
        // As ccpulse sets it (`pipeline/kafka.rs`, FETCH_QUEUE_BACKOFF_MS).
        .set("fetch.queue.backoff.ms", "10");
    c
}

/// Forwards each assigned partition to the batch queue before librdkafka
/// fetches it, as ccpulse's rebalance handler does.
#[derive(Default)]
struct Forwarding {
    queue: OnceLock<Arc<FetchQueue>>,
}

impl ClientContext for Forwarding {}

impl ConsumerContext for Forwarding {
    fn pre_rebalance(&self, c: &BaseConsumer<Self>, r: &Rebalance<'_>) {
        if let (Rebalance::Assign(tpl), Some(q)) = (r, self.queue.get()) {
            for e in tpl.elements() {
                if !q.forward(c, e.topic(), e.partition()) {
                    eprintln!(
                        "bare consumer: {}/{} not forwarded",
                        e.topic(),
                        e.partition()
                    );
                }
            }
        }
    }
}

/// What a bare reader read, from its first record on.
#[derive(Default)]
struct Tally {
    got: u64,
    bytes: usize,
    /// When the first record came: clock, own CPU, broker CPU.
    first: Option<(Instant, Option<f64>, Option<f64>)>,
    began: Option<Instant>,
}

impl Tally {
    fn check_limit(&mut self, input: &Input) -> Result<(), String> {
        let began = *self.began.get_or_insert_with(Instant::now);
        if began.elapsed() > RUN_LIMIT {
            return Err(format!("read {} of {} records", self.got, input.records));
        }
        Ok(())
    }

    fn record(&mut self, payload: Option<&[u8]>, input: &Input) {
        self.bytes += std::hint::black_box(payload).map_or(0, |p| p.len());
        self.got += 1;
        if self.first.is_none() {
            self.first = Some((Instant::now(), proc::own_cpu_seconds(), input.broker_cpu()));
        }
    }

    fn measure(self, input: &Input) -> Result<Measure, String> {
        let (end, cpu1, broker1) = (Instant::now(), proc::own_cpu_seconds(), input.broker_cpu());
        let Some((start, Some(cpu0), broker0)) = self.first else {
            return Err("no CPU time from /proc/self/stat".into());
        };
        Ok(Measure {
            records: self.got - 1,
            seconds: end.duration_since(start).as_secs_f64(),
            cpu_seconds: cpu1.unwrap_or(f64::NAN) - cpu0,
            broker_cpu_seconds: spent(broker0, broker1),
            note: format!("{:.0} MB of payload", self.bytes as f64 / 1e6),
        })
    }
}

/// `kcat -C -e` (all partitions from the beginning, exit at their end),
/// printing only offsets into a pipe the bench counts. The clock starts at
/// the first output kcat flushes (it buffers: the records in that first
/// chunk are left out) and stops when it reports, on its unbuffered
/// stderr, that the last partition reached its end (its teardown is not
/// counted). CPU is the whole process's (from `getrusage` once it is
/// reaped, start-up and teardown included), scaled to the records counted.
pub fn kcat(input: &Input) -> Result<Measure, String> {
    let cpu_before = proc::reaped_children_cpu_seconds();
    let mut child = Command::new("kcat")
        .args(["-C", "-e", "-o", "beginning", "-f", "%o\\n"])
        .args(["-b", input.brokers, "-t", input.topic])
        .args(["-X", "isolation.level=read_committed"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("run kcat (apt-get install kcat): {e}"))?;
    let mut out = child.stdout.take().ok_or("kcat has no stdout")?;
    let err = child.stderr.take().ok_or("kcat has no stderr")?;
    // "% Reached end of topic T [p] at offset N" per partition.
    let broker_pid = input.broker_pid;
    let ends = thread::spawn(move || {
        let mut last = None;
        for line in BufReader::new(err).lines().map_while(Result::ok) {
            if line.contains("Reached end of topic") {
                last = Some((Instant::now(), broker_pid.and_then(proc::cpu_seconds)));
            }
        }
        last
    });
    let mut buf = vec![0u8; 1 << 16];
    let (mut lines, mut first) = (0u64, None);
    loop {
        let n = out.read(&mut buf).map_err(|e| format!("read kcat: {e}"))?;
        if n == 0 {
            break;
        }
        lines += buf[..n].iter().filter(|b| **b == b'\n').count() as u64;
        if first.is_none() {
            first = Some((Instant::now(), lines, input.broker_cpu()));
        }
    }
    let status = child.wait().map_err(|e| format!("wait for kcat: {e}"))?;
    let cpu = proc::reaped_children_cpu_seconds() - cpu_before;
    let end = ends.join().ok().flatten();
    let (Some((start, skipped, broker0)), Some((end, broker1))) = (first, end) else {
        return Err(format!(
            "kcat printed no records or no end of topic ({status})"
        ));
    };
    if !status.success() || lines != input.records {
        return Err(format!(
            "kcat read {lines} of {} records ({status})",
            input.records
        ));
    }
    let counted = lines - skipped;
    Ok(Measure {
        records: counted,
        seconds: end.saturating_duration_since(start).as_secs_f64(),
        cpu_seconds: cpu * counted as f64 / lines as f64,
        broker_cpu_seconds: spent(broker0, broker1),
        note: format!("{cpu:.2} CPU s in all, {skipped} records before the first output"),
    })
}

/// The Kafka Streams peer (`benches/peers/kafka-streams`): it times itself
/// from its first input record to `close()` returned (cache flushed, final
/// commit) and counts its JVM's CPU over that span (all threads: stream
/// threads, client I/O, RocksDB, GC, JIT).
pub fn kafka_streams(
    jar: &Path,
    dir: &Path,
    input: &Input,
    guarantee: &str,
    threads: usize,
    run: &str,
) -> Result<Measure, String> {
    let log = dir.join(format!("{run}.log"));
    let err = std::fs::File::create(&log).map_err(|e| format!("{}: {e}", log.display()))?;
    // E.g. "-Dorg.slf4j.simpleLogger.defaultLogLevel=info" to see why a
    // run stalls.
    let extra = std::env::var("CCPULSE_BENCH_STREAMS_JVM_OPTS").unwrap_or_default();
    let out = Command::new(java())
        .args(["-Xms1g", "-Xmx2g"])
        .args(extra.split_whitespace())
        .arg("-jar")
        .arg(jar)
        .args(["--brokers", input.brokers, "--input", input.topic])
        .args(["--output", &format!("{run}.out")])
        .args(["--create-output", &input.partitions.to_string()])
        .args(["--app-id", run, "--guarantee", guarantee])
        .args(["--expect", &input.records.to_string()])
        .args(["--format", input.format, "--threads", &threads.to_string()])
        .args(["--timeout-s", &STREAMS_LIMIT.as_secs().to_string()])
        .arg("--state-dir")
        .arg(dir.join(format!("{run}.state")))
        .stdin(Stdio::null())
        .stderr(err)
        .output()
        .map_err(|e| format!("run java -jar {}: {e}", jar.display()))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .rev()
        .find(|l| l.trim_start().starts_with('{'));
    let (true, Some(line)) = (out.status.success(), line) else {
        return Err(format!(
            "Kafka Streams peer failed ({}); see {}",
            out.status,
            log.display()
        ));
    };
    let v: serde_json::Value =
        serde_json::from_str(line).map_err(|e| format!("peer output {line:?}: {e}"))?;
    let num = |k: &str| v.get(k).and_then(|x| x.as_f64());
    let (Some(records), Some(seconds), Some(cpu)) =
        (num("records"), num("seconds"), num("cpu_seconds"))
    else {
        return Err(format!(
            "peer output lacks records/seconds/cpu_seconds: {line}"
        ));
    };
    Ok(Measure {
        records: records as u64,
        seconds,
        cpu_seconds: cpu,
        broker_cpu_seconds: None,
        note: format!(
            "close {:.1} s, {} invalid, {} window updates dropped",
            num("close_seconds").unwrap_or(f64::NAN),
            num("invalid_records").unwrap_or(f64::NAN),
            num("dropped_window_updates").unwrap_or(f64::NAN)
        ),
    })
}

/// `$JAVA_HOME/bin/java`, else `java` on the PATH.
pub fn java() -> std::path::PathBuf {
    std::env::var_os("JAVA_HOME")
        .map(|h| std::path::PathBuf::from(h).join("bin/java"))
        .filter(|j| j.is_file())
        .unwrap_or_else(|| "java".into())
}
