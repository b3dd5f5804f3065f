//! The execution history backfill (`make backfill-history`): gives execution items written before
//! the history indexes existed the attributes the ingest now writes itself. An operator's tool;
//! the Lambda handler never calls it.
//!
//! Each update is conditioned on the item's revision being the one read, so it never undoes a
//! concurrent ingest write (which sets the attributes itself). Running it again changes nothing.

use std::fmt::Write as _;

use pb_aws::history::{ExecutionHistory, StoredExecution};
use pb_aws::runtime::set_once;
use pb_aws::stacks::stack_outputs;
use pb_aws::{AwsError, Clients};
use thiserror::Error;

/// The stack output that names the executions table.
pub const TABLE_OUTPUT: &str = "ExecutionsTableName";
/// The environment variable the table name is read from when no option names it.
pub const TABLE_VARIABLE: &str = "EXECUTIONS_TABLE";

/// What became of one execution item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reindexed {
    /// Given its attributes (in a dry run: would be).
    Updated,
    /// Already carried exactly the attributes it should.
    Current,
    /// Changed under the backfill twice in a row (or deleted): the ingest writes that changed
    /// it set its attributes.
    Skipped,
}

/// What one run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BackfillReport {
    /// Every item read, of any kind.
    pub scanned: usize,
    pub executions: usize,
    pub updated: usize,
    pub current: usize,
    pub skipped: usize,
    /// The run could not go on (a read or write failed): the counts say how far it got.
    pub stopped_by: Option<AwsError>,
}

impl BackfillReport {
    fn count(&mut self, outcome: Reindexed) {
        match outcome {
            Reindexed::Updated => self.updated += 1,
            Reindexed::Current => self.current += 1,
            Reindexed::Skipped => self.skipped += 1,
        }
    }
}

pub struct Backfill {
    history: ExecutionHistory,
}

impl Backfill {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Backfill {
            history: ExecutionHistory::new(client, table),
        }
    }

    /// Scans the whole table and indexes every execution item that needs it.
    pub async fn run(&self, dry_run: bool) -> BackfillReport {
        let mut report = BackfillReport::default();
        if let Err(error) = self.sweep(dry_run, &mut report).await {
            tracing::error!(error = %error, "the backfill stopped");
            report.stopped_by = Some(error);
        }
        report
    }

    async fn sweep(&self, dry_run: bool, report: &mut BackfillReport) -> Result<(), AwsError> {
        let mut start = None;
        loop {
            let page = self.history.scan_page(start).await?;
            report.scanned += page.scanned;
            report.executions += page.executions.len();
            for execution in page.executions {
                report.count(self.reindex(execution, dry_run).await?);
            }
            start = page.next;
            if start.is_none() {
                return Ok(());
            }
        }
    }

    /// Indexes one execution item as read. When it changed since (its revision moved), it is
    /// read again and tried once more.
    pub async fn reindex(
        &self,
        seen: StoredExecution,
        dry_run: bool,
    ) -> Result<Reindexed, AwsError> {
        if seen.is_indexed() {
            return Ok(Reindexed::Current);
        }
        if dry_run || self.history.index(&seen).await? {
            return Ok(Reindexed::Updated);
        }
        let state = &seen.state;
        let Some(now) = self
            .history
            .stored_execution(&state.pipeline_id, &state.execution_id)
            .await?
        else {
            return Ok(Reindexed::Skipped);
        };
        if now.is_indexed() {
            Ok(Reindexed::Current)
        } else if self.history.index(&now).await? {
            Ok(Reindexed::Updated)
        } else {
            tracing::warn!(
                pipeline_id = now.state.pipeline_id,
                execution_id = now.state.execution_id,
                "changed twice while being indexed; skipped"
            );
            Ok(Reindexed::Skipped)
        }
    }
}

/// The table a stack created.
pub async fn table_of_stack(clients: &Clients, stack: &str) -> Result<String, BackfillError> {
    stack_outputs(&clients.cloudformation, stack)
        .await?
        .remove(TABLE_OUTPUT)
        .ok_or_else(|| BackfillError::MissingOutput {
            stack: stack.to_string(),
        })
}

#[derive(Debug, Error)]
pub enum BackfillError {
    #[error(transparent)]
    Aws(#[from] AwsError),
    #[error("stack {stack} has no output {TABLE_OUTPUT}; pass --table instead")]
    MissingOutput { stack: String },
}

/// The report as the command line prints it.
pub fn render(report: &BackfillReport, dry_run: bool) -> String {
    let mut out = String::new();
    let updated = if dry_run { "to update" } else { "updated" };
    let _ = writeln!(
        out,
        "scanned {}, execution items {}, {updated} {}, already current {}, skipped {}",
        report.scanned, report.executions, report.updated, report.current, report.skipped
    );
    if dry_run {
        let _ = writeln!(out, "Dry run: nothing was written.");
    }
    if report.skipped > 0 {
        let _ = writeln!(
            out,
            "Skipped items changed while the backfill ran; the ingest indexed them. Run again to check."
        );
    }
    if let Some(error) = &report.stopped_by {
        let _ = writeln!(
            out,
            "Stopped: {error}. What was updated stays; run again to go on."
        );
    }
    out
}

pub const USAGE: &str = "\
usage: backfill-history [--table TABLE | --stack STACK] [--dry-run] [--profile PROFILE]

Gives every execution item of the executions table the execution history index attributes the
ingest writes today (items stored before the history indexes existed lack them). Each update is
conditioned on the item being unchanged since it was read; running it again updates nothing.

