//! `osprey`: logs and traces for Kubernetes in one binary.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use osprey_server::config::Config;
use osprey_server::listeners::Listener;

mod logs_cli;

// Indexing allocates and frees many small buffers per document; mimalloc handles that with
// less CPU than glibc's allocator (measured in docs/benchmarks.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc's number for `mi_option_purge_delay` (the v3 `mimalloc.h` enumeration; a test
/// checks it against the option's documented default).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;
const PURGE_DELAY_MS: std::ffi::c_long = 100;
/// `mi_option_arena_eager_commit` and `mi_option_allow_thp` in the same enumeration (a test
/// checks their documented defaults).
#[cfg(test)]
const MI_OPTION_ARENA_EAGER_COMMIT: libmimalloc_sys::mi_option_t = 4;
#[cfg(test)]
const MI_OPTION_ALLOW_THP: libmimalloc_sys::mi_option_t = 43;

/// Freed memory goes back to the system after 100 ms instead of mimalloc v3's second: purges
/// happen only when the thread that freed the memory allocates again, and with the longer
/// delay a burst of spans left the server near its peak (403 MiB in the span benchmark, 216
/// MiB with 10 ms). 100 ms against 10 ms, small pages (`bench/run.sh`, `bench/traces.sh`, 200k
/// logs / 1.3M spans): log ingest +10% (fewer pages faulted in and zeroed again), peak RSS
/// 132 vs 116 MiB for logs and 100-107 vs 78-83 MiB for spans. An explicit
/// `MIMALLOC_PURGE_DELAY` in the environment still wins.
#[allow(unsafe_code)] // FFI calls into the allocator, before any other thread exists
fn configure_allocator() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: sets an integer option that mimalloc reads whenever it purges.
        unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, PURGE_DELAY_MS) }
    }
    // mimalloc reads these settings when the process starts, before `main`, so a command
    // that wants them starts itself again with them set (unless they were set by hand).
    let command = std::env::args_os().nth(1);
    let settings = match command.as_ref().and_then(|c| c.to_str()) {
        Some("agent") => &AGENT_ALLOCATOR_SETTINGS[..],
        Some("serve") => &SERVER_ALLOCATOR_SETTINGS[..],
        _ => &[],
    };
    if settings
        .first()
        .is_some_and(|(name, _)| std::env::var_os(name).is_none())
    {
        use std::os::unix::process::CommandExt;
        let mut args = std::env::args_os();
        if let (Ok(exe), Some(_)) = (std::env::current_exe(), args.next()) {
            let error = std::process::Command::new(exe)
                .args(args)
                .envs(settings.iter().copied())
                .exec();
            eprintln!("could not restart with the allocator settings ({error}); going on");
        }
    }
}

/// mimalloc's settings for the agent (environment variables it reads at start-up). The agent
/// runs on every node next to the applications: its footprint is what it uses, not what the
/// allocator keeps at hand — memory committed as touched, purged soon (250 ms: sooner costs
/// CPU in page faults, the agent hands all back when idle anyway), in small pages (a
/// transparent huge page stays resident for one live byte).
const AGENT_ALLOCATOR_SETTINGS: [(&str, &str); 3] = [
    ("MIMALLOC_ALLOW_THP", "0"),
    ("MIMALLOC_ARENA_EAGER_COMMIT", "0"),
    ("MIMALLOC_PURGE_DELAY", "250"),
];

/// The server's: small pages too. With transparent huge pages an idle server held 27 MiB
/// (12 MiB without) and peaked 30% higher during ingest, at the same ingest rate
/// (docs/benchmarks.md).
const SERVER_ALLOCATOR_SETTINGS: [(&str, &str); 1] = [("MIMALLOC_ALLOW_THP", "0")];

/// Gives the memory a burst left free back to the system now (the agent calls it when it has
/// caught up, so that its idle footprint is its working set, not its peak).
#[allow(unsafe_code)] // one FFI call into the allocator
fn hand_back_memory() {
    // SAFETY: mi_collect only walks the calling thread's and the abandoned heaps.
    unsafe { libmimalloc_sys::mi_collect(true) }
}

