//! The `ccpulse` command line: parse the arguments, set up logging, and
//! call the assembly point ([`ccpulse::app`]). The binary's edge, and the
//! only place that uses `anyhow`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use tracing_subscriber::filter::filter_fn;
use tracing_subscriber::prelude::*;
use tracing_subscriber::EnvFilter;

use ccpulse::app;
use ccpulse::config::Config;
use ccpulse_core::engine::Snapshot;

/// mimalloc instead of the system allocator: the fold allocates and frees
/// small strings and map entries per event, and records move between the
/// poll thread and the partition tasks; glibc's malloc and free were 16 %
/// of the service's CPU under load (README, Performance).
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Transparent huge pages off for this process (unless
/// `MIMALLOC_ALLOW_THP` is set, which mimalloc then reads itself). The
/// fold's maps grow as state fills, and with huge pages each growth made
/// the kernel zero 2 MiB at the first touch: 8 % of the service's CPU while
/// catching up (perf). Side by side in the throughput bench: 9 % less CPU
/// per event and a 20 % lower peak RSS without them. The kernel's flag
/// also covers memory mapped before `main`, which mimalloc, whose own
/// option is read before `main`, may have advised for huge pages.
fn no_huge_pages() {
    if std::env::var_os("MIMALLOC_ALLOW_THP").is_some() {
        return;
    }
    // SAFETY: PR_SET_THP_DISABLE takes integer arguments and only sets a
    // flag of this process; a kernel without it returns an error.
    unsafe { libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0) };
}

#[derive(Parser)]
#[command(
    name = "ccpulse",
    version,
    about = "Live contact-center KPIs, SLA timers and reassignments from an event log",
    after_help = "Logs go to stderr; CCPULSE_LOG sets the level (e.g. CCPULSE_LOG=debug). A fatal error is the last line, in the log format."
)]
struct Cli {
    /// Log format on stderr, fatal errors included ("json": one JSON object
    /// per line, for log collectors).
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// How `replay` reads its files.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum InputFormat {
    /// ccpulse events: JSON Lines (.jsonl, .ndjson) or length-delimited
    /// protobuf (.pb, .bin), picked by extension.
    Events,
    /// Asterisk app_queue queue_log (time|callid|queue|agent|event|data...);
    /// give rotated files oldest first.
    AsteriskQueueLog,
    /// Vendor JSON records (JSON Lines, or a JSON array per file) through
    /// the declarative mapping given with --mapping (shipped ones in
    /// examples/mappings/).
    JsonMapping,
}

/// The replay input format, with the mapping loaded for `json-mapping`.
fn replay_input(
    f: InputFormat,
    mapping: Option<&std::path::Path>,
) -> anyhow::Result<app::replay::InputFormat> {
    Ok(match (f, mapping) {
        (InputFormat::Events, None) => app::replay::InputFormat::Events,
        (InputFormat::AsteriskQueueLog, None) => app::replay::InputFormat::AsteriskQueueLog,
        (InputFormat::JsonMapping, Some(path)) => app::replay::json_mapping(path)?,
        (InputFormat::JsonMapping, None) => anyhow::bail!(
            "--input-format json-mapping needs --mapping FILE (e.g. examples/mappings/twilio-taskrouter.toml)"
        ),
        (_, Some(_)) => anyhow::bail!(
            "--mapping is read only with --input-format json-mapping (fix: add it, or drop --mapping)"
        ),
    })
}

#[derive(Clone, Copy, ValueEnum)]
enum Output {
    /// The snapshot as JSON (as the HTTP API serves it).
    Json,
    /// A table per queue x channel for one window.
    Table,
}

