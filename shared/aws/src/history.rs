//! The execution history: a pipeline's executions newest first, paged through the sparse
//! KEYS_ONLY history indexes ([`crate::keys::history_attributes`]) and read back from the base
//! table; and what the backfill needs to give items written before the indexes their attributes.

use std::collections::{BTreeMap, HashMap};

use aws_sdk_dynamodb::types::AttributeValue;
use pb_domain::event::is_execution_id;
use pb_domain::execution::ItemState;
use thiserror::Error;

use crate::attributes::{batch_get_consistent, from_item, s, Item, MAX_BATCH_GET_KEYS};
use crate::conditional::written;
use crate::keys::{
    execution_id_of_sk, execution_pk, execution_sk, history_attributes, history_index,
    history_partition, prefix_end, HistoryIndex, HISTORY_INDEXES, HISTORY_START,
};
use crate::AwsError;

/// The most executions one page holds: its items are read back in one BatchGetItem.
pub const MAX_PAGE_SIZE: usize = MAX_BATCH_GET_KEYS;
/// The latest start `{start_ms:015}` can write (the year 33658).
const MAX_START_MS: i64 = 999_999_999_999_999;

/// Which executions a listing shows; `from_ms` and `to_ms` bound the start, both inclusive.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HistoryFilter {
    pub status: Option<String>,
    pub branch: Option<String>,
    pub from_ms: Option<i64>,
    pub to_ms: Option<i64>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HistoryPage {
    pub items: Vec<ItemState>,
    /// Where the next page starts, when more executions follow.
    pub next: Option<String>,
}

#[derive(Debug, Error)]
pub enum HistoryError {
    /// `after` is not a position a page of this listing gave.
    #[error("{0:?} is not a position in this execution history")]
    InvalidPosition(String),
    #[error("a page holds 1 to {MAX_PAGE_SIZE} executions, not {0}")]
    InvalidLimit(usize),
    #[error(transparent)]
    Aws(#[from] AwsError),
}

#[derive(Debug, Clone)]
pub struct ExecutionHistory {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

/// One listing's place in its index: the partition and the inclusive range of `histStart`.
struct Listing {
    index: HistoryIndex,
    partition: String,
    low: String,
    high: String,
}

impl Listing {
    /// `None` when the window holds no instant at all.
    fn of(pipeline_id: &str, filter: &HistoryFilter) -> Option<Self> {
        let from = filter.from_ms.unwrap_or(0).max(0);
        let to = filter.to_ms.unwrap_or(MAX_START_MS).min(MAX_START_MS);
        if from > to {
            return None;
        }
        let branch = filter.branch.as_deref();
        let status = filter.status.as_deref();
        Some(Listing {
            index: history_index(branch.is_some(), status.is_some()),
            partition: history_partition(pipeline_id, branch, status),
            low: format!("{from:015}#"),
            // Above every `{to}#{id}`, below every later millisecond.
            high: prefix_end(&format!("{to:015}#")),
        })
    }

    /// The execution id of `after`, which must have the shape `histStart` values have and lie in
    /// this listing's window (a position from another listing would page from the wrong place).
    fn check<'a>(&self, after: &'a str) -> Result<&'a str, HistoryError> {
        let invalid = || HistoryError::InvalidPosition(after.to_string());
        let (millis, execution_id) = after.split_once('#').ok_or_else(invalid)?;
        let well_formed = millis.len() == 15
            && millis.bytes().all(|b| b.is_ascii_digit())
            && is_execution_id(execution_id);
        let inside = self.low.as_str() <= after && after <= self.high.as_str();
        if well_formed && inside {
            Ok(execution_id)
        } else {
            Err(invalid())
        }
    }

    /// The index entry of the execution at `after`, as DynamoDB wants an index position: the
    /// base table's key and the index's.
    fn start_key(&self, pipeline_id: &str, after: &str, execution_id: &str) -> Item {
        Item::from([
            ("PK".to_string(), s(execution_pk(pipeline_id))),
            ("SK".to_string(), s(execution_sk(execution_id))),
            (self.index.hash.to_string(), s(&self.partition)),
            (HISTORY_START.to_string(), s(after)),
        ])
    }
}

fn string_attribute(item: &Item, name: &str) -> Option<String> {
    item.get(name).and_then(|v| v.as_s().ok()).cloned()
}