#[derive(Parser)]
#[command(
    name = "osprey",
    version,
    about = "Logs and traces for Kubernetes in one small binary",
    long_about = "Osprey replaces Fluentd + Elasticsearch + Kibana + Jaeger: it stores logs and traces and \
speaks the protocols your tools already use (Elasticsearch API, and more to come).\n\n\
Quick start:\n  osprey serve                      # all-in-one, data in ./osprey-data\n  \
curl -XPOST localhost:9200/logs/_doc -H 'content-type: application/json' -d '{\"message\":\"hello\"}'\n  \
curl 'localhost:9200/logs/_search?q=hello'"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the all-in-one server: storage plus every enabled listener.
    #[command(after_long_help = listener_help())]
    Serve(ServeArgs),
    /// Run the node agent: follow container log files and ship every line to a server.
    #[command(
        long_about = "Follows log files (Docker json-file and CRI lines, partial lines \
joined; plain text and JSON lines on bare hosts), names each line's pod, namespace and \
container from the kubelet's file names, and delivers the lines as `_bulk` batches to an \
Osprey server's HTTP listener or any Elasticsearch-compatible URL. A file's checkpoint (in \
DATA_DIR/checkpoints.json) moves only past lines the destination acknowledged, so a restart \
or an outage loses nothing; files are known by device and inode, through rotation.\n\n\
Example:\n  osprey agent --server http://osprey:7800 --paths '/var/log/containers/*.log' \
--data-dir /var/lib/osprey-agent"
    )]
    Agent(Box<AgentArgs>),
    /// Search logs from the terminal, oldest first like `kubectl logs`; `-f` follows.
    #[command(
        long_about = "Searches a server's logs through its native API (what the web UI \
uses) and prints the newest lines oldest first, as `kubectl logs` does: time, pod, message. \
The query is Lucene (as in Kibana), or KQL with --kql; a query that does not parse is shown \
with a caret under the column at fault.\n\n\
Examples:\n  osprey logs 'level:error AND kubernetes.namespace_name:shop' --since 1h\n  \
osprey logs -F kubernetes.pod_name=web-1 -F level!=debug -f\n  \
osprey logs --kql 'status >= 500' -i 'logstash-*' -n 20 --json"
    )]
    Logs(logs_cli::LogsArgs),
    /// Print an example configuration file with every option and its default.
    ExampleConfig,
}

