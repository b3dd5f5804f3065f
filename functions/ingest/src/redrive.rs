//! The dead-letter re-drive (`make redrive`): after a fix, puts quarantined records back on the
//! ingest queue. An operator's tool beside the ingest, whose quarantine attributes it reads; the
//! Lambda handler never calls it.
//!
//! A record is sent to the ingest queue first and deleted from the dead-letter queue only once
//! the send succeeded, so it is never lost. A record that was sent but could not be deleted is
//! sent again by a later run, which is safe: the ingest deduplicates executions.

use std::collections::{BTreeMap, HashSet};
use std::fmt::Write as _;

use pb_aws::queue::{
    QueueConsumer, QueueSender, ReceivedMessage, REASON_ATTRIBUTE, SENT_TIMESTAMP_ATTRIBUTE,
    TRUNCATED_ATTRIBUTE,
};
use pb_aws::runtime::set_once;
use pb_aws::stacks::stack_outputs;
use pb_aws::{AwsError, Clients};
use thiserror::Error;

/// The reason of a record SQS moved itself after the ingest queue's maxReceiveCount deliveries
/// (transient errors every time): it carries no `reason` attribute.
pub const RETRIES_EXHAUSTED: &str = "retries-exhausted";
/// The stack outputs that name the two queues.
pub const SOURCE_QUEUE_OUTPUT: &str = "IngestQueueUrl";
pub const DEAD_LETTER_QUEUE_OUTPUT: &str = "IngestDeadLetterQueueUrl";
/// How long a run keeps a received record from other readers (and from its own next receive).
const HOLD_SECONDS: i32 = 300;
const RECEIVE_WAIT_SECONDS: i32 = 1;
const RECEIVE_BATCH: i32 = 10;

#[derive(Debug, Error)]
pub enum RedriveError {
    #[error(transparent)]
    Aws(#[from] AwsError),
    #[error("stack {stack} has no output {output}; pass the queue URLs instead")]
    MissingOutput { stack: String, output: &'static str },
}

/// Which records to re-drive.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selection {
    /// Only records quarantined for this reason (`unregistered`, `malformed`, …, or
    /// [`RETRIES_EXHAUSTED`]).
    pub reason: Option<String>,
    /// At most this many records.
    pub max: Option<usize>,
}

/// What the dead-letter queue says about one record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quarantined {
    pub reason: String,
    /// The dead-letter queue's message id.
    pub message_id: String,
    /// The CodePipeline the event is about, when the body is an event that names one.
    pub pipeline: Option<String>,
    /// When SQS accepted the record into the dead-letter queue (RFC 3339), or into the ingest
    /// queue for a record SQS moved itself.
    pub sent_at: Option<String>,
    /// The body was cut to fit when quarantined: it is no longer the event, so it stays.
    pub truncated: bool,
}

impl Quarantined {
    pub fn of(message: &ReceivedMessage) -> Self {
        let attribute = |name: &str| message.message_attributes.get(name).map(String::as_str);
        Quarantined {
            reason: attribute(REASON_ATTRIBUTE)
                .unwrap_or(RETRIES_EXHAUSTED)
                .to_string(),
            message_id: message.message_id.clone(),
            pipeline: pipeline_of(&message.body),
            sent_at: message
                .attributes
                .get(SENT_TIMESTAMP_ATTRIBUTE)
                .and_then(|ms| ms.parse().ok())
                .and_then(rfc3339_millis),
            truncated: attribute(TRUNCATED_ATTRIBUTE) == Some("true"),
        }
    }

    fn is_selected_by(&self, selection: &Selection) -> bool {
        selection
            .reason
            .as_deref()
            .is_none_or(|reason| reason == self.reason)
    }
}

/// `detail.pipeline` of a CodePipeline event body.
fn pipeline_of(body: &str) -> Option<String> {
    let event: serde_json::Value = serde_json::from_str(body).ok()?;
    Some(event.get("detail")?.get("pipeline")?.as_str()?.to_string())
}