/// The items found for `keys`, in the order of `keys`. An item deleted since the index listed it
/// (its TTL ran out) is left out: the index is only eventually consistent with the table.
fn in_index_order(
    keys: &[(String, String)],
    mut found: HashMap<(String, String), Item>,
) -> Result<Vec<ItemState>, AwsError> {
    keys.iter()
        .filter_map(|key| found.remove(key))
        .map(|item| from_item(&item).map_err(|e| AwsError::local("BatchGetItem", "CorruptItem", e)))
        .collect()
}

impl ExecutionHistory {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        ExecutionHistory {
            client,
            table: table.into(),
        }
    }

    /// Newest first. `after` is a `next` from an earlier page (opaque position; the API signs it
    /// into its cursor). Returns exactly `limit` executions or the end: key conditions only, no
    /// FilterExpression, no Scan. DynamoDB may stop a query early (1 MB): it is asked again until
    /// `limit` are found.
    pub async fn page(
        &self,
        pipeline_id: &str,
        filter: &HistoryFilter,
        limit: usize,
        after: Option<&str>,
    ) -> Result<HistoryPage, HistoryError> {
        if limit == 0 || limit > MAX_PAGE_SIZE {
            return Err(HistoryError::InvalidLimit(limit));
        }
        let Some(listing) = Listing::of(pipeline_id, filter) else {
            return Ok(HistoryPage::default());
        };
        let start = match after {
            Some(after) => {
                let execution_id = listing.check(after)?;
                Some(listing.start_key(pipeline_id, after, execution_id))
            }
            None => None,
        };
        // One more than asked says whether another page follows.
        let mut entries = self.index_entries(&listing, limit + 1, start).await?;
        let next = (entries.len() > limit).then(|| {
            entries.truncate(limit);
            entries.last().map(|(start, _)| start.clone())
        });
        let pk = execution_pk(pipeline_id);
        let keys: Vec<(String, String)> = entries
            .into_iter()
            .map(|(_, sk)| (pk.clone(), sk))
            .collect();
        let found = batch_get_consistent(&self.client, &self.table, &keys).await?;
        Ok(HistoryPage {
            items: in_index_order(&keys, found)?,
            next: next.flatten(),
        })
    }

    /// Up to `wanted` (histStart, SK) pairs of the listing, newest first, after `start`.
    async fn index_entries(
        &self,
        listing: &Listing,
        wanted: usize,
        mut start: Option<Item>,
    ) -> Result<Vec<(String, String)>, AwsError> {
        let mut entries = Vec::with_capacity(wanted);
        loop {
            let output = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(listing.index.name)
                .key_condition_expression("#p = :p AND #s BETWEEN :low AND :high")
                .expression_attribute_names("#p", listing.index.hash)
                .expression_attribute_names("#s", HISTORY_START)
                .expression_attribute_values(":p", s(&listing.partition))
                .expression_attribute_values(":low", s(&listing.low))
                .expression_attribute_values(":high", s(&listing.high))
                .scan_index_forward(false)
                .limit(i32::try_from(wanted - entries.len()).unwrap_or(i32::MAX))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| AwsError::classify("Query", e))?;
            for item in output.items.unwrap_or_default() {
                if let (Some(position), Some(sk)) = (
                    string_attribute(&item, HISTORY_START),
                    string_attribute(&item, "SK"),
                ) {
                    entries.push((position, sk));
                }
            }
            start = output.last_evaluated_key;
            if entries.len() >= wanted || start.is_none() {
                return Ok(entries);
            }
        }
    }
}

/// What [`history_attributes`] reads of an item, and the history attributes themselves: all the
/// backfill needs to read.
const BACKFILL_PROJECTION: [&str; 10] = [
    "PK",
    "SK",
    "orgId",
    "pipelineId",
    "executionId",
    "stage",
    "status",
    "executionStartedAt",
    "completedAt",
    "trigger",
];
const REVISION: &str = "rev";

/// An execution item as stored: its state and the history attributes it carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredExecution {
    pub state: ItemState,
    pub history: BTreeMap<String, String>,
}

impl StoredExecution {
    /// The history attributes the item should carry.
    pub fn wanted(&self) -> BTreeMap<String, String> {
        history_attributes(&self.state)
            .into_iter()
            .map(|(name, value)| (name.to_string(), value))
            .collect()
    }

    pub fn is_indexed(&self) -> bool {
        self.history == self.wanted()
    }

    /// An execution item read with [`BACKFILL_PROJECTION`]; `None` for any other item.
    fn of(item: &Item) -> Result<Option<Self>, AwsError> {
        let pk = string_attribute(item, "PK").unwrap_or_default();
        let sk = string_attribute(item, "SK").unwrap_or_default();
        if !pk.starts_with(&execution_pk("")) || execution_id_of_sk(&sk).is_none() {
            return Ok(None);
        }
        let state = from_item(item).map_err(|e| AwsError::local("Scan", "CorruptItem", e))?;
        let history = HISTORY_INDEXES
            .iter()
            .map(|index| index.hash)
            .chain([HISTORY_START])
            .filter_map(|name| Some((name.to_string(), string_attribute(item, name)?)))
            .collect();
        Ok(Some(StoredExecution { state, history }))
    }
}