#[derive(Parser)]
struct AgentArgs {
    /// Configuration file (TOML): the settings below by their long names with `_` for `-`
    /// (`server`, `paths`, `data_dir`, …). Flags and environment variables win over it.
    #[arg(long, env = "OSPREY_AGENT_CONFIG")]
    config: Option<PathBuf>,
    /// Destination: an Osprey server's HTTP listener (`http://host:7800`) or an
    /// Elasticsearch URL; documents go to `URL/_bulk` (with `--protocol otlp`: an OTLP/HTTP
    /// base URL such as `http://collector:4318`, documents go to `URL/v1/logs`). Required
    /// (here or in the file).
    #[arg(long, env = "OSPREY_AGENT_SERVER")]
    server: Option<String>,
    /// Files to follow, as glob patterns (repeat the flag, or separate with commas).
    #[arg(
        long,
        env = "OSPREY_AGENT_PATHS",
        value_delimiter = ',',
        default_value = "/var/log/containers/*.log"
    )]
    paths: Vec<String>,
    /// Where the agent keeps its checkpoints.
    #[arg(
        long,
        env = "OSPREY_AGENT_DATA_DIR",
        default_value = "osprey-agent-data"
    )]
    data_dir: PathBuf,
    /// Index of each line; %Y, %m and %d are the line's UTC date.
    #[arg(long, env = "OSPREY_AGENT_INDEX", default_value = "logstash-%Y.%m.%d")]
    index: String,
    /// Start files no checkpoint knows at their end (only new lines) instead of their start.
    #[arg(long)]
    from_tail: bool,
    /// Longest line kept whole; longer ones are cut and marked `log.truncated`.
    #[arg(long, default_value_t = 65_536)]
    max_line_bytes: usize,
    /// On-disk buffer (DATA_DIR/buffer), in MiB: while the destination is away, lines are
    /// read on into it (so files rotated or deleted meanwhile are not lost) and sent, oldest
    /// first, when it is back. When it is full, reading waits. 0 turns it off.
    #[arg(long, env = "OSPREY_AGENT_BUFFER_MAX_MIB", default_value_t = 256)]
    buffer_max_mib: u64,
    /// Compression of request bodies: auto (for `_bulk`: zstd for an Osprey server, gzip for
    /// anything else; for OTLP: gzip), zstd, gzip or none.
    #[arg(long, env = "OSPREY_AGENT_COMPRESSION", default_value = "auto")]
    compression: osprey_agent::ship::Compression,
    /// How documents are sent: elasticsearch (`POST URL/_bulk`: an Osprey server's HTTP
    /// listener, Elasticsearch, OpenSearch) or otlp (`POST URL/v1/logs`, OTLP/HTTP protobuf:
    /// an OpenTelemetry Collector or any OTLP endpoint, gzip unless --compression says).
    #[arg(long, env = "OSPREY_AGENT_PROTOCOL", default_value = "elasticsearch")]
    protocol: osprey_agent::ship::Protocol,
    /// Add pod metadata (uid, labels, annotations, image, node) from the Kubernetes API:
    /// in-cluster configuration, else the kubeconfig. On by default inside a pod.
    #[arg(long, env = "OSPREY_AGENT_KUBERNETES")]
    kubernetes: Option<bool>,
    /// The API server's URL (plain, no authentication: for tests and `kubectl proxy`).
    #[arg(long, env = "OSPREY_AGENT_KUBE_API")]
    kube_api: Option<String>,
    /// Watch only the pods of this node (the DaemonSet passes `spec.nodeName`).
    #[arg(long, env = "NODE_NAME")]
    node_name: Option<String>,
    /// Forward spans to this OTLP/HTTP URL (the server's OTLP_HTTP listener,
    /// `http://osprey:4318`), taking the Jaeger agent's place on the UDP ports below.
    #[arg(long, env = "OSPREY_AGENT_SPANS_TO")]
    spans_to: Option<String>,
    /// Jaeger Thrift compact (UDP) address for applications' spans, or `off`.
    #[arg(
        long,
        env = "OSPREY_AGENT_JAEGER_COMPACT_ADDR",
        default_value = "127.0.0.1:6831"
    )]
    jaeger_compact_addr: String,
    /// Jaeger Thrift binary (UDP) address, or `off`.
    #[arg(
        long,
        env = "OSPREY_AGENT_JAEGER_BINARY_ADDR",
        default_value = "127.0.0.1:6832"
    )]
    jaeger_binary_addr: String,
    /// OTLP/HTTP receiver for applications' spans (with `--spans-to`), or `off`.
    #[arg(
        long,
        env = "OSPREY_AGENT_OTLP_HTTP_ADDR",
        default_value = "127.0.0.1:4318"
    )]
    otlp_http_addr: String,
    /// Zipkin v2 receiver for applications' spans (with `--spans-to`), or `off`.
    #[arg(
        long,
        env = "OSPREY_AGENT_ZIPKIN_ADDR",
        default_value = "127.0.0.1:9411"
    )]
    zipkin_addr: String,
    /// Serve Jaeger sampling strategies (what the Jaeger agent serves on 5778), asked of this
    /// URL: the server's SAMPLING listener (`http://osprey:5778`).
    #[arg(long, env = "OSPREY_AGENT_SAMPLING_FROM")]
    sampling_from: Option<String>,
    /// Where applications ask for sampling strategies, or `off`.
    #[arg(
        long,
        env = "OSPREY_AGENT_SAMPLING_ADDR",
        default_value = "127.0.0.1:5778"
    )]
    sampling_addr: String,
    /// Log filter for the agent's own logs.
    #[arg(long, env = "OSPREY_LOG", default_value = "info")]
    log: String,
}

