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
async fn run_with_export(cfg: Config) -> anyhow::Result<()> {
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
        wait_for_signal().await;
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
