//! The `tickitecking` command: parses the command line and runs what it names.

use std::process::ExitCode;

use clap::Parser;
use tickitecking::app;
use tickitecking::config::{Cli, Command, Config};
use tracing_subscriber::EnvFilter;

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

async fn serve(args: tickitecking::config::ServeArgs) -> anyhow::Result<()> {
    let config = Config::from_args(args)?;
    let listener = tokio::net::TcpListener::bind(config.bind)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", config.bind))?;
    app::serve(config, listener, app::shutdown_signal()).await
}

async fn demo(args: tickitecking::config::ServeArgs) -> anyhow::Result<()> {
    let config = Config::from_args(args)?;
    std::fs::create_dir_all(&config.data_dir)?;
    let store = tickitecking::store::open(&config.database).await?;
    let summary = tickitecking::demo::load(store.as_ref()).await;
    store.close().await;
    println!("{}", summary?);
    Ok(())
}
