"""moto's server for `make bench`, with one change: TransactWriteItems backs up only the items it
touches instead of deep-copying every target table. moto's whole-table copy makes each transaction
cost O(table size), so a 10,000-event replay becomes quadratic in the emulator (not in our code).
Rollback semantics are unchanged: on any failure the touched items are restored exactly.

And one addition: a request carrying `x-pb-latency-ms: N` (0-1000) is answered N ms late, in the
request's own server thread, so concurrent requests wait side by side as they would for a real
round trip. The ingest batch benchmark's SDK interceptor sets it on every call.
Tests use scripts/moto_server.py; only the benchmark uses this one."""

import copy
import sys
import time

import moto.server as moto_server

from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType
from moto.dynamodb.models.table import Table
from moto.server import main

_original_transact_write_items = DynamoDBBackend.transact_write_items


def _table_copy_is_the_table(self, memo):
    # Called only by transact_write_items' backup below it; the item-level backup replaces it.
    return self


def _touched_items(backend, transact_items):
    touched = []
    for entry in transact_items:
        op = next(iter(entry.values()))
        table = backend.tables.get(op.get("TableName"))
        if table is None:
            continue
        key = op.get("Key") or {
            attr: op.get("Item", {}).get(attr)
            for attr in (table.hash_key_attr, table.range_key_attr)
            if attr
        }
        if any(v is None for v in key.values()):
            continue
        hash_value = DynamoType(key[table.hash_key_attr])
        range_value = DynamoType(key[table.range_key_attr]) if table.range_key_attr else None
        if table.range_key_attr:
            current = table.items.get(hash_value, {}).get(range_value)
        else:
            current = table.items.get(hash_value)
        touched.append((table, hash_value, range_value, copy.deepcopy(current)))
    return touched


def _restore(touched):
    for table, hash_value, range_value, previous in reversed(touched):
        if table.range_key_attr:
            bucket = table.items[hash_value]
            if previous is None:
                bucket.pop(range_value, None)
                if not bucket:
                    table.items.pop(hash_value, None)
            else:
                bucket[range_value] = previous
        elif previous is None:
            table.items.pop(hash_value, None)
        else:
            table.items[hash_value] = previous


def transact_write_items(self, transact_items):
    touched = _touched_items(self, transact_items)
    tables_before = dict(self.tables)
    try:
        return _original_transact_write_items(self, transact_items)
    except Exception:
        self.tables.update(tables_before)
        _restore(touched)
        raise


MAX_LATENCY_MS = 1000
_run_simple = moto_server.run_simple


def _with_requested_latency(application):
    def delayed(environ, start_response):
        requested = environ.get("HTTP_X_PB_LATENCY_MS", "")
        if requested.isdigit():
            time.sleep(min(int(requested), MAX_LATENCY_MS) / 1000)
        return application(environ, start_response)

    return delayed


def run_simple(hostname, port, application, *args, **kwargs):
    return _run_simple(hostname, port, _with_requested_latency(application), *args, **kwargs)


moto_server.run_simple = run_simple
Table.__deepcopy__ = _table_copy_is_the_table
DynamoDBBackend.transact_write_items = transact_write_items

if __name__ == "__main__":
    sys.exit(main())
