//! The `ccpulse` command line: the binary's edge, and the only place that
//! uses `anyhow`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use tracing_subscriber::EnvFilter;

use ccpulse::config::Config;

#[derive(Parser)]
#[command(
    name = "ccpulse",
    version,
    about = "Live contact-center KPIs, SLA timers and reassignments from an event log"
)]
struct Cli {
    /// Log format on stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Clone, Copy, ValueEnum)]
enum Output {
    Json,
    Table,
}

#[derive(Subcommand)]
enum Command {
    /// Fold event files (JSON Lines or length-delimited protobuf) and print
    /// the final snapshot.
    Replay {
        /// Configuration file (defaults apply without one).
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// Snapshot output.
        #[arg(long, value_enum, default_value_t = Output::Json)]
        format: Output,
        /// Window for the table view (`total` for cumulative).
        #[arg(long, default_value = "total")]
        window: String,
        /// Write emitted effects (SLA breaches, reassignments) here as JSON Lines.
        #[arg(long)]
        effects: Option<PathBuf>,
        /// Fail (exit 1) if any record cannot be decoded.
        #[arg(long)]
        strict: bool,
        /// After folding, keep serving /metrics, probes and the JSON API of
        /// the final state on this address (e.g. 127.0.0.1:9900) until
        /// Ctrl-C or SIGTERM. Everything in the files is exported.
        #[arg(long, value_name = "ADDR")]
        serve: Option<SocketAddr>,
        /// Event files, folded in the order given.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// A simulated contact center, live: an embedded broker (librdkafka's
    /// in-process mock cluster, demo only), the simulator, the full `run`
    /// pipeline and the HTTP server with the wallboard.
    Demo {
        /// Use this Kafka instead of the embedded broker (topics are created).
        #[arg(long)]
        brokers: Option<String>,
        /// Simulated seconds per real second.
        #[arg(long, default_value_t = 60.0)]
        speed: f64,
        /// HTTP address for the wallboard, metrics and API.
        #[arg(long, default_value = "127.0.0.1:9900")]
        http: String,
        /// Stop after this long (real time), e.g. "60s"; default: until Ctrl-C.
        #[arg(long)]
        duration: Option<humantime::Duration>,
        #[arg(long, default_value_t = 7)]
        seed: u64,
        /// Start an abandonment spike this long into the simulated day.
        #[arg(long)]
        spike_at: Option<humantime::Duration>,
    },
    /// Produce simulated contact-center traffic to a Kafka cluster.
    Simulate {
        #[arg(long)]
        brokers: String,
        /// Base arrivals per hour (scaled by the intraday and weekday curves).
        #[arg(long, default_value_t = 400.0)]
        rate: f64,
        /// Simulated seconds per real second.
        #[arg(long, default_value_t = 1.0)]
        speed: f64,
        /// Simulated time to produce, e.g. "8h"; default: until Ctrl-C.
        #[arg(long)]
        duration: Option<humantime::Duration>,
        #[arg(long, default_value_t = 7)]
        seed: u64,
        /// Start an abandonment spike this long into the simulated time.
        #[arg(long)]
        spike_at: Option<humantime::Duration>,
        /// Topic names from this config's [kafka.topics] (defaults otherwise).
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// Consume from Kafka, fold, and produce SLA effects until SIGTERM/SIGINT.
    Run {
        /// Configuration file.
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Validate a configuration file and report every problem.
    CheckConfig { file: PathBuf },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter = EnvFilter::try_from_env("CCPULSE_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    // Colours only on a terminal: log files and collectors get plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let sub = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi);
    match cli.log_format {
        LogFormat::Text => sub.init(),
        LogFormat::Json => sub.json().init(),
    }
    match run(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// SIGTERM (orchestrators) or SIGINT (Ctrl-C).
async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => tracing::info!("SIGTERM received"),
                    _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT received"),
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Print to stdout; a closed pipe (`| head`) is not an error.
fn print_stdout(text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        r => Ok(r.context("writing to stdout")?),
    }
}

fn print_snapshot(
    snap: &ccpulse::engine::Snapshot,
    format: Output,
    window: &str,
) -> anyhow::Result<()> {
    let text = match format {
        Output::Json => serde_json::to_string_pretty(snap)? + "\n",
        Output::Table => ccpulse::replay::table(snap, window),
    };
    print_stdout(&text)
}

/// `replay --serve`: fold the files with every figure exported (the whole
/// file counts as live), print the snapshot, then serve until a signal.
fn replay_and_serve(
    cfg: &Config,
    addr: SocketAddr,
    files: &[PathBuf],
    effects: Option<&std::path::Path>,
    strict: bool,
    print: impl FnOnce(&ccpulse::engine::Snapshot) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    use ccpulse::engine::Engine;
    use ccpulse::export::{self, publish, ExportState, PartitionKey, PartitionStatus};

    let metrics = export::MetricsExporter::new(&cfg.export)?.install_global()?;
    let state = Arc::new(ExportState::new(cfg.export.ready_max_lag));
    let key = PartitionKey::new("replay", 0);
    state.set_status(&key, PartitionStatus::Restoring { done: 0, total: 0 });

    let mut engine = Engine::new(cfg.engine.clone());
    engine.set_sample_tap(true);
    let mut publisher = export::PartitionPublisher::from_zero();
    let report = ccpulse::replay::replay_into(&mut engine, files, effects, strict, &mut |e| {
        publisher.publish_samples(e)
    })
    .context("replay failed")?;
    let view = publisher.publish(&mut engine);
    publish::publish_processing_totals(&key.topic, report.records, engine.processing());
    print(&view.snapshot())?;

    state.publish_view(&key, Arc::new(view), Some(engine.max_event_time()));
    state.set_status(&key, PartitionStatus::Live);
    state.set_leader(true);
    state.set_started(true);

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async {
        let listener = export::http::bind(addr).await?;
        let shutdown = tokio_util::sync::CancellationToken::new();
        let on_signal = shutdown.clone();
        tokio::spawn(async move {
            wait_for_signal().await;
            on_signal.cancel();
        });
        export::run(
            listener,
            state,
            metrics,
            &cfg.http,
            &cfg.export,
            export::InstancePublisher::from_zero(),
            shutdown,
        )
        .await?;
        Ok(())
    })
}

/// `ccpulse run`: the pipeline, with the export tick and the HTTP server
/// beside it. The server binds first (a taken port fails before Kafka is
/// touched) and stops after the pipeline drained, so probes and a last
/// scrape still work during shutdown.
fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

/// The simulated center, starting now with a local clock at 08:00 so a
/// demo opens on the morning ramp whatever the hour.
fn sim_config(seed: u64, spike_at: Option<humantime::Duration>) -> ccpulse::sim::SimConfig {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    let minute_of_day = (now / 60_000).rem_euclid(1440) as i32;
    let mut sim = ccpulse::sim::SimConfig {
        seed,
        start: now,
        utc_offset_minutes: 8 * 60 - minute_of_day,
        ..Default::default()
    };
    if let Some(at) = spike_at {
        sim.spike = Some(ccpulse::sim::Spike {
            at: now + at.as_millis() as i64,
            duration: 20 * 60_000,
            arrival_factor: 2.0,
            patience_factor: 0.15,
        });
    }
    sim
}

const DEMO_CONFIG: &str = r#"
[engine]
allowed_lateness = "2s"

[kafka]
group_id = "ccpulse-demo"
processing_guarantee = "at_least_once"
commit_interval = "200ms"
idle_timeout = "10s"

[[sla.policies]]
name = "voice"
channels = ["voice"]
first_response = "1m"

[[sla.policies]]
name = "chat"
channels = ["chat"]
first_response = "2m"
next_reply = "3m"

[[sla.policies]]
name = "tickets"
channels = ["email", "web", "social"]
first_response = "1h"
resolution = "2d"
pause_statuses = ["waiting_on_customer"]
"#;

async fn demo(
    brokers: Option<String>,
    speed: f64,
    http: String,
    duration: Option<std::time::Duration>,
    seed: u64,
    spike_at: Option<humantime::Duration>,
) -> anyhow::Result<()> {
    let mut cfg = Config::from_toml(DEMO_CONFIG, std::path::Path::new("(demo)"))?;
    cfg.http.listen = http
        .parse()
        .with_context(|| format!("--http {http:?} is not an address like 127.0.0.1:9900"))?;
    // The embedded broker lives as long as this function.
    let _cluster;
    match brokers {
        Some(b) => {
            cfg.kafka.brokers = b;
            cfg.kafka.create_topics = true;
            cfg.kafka.topic_partitions = 3;
        }
        None => {
            let c =
                rdkafka::mocking::MockCluster::new(1).context("starting the embedded broker")?;
            let t = &cfg.kafka.topics;
            for topic in t.events.iter().chain([&t.effects, &t.ticks]) {
                c.create_topic(topic, 3, 1)?;
            }
            for topic in [&t.agents, &t.dead_letter] {
                c.create_topic(topic, 1, 1)?;
            }
            cfg.kafka.brokers = c.bootstrap_servers();
            _cluster = c;
            eprintln!("ccpulse demo: embedded broker = librdkafka's in-process mock cluster at {} (a demo convenience, not a production broker; use --brokers for a real Kafka)", cfg.kafka.brokers);
        }
    }
    let base = format!("http://{}", cfg.http.listen);
    eprintln!("ccpulse demo: wallboard {base}/   metrics {base}/metrics   snapshot {base}/api/v1/snapshot   (Ctrl-C stops)");
    let feed = ccpulse::pipeline::feed::Feed {
        brokers: cfg.kafka.brokers.clone(),
        topics: cfg.kafka.topics.clone(),
        sim: sim_config(seed, spike_at),
        speed,
        duration: None,
    };
    let stop = tokio_util::sync::CancellationToken::new();
    let feeder = tokio::spawn(ccpulse::pipeline::feed::run(feed, stop.clone()));
    let r = run_with_export_until(cfg, duration, stop.clone()).await;
    stop.cancel();
    let fed = feeder.await.context("simulator task")?;
    r?;
    fed?;
    Ok(())
}

async fn run_with_export(cfg: Config) -> anyhow::Result<()> {
    run_with_export_until(cfg, None, tokio_util::sync::CancellationToken::new()).await
}

/// `run`, stopping on a signal, after `duration`, or when `extra` fires.
async fn run_with_export_until(
    cfg: Config,
    duration: Option<std::time::Duration>,
    extra: tokio_util::sync::CancellationToken,
) -> anyhow::Result<()> {
    use ccpulse::export::{self, ExportObserver, ExportState, InstancePublisher};

    let metrics = export::MetricsExporter::new(&cfg.export)?.install_global()?;
    let state = Arc::new(ExportState::new(cfg.export.ready_max_lag));
    let leader_topic = cfg.kafka.topics.events.first().cloned().unwrap_or_default();
    let observer = Arc::new(ExportObserver::new(state.clone(), leader_topic));
    let listener = export::http::bind(cfg.http.listen).await?;
    let shutdown = tokio_util::sync::CancellationToken::new();
    let export_stop = tokio_util::sync::CancellationToken::new();
    let (http_cfg, export_cfg) = (cfg.http.clone(), cfg.export.clone());
    let server = tokio::spawn({
        let (stop, pipeline_stop) = (export_stop.clone(), shutdown.clone());
        async move {
            let r = export::run(
                listener,
                state,
                metrics,
                &http_cfg,
                &export_cfg,
                InstancePublisher::new(),
                stop,
            )
            .await;
            if r.is_err() {
                // Without its probes the instance cannot be supervised.
                pipeline_stop.cancel();
            }
            r
        }
    });
    let on_signal = shutdown.clone();
    tokio::spawn(async move {
        let timer = async {
            match duration {
                Some(d) => tokio::time::sleep(d).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = wait_for_signal() => {}
            _ = timer => tracing::info!("demo duration reached"),
            _ = extra.cancelled() => {}
        }
        on_signal.cancel();
    });
    let piped = ccpulse::pipeline::run(cfg, observer, shutdown).await;
    export_stop.cancel();
    let served = server.await.context("export task")?;
    piped?;
    served?;
    Ok(())
}

fn load(config: Option<&PathBuf>) -> anyhow::Result<Config> {
    match config {
        Some(p) => Ok(Config::load(p)?),
        None => Ok(Config::default()),
    }
}

fn run(cmd: Command) -> anyhow::Result<()> {
    match cmd {
        Command::Replay {
            config,
            format,
            window,
            effects,
            strict,
            serve,
            files,
        } => {
            let cfg = load(config.as_ref())?;
            if window != "total" && !cfg.engine.windows.iter().any(|w| w.name == window) {
                let names: Vec<&str> = cfg.engine.windows.iter().map(|w| w.name.as_str()).collect();
                anyhow::bail!(
                    "unknown window {window:?}; configured windows: total, {}",
                    names.join(", ")
                );
            }
            let Some(addr) = serve else {
                let (snap, _report) =
                    ccpulse::replay::replay(&cfg.engine, &files, effects.as_deref(), strict)
                        .context("replay failed")?;
                return print_snapshot(&snap, format, &window);
            };
            replay_and_serve(&cfg, addr, &files, effects.as_deref(), strict, |snap| {
                print_snapshot(snap, format, &window)
            })
        }
        Command::Simulate {
            brokers,
            rate,
            speed,
            duration,
            seed,
            spike_at,
            config,
        } => {
            let cfg = load(config.as_ref())?;
            let mut sim = sim_config(seed, spike_at);
            sim.base_arrivals_per_hour = rate;
            let feed = ccpulse::pipeline::feed::Feed {
                brokers,
                topics: cfg.kafka.topics.clone(),
                sim,
                speed,
                duration: duration.map(|d| d.as_millis() as i64),
            };
            let rt = runtime()?;
            rt.block_on(async move {
                let stop = tokio_util::sync::CancellationToken::new();
                let on_signal = stop.clone();
                tokio::spawn(async move {
                    wait_for_signal().await;
                    on_signal.cancel();
                });
                let n = ccpulse::pipeline::feed::run(feed, stop).await?;
                tracing::info!(events = n, "simulation produced");
                anyhow::Ok(())
            })
        }
        Command::Demo {
            brokers,
            speed,
            http,
            duration,
            seed,
            spike_at,
        } => runtime()?.block_on(demo(
            brokers,
            speed,
            http,
            duration.map(Into::into),
            seed,
            spike_at,
        )),
        Command::Run { config } => {
            let cfg = Config::load(&config)?;
            let rt = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .context("starting the async runtime")?;
            rt.block_on(run_with_export(cfg))
        }
        Command::CheckConfig { file } => {
            Config::load(&file)?;
            println!("{}: ok", file.display());
            Ok(())
        }
    }
}
