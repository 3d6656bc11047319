"""Azure Event Grid stand-in: a storage system topic fed by watching Azurite, custom topics, webhook delivery.

- System topic: Azurite has no change feed and no events, so a watcher lists the configured containers
  (a few ms a poll) and emits ``Microsoft.Storage.BlobCreated`` (Event Grid schema) for every blob it has
  not seen at that ETag, whoever wrote it. What it has seen is kept in SQLite, so a restart neither misses
  nor repeats an event.
- Custom topics: ``POST /api/events?api-version=2018-01-01`` with ``aeg-sas-key``, Event Grid schema, as
  azure-eventgrid sends; answers exactly 200 with an empty body once the events are stored.
- Delivery: webhook POST, one event per request, ``aeg-event-type: Notification``; success is 200–204;
  other answers are retried with Azure's schedule (10 s, 30 s, 1 min, 5 min, …) scaled by ``time_scale``.

LIMITATIONS (walking skeleton): no CloudEvents schema, SAS tokens, advanced filters, dead-letter
container, validation handshake or management API yet (issue 4).
"""