/// `host:port` or `ip:port` for a listener, e.g. `localhost:9900`.
fn listen_address(s: &str) -> Result<SocketAddr, String> {
    app::listen_address(s).map_err(|e| e.to_string())
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
        /// Fail (exit 1) if any record cannot be decoded (or queue_log line
        /// mapped).
        #[arg(long)]
        strict: bool,
        /// How the files are read.
        #[arg(long, value_enum, default_value_t = InputFormat::Events)]
        input_format: InputFormat,
        /// The mapping (TOML) for --input-format json-mapping.
        #[arg(long, value_name = "FILE")]
        mapping: Option<PathBuf>,
        /// After folding, keep serving /metrics, probes and the JSON API of
        /// the final state on this address (e.g. 127.0.0.1:9900 or
        /// localhost:9900) until Ctrl-C or SIGTERM. Everything in the files
        /// is exported; [http] settings (token, limits) come from --config.
        #[arg(long, value_name = "ADDR", value_parser = listen_address)]
        serve: Option<SocketAddr>,
        /// Event files, folded in the order given.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// A simulated contact center, live: an embedded broker (librdkafka's
    /// in-process mock cluster, demo only), the simulator, the full `run`
    /// pipeline and the HTTP server with the wallboard.
    Demo {
        /// Use this Kafka (host:port,...) instead of the embedded broker;
        /// the topics are created.
        #[arg(long, value_name = "HOST:PORT")]
        brokers: Option<String>,
        /// Simulated seconds per real second.
        #[arg(long, default_value_t = 60.0)]
        speed: f64,
        /// HTTP address for the wallboard, metrics and API, e.g.
        /// 127.0.0.1:9900 or localhost:9900 (beyond loopback the API is
        /// open to the network: a warning is logged).
        #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:9900", value_parser = listen_address)]
        http: SocketAddr,
        /// Stop after this long (real time), e.g. "60s"; default: until Ctrl-C.
        #[arg(long)]
        duration: Option<humantime::Duration>,
        /// Random seed of the simulated center (same seed, same traffic).
        #[arg(long, default_value_t = 7)]
        seed: u64,
        /// Start an abandonment spike this long into the simulated day
        /// (e.g. "30m"). It lasts long enough in real time for the shipped
        /// AbandonmentSpike alert to fire (see deploy/README.md).
        #[arg(long)]
        spike_at: Option<humantime::Duration>,
    },
    /// Produce simulated contact-center traffic to a Kafka cluster.
    Simulate {
        /// Kafka bootstrap brokers, e.g. kafka:9092.
        #[arg(long, value_name = "HOST:PORT")]
        brokers: String,
        /// Base arrivals per simulated hour (scaled by the intraday and
        /// weekday curves; the agents are scaled with it).
        #[arg(long, default_value_t = 400.0)]
        rate: f64,
        /// Simulated seconds per real second.
        #[arg(long, default_value_t = 1.0)]
        speed: f64,
        /// Simulated time to produce, e.g. "8h"; default: until Ctrl-C.
        #[arg(long)]
        duration: Option<humantime::Duration>,
        /// Random seed of the simulated center (same seed, same traffic).
        #[arg(long, default_value_t = 7)]
        seed: u64,
        /// Start an abandonment spike this long into the simulated time
        /// (e.g. "30m"). It lasts long enough in real time for the shipped
        /// AbandonmentSpike alert to fire.
        #[arg(long)]
        spike_at: Option<humantime::Duration>,
        /// Topic names from this config's [kafka.topics] (defaults otherwise).
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// Follow a live Asterisk queue_log (like tail -F: rotation and
    /// truncation handled) and produce the mapped events to the input
    /// topics, until SIGTERM/SIGINT. The position is kept in --state, so a
    /// restart resumes where the last acknowledged batch ended.
    FollowQueueLog {
        /// Configuration file: [kafka] brokers, properties and topics,
        /// [input] limits.
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// Kafka bootstrap brokers (overrides kafka.brokers).
        #[arg(long, value_name = "HOST:PORT")]
        brokers: Option<String>,
        /// The queue_log to follow.
        #[arg(long, default_value = "/var/log/asterisk/queue_log")]
        file: PathBuf,
        /// Where the position (file identity, offset, mapper state) is kept.
        #[arg(long)]
        state: PathBuf,
        /// Without a saved position, start at the start of the file (by
        /// default: its end, only new lines).
        #[arg(long)]
        from_start: bool,
    },
    /// Consume vendor events (webhook payloads, event streams) from Kafka,
    /// map them with a declarative mapping and produce ccpulse events to
    /// the input topics, until SIGTERM/SIGINT. At-least-once: a vendor
    /// offset is committed after its events are acknowledged; unmappable
    /// records go to the dead-letter topic with the reason.
    Bridge {
        /// Configuration file: [kafka] brokers, properties and topics.
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// The mapping (TOML), e.g. examples/mappings/amazon-connect.toml.
        #[arg(long, value_name = "FILE")]
        mapping: PathBuf,
        /// Vendor topic to read (repeat for several).
        #[arg(long = "topic", value_name = "TOPIC", required = true)]
        topics: Vec<String>,
        /// Consumer group (default: ccpulse-bridge-<mapping name>).
        #[arg(long)]
        group_id: Option<String>,
    },
    /// Consume from Kafka, fold, and produce SLA effects until SIGTERM/SIGINT.
    Run {
        /// Configuration file.
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Operate on the engine checkpoints (see README, Checkpoints).
    #[command(subcommand)]
    Checkpoint(CheckpointCommand),
    /// Validate a configuration file (or a vendor mapping for --mapping)
    /// and report every problem (syntax, types, unresolved ${...} secrets,
    /// values) with its place and fix.
    CheckConfig {
        /// The configuration file (ccpulse.toml), or a mapping (a file
        /// with [[rules]], e.g. examples/mappings/twilio-taskrouter.toml).
        file: PathBuf,
    },
}

#[derive(Subcommand)]
enum CheckpointCommand {
    /// Print what each stored checkpoint holds (partition, covered offset,
    /// watermark, counts, bytes by part, format version) and whether this
    /// configuration could restore it.
    Inspect {
        /// Configuration file: the brokers, the checkpoints topic and the
        /// engine settings a restore would use.
        #[arg(long, short)]
        config: PathBuf,
        /// Read this saved checkpoint file instead of the topic.
        #[arg(long)]
        file: Option<PathBuf>,
        /// Also write each checkpoint's bytes into this directory.
        #[arg(long, value_name = "DIR", conflicts_with = "file")]
        save: Option<PathBuf>,
        #[arg(long, value_enum, default_value_t = Output::Table)]
        format: Output,
    },
}

fn main() -> ExitCode {
    no_huge_pages();
    let cli = Cli::parse();
    let filter = EnvFilter::try_from_env("CCPULSE_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    // The pipeline closes its group consumer itself, within a deadline;
    // the rdkafka crate's drop then tries to close it again and logs the
    // refusal as an error on every stop: the one error that module logs.
    let not_double_close = filter_fn(|m| {
        !(m.target() == "rdkafka::consumer::base_consumer" && *m.level() == tracing::Level::ERROR)
    });
    // Colours only on a terminal: log files and collectors get plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(ansi);
    let registry = tracing_subscriber::registry().with(filter);
    match cli.log_format {
        LogFormat::Text => registry.with(fmt.with_filter(not_double_close)).init(),
        LogFormat::Json => registry
            .with(fmt.json().with_filter(not_double_close))
            .init(),
    }
    match run(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            fatal(&e, cli.log_format);
            ExitCode::FAILURE
        }
    }
}

/// The error and its causes, each said once: a cause whose text the
/// message already contains is not repeated.
fn message(e: &anyhow::Error) -> String {
    let mut msg = e.to_string();
    for cause in e.chain().skip(1) {
        let c = cause.to_string();
        if !msg.contains(&c) {
            msg.push_str(": ");
            msg.push_str(&c);
        }
    }
    msg
}

/// The config problems behind `e`, if that is what it is.
fn config_problems(e: &anyhow::Error) -> &[ccpulse::config::Located] {
    if let Some(c) = e.downcast_ref::<ccpulse::config::ConfigError>() {
        return c.problems();
    }
    match e.downcast_ref::<app::AppError>() {
        Some(app::AppError::Config(c)) => c.problems(),
        _ => &[],
    }
}

/// Report a fatal error on stderr in the log format: a JSON line like the
/// log's (with each config problem as a field) or `error: ...`.
fn fatal(e: &anyhow::Error, format: LogFormat) {
    let msg = message(e);
    if format == LogFormat::Text {
        eprintln!("error: {msg}");
        return;
    }
    let problems: Vec<serde_json::Value> = config_problems(e)
        .iter()
        .map(|p| {
            serde_json::json!({
                "field": p.issue.field,
                "problem": p.issue.problem,
                "fix": p.issue.fix,
                "line": p.at.map(|a| a.line),
                "column": p.at.map(|a| a.column),
            })
        })
        .collect();
    let mut fields = serde_json::json!({ "message": "fatal error", "error": msg });
    if !problems.is_empty() {
        fields["problems"] = serde_json::Value::Array(problems);
    }
    let line = serde_json::json!({
        "timestamp": humantime::format_rfc3339_micros(std::time::SystemTime::now()).to_string(),
        "level": "ERROR",
        "fields": fields,
        "target": "ccpulse",
    });
    eprintln!("{line}");
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

fn print_snapshot(snap: &Snapshot, format: Output, window: &str) -> anyhow::Result<()> {
    let text = match format {
        Output::Json => serde_json::to_string_pretty(snap)? + "\n",
        Output::Table => app::replay::table(snap, window),
    };
    print_stdout(&text)
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
            input_format,
            mapping,
            serve,
            files,
        } => {
            let input_format = replay_input(input_format, mapping.as_deref())?;
            let cfg = load(config.as_ref())?;
            if window != "total" && !cfg.engine.windows.iter().any(|w| w.name == window) {
                let names: Vec<&str> = cfg.engine.windows.iter().map(|w| w.name.as_str()).collect();
                anyhow::bail!(
                    "unknown window {window:?}; configured windows: total, {}",
                    names.join(", ")
                );
            }
            let Some(addr) = serve else {
                let snap =
                    app::replay::replay(&cfg, &input_format, &files, effects.as_deref(), strict)?;
                return print_snapshot(&snap, format, &window);
            };
            let folded =
                app::replay::Folded::fold(cfg, &input_format, &files, effects.as_deref(), strict)?;
            print_snapshot(folded.snapshot(), format, &window)?;
            app::block_on(folded.serve(addr, app::shutdown_signal()))?;
            Ok(())
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
            let opts = app::simulate::SimulateOptions {
                brokers,
                rate,
                speed,
                duration: duration.map(Into::into),
                seed,
                spike_at: spike_at.map(Into::into),
            };
            app::block_on(app::simulate::simulate(opts, &cfg, app::shutdown_signal()))?;
            Ok(())
        }
        Command::Demo {
            brokers,
            speed,
            http,
            duration,
            seed,
            spike_at,
        } => {
            let opts = app::demo::DemoOptions {
                brokers,
                speed,
                http,
                duration: duration.map(Into::into),
                seed,
                spike_at: spike_at.map(Into::into),
            };
            app::block_on(app::demo::demo(opts, app::shutdown_signal()))?;
            Ok(())
        }
        Command::FollowQueueLog {
            config,
            brokers,
            file,
            state,
            from_start,
        } => {
            let cfg = load(config.as_ref())?;
            let opts = app::follow::FollowOptions {
                file,
                state,
                from_start,
                brokers,
                poll_interval: std::time::Duration::from_millis(250),
            };
            app::block_on(app::follow::follow(opts, &cfg, app::shutdown_signal()))?;
            Ok(())
        }
        Command::Bridge {
            config,
            mapping,
            topics,
            group_id,
        } => {
            let cfg = load(config.as_ref())?;
            let opts = app::bridge::BridgeOptions {
                mapping,
                topics,
                group_id,
            };
            app::block_on(app::bridge::bridge(opts, &cfg, app::shutdown_signal()))?;
            Ok(())
        }
        Command::Run { config } => {
            let cfg = Config::load(&config)?;
            app::block_on(app::serve(cfg, app::shutdown_signal()))?;
            Ok(())
        }
        Command::Checkpoint(CheckpointCommand::Inspect {
            config,
            file,
            save,
            format,
        }) => {
            let cfg = Config::load(&config)?;
            let all = match file {
                Some(f) => vec![app::checkpoint::inspect_file(&cfg, &f)?],
                None => app::checkpoint::inspect_topic(&cfg, save.as_deref())?,
            };
            let text = match format {
                Output::Json => serde_json::to_string_pretty(&all)? + "\n",
                Output::Table => app::checkpoint::table(&all),
            };
            print_stdout(&text)
        }
        Command::CheckConfig { file } => {
            let kind = app::check::check(&file)?;
            println!("{}: ok ({})", file.display(), kind.as_str());
            Ok(())
        }
    }
}