#[derive(Parser)]
struct ServeArgs {
    /// Directory for the write-ahead log, index partitions and catalogue.
    #[arg(long, env = "OSPREY_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// TOML configuration file (see `osprey example-config`).
    #[arg(long, short, env = "OSPREY_CONFIG")]
    config: Option<PathBuf>,
    /// Log format of Osprey's own logs: text or json.
    #[arg(long, env = "OSPREY_LOG_FORMAT")]
    log_format: Option<String>,
    /// Log filter, e.g. `info` or `osprey_store=debug,info` (also RUST_LOG).
    #[arg(long, env = "OSPREY_LOG")]
    log: Option<String>,
}

fn listener_help() -> String {
    let mut text = String::from("Listeners (set OSPREY_<NAME>_ADDR to an address, or \"off\"):\n");
    for listener in Listener::ALL {
        text.push_str(&format!(
            "  {:<28} {:<16} {}\n",
            listener.env_var(),
            listener.default_addr(),
            listener.serves()
        ));
    }
    text
}

fn init_logging(format: &str, level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}

/// Settings of the agent's configuration file, for every one not given as a flag or in the
/// environment (`given`).
fn apply_agent_file(
    args: &mut AgentArgs,
    file: osprey_agent::config_file::AgentFile,
    given: impl Fn(&str) -> bool,
) -> anyhow::Result<()> {
    macro_rules! take {
        ($field:ident) => {
            if let Some(value) = file.$field
                && !given(stringify!($field))
            {
                args.$field = value.into();
            }
        };
    }
    take!(server);
    take!(paths);
    take!(data_dir);
    take!(index);
    take!(from_tail);
    take!(max_line_bytes);
    take!(buffer_max_mib);
    take!(kubernetes);
    take!(kube_api);
    take!(node_name);
    take!(spans_to);
    take!(jaeger_compact_addr);
    take!(jaeger_binary_addr);
    take!(otlp_http_addr);
    take!(zipkin_addr);
    take!(sampling_from);
    take!(sampling_addr);
    take!(log);
    if let Some(compression) = file.compression
        && !given("compression")
    {
        args.compression = compression
            .parse()
            .map_err(|e| anyhow::anyhow!("compression in the configuration file: {e}"))?;
    }
    if let Some(protocol) = file.protocol
        && !given("protocol")
    {
        args.protocol = protocol
            .parse()
            .map_err(|e| anyhow::anyhow!("protocol in the configuration file: {e}"))?;
    }
    Ok(())
}