/// One page of a scan of the table.
#[derive(Debug, Clone, Default)]
pub struct ScanPage {
    /// Every item the page read, of any kind.
    pub scanned: usize,
    pub executions: Vec<StoredExecution>,
    /// Where the next page starts; `None` at the end of the table.
    pub next: Option<Item>,
}

/// `#p0, #p1, …` for every projected attribute, and their names.
fn backfill_projection() -> (String, HashMap<String, String>) {
    let names: Vec<&str> = BACKFILL_PROJECTION
        .into_iter()
        .chain([REVISION, HISTORY_START])
        .chain(HISTORY_INDEXES.iter().map(|index| index.hash))
        .collect();
    let placeholders: Vec<String> = (0..names.len()).map(|i| format!("#p{i}")).collect();
    let expression = placeholders.join(", ");
    let names = placeholders
        .into_iter()
        .zip(names.into_iter().map(str::to_string))
        .collect();
    (expression, names)
}

impl ExecutionHistory {
    /// One page of a Scan of the whole table, reading only what the backfill needs.
    pub async fn scan_page(&self, start: Option<Item>) -> Result<ScanPage, AwsError> {
        let (projection, names) = backfill_projection();
        let output = self
            .client
            .scan()
            .table_name(&self.table)
            .projection_expression(projection)
            .set_expression_attribute_names(Some(names))
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|e| AwsError::classify("Scan", e))?;
        let items = output.items.unwrap_or_default();
        let mut executions = Vec::new();
        for item in &items {
            executions.extend(StoredExecution::of(item)?);
        }
        Ok(ScanPage {
            scanned: items.len(),
            executions,
            next: output.last_evaluated_key,
        })
    }

    /// The execution item as stored now (a consistent read); `None` once it is gone.
    pub async fn stored_execution(
        &self,
        pipeline_id: &str,
        execution_id: &str,
    ) -> Result<Option<StoredExecution>, AwsError> {
        let (projection, names) = backfill_projection();
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("PK", s(execution_pk(pipeline_id)))
            .key("SK", s(execution_sk(execution_id)))
            .projection_expression(projection)
            .set_expression_attribute_names(Some(names))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| AwsError::classify("GetItem", e))?;
        match output.item {
            Some(item) => StoredExecution::of(&item),
            None => Ok(None),
        }
    }

    /// Gives the item the history attributes its state calls for (and drops any it should not
    /// carry), only if its revision is still the one read: otherwise a newer write, which set
    /// them itself, may have changed what they should be. `false` when that condition failed
    /// (or the item is gone). The revision stays: this changes nothing an ingest write reads.
    pub async fn index(&self, seen: &StoredExecution) -> Result<bool, AwsError> {
        let wanted = seen.wanted();
        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("PK", s(execution_pk(&seen.state.pipeline_id)))
            .key("SK", s(execution_sk(&seen.state.execution_id)))
            .condition_expression("#rev = :rev")
            .expression_attribute_names("#rev", REVISION)
            .expression_attribute_values(":rev", AttributeValue::N(seen.state.rev.to_string()));
        let mut sets = Vec::new();
        for (i, (name, value)) in wanted.iter().enumerate() {
            sets.push(format!("#s{i} = :s{i}"));
            update = update
                .expression_attribute_names(format!("#s{i}"), name)
                .expression_attribute_values(format!(":s{i}"), s(value));
        }
        let mut removes = Vec::new();
        for (i, name) in seen
            .history
            .keys()
            .filter(|name| !wanted.contains_key(*name))
            .enumerate()
        {
            removes.push(format!("#r{i}"));
            update = update.expression_attribute_names(format!("#r{i}"), name);
        }
        let mut expression = Vec::new();
        if !sets.is_empty() {
            expression.push(format!("SET {}", sets.join(", ")));
        }
        if !removes.is_empty() {
            expression.push(format!("REMOVE {}", removes.join(", ")));
        }
        if expression.is_empty() {
            return Ok(true);
        }
        written(
            "UpdateItem",
            update.update_expression(expression.join(" ")).send().await,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attributes::to_item;
    use pb_domain::event::Trigger;

    fn listing(filter: HistoryFilter) -> Listing {
        Listing::of("pl-1", &filter).expect("a window")
    }

    fn execution(status: &str, branch: &str) -> ItemState {
        ItemState {
            org_id: "acme".into(),
            pipeline_id: "pl-1".into(),
            execution_id: "e-1".into(),
            status: Some(status.into()),
            execution_started_at: Some(1_700_000_000_000),
            trigger: Some(Trigger {
                branch: Some(branch.into()),
                commit_id: Some("abc".into()),
                ..Trigger::default()
            }),
            duration_ms: Some(5),
            rev: 3,
            ..ItemState::default()
        }
    }

    #[test]
    fn a_position_must_be_a_start_and_an_execution_id_inside_the_window() {
        let all = listing(HistoryFilter::default());
        assert_eq!(all.check("001700000000000#e-1").unwrap(), "e-1");
        for bad in [
            "",
            "garbage",
            "1700000000000#e-1",
            "0017000000000000#e-1",
            "00170000000000x#e-1",
            "001700000000000#",
            "001700000000000#e#1",
            "001700000000000#e 1",
        ] {
            assert!(
                matches!(all.check(bad), Err(HistoryError::InvalidPosition(p)) if p == bad),
                "{bad:?}"
            );
        }
        let window = listing(HistoryFilter {
            from_ms: Some(1_000),
            to_ms: Some(2_000),
            ..HistoryFilter::default()
        });
        assert!(window.check("000000000001000#e-1").is_ok());
        assert!(window.check("000000000002000#e-1").is_ok());
        assert!(window.check("000000000000999#e-1").is_err());
        assert!(window.check("000000000002001#e-1").is_err());
    }

    #[test]
    fn the_window_bounds_whole_milliseconds_inclusively() {
        let window = listing(HistoryFilter {
            from_ms: Some(-5),
            to_ms: Some(2_000),
            ..HistoryFilter::default()
        });
        assert_eq!(window.low, "000000000000000#");
        assert!(window.high.as_str() > "000000000002000#zzzz");
        assert!(window.high.as_str() < "000000000002001#");
        let empty = |from, to| {
            Listing::of(
                "pl-1",
                &HistoryFilter {
                    from_ms: Some(from),
                    to_ms: Some(to),
                    ..HistoryFilter::default()
                },
            )
            .is_none()
        };
        assert!(empty(2, 1));
        assert!(empty(0, -1));
        assert!(!empty(1, 1));
    }

    #[test]
    fn a_deleted_item_is_left_out_and_the_rest_keep_index_order() {
        let keys: Vec<(String, String)> = ["EXEC#c", "EXEC#a", "EXEC#b"]
            .map(|sk| ("PIPE#pl-1".to_string(), sk.to_string()))
            .into();
        let mut found = HashMap::new();
        for id in ["a", "c"] {
            let state = ItemState {
                execution_id: id.into(),
                ..execution("SUCCEEDED", "main")
            };
            found.insert(
                ("PIPE#pl-1".to_string(), format!("EXEC#{id}")),
                to_item(&state).unwrap(),
            );
        }
        let ids: Vec<String> = in_index_order(&keys, found)
            .unwrap()
            .into_iter()
            .map(|item| item.execution_id)
            .collect();
        assert_eq!(ids, ["c", "a"]);
    }

    #[test]
    fn the_backfill_reads_everything_the_history_attributes_depend_on() {
        let full = execution("FAILED", "main");
        let mut item = to_item(&full).unwrap();
        item.insert("PK".into(), s("PIPE#pl-1"));
        item.insert("SK".into(), s("EXEC#e-1"));
        let (_, names) = backfill_projection();
        let projected: Item = item
            .into_iter()
            .filter(|(name, _)| names.values().any(|n| n == name))
            .collect();
        let stored = StoredExecution::of(&projected)
            .unwrap()
            .expect("an execution");
        assert_eq!(history_attributes(&stored.state), history_attributes(&full));
        assert!(!stored.is_indexed());
        assert_eq!(stored.wanted().len(), 5);
    }

    #[test]
    fn only_execution_items_are_read_as_executions() {
        let state = execution("FAILED", "main");
        for (pk, sk) in [
            ("PIPE#pl-1", "EXEC#e-1#STAGE#Build#00001"),
            ("ORG#acme#DAY#2026-11-20", "PIPE#pl-1"),
        ] {
            let mut item = to_item(&state).unwrap();
            item.insert("PK".into(), s(pk));
            item.insert("SK".into(), s(sk));
            assert_eq!(StoredExecution::of(&item).unwrap(), None, "{sk}");
        }
    }
}
