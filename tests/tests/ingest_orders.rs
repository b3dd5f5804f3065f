//! Property: whatever order (and duplication) SQS delivers one execution's events in, the stored
//! items and rollups equal those of a single in-order delivery. Runs the real handler against the
//! emulator, a fresh pipeline per case.

use std::collections::BTreeMap;

use pb_aws::executions::ExecutionStore;
use pb_domain::execution::ItemState;
use pb_ingest::Ingest;
use pb_tests::emulator::TestBed;
use pb_tests::events::{retarget, samples_in, sqs_batch};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

const ORG: &str = "acme";
const EXECUTION: &str = "e5c3a1f9-7b2d-4e60-8a4c-1d9f3b5e7a02";

type Stored = (Vec<(String, ItemState)>, BTreeMap<String, i64>);

/// Delivers the stage-retry events in `order` to a new pipeline and returns what was stored,
/// with the per-case pipeline id and write counters taken out.
async fn deliver_in_order(bed: &TestBed, ingest: &Ingest, case: usize, order: &[usize]) -> Stored {
    let name = format!("{}-case{case}", bed.prefix);
    let id = format!("pl-{name}");
    bed.create_pipeline(&name, Some(&id)).await.unwrap();
    bed.register(&id, ORG, &name).await.unwrap();
    // Plugin attribution is part of what must not depend on delivery order.
    bed.store_definition(&id, &name, ORG).await.unwrap();
    let events = samples_in("eventbridge/stage-retry").unwrap();
    let bodies: Vec<(String, String)> = order
        .iter()
        .enumerate()
        .map(|(i, e)| {
            (
                format!("m{i}"),
                retarget(events[*e].clone(), &name).to_string(),
            )
        })
        .collect();
    for chunk in bodies.chunks(4) {
        let (response, _) = ingest
            .handle(sqs_batch(
                chunk.iter().map(|(m, b)| (m.as_str(), b.clone())),
            ))
            .await;
        assert!(response.batch_item_failures.is_empty());
    }
    let store = ExecutionStore::new(bed.clients.dynamodb.clone(), &bed.stack.executions_table);
    let items = store
        .execution_items(&id, EXECUTION)
        .await
        .unwrap()
        .into_iter()
        .map(|(sk, mut item)| {
            item.pipeline_id = String::new();
            item.rev = 0;
            (sk, item)
        })
        .collect();
    (items, store.rollup(ORG, "2026-11-20", &id).await.unwrap())
}

fn orders_with_duplicates() -> impl Strategy<Value = Vec<usize>> {
    proptest::collection::vec(0..13usize, 0..5).prop_flat_map(|dupes| {
        let mut all: Vec<usize> = (0..13).collect();
        all.extend(dupes);
        Just(all).prop_shuffle()
    })
}

#[test]
fn any_delivery_order_with_duplicates_stores_the_in_order_state() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let bed = runtime.block_on(TestBed::new("orders")).unwrap();
    let ingest = Ingest::new(&bed.clients, &bed.config);
    let in_order: Vec<usize> = (0..13).collect();
    let expected = runtime.block_on(deliver_in_order(&bed, &ingest, 0, &in_order));
    assert_eq!(expected.0.len(), 5);
    assert_eq!(expected.0[0].1.status.as_deref(), Some("SUCCEEDED"));
    assert_eq!(expected.1["sf#Deploy"], 1);
    assert_eq!(expected.1["pf#cfn-deploy@1.1.0"], 1);
    assert_eq!(expected.1["ps#cfn-deploy@1.1.0"], 1);

    let mut runner = TestRunner::new(Config {
        cases: 8,
        failure_persistence: None,
        ..Config::default()
    });
    let case = std::sync::atomic::AtomicUsize::new(0);
    runner
        .run(&orders_with_duplicates(), |order| {
            let case = case.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
            let stored = runtime.block_on(deliver_in_order(&bed, &ingest, case, &order));
            prop_assert_eq!(&stored, &expected, "delivery order {:?}", order);
            Ok(())
        })
        .unwrap();
}
