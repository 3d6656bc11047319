"""Azure Event Grid stand-in: custom topics, the storage account's system topic, webhook delivery.

Files: ``config`` (the ARM-shaped config file), ``resources`` (topics and subscriptions as ARM resources),
``filters``, ``schemas`` (Event Grid / CloudEvents validation and conversion), ``auth`` (keys, SAS tokens),
``store`` (SQLite), ``models`` (state and the delivery state machine, no HTTP), ``handshake``, ``delivery`` +
``webhook_client`` (the workers), ``deadletter``, ``blob_watcher`` (the system topic), ``server`` (publish
API, validation URL, control plane), ``management`` (ARM routes), ``cli`` (subscribe/unsubscribe/list),
``runtime`` (wiring), ``errors`` (Azure's error body, made in one place).

What it does as Azure does:
- Topics and event subscriptions declared like ARM/Bicep resources (destination, filter,
  eventDeliverySchema, retryPolicy, deadLetterDestination), plus ARM's management paths for event
  subscriptions (PUT/PATCH/GET/DELETE, list, getFullUrl; topics GET and listKeys), kept in SQLite.
- A webhook subscription made at run time must pass the validation handshake first: the
  SubscriptionValidationEvent (echoed code, or a later GET of the validation URL within 5 minutes) for
  Event Grid schema, the CloudEvents OPTIONS ``WebHook-Request-Origin`` exchange for CloudEvents; a
  failing endpoint gets no subscription (400 with Azure's error body).
- Publish: ``POST /api/events?api-version=2018-01-01`` with ``aeg-sas-key`` or a SAS token
  (``aeg-sas-token``, ``Authorization: SharedAccessSignature``), in the topic's input schema (Event Grid or
  CloudEvents 1.0, batch or single); 1 MB per request → 413; 400/401 with Azure's body; exactly 200 once
  the deliveries are committed (SQLite, synchronous=FULL).
- Filters: includedEventTypes, subjectBeginsWith/EndsWith, isSubjectCaseSensitive, all advanced filter
  operators, enableAdvancedFilteringOnArrays.
- Delivery: one event per request unless maxEventsPerBatch/preferredBatchSizeInKilobytes batch them; 30 s
  timeout; success only 200–204; retries 10 s, 30 s, 1 min, 5 min, 10 min, 30 min, 1 h, 3 h, 6 h, then
  every 12 h, with up to 20 % jitter and Azure's minimum waits after 408 and 503; no retry for 400, 401,
  403, 413; maxDeliveryAttempts and eventTimeToLiveInMinutes (checked when an attempt falls due);
  dead letters written 5 minutes later to ``<container>/<SUBSCRIPTION>/<y>/<m>/<d>/<h>/<guid>.json``.
  ``time_scale`` multiplies every wait (retries, TTL, dead-letter delay, manual validation window).
- System topic: BlobCreated (real eTag, contentLength, contentType, url, api PutBlob / PutBlockList /
  CopyBlob, monotonic sequencer) and BlobDeleted for every blob written or removed by any client, found by
  listing the watched containers every 0.2 s; a restart neither repeats nor misses one.

LIMITATIONS (where it is kinder or different than Azure):
- Webhook destinations only (no Service Bus, Event Hubs, Storage Queue, Azure Function resource
  destinations); ``http://`` endpoints are accepted (Azure requires https); no delivery with managed
  identity, no Entra ID (bearer) publishing, no custom delivery properties (headers), no
  ``expirationTimeUtc``, no event domains, namespaces, partner topics or custom input schema.
- The management API has no ARM authentication, answers PUT synchronously (Azure: an async operation),
  and validates a subscription only when it is created or its endpoint or schema changes. Subscriptions
  declared in the config file are not handshaken (their endpoint may start later, as the Functions host
  does); a config-declared subscription is re-applied at each start and removed once the file drops it.
- Azure's "delayed delivery" (probation of endpoints that keep failing) is not modelled: every delivery is
  tried on its own schedule. Ordering is not guaranteed (as on Azure).
- Dead-letter reasons for 401/403/413 are named ``UndeliverableDueToClientError`` (400:
  ``UndeliverableDueToHttpBadRequest``, as seen on Azure); ``lastDeliveryOutcome`` for other 5xx is
  ``GenericError``. A dead-letter container that does not exist is retried each minute for 4 hours.
- The system topic sees only what a listing shows: a SetBlobMetadata/SetBlobProperties on a block blob
  changes its ETag and so yields a BlobCreated (Azure: none); a blob created and deleted within one poll
  interval yields nothing; ``clientRequestId``/``requestId`` are made up; only the configured containers
  are watched (all of them when ``containers`` is left out), by one storage system topic per stand-in.
  Blob events are delivered up to one poll interval after the write: ≈ 50 ms for a small container, at
  most the topic's poll interval (0.2 s) for large ones (blob_watcher.py).
- CloudEvents input is never delivered as Event Grid schema (nor does Azure); converted CloudEvents keep
  the Event Grid ``subject`` as is (with its leading ``/``).
"""