fn rfc3339_millis(epoch_ms: i64) -> Option<String> {
    chrono::DateTime::from_timestamp_millis(epoch_ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
}

/// What one run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RedriveReport {
    /// The selected records in the order they were received: moved, or listed by a dry run.
    pub selected: Vec<Quarantined>,
    pub moved: usize,
    /// Selected records still only in the dead-letter queue, with why they were not sent.
    pub not_sent: Vec<(Quarantined, String)>,
    /// Sent, but still in the dead-letter queue too: a later run sends them again.
    pub not_deleted: Vec<(Quarantined, String)>,
    /// Records of the selected reason kept because their body was truncated.
    pub truncated: Vec<Quarantined>,
    /// The dead-letter queue could not be read: the run stopped there.
    pub stopped_by: Option<AwsError>,
}

impl RedriveReport {
    pub fn is_complete(&self) -> bool {
        self.not_sent.is_empty() && self.not_deleted.is_empty() && self.stopped_by.is_none()
    }
}

pub struct Redrive {
    dead_letters: QueueConsumer,
    source: QueueSender,
}

/// Where one run reads and writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueUrls {
    pub source: String,
    pub dead_letter: String,
}

impl QueueUrls {
    /// The two queues a deployed stack exports.
    pub async fn of_stack(clients: &Clients, stack: &str) -> Result<Self, RedriveError> {
        let mut outputs = stack_outputs(&clients.cloudformation, stack).await?;
        let mut take = |output| {
            outputs
                .remove(output)
                .ok_or_else(|| RedriveError::MissingOutput {
                    stack: stack.to_string(),
                    output,
                })
        };
        Ok(QueueUrls {
            source: take(SOURCE_QUEUE_OUTPUT)?,
            dead_letter: take(DEAD_LETTER_QUEUE_OUTPUT)?,
        })
    }
}

impl Redrive {
    pub fn new(clients: &Clients, queues: &QueueUrls) -> Self {
        Redrive {
            dead_letters: QueueConsumer::new(clients.sqs.clone(), &queues.dead_letter),
            source: QueueSender::new(clients.sqs.clone(), &queues.source),
        }
    }

    /// Moves (or, in a dry run, lists) the selected records. Every record the run received and
    /// did not move is made visible again before it returns, whatever happened.
    pub async fn run(&self, selection: &Selection, dry_run: bool) -> RedriveReport {
        let mut held = BTreeMap::new();
        let mut report = RedriveReport::default();
        if let Err(error) = self.sweep(selection, dry_run, &mut held, &mut report).await {
            tracing::error!(error = %error, "could not read the dead-letter queue; stopped");
            report.stopped_by = Some(error);
        }
        let held: Vec<&ReceivedMessage> = held.values().collect();
        match self.dead_letters.release(&held).await {
            Ok(released) if released < held.len() => tracing::warn!(
                released,
                held = held.len(),
                "some records stay hidden until their {HOLD_SECONDS} s hold ends"
            ),
            Ok(_) => {}
            Err(error) => tracing::warn!(
                error = %error,
                "records stay hidden until their {HOLD_SECONDS} s hold ends"
            ),
        }
        report
    }

    /// Receives until the queue has nothing new or the selection is full. Records to make
    /// visible again collect in `held`, by message id with their latest receipt.
    async fn sweep(
        &self,
        selection: &Selection,
        dry_run: bool,
        held: &mut BTreeMap<String, ReceivedMessage>,
        report: &mut RedriveReport,
    ) -> Result<(), AwsError> {
        let mut seen = HashSet::new();
        let max = selection.max.unwrap_or(usize::MAX);
        while report.selected.len() < max {
            let batch = self
                .dead_letters
                .receive(RECEIVE_BATCH, RECEIVE_WAIT_SECONDS, Some(HOLD_SECONDS))
                .await?;
            let mut new = 0;
            for message in batch {
                if !seen.insert(message.message_id.clone()) {
                    held.insert(message.message_id.clone(), message);
                    continue;
                }
                new += 1;
                let record = Quarantined::of(&message);
                if !record.is_selected_by(selection) || report.selected.len() >= max {
                    held.insert(message.message_id.clone(), message);
                } else if record.truncated {
                    report.truncated.push(record);
                    held.insert(message.message_id.clone(), message);
                } else if dry_run {
                    report.selected.push(record);
                    held.insert(message.message_id.clone(), message);
                } else {
                    report.selected.push(record.clone());
                    if let Some(kept) = self.move_one(&message, record, report).await {
                        held.insert(kept.message_id.clone(), kept);
                    }
                }
            }
            if new == 0 {
                break;
            }
        }
        Ok(())
    }

