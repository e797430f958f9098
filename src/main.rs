//! The `tickitecking` command: parses the command line and runs what it names.

use std::process::ExitCode;

use clap::Parser;
use tickitecking::app;
use tickitecking::config::{Cli, Command, Config};
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> ExitCode {
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
