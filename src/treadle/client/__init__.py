"""The Python client of treadle's HTTP API: `Client` (sync) and `AsyncClient`, over httpx.

```python
from treadle import Client
with Client() as client:                      # $TREADLE_SERVER or http://127.0.0.1:8080
    workflow = client.apply(yaml.safe_load(open("flows/order.yaml")))
    run = client.start(workflow.metadata.id, input={"id": 42})
    for event in client.events(run.metadata.id):
        print(event.type, event.data)
```
"""

from __future__ import annotations

from treadle.client._async import AsyncClient
from treadle.client._base import DEFAULT_SERVER, ApiError, Event, ResourcePage, kind_name
from treadle.client._sync import Client

__all__ = ["DEFAULT_SERVER", "ApiError", "AsyncClient", "Client", "Event", "ResourcePage", "kind_name"]
