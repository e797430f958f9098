//! The `tickitecking` command: parses the command line and runs what it names.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tickitecking::app;
use tickitecking::backup::{self, BackupPlace};
use tickitecking::config::{Config, LogFormat, ServeArgs};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::writer::BoxMakeWriter;

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
    /// Load a demo promoter, two halls, an arena and a few upcoming concerts, then exit
    /// (idempotent).
    Demo(ServeArgs),
    /// Load a running instance with an on-sale scenario and report throughput and latency.
    Bench(tickitecking::bench::BenchArgs),
    /// Write a consistent backup of the SQLite database (with local posters and the
    /// generated JWT secret) while the service sells, then exit.
    Backup(BackupArgs),
    /// Put a backup in place of the SQLite database: refused while a service runs on it,
    /// and unless the backup is sound and its schema known to this binary.
    Restore(RestoreArgs),
}

/// Flags of `tickitecking backup`: where to, and the service's own settings (the same
/// flags and variables as `serve`) to find what to back up.
#[derive(Debug, clap::Args)]
pub struct BackupArgs {
    /// A file, a folder (a dated file is written in it) or `s3://bucket/prefix`.
    #[arg(long)]
    pub to: String,
    #[command(flatten)]
    pub serve: ServeArgs,
}

/// Flags of `tickitecking restore`: where from, and the service's own settings to find
/// where the data goes.
#[derive(Debug, clap::Args)]
pub struct RestoreArgs {
    /// A backup file, a folder or `s3://bucket/prefix` (their newest backup), or
    /// `s3://bucket/key.sqlite`.
    #[arg(long)]
    pub from: String,
    #[command(flatten)]
    pub serve: ServeArgs,
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
/// fixed threshold keeps large blocks mapped on their own, given back when freed. It stays
/// at glibc's starting 128 KiB: the tables that grow by doubling with an on-sale (a waiting
/// room's line, the verified-token cache) otherwise leave each outgrown half between
/// 128 KiB and the threshold in the heap, resident (a room of 100,000 fans: 244 bytes a
/// fan instead of 187).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn pin_mmap_threshold() {
    // SAFETY: mallopt only sets an allocator tunable; it runs before any other thread.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 128 << 10);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn pin_mmap_threshold() {}

async fn run() -> ExitCode {
    let cli = Cli::parse();
    let log_format = match &cli.command {
        Some(Command::Serve(args) | Command::Demo(args)) => args.log_format,
        Some(Command::Backup(BackupArgs { serve, .. }) | Command::Restore(RestoreArgs { serve, .. })) => {
            serve.log_format
        }
        Some(Command::Bench(_)) => LogFormat::Text,
        None => cli.serve.log_format,
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // The one-shot commands print their result on stdout; their log goes beside it.
    let writer = match &cli.command {
        Some(Command::Backup(_) | Command::Restore(_)) => BoxMakeWriter::new(std::io::stderr),
        _ => BoxMakeWriter::new(std::io::stdout),
    };
    let logs = tracing_subscriber::fmt().with_env_filter(filter).with_writer(writer);
    match log_format {
        LogFormat::Text => logs.init(),
        LogFormat::Json => logs.json().init(),
    }
    let result = match cli.command {
        Some(Command::Serve(args)) => serve(args).await,
        Some(Command::Demo(args)) => demo(args).await,
        Some(Command::Bench(args)) => tickitecking::bench::run(args).await,
        Some(Command::Backup(args)) => take_backup(args).await,
        Some(Command::Restore(args)) => restore(args).await,
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

async fn take_backup(args: BackupArgs) -> anyhow::Result<()> {
    let place = BackupPlace::parse(&args.to)?;
    let config = Config::from_args(args.serve)?;
    let source = backup::Source::from_config(&config)?;
    let taken = backup::take(&source, &place).await?;
    println!("{taken}");
    Ok(())
}

async fn restore(args: RestoreArgs) -> anyhow::Result<()> {
    let place = BackupPlace::parse(&args.from)?;
    let config = Config::from_args(args.serve)?;
    let target = backup::restore_target(&config)?;
    let restored = backup::restore(&place, &target).await?;
    println!(
        "restored {} onto {} (schema version {}, migrated to this binary's at the next start; {} poster file(s){}){}",
        restored.from,
        target.database.display(),
        restored.schema_version,
        restored.posters,
        backup::secrets_named(&restored.secrets),
        restored
            .previous
            .map(|p| format!("; the database it replaced is kept as {}", p.display()))
            .unwrap_or_default(),
    );
    Ok(())
}
