//! The `portcullis` binary: parses arguments and calls into the library.

use portcullis::app::{self, config::Settings};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

const USAGE: &str = "usage: portcullis [--config PATH]     run the service
       portcullis openapi [PATH]         write the OpenAPI document (default openapi/openapi.json)
       portcullis healthcheck            exit 0 when /healthz at PORTCULLIS_BIND answers 200, else 1
       portcullis [--config PATH] config check       print the effective configuration, secrets redacted
       portcullis [--config PATH] admin COMMAND ...  create|reset-password|unlock|set-role|disable (admin --help)
       portcullis keys generate --alg hs256|eddsa|es256 [--kid KID] [--state verify-only|active] [--raw]
                                         print a new key as a ring-document entry
       portcullis --version | --help";

enum Command {
    Serve { config: Option<PathBuf> },
    ExportSpec { path: PathBuf },
    Healthcheck,
    ConfigCheck { config: Option<PathBuf> },
    Admin { config: Option<PathBuf>, words: Vec<String> },
    Print(String),
}

fn parse(args: &[String]) -> Result<Command, String> {
    let (config, rest) = match args {
        [flag, path, rest @ ..] if flag == "--config" => (Some(PathBuf::from(path)), rest),
        _ => (None, args),
    };
    match rest {
        [cmd, sub] if cmd == "config" && sub == "check" => return Ok(Command::ConfigCheck { config }),
        [cmd, flag] if cmd == "admin" && (flag == "--help" || flag == "-h") => {
            return Ok(Command::Print(app::cli::admin::USAGE.to_owned()))
        }
        [cmd, words @ ..] if cmd == "admin" => return Ok(Command::Admin { config, words: words.to_vec() }),
        [] if config.is_some() => return Ok(Command::Serve { config }),
        _ => {}
    }
    match args {
        [] => Ok(Command::Serve { config: None }),
        [cmd] if cmd == "openapi" => Ok(Command::ExportSpec { path: PathBuf::from("openapi/openapi.json") }),
        [cmd, path] if cmd == "openapi" => Ok(Command::ExportSpec { path: PathBuf::from(path) }),
        [cmd] if cmd == "healthcheck" => Ok(Command::Healthcheck),
        [cmd, rest @ ..] if cmd == "keys" => app::cli::keys::run(rest).map(Command::Print),
        [flag] if flag == "--version" => Ok(Command::Print(format!("portcullis {}", env!("CARGO_PKG_VERSION")))),
        [flag] if flag == "--help" || flag == "-h" => Ok(Command::Print(USAGE.to_owned())),
        _ => Err(USAGE.to_owned()),
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match parse(&args) {
        Err(usage) => {
            eprintln!("{usage}");
            ExitCode::from(2)
        }
        Ok(Command::Print(text)) => {
            println!("{text}");
            ExitCode::SUCCESS
        }
        Ok(Command::ExportSpec { path }) => match std::fs::write(&path, app::http::spec_json()) {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                eprintln!("cannot write {}: {error}", path.display());
                ExitCode::FAILURE
            }
        },
        Ok(Command::Healthcheck) => {
            let vars = Settings::environment();
            if app::cli::healthcheck::run(vars.get("PORTCULLIS_BIND").map(String::as_str)) {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Ok(Command::Serve { config }) => serve(config.as_deref()),
        Ok(Command::ConfigCheck { config }) => app::cli::config::check(config.as_deref()),
        // Passwords never come through argv, so the command line is safe
        // to record as the actor.
        Ok(Command::Admin { config, words }) => app::cli::admin::run(config.as_deref(), &words, &args.join(" ")),
    }
}

fn serve(config: Option<&Path>) -> ExitCode {
    // Read before logging starts, so that `.env` may set RUST_LOG too.
    let vars = Settings::environment();
    app::telemetry::init(vars.get("RUST_LOG").map(String::as_str));
    let settings = match Settings::load(config, &vars) {
        Ok(settings) => settings,
        Err(error) => {
            tracing::error!(error = %error, "invalid configuration");
            eprintln!("portcullis: invalid configuration: {error}");
            return ExitCode::from(78);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("portcullis: cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async {
        let running = match app::start(&settings).await {
            Ok(running) => running,
            Err(error) => {
                tracing::error!(error = format!("{error:#}"), "start failed");
                eprintln!("portcullis: {error:#}");
                return ExitCode::FAILURE;
            }
        };
        app::shutdown_signal().await;
        // A second signal during the drain stops at once.
        match running.shutdown(app::shutdown_signal()).await {
            Ok(()) => {
                tracing::info!("stopped");
                ExitCode::SUCCESS
            }
            Err(error) => {
                tracing::error!(error = format!("{error:#}"), "shutdown failed");
                ExitCode::FAILURE
            }
        }
    })
}
