//! The `audit` binary: the scheduled Lambda inside Lambda (`AWS_LAMBDA_RUNTIME_API` set), the
//! command line everywhere else.

use std::process::ExitCode;

use clap::Parser as _;
use lambda_runtime::{service_fn, Error, LambdaEvent};
use pb_audit::cli::{self, CliArgs, EXIT_USAGE};
use pb_audit::{AuditFunction, Auditor, ScheduledAudit};
use pb_aws::clients::{load_sdk_config, sdk_config_loader, SdkTimeouts};
use pb_aws::config::{sdk_timeouts_from_env, AuditConfig};
use pb_aws::runtime::{self, LogStartupError as _};
use pb_aws::Clients;
use tracing::Instrument;

#[tokio::main]
async fn main() -> ExitCode {
    if runtime::in_lambda() {
        // Boxed: both paths inline into one future whose layout is too deep for the compiler.
        return match Box::pin(lambda()).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                tracing::error!(error = %error, "the audit function stopped");
                ExitCode::FAILURE
            }
        };
    }
    ExitCode::from(Box::pin(command_line()).await)
}

async fn lambda() -> Result<(), Error> {
    runtime::init_lambda_logging();
    let config = AuditConfig::from_env().log_startup_error("invalid configuration")?;
    let event_bus = config
        .required_event_bus()
        .log_startup_error("invalid configuration")?;
    let timeouts =
        sdk_timeouts_from_env(SdkTimeouts::AUDIT).log_startup_error("invalid configuration")?;
    let clients = Clients::new(&load_sdk_config(timeouts).await, &[]);
    let function = AuditFunction::new(&clients, &config, event_bus);
    let function_name = runtime::function_name("audit");
    let function = &function;
    let function_name = function_name.as_str();
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<ScheduledAudit>| async move {
            let span = tracing::info_span!(
                "run",
                request_id = %event.context.request_id,
                function = function_name
            );
            let (result, metrics) = function
                .handle(event.payload)
                .instrument(span.clone())
                .await;
            span.in_scope(|| {
                metrics.report(function_name, runtime::now_ms());
                if let Err(error) = &result {
                    tracing::error!(error = %error, "audit run failed");
                }
            });
            result.map_err(Error::from)
        },
    ))
    .await
}

/// Progress goes to stderr through the log lines; stdout carries only the result.
async fn command_line() -> u8 {
    let args = match CliArgs::try_parse() {
        Ok(args) => args,
        Err(error) => {
            // Help and --version go to stdout with status 0; usage errors to stderr with 2.
            let _ = error.print();
            return u8::try_from(error.exit_code()).unwrap_or(EXIT_USAGE);
        }
    };
    // The audit's own progress, without the SDK's chatter.
    runtime::init_cli_logging("warn,pb_audit=info");
    let config = match AuditConfig::from_env() {
        Ok(config) => config,
        Err(error) => {
            eprintln!("audit: {error}");
            return EXIT_USAGE;
        }
    };
    let timeouts = match sdk_timeouts_from_env(SdkTimeouts::AUDIT) {
        Ok(timeouts) => timeouts,
        Err(error) => {
            eprintln!("audit: {error}");
            return EXIT_USAGE;
        }
    };
    let mut loader = sdk_config_loader(timeouts);
    if let Some(profile) = &args.profile {
        loader = loader.profile_name(profile);
    }
    let clients = Clients::new(&loader.load().await, &[]);
    let run = Auditor::new(&clients, &config).run(&args.request()).await;
    let output = if args.json {
        cli::render_json(&run).map(|json| format!("{json}\n"))
    } else {
        Ok(cli::render_text(&run))
    };
    match output {
        Ok(text) => {
            print!("{text}");
            cli::exit_code(run.status)
        }
        Err(error) => {
            eprintln!("audit: could not encode the run: {error}");
            EXIT_USAGE
        }
    }
}
