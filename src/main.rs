//! The `ccpulse` command line: the binary's edge, and the only place that
//! uses `anyhow`.

use std::path::PathBuf;
use std::process::ExitCode;

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
            let (snap, _report) =
                ccpulse::replay::replay(&cfg.engine, &files, effects.as_deref(), strict)
                    .context("replay failed")?;
            let text = match format {
                Output::Json => serde_json::to_string_pretty(&snap)? + "\n",
                Output::Table => ccpulse::replay::table(&snap, &window),
            };
            print_stdout(&text)
        }
        Command::Run { config } => {
            let cfg = Config::load(&config)?;
            let rt = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .context("starting the async runtime")?;
            rt.block_on(async move {
                let shutdown = tokio_util::sync::CancellationToken::new();
                let on_signal = shutdown.clone();
                tokio::spawn(async move {
                    wait_for_signal().await;
                    on_signal.cancel();
                });
                ccpulse::pipeline::run(
                    cfg,
                    std::sync::Arc::new(ccpulse::pipeline::NoObserver),
                    shutdown,
                )
                .await
            })?;
            Ok(())
        }
        Command::CheckConfig { file } => {
            Config::load(&file)?;
            println!("{}: ok", file.display());
            Ok(())
        }
    }
}
