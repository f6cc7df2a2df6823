//! `confab`: the command line of a Confab node.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::{Parser, Subcommand};
use confab_node::chat::moderation;
use confab_node::config::Settings;
use confab_node::startup::{self, Application, BindError};
use confab_node::{telemetry, tls};

/// mimalloc rather than the system allocator: glibc's keeps the 19 MiB that every argon2id
/// password hash works in (hundreds of MB after a burst of registrations), where mimalloc
/// gives it back; it is also faster at the many small allocations of message handling.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Confab: a distributed chat server speaking Socket.IO.
///
/// Settings come from the TOML file given with --config (or CONFAB_CONFIG) and from
/// CONFAB_* environment variables, which win. With neither CONFAB_REDIS_URL nor
/// CONFAB_NATS_URL set, the node runs standalone on a local SQLite file.
#[derive(Debug, Parser)]
#[command(name = "confab", version, about, long_about)]
struct Cli {
    /// A TOML file with settings (same names as the CONFAB_* variables, lower-case,
    /// without the prefix, e.g. `database_url = "postgres://..."`).
    #[arg(long, env = "CONFAB_CONFIG", global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server (applies pending migrations first, unless --no-migrate).
    Serve {
        /// Do not apply pending migrations at start (run `confab migrate` separately).
        #[arg(long)]
        no_migrate: bool,
    },
    /// Apply pending database migrations and exit.
    Migrate,
    /// Print the effective settings, with secrets hidden, and exit.
    Config,
    /// Manage server administrators (applies pending migrations first).
    Admin {
        #[command(subcommand)]
        action: AdminAction,
    },
}

#[derive(Debug, Subcommand)]
enum AdminAction {
    /// Make USERNAME a server administrator (recorded in the audit log).
    Grant {
        /// The user's username.
        username: String,
    },
    /// Make USERNAME an ordinary user again (recorded in the audit log).
    Revoke {
        /// The user's username.
        username: String,
    },
}

/// The exit code of a configuration that cannot work: invalid settings, an unknown key in
/// the file, a listen address that cannot be bound. Anything else that fails exits with 1.
const CONFIGURATION_ERROR: u8 = 2;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let settings = match Settings::load(cli.config.as_deref()) {
        Ok(settings) => settings,
        Err(error) => return fail(&error, CONFIGURATION_ERROR),
    };
    match run(cli.command, &settings) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) if error.is::<BindError>() => fail(&error, CONFIGURATION_ERROR),
        Err(error) => fail(&error, 1),
    }
}

/// Prints `error` on one line and gives `code`.
fn fail(error: &anyhow::Error, code: u8) -> ExitCode {
    eprintln!("error: {error:#}");
    ExitCode::from(code)
}

fn run(command: Command, settings: &Settings) -> Result<()> {
    // Before anything opens a TLS connection, including the OTLP exporter's HTTP client.
    tls::install_crypto_provider();
    match command {
        Command::Config => {
            println!("{settings:#?}");
            Ok(())
        }
        Command::Serve { no_migrate } => with_runtime(settings, async {
            Application::build(settings, !no_migrate)
                .await?
                .run_until_stopped()
                .await
        }),
        Command::Admin { action } => with_runtime(settings, async {
            let (username, admin) = match &action {
                AdminAction::Grant { username } => (username, true),
                AdminAction::Revoke { username } => (username, false),
            };
            let db = startup::connect(&settings.database_url, &settings.database_pool()).await?;
            startup::migrate(&db).await?;
            moderation::grant(&db, username, admin)
                .await
                .map_err(|error| anyhow::anyhow!("{}", error.message))?;
            let done = if admin { "is now" } else { "is no longer" };
            println!("{} {done} a server administrator", username.to_lowercase());
            db.close().await?;
            Ok(())
        }),
        Command::Migrate => with_runtime(settings, async {
            let db = startup::connect(&settings.database_url, &settings.database_pool()).await?;
            let applied = startup::migrate(&db).await?;
            println!("applied {applied} migration(s)");
            db.close().await?;
            Ok(())
        }),
    }
}

/// Runs `work` on the actix system, with logging and tracing installed around it.
fn with_runtime(settings: &Settings, work: impl Future<Output = Result<()>>) -> Result<()> {
    let _telemetry = telemetry::init(settings.log_format, &settings.node_id)?;
    actix_web::rt::System::new().block_on(work)
}
