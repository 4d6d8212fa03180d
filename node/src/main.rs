//! The `iris` binary: parses the command line and runs the node until SIGINT/SIGTERM.

use clap::Parser;
use iris_node::cli::{Cli, Command};
use iris_node::{keys, Node};
use std::io::Write;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Keygen { out, bits }) => keygen(&out, bits),
        None => run(&cli.run),
    }
}

fn keygen(out: &std::path::Path, bits: usize) -> ExitCode {
    let result = keys::generate_private_key(bits).and_then(|key| keys::write_private_key_pem(&key, out));
    match result {
        Ok(()) => {
            println!("wrote a {bits}-bit network key to {}", out.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("iris: error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging(level: Option<&str>) {
    use tracing_subscriber::EnvFilter;
    let filter = match level {
        Some(level) => EnvFilter::try_new(level),
        None => EnvFilter::try_from_default_env().or_else(|_| EnvFilter::try_new("info")),
    }
    .unwrap_or_else(|e| {
        eprintln!("iris: warning: bad log filter ({e}); using info");
        EnvFilter::new("info")
    });
    use std::io::IsTerminal;
    let ansi = std::io::stderr().is_terminal();
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi)
        .init();
}

fn run(args: &iris_node::cli::RunArgs) -> ExitCode {
    init_logging(args.log.as_deref());
    let config = match args.to_config() {
        Ok(config) => config,
        Err(e) => {
            eprintln!("iris: error: {e}");
            eprintln!("Run `iris --help` for usage.");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("iris: error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        let mut signals = match iris_node::shutdown::OsSignals::install() {
            Ok(signals) => signals,
            Err(e) => {
                eprintln!("iris: error: cannot install signal handlers: {e}");
                return ExitCode::FAILURE;
            }
        };
        let node = match Node::start(config).await {
            Ok(node) => node,
            Err(e) => {
                eprintln!("iris: error: {e}");
                return ExitCode::FAILURE;
            }
        };
        // The one line on stdout: scripts and tests wait for it and parse the port.
        let mut stdout = std::io::stdout().lock();
        let _ = writeln!(stdout, "iris relay listening on port {}", node.relay_port());
        let _ = stdout.flush();
        drop(stdout);
        let signal = signals.recv().await;
        tracing::info!(signal, "shutting down");
        node.shutdown().await;
        ExitCode::SUCCESS
    })
}
