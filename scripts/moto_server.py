"""moto's server for the tests, with one change: DynamoDB requests are handled one at a time, as
DynamoDB isolates them. moto's server runs each request in its own thread, and its
TransactWriteItems checks and applies the items one by one and rolls a canceled transaction back
by restoring a copy of every table it touched: two concurrent transactions can then both pass one
condition, and one's rollback can erase the other's committed writes. Tests of concurrent
conditional writes (one pipeline name, one ETag) need DynamoDB's behaviour."""

import sys
import threading

from moto.dynamodb.responses import DynamoHandler
from moto.server import main

_one_request_at_a_time = threading.Lock()
_call_action = DynamoHandler.call_action


def call_action(self):
    with _one_request_at_a_time:
        return _call_action(self)


DynamoHandler.call_action = call_action

if __name__ == "__main__":
    sys.exit(main())