  --table TABLE      the executions table (default: $EXECUTIONS_TABLE)
  --stack STACK      read the table name from the stack's output ExecutionsTableName
  --dry-run          count what would be updated without writing anything
  --profile PROFILE  AWS shared-config profile to use

exit status: 0 every execution item is indexed (or, in a dry run, counted), 1 some changed while
the run indexed them (skipped), 2 bad usage, or the table could not be found, read or written";

/// Exit status when some execution item was skipped.
pub const EXIT_INCOMPLETE: u8 = 1;
/// Exit status for bad usage, or a table that could not be found, read or written.
pub const EXIT_USAGE: u8 = 2;

pub fn exit_code(report: &BackfillReport) -> u8 {
    if report.stopped_by.is_some() {
        EXIT_USAGE
    } else if report.skipped > 0 {
        EXIT_INCOMPLETE
    } else {
        0
    }
}

/// Where the table name comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Table {
    Named(String),
    Stack(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackfillArgs {
    pub table: Table,
    pub dry_run: bool,
    pub profile: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Backfill(BackfillArgs),
    Help,
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum UsageError {
    #[error("{0} needs a value")]
    MissingValue(String),
    #[error("unknown option {0}")]
    UnknownOption(String),
    #[error("{0} was given twice")]
    Repeated(&'static str),
    #[error("name the table (--table, or {TABLE_VARIABLE}) or the stack (--stack), not both")]
    Table,
}

/// `table_variable` is `$EXECUTIONS_TABLE`, used when no option names the table.
pub fn parse_args(args: &[String], table_variable: Option<String>) -> Result<Command, UsageError> {
    let mut table = None;
    let mut stack = None;
    let mut profile = None;
    let mut dry_run = false;
    let mut rest = args.iter();
    while let Some(flag) = rest.next() {
        let mut value = || {
            rest.next()
                .filter(|v| !v.is_empty())
                .cloned()
                .ok_or_else(|| UsageError::MissingValue(flag.clone()))
        };
        match flag.as_str() {
            "-h" | "--help" => return Ok(Command::Help),
            "--dry-run" => dry_run = true,
            "--table" => set_once(&mut table, value()?, UsageError::Repeated("--table"))?,
            "--stack" => set_once(&mut stack, value()?, UsageError::Repeated("--stack"))?,
            "--profile" => set_once(&mut profile, value()?, UsageError::Repeated("--profile"))?,
            other => return Err(UsageError::UnknownOption(other.to_string())),
        }
    }
    let table_variable = table_variable.filter(|t| !t.is_empty());
    let table = match (table, stack) {
        (Some(table), None) => Table::Named(table),
        (None, Some(stack)) => Table::Stack(stack),
        (None, None) => Table::Named(table_variable.ok_or(UsageError::Table)?),
        (Some(_), Some(_)) => return Err(UsageError::Table),
    };
    Ok(Command::Backfill(BackfillArgs {
        table,
        dry_run,
        profile,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(text: &str) -> Vec<String> {
        text.split_whitespace().map(str::to_string).collect()
    }

    fn backfill(table: Table, dry_run: bool, profile: Option<&str>) -> Command {
        Command::Backfill(BackfillArgs {
            table,
            dry_run,
            profile: profile.map(str::to_string),
        })
    }

    #[test]
    fn the_table_comes_from_the_option_the_stack_or_the_environment() {
        let variable = || Some("from-env".to_string());
        assert_eq!(
            parse_args(&args("--table t --dry-run --profile ops"), variable()),
            Ok(backfill(Table::Named("t".into()), true, Some("ops")))
        );
        assert_eq!(
            parse_args(&args("--stack pb"), variable()),
            Ok(backfill(Table::Stack("pb".into()), false, None))
        );
        assert_eq!(
            parse_args(&[], variable()),
            Ok(backfill(Table::Named("from-env".into()), false, None))
        );
        assert_eq!(
            parse_args(&args("--stack pb --help"), None),
            Ok(Command::Help)
        );
    }

    #[test]
    fn refuses_bad_usage_with_a_reason() {
        let cases = [
            ("", UsageError::Table),
            ("--table t --stack pb", UsageError::Table),
            ("--table", UsageError::MissingValue("--table".into())),
            ("--table a --table b", UsageError::Repeated("--table")),
            ("--all", UsageError::UnknownOption("--all".into())),
        ];
        for (line, expected) in cases {
            assert_eq!(parse_args(&args(line), None), Err(expected), "{line}");
        }
        assert_eq!(parse_args(&[], Some(String::new())), Err(UsageError::Table));
    }

    #[test]
    fn the_report_counts_each_kind_and_the_exit_status_says_whether_all_were_indexed() {
        let report = BackfillReport {
            scanned: 40,
            executions: 10,
            updated: 6,
            current: 4,
            ..BackfillReport::default()
        };
        assert_eq!(
            render(&report, false),
            "scanned 40, execution items 10, updated 6, already current 4, skipped 0\n"
        );
        assert!(render(&report, true).contains("to update 6"));
        assert!(render(&report, true).contains("Dry run: nothing was written."));
        assert_eq!(exit_code(&report), 0);
        let skipped = BackfillReport {
            skipped: 1,
            ..report.clone()
        };
        assert_eq!(exit_code(&skipped), EXIT_INCOMPLETE);
        let stopped = BackfillReport {
            stopped_by: Some(AwsError::local("Scan", "Test", "no table")),
            ..report
        };
        assert_eq!(exit_code(&stopped), EXIT_USAGE);
        assert!(render(&stopped, false).contains("Stopped: "));
    }
}