    /// Sends, then deletes. Returns the message when it stays in the dead-letter queue unsent.
    async fn move_one(
        &self,
        message: &ReceivedMessage,
        record: Quarantined,
        report: &mut RedriveReport,
    ) -> Option<ReceivedMessage> {
        if let Err(error) = self.source.send(&message.body).await {
            tracing::warn!(message_id = record.message_id, error = %error, "not re-driven");
            report.not_sent.push((record, error.to_string()));
            return Some(message.clone());
        }
        match self.dead_letters.delete(&[message]).await {
            Ok(1) => report.moved += 1,
            Ok(_) => report
                .not_deleted
                .push((record, "DeleteMessageBatch did not confirm".into())),
            Err(error) => report.not_deleted.push((record, error.to_string())),
        }
        None
    }
}

/// The report as the command line prints it.
pub fn render(report: &RedriveReport, dry_run: bool) -> String {
    let mut out = String::new();
    if !report.selected.is_empty() {
        let _ = writeln!(
            out,
            "{:<20} {:<36} {:<40} SENT",
            "REASON", "MESSAGE ID", "PIPELINE"
        );
        for record in &report.selected {
            let _ = writeln!(
                out,
                "{:<20} {:<36} {:<40} {}",
                record.reason,
                record.message_id,
                record.pipeline.as_deref().unwrap_or("-"),
                record.sent_at.as_deref().unwrap_or("-")
            );
        }
    }
    if dry_run {
        let _ = writeln!(
            out,
            "Dry run: {} records would be re-driven; nothing was moved.",
            report.selected.len()
        );
    } else {
        let _ = writeln!(
            out,
            "Re-drove {} of {} selected records to the ingest queue.",
            report.moved,
            report.selected.len()
        );
    }
    for (record, error) in &report.not_sent {
        let _ = writeln!(
            out,
            "Not sent, still in the dead-letter queue: {} ({error})",
            record.message_id
        );
    }
    for (record, error) in &report.not_deleted {
        let _ = writeln!(
            out,
            "Sent, but still in the dead-letter queue (a later run sends it again): {} ({error})",
            record.message_id
        );
    }
    for record in &report.truncated {
        let _ = writeln!(
            out,
            "Kept, its body was truncated when quarantined: {}",
            record.message_id
        );
    }
    if let Some(error) = &report.stopped_by {
        let _ = writeln!(out, "Stopped: {error}");
    }
    out
}

pub const USAGE: &str = "\
usage: redrive (--stack STACK | --queue-url URL --dlq-url URL) [--reason REASON] [--max N]
               [--dry-run] [--profile PROFILE]

Moves quarantined records from the ingest dead-letter queue back to the ingest queue: each is
sent first and deleted from the dead-letter queue only after the send succeeded. Re-delivering
is safe: the ingest deduplicates executions.

  --stack STACK      read the queue URLs from the stack's outputs (IngestQueueUrl,
                     IngestDeadLetterQueueUrl)
  --queue-url URL    the ingest queue (with --dlq-url)
  --dlq-url URL      the ingest dead-letter queue (with --queue-url)
  --reason REASON    only records quarantined for REASON (unregistered, mismatched, malformed,
                     rejected, …; retries-exhausted for records SQS moved after five deliveries)
  --max N            at most N records
  --dry-run          list (reason, message id, pipeline, sent) without moving anything
  --profile PROFILE  AWS shared-config profile to use

exit status: 0 every selected record moved (or listed), 1 some could not be moved,
2 bad usage, or the queues could not be found or read";

/// Exit status when some selected record could not be moved.
pub const EXIT_INCOMPLETE: u8 = 1;
/// Exit status for bad usage, or queues that could not be found or read.
pub const EXIT_USAGE: u8 = 2;

