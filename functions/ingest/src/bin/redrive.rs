//! `redrive`: the ingest dead-letter queue back to the ingest queue, after a fix. Results go to
//! stdout, progress and errors to stderr.

use std::process::ExitCode;

use pb_aws::clients::{sdk_config_loader, SdkTimeouts};
use pb_aws::config::sdk_timeouts_from_env;
use pb_aws::{runtime, Clients};
use pb_ingest::redrive::{
    exit_code, parse_args, render, Command, QueueUrls, Queues, Redrive, RedriveArgs, EXIT_USAGE,
    USAGE,
};

#[tokio::main]
async fn main() -> ExitCode {
    runtime::init_cli_logging("warn,pb_ingest=info");
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args = match parse_args(&args) {
        Ok(Command::Redrive(args)) => args,
        Ok(Command::Help) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(error) => {
            eprintln!("redrive: {error}\n\n{USAGE}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    ExitCode::from(redrive(args).await)
}

async fn redrive(args: RedriveArgs) -> u8 {
    let timeouts = match sdk_timeouts_from_env(SdkTimeouts::OPERATOR) {
        Ok(timeouts) => timeouts,
        Err(error) => {
            eprintln!("redrive: {error}");
            return EXIT_USAGE;
        }
    };
    let mut loader = sdk_config_loader(timeouts);
    if let Some(profile) = &args.profile {
        loader = loader.profile_name(profile);
    }
    let clients = Clients::new(&loader.load().await, &[]);
    let queues = match args.queues {
        Queues::Urls(urls) => urls,
        Queues::Stack(stack) => match QueueUrls::of_stack(&clients, &stack).await {
            Ok(urls) => urls,
            Err(error) => {
                eprintln!("redrive: {error}");
                return EXIT_USAGE;
            }
        },
    };
    let report = Redrive::new(&clients, &queues)
        .run(&args.selection, args.dry_run)
        .await;
    print!("{}", render(&report, args.dry_run));
    exit_code(&report)
}