fn main() -> anyhow::Result<()> {
    configure_allocator();
    let matches = <Cli as clap::CommandFactory>::command().get_matches();
    let cli = <Cli as clap::FromArgMatches>::from_arg_matches(&matches)?;
    match cli.command {
        Command::ExampleConfig => {
            print!("{}", include_str!("../osprey.example.toml"));
            Ok(())
        }
        Command::Logs(args) => logs_cli::run(args),
        Command::Agent(mut args) => {
            if let Some(path) = args.config.clone() {
                let file = osprey_agent::config_file::AgentFile::load(&path)
                    .map_err(anyhow::Error::msg)?;
                let agent_matches = matches.subcommand_matches("agent");
                apply_agent_file(&mut args, file, |id| {
                    agent_matches.is_some_and(|m| {
                        matches!(
                            m.value_source(id),
                            Some(clap::parser::ValueSource::CommandLine)
                                | Some(clap::parser::ValueSource::EnvVariable)
                        )
                    })
                })?;
            }
            init_logging("text", &args.log);
            let server = args.server.clone().context(
                "no destination: pass --server URL, set OSPREY_AGENT_SERVER, or `server` in the configuration file",
            )?;
            let mut config = osprey_agent::run::AgentConfig::new(
                server,
                args.paths.clone(),
                args.data_dir.clone(),
            );
            config.index = args.index;
            config.max_line_bytes = args.max_line_bytes;
            config.buffer_max_bytes = args.buffer_max_mib.saturating_mul(1 << 20);
            config.compression = args.compression;
            config.protocol = args.protocol;
            // Caught up: what the burst allocated goes back to the system at once.
            config.on_idle = Some(hand_back_memory);
            if args.from_tail {
                config.start_at = osprey_agent::tail::StartAt::Tail;
            }
            let in_cluster = std::env::var_os("KUBERNETES_SERVICE_HOST").is_some();
            if args.kube_api.is_some() || args.kubernetes.unwrap_or(in_cluster) {
                // One watch serves both the lines and the spans.
                config.pods = Some(
                    osprey_agent::kube_meta::PodCache::watch(
                        args.kube_api.clone(),
                        args.node_name.clone(),
                    )
                    .context("starting the Kubernetes watch")?,
                );
            }
            let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
            {
                // Signals are awaited on a small runtime of their own; the agent's loop is plain
                // blocking I/O.
                let stop = stop.clone();
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .context("starting the signal handler")?;
                std::thread::Builder::new()
                    .name("signals".into())
                    .spawn(move || {
                        runtime.block_on(shutdown_signal());
                        stop.store(true, std::sync::atomic::Ordering::Relaxed);
                    })
                    .context("starting the signal handler")?;
            }
            let address = |text: &str| -> anyhow::Result<Option<std::net::SocketAddr>> {
                if text.eq_ignore_ascii_case("off") {
                    return Ok(None);
                }
                Ok(Some(text.parse().with_context(|| {
                    format!("{text:?} is not an address like 127.0.0.1:6831 or \"off\"")
                })?))
            };
            if let (Some(upstream), Some(addr)) =
                (&args.sampling_from, address(&args.sampling_addr)?)
            {
                osprey_agent::sampling::start(addr, upstream)
                    .with_context(|| format!("serving sampling strategies on {addr}"))?;
            }
            if let Some(otlp_url) = args.spans_to {
                osprey_agent::spans::start(
                    osprey_agent::spans::SpanForwarding {
                        otlp_url,
                        compact: address(&args.jaeger_compact_addr)?,
                        binary: address(&args.jaeger_binary_addr)?,
                        otlp_http: address(&args.otlp_http_addr)?,
                        zipkin: address(&args.zipkin_addr)?,
                        node: args.node_name.clone(),
                        pods: config.pods.clone(),
                    },
                    stop.clone(),
                )?;
            }
            let stats = std::sync::Arc::new(osprey_agent::run::AgentStats::default());
            osprey_agent::run::run(&config, &stop, &stats)?;
            Ok(())
        }
        Command::Serve(args) => {
            let mut config = match &args.config {
                Some(path) => Config::from_file(path)?,
                None => Config::default(),
            };
            config.apply_env(|name| std::env::var(name).ok());
            if let Some(dir) = args.data_dir {
                config.data_dir = dir;
            }
            if let Some(format) = args.log_format {
                config.log.format = format;
            }
            if let Some(level) = args.log {
                config.log.level = level;
            }
            config.validate()?;
            init_logging(&config.log.format, &config.log.level);
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .thread_name("osprey-io")
                .build()
                .context("starting the async runtime")?;
            runtime.block_on(osprey_server::serve(config, shutdown_signal()))?;
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[allow(unsafe_code)] // reads an allocator option
    fn the_purge_delay_option_number_is_mimallocs() {
        // SAFETY: reads an integer option.
        let default = unsafe { libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY) };
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
            assert_eq!(
                default, 1_000,
                "mimalloc v3 documents a 1000 ms purge delay"
            );
        }
        // SAFETY: as above.
        let (eager, thp) = unsafe {
            (
                libmimalloc_sys::mi_option_get(MI_OPTION_ARENA_EAGER_COMMIT),
                libmimalloc_sys::mi_option_get(MI_OPTION_ALLOW_THP),
            )
        };
        assert_eq!(
            (eager, thp),
            (2, 1),
            "the documented defaults of arena_eager_commit and allow_thp"
        );
        configure_allocator();
        // SAFETY: as above.
        let now = unsafe { libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY) };
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
            assert_eq!(now, PURGE_DELAY_MS);
        }
    }
}