/// The exit status of a finished run.
pub fn exit_code(report: &RedriveReport) -> u8 {
    if report.stopped_by.is_some() {
        EXIT_USAGE
    } else if report.is_complete() {
        0
    } else {
        EXIT_INCOMPLETE
    }
}

/// Where the queue URLs come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Queues {
    Stack(String),
    Urls(QueueUrls),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedriveArgs {
    pub queues: Queues,
    pub selection: Selection,
    pub dry_run: bool,
    pub profile: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Redrive(RedriveArgs),
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
    #[error("--max {0:?} is not a positive whole number")]
    InvalidMax(String),
    #[error("name the stack (--stack) or both queues (--queue-url and --dlq-url), not both")]
    Queues,
}

pub fn parse_args(args: &[String]) -> Result<Command, UsageError> {
    let mut stack = None;
    let mut source = None;
    let mut dead_letter = None;
    let mut reason = None;
    let mut max = None;
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
            "--stack" => set_once(&mut stack, value()?, UsageError::Repeated("--stack"))?,
            "--queue-url" => set_once(&mut source, value()?, UsageError::Repeated("--queue-url"))?,
            "--dlq-url" => set_once(
                &mut dead_letter,
                value()?,
                UsageError::Repeated("--dlq-url"),
            )?,
            "--reason" => set_once(&mut reason, value()?, UsageError::Repeated("--reason"))?,
            "--profile" => set_once(&mut profile, value()?, UsageError::Repeated("--profile"))?,
            "--max" => {
                let text = value()?;
                let parsed = text
                    .parse::<usize>()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or(UsageError::InvalidMax(text))?;
                if max.replace(parsed).is_some() {
                    return Err(UsageError::Repeated("--max"));
                }
            }
            other => return Err(UsageError::UnknownOption(other.to_string())),
        }
    }
    let queues = match (stack, source, dead_letter) {
        (Some(stack), None, None) => Queues::Stack(stack),
        (None, Some(source), Some(dead_letter)) => Queues::Urls(QueueUrls {
            source,
            dead_letter,
        }),
        _ => return Err(UsageError::Queues),
    };
    Ok(Command::Redrive(RedriveArgs {
        queues,
        selection: Selection { reason, max },
        dry_run,
        profile,
    }))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn args(text: &str) -> Vec<String> {
        text.split_whitespace().map(str::to_string).collect()
    }

    fn message(attributes: &[(&str, &str)], body: &str) -> ReceivedMessage {
        ReceivedMessage {
            message_id: "m-1".into(),
            receipt_handle: "r-1".into(),
            body: body.into(),
            md5_of_body: None,
            attributes: HashMap::from([(
                SENT_TIMESTAMP_ATTRIBUTE.to_string(),
                "1795000000250".to_string(),
            )]),
            message_attributes: attributes
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    #[test]
    fn a_record_reads_its_reason_pipeline_and_time() {
        let event = r#"{"detail": {"pipeline": "payments-service", "state": "STARTED"}}"#;
        let record = Quarantined::of(&message(&[(REASON_ATTRIBUTE, "unregistered")], event));
        assert_eq!(
            record,
            Quarantined {
                reason: "unregistered".into(),
                message_id: "m-1".into(),
                pipeline: Some("payments-service".into()),
                sent_at: Some("2026-11-18T11:06:40.250Z".into()),
                truncated: false,
            }
        );
        let moved_by_sqs = Quarantined::of(&message(&[], "not json"));
        assert_eq!(moved_by_sqs.reason, RETRIES_EXHAUSTED);
        assert_eq!(moved_by_sqs.pipeline, None);
        let cut = Quarantined::of(&message(
            &[
                (REASON_ATTRIBUTE, "oversized"),
                (TRUNCATED_ATTRIBUTE, "true"),
            ],
            "{",
        ));
        assert!(cut.truncated);
    }

    #[test]
    fn a_reason_selects_only_its_records() {
        let record = Quarantined::of(&message(&[(REASON_ATTRIBUTE, "unregistered")], "{}"));
        let only = |reason: &str| Selection {
            reason: Some(reason.into()),
            max: None,
        };
        assert!(record.is_selected_by(&Selection::default()));
        assert!(record.is_selected_by(&only("unregistered")));
        assert!(!record.is_selected_by(&only("malformed")));
    }

    #[test]
    fn parses_the_stack_or_both_urls_and_the_selection() {
        assert_eq!(
            parse_args(&args(
                "--stack pb --reason unregistered --max 5 --dry-run --profile ops"
            )),
            Ok(Command::Redrive(RedriveArgs {
                queues: Queues::Stack("pb".into()),
                selection: Selection {
                    reason: Some("unregistered".into()),
                    max: Some(5),
                },
                dry_run: true,
                profile: Some("ops".into()),
            }))
        );
        assert_eq!(
            parse_args(&args("--dlq-url d --queue-url q")),
            Ok(Command::Redrive(RedriveArgs {
                queues: Queues::Urls(QueueUrls {
                    source: "q".into(),
                    dead_letter: "d".into(),
                }),
                selection: Selection::default(),
                dry_run: false,
                profile: None,
            }))
        );
        assert_eq!(parse_args(&args("--stack pb --help")), Ok(Command::Help));
    }

    #[test]
    fn refuses_bad_usage_with_a_reason() {
        let cases = [
            ("", UsageError::Queues),
            ("--queue-url q", UsageError::Queues),
            ("--stack pb --dlq-url d --queue-url q", UsageError::Queues),
            ("--stack", UsageError::MissingValue("--stack".into())),
            ("--stack pb --max 0", UsageError::InvalidMax("0".into())),
            ("--stack pb --max ten", UsageError::InvalidMax("ten".into())),
            ("--stack a --stack b", UsageError::Repeated("--stack")),
            ("--stack pb --max 1 --max 2", UsageError::Repeated("--max")),
            (
                "--stack pb --all",
                UsageError::UnknownOption("--all".into()),
            ),
        ];
        for (line, expected) in cases {
            assert_eq!(parse_args(&args(line)), Err(expected), "{line}");
        }
        assert_eq!(
            parse_args(&["--reason".to_string(), String::new()]),
            Err(UsageError::MissingValue("--reason".into()))
        );
    }

    #[test]
    fn the_exit_status_says_whether_every_selected_record_moved() {
        let record = Quarantined::of(&message(&[(REASON_ATTRIBUTE, "malformed")], "{}"));
        assert_eq!(exit_code(&RedriveReport::default()), 0);
        let not_sent = RedriveReport {
            not_sent: vec![(record.clone(), "SendMessage was throttled".into())],
            ..RedriveReport::default()
        };
        assert_eq!(exit_code(&not_sent), EXIT_INCOMPLETE);
        let not_deleted = RedriveReport {
            not_deleted: vec![(record, "DeleteMessageBatch did not confirm".into())],
            ..RedriveReport::default()
        };
        assert_eq!(exit_code(&not_deleted), EXIT_INCOMPLETE);
        let stopped = RedriveReport {
            stopped_by: Some(AwsError::local("ReceiveMessage", "Test", "no queue")),
            ..RedriveReport::default()
        };
        assert_eq!(exit_code(&stopped), EXIT_USAGE);
        assert!(render(&stopped, false).contains("Stopped: "));
    }

    #[test]
    fn the_dry_run_lists_each_selected_record_and_says_nothing_moved() {
        let report = RedriveReport {
            selected: vec![Quarantined {
                reason: "unregistered".into(),
                message_id: "0f8e6d4c-1111-2222-3333-444455556666".into(),
                pipeline: Some("payments-service".into()),
                sent_at: Some("2026-11-18T11:06:40.250Z".into()),
                truncated: false,
            }],
            ..RedriveReport::default()
        };
        let text = render(&report, true);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        let columns: Vec<&str> = lines[1].split_whitespace().collect();
        assert_eq!(
            columns,
            [
                "unregistered",
                "0f8e6d4c-1111-2222-3333-444455556666",
                "payments-service",
                "2026-11-18T11:06:40.250Z"
            ]
        );
        assert_eq!(
            lines[2],
            "Dry run: 1 records would be re-driven; nothing was moved."
        );
        assert!(render(&report, false).contains("Re-drove 0 of 1 selected records"));
    }
}
