//! The `tickitecking` command: parses the command line and runs what it names.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tickitecking::app;
use tickitecking::config::{Config, ServeArgs};
use tracing_subscriber::EnvFilter;

/// The `tickitecking` command line.
#[derive(Debug, Parser)]
#[command(
    name = "tickitecking",
    version,
    about = "Concert ticket booking service: every seat sold at most once",
    long_about = "Concert ticket booking service. With no command it serves, like `tickitecking serve`.\n\
                  Every flag also reads an environment variable; a flag wins over its variable.",
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub serve: ServeArgs,
}

/// What to do.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP service (the default when no command is given).
    Serve(ServeArgs),
    /// Load a demo promoter, two venues and a few upcoming concerts, then exit (idempotent).
    Demo(ServeArgs),
    /// Load a running instance with an on-sale scenario and report throughput and latency.
    Bench(tickitecking::bench::BenchArgs),
}

fn main() -> ExitCode {
    pin_mmap_threshold();
    match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime.block_on(run()),
        Err(e) => {
            eprintln!("cannot start the async runtime: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Argon2 works through a 19 MiB block per password hash. After the first such block is
/// freed, glibc's allocator raises its mmap threshold above that size, so later blocks come
/// from the heap and fragment it: a few hundred logins left 300 MB resident for good. A
/// fixed threshold keeps large blocks mapped on their own, given back when freed.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn pin_mmap_threshold() {
    // SAFETY: mallopt only sets an allocator tunable; it runs before any other thread.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn pin_mmap_threshold() {}

async fn run() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")))
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Some(Command::Serve(args)) => serve(args).await,
        Some(Command::Demo(args)) => demo(args).await,
        Some(Command::Bench(args)) => tickitecking::bench::run(args).await,
        None => serve(cli.serve).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Connections the kernel may hold ready for `accept` (it caps this at `somaxconn`). An
/// on-sale opens thousands of connections in the same second; past the queue the kernel
/// drops the handshake and the client waits a full second before trying again. (tokio's
/// default is 1,024; the bench saw it overflow with 1,000 fans arriving at once.)
const LISTEN_BACKLOG: u32 = 4096;

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let config = Config::from_args(args)?;
    let listener =
        listen(config.bind).map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", config.bind))?;
    app::serve(config, listener, app::shutdown_signal()).await
}

/// A listener on `address` as `TcpListener::bind` makes one (address reuse on Unix), with a
/// deeper accept queue.
fn listen(address: std::net::SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    let socket = match address {
        std::net::SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
        std::net::SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
    };
    #[cfg(unix)]
    socket.set_reuseaddr(true)?;
    socket.bind(address)?;
    socket.listen(LISTEN_BACKLOG)
}

async fn demo(args: ServeArgs) -> anyhow::Result<()> {
    let config = Config::from_args(args)?;
    std::fs::create_dir_all(&config.data_dir)?;
    let store = tickitecking::store::open(&config.database).await?;
    let summary = tickitecking::demo::load(store.as_ref()).await;
    store.close().await;
    println!("{}", summary?);
    Ok(())
}
