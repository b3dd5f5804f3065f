//! `backfill-history`: gives execution items stored before the execution history indexes existed
//! their index attributes. Results go to stdout, progress and errors to stderr.

use std::process::ExitCode;

use pb_aws::clients::{sdk_config_loader, SdkTimeouts};
use pb_aws::config::sdk_timeouts_from_env;
use pb_aws::{runtime, Clients};
use pb_ingest::backfill::{
    exit_code, parse_args, render, table_of_stack, Backfill, BackfillArgs, Command, Table,
    EXIT_USAGE, TABLE_VARIABLE, USAGE,
};

#[tokio::main]
async fn main() -> ExitCode {
    runtime::init_cli_logging("warn,pb_ingest=info");
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args = match parse_args(&args, std::env::var(TABLE_VARIABLE).ok()) {
        Ok(Command::Backfill(args)) => args,
        Ok(Command::Help) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(error) => {
            eprintln!("backfill-history: {error}\n\n{USAGE}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    ExitCode::from(backfill(args).await)
}

async fn backfill(args: BackfillArgs) -> u8 {
    let timeouts = match sdk_timeouts_from_env(SdkTimeouts::OPERATOR) {
        Ok(timeouts) => timeouts,
        Err(error) => {
            eprintln!("backfill-history: {error}");
            return EXIT_USAGE;
        }
    };
    let mut loader = sdk_config_loader(timeouts);
    if let Some(profile) = &args.profile {
        loader = loader.profile_name(profile);
    }
    let clients = Clients::new(&loader.load().await, &[]);
    let table = match args.table {
        Table::Named(table) => table,
        Table::Stack(stack) => match table_of_stack(&clients, &stack).await {
            Ok(table) => table,
            Err(error) => {
                eprintln!("backfill-history: {error}");
                return EXIT_USAGE;
            }
        },
    };
    let report = Backfill::new(clients.dynamodb.clone(), table)
        .run(args.dry_run)
        .await;
    print!("{}", render(&report, args.dry_run));
    exit_code(&report)
}
